"""Make the development benchmark's data: for every style of trainer.render.STYLES (with --holdout,
of scripts/holdout_styles.py), a training folder and a test folder drawn from different seeds (the
test images are never seen in training).

    python scripts/make_styles.py --out data/styles            # 1000 train + 300 test per style
    python scripts/make_styles.py --out data/styles --styles ripple,tiles --train 200
    python scripts/make_styles.py --holdout --out data/holdout   # the held-out styles (holdout_styles.py)

Files are named LABEL_INDEX.png (the trainer takes the text before the first ``_``). A folder that
already holds the images is left as it is, so running it again costs nothing. data/ is not in git:
this script is how the data is made again, from the seeds. Needs the trainer (pip install . ./train).
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

from trainer import render

# The held-out styles live beside this script; named by path, as PYTHONSAFEPATH (or -P), which the
# test runner sets, leaves a script's own folder off sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import holdout_styles  # noqa: E402

SPLITS = {"train": 1, "test": 2}  # a split's seed stream; train and test never share one


def split_rng(seed: int, style: str, split: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(style.encode()), SPLITS[split]])


def make(style: render.Style | holdout_styles.HeldOutStyle, folder: Path, count: int, rng: np.random.Generator) -> int:
    """Write ``count`` images; returns how many were written (0 if the folder was complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.png"))) == count:
        return 0
    for old in folder.glob("*.png"):
        old.unlink()
    for i in range(count):
        image, label = style.sample(rng)
        tmp = folder / f".{i}.tmp.png"
        cv2.imwrite(str(tmp), image)
        tmp.replace(folder / f"{label}_{i:05d}.png")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="parent folder (default: data/styles, with --holdout data/holdout)")
    parser.add_argument("--styles", help="comma-separated style names (default: all of the set)")
    parser.add_argument("--holdout", action="store_true",
                        help="the held-out styles of scripts/holdout_styles.py, never used to choose a default, "
                             "instead of the development styles of trainer.render")
    parser.add_argument("--train", type=int, default=1000, help="training images per style (default: 1000)")
    parser.add_argument("--test", type=int, default=300, help="test images per style (default: 300)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    args = parser.parse_args(argv)
    styles, folder = holdout_styles.style_set(args.holdout)
    args.out = args.out or folder
    names = [n.strip() for n in (args.styles or ",".join(styles)).split(",") if n.strip()]
    unknown = [n for n in names if n not in styles]
    if unknown:
        parser.error(f"expected styles from {', '.join(styles)}, got {', '.join(unknown)}")
    if not args.holdout:
        print(f"{len(render.fonts())} fonts", file=sys.stderr)
    for name in names:
        style = styles[name]
        for split, count in (("train", args.train), ("test", args.test)):
            start = time.perf_counter()
            wrote = make(style, args.out / name / split, count, split_rng(args.seed, name, split))
            print(f"{name}/{split}: {count} images ({'made' if wrote else 'already there'}, "
                  f"{time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
