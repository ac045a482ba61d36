"""Make tests/runtime/fixtures/: a tiny RGB, padded, variable-length int8 CTC model, a few images
it reads, and the texts it reads on them here (x86, ai-edge-litert). The runtime suite checks
the same texts on every platform and interpreter (tests/run.sh arm64: emulated aarch64 with both
ai-edge-litert and tflite-runtime 2.14). It need not read well; it must read the same everywhere.
Needs the train extra (TensorFlow and the 'captcha' package); everything is seeded.

    python scripts/make_fixture_model.py [--work DIR] [--epochs 30] [--pick-only]

Steps, each of which can be run by hand:

1. Render the training folder (``--work``, default a temporary one): for each size in SIZES, 120
   CAPTCHAs of 3 to 6 characters of CHARSET (both cases) with trainer.synth, renamed to
   ``imgNNNN.png`` and labelled by a ``labels.csv``.
2. Fit and export::

       captcha-train fit --data WORK/data --arch convctc-fast --width-mult 0.5 --color rgb \\
           --resize pad --no-augment --learning-rate 0.003 --seed 1 --epochs 30 --out WORK/run
       captcha-train export WORK/run --quantize int8 --max-accuracy-drop 0.2 \\
           --out tests/runtime/fixtures/varlen-rgb-pad-int8.tflite

3. Render candidates with seed IMAGE_SEED at each size, read them with the exported model, and
   keep the first PER_SIZE of each size whose read is not close to a tie (see :func:`margin`) and
   has a length the model was trained on (so it is not rejected for its length), as
   tests/runtime/fixtures/varlen/*.png (re-encoded losslessly at PNG's best compression); write
   their texts to tests/runtime/fixtures/varlen.json. ``--pick-only`` does this step alone, with
   the committed model.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "runtime" / "fixtures"
MODEL = FIXTURES / "varlen-rgb-pad-int8.tflite"
IMAGES = FIXTURES / "varlen"
TEXTS = FIXTURES / "varlen.json"

#: Letters whose two cases look different, and a few digits.
CHARSET = "abdeghnrABDEGHNR2345"
LENGTHS = (3, 6)
#: (height, width) of the rendered images: from 100x30 to 300x80, so the model pads.
SIZES = ((30, 100), (40, 150), (60, 200), (80, 300))
PER_SIZE_TRAIN = 120
TRAIN_SEED = 1  # the training images of size i use seed TRAIN_SEED + i
IMAGE_SEED = 90  # the fixture images' own seed (size i: IMAGE_SEED + i), never trained on
CANDIDATES = 24  # rendered per size
PER_SIZE = 2  # kept per size
#: A kept image's every time step must prefer its best class to the runner-up by at least this
#: much (int8 outputs move in steps of 1/256), so that no interpreter's rounding changes a
#: character. tflite-runtime 2.14 on aarch64 gives this model's probabilities up to 16/256 off
#: ai-edge-litert's (measured; its fixed-point rounding differs), which can move a lead by twice
#: that: a lead of 12/256 flipped two characters there. 48/256 leaves room on top.
MIN_MARGIN = 48 / 256
EPOCHS = 30
#: The export's int8 check: a weak model's reads are fragile, so more than the trainer's default.
MAX_ACCURACY_DROP = 0.2
#: Half width, no augmentation and a higher learning rate: a small model that leaves CTC's
#: all-blank plateau within a few epochs (a quarter width, augmented, was still on it after 20).
#: One fit (--no-refit), as the committed fixture was made.
FIT = ["--arch", "convctc-fast", "--width-mult", "0.5", "--color", "rgb", "--resize", "pad", "--no-augment",
       "--learning-rate", "0.003", "--seed", "1", "--no-refit"]


def train_cli(*args: str) -> None:
    command = [sys.executable, "-m", "trainer.cli", *map(str, args)]
    print("$ captcha-train " + " ".join(map(str, args)), flush=True)
    subprocess.run(command, check=True)


def render_folder(folder: Path, seed: int, count: int) -> list[tuple[Path, str]]:
    """(image, label) of ``count`` images per size, named imgNNNN.png by order, in ``folder``."""
    from trainer.data import label_from_name
    from trainer.synth import render

    found = []
    with tempfile.TemporaryDirectory() as raw:
        for i, size in enumerate(SIZES):
            part = Path(raw) / str(i)
            render(part, count, CHARSET, LENGTHS, seed + i, size, log=lambda m: None)
            found += sorted(part.glob("*.png"))
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for n, path in enumerate(found):
            target = folder / f"img{n:04d}.png"
            shutil.move(path, target)
            out.append((target, label_from_name(path)))
    return out


def write_labels(folder: Path, pairs: list[tuple[Path, str]]) -> None:
    lines = ["path,label"] + [f"{p.name},{label}" for p, label in pairs]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")


def margin(probs: np.ndarray) -> float:
    """The smallest lead of a time step's best class over its runner-up."""
    top = np.sort(probs, axis=1)
    return float((top[:, -1] - top[:, -2]).min())


def write_small(source: Path, target: Path) -> None:
    """The same pixels at PNG's best compression (the captcha package writes for speed)."""
    import cv2

    pixels = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(target), pixels, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not np.array_equal(cv2.imread(str(target), cv2.IMREAD_UNCHANGED), pixels):
        raise SystemExit(f"expected {target} to hold the pixels of {source}, they differ")


def pick_images(work: Path) -> list[dict]:
    """Candidates read by the exported model; the first PER_SIZE of each size with a clear read."""
    from edge_runtime.recognizer import Recognizer

    rec = Recognizer.from_file(MODEL)
    lo, hi = rec.contract.length_range
    candidates = render_folder(work / "candidates", IMAGE_SEED, CANDIDATES)
    if IMAGES.exists():
        shutil.rmtree(IMAGES)
    IMAGES.mkdir(parents=True)
    kept = []
    for i, size in enumerate(SIZES):
        mine = candidates[i * CANDIDATES : (i + 1) * CANDIDATES]
        chosen = 0
        for path, label in mine:
            text, clear = rec.recognize(path).text, margin(rec.probabilities(path))
            if chosen == PER_SIZE or not lo <= len(text) <= hi or clear < MIN_MARGIN:
                continue
            name = f"{size[0]}x{size[1]}-{chosen}.png"
            write_small(path, IMAGES / name)
            kept.append({"image": name, "label": label, "text": text, "margin": round(clear, 4)})
            chosen += 1
        if chosen < PER_SIZE:
            raise SystemExit(f"only {chosen} of {CANDIDATES} candidates of size {size} are read clearly; "
                             "render more (CANDIDATES) or train longer")
    return kept


def fit_and_export(work: Path, epochs: int) -> None:
    data = work / "data"
    write_labels(data, render_folder(data, TRAIN_SEED, PER_SIZE_TRAIN))
    train_cli("fit", "--data", data, *FIT, "--epochs", epochs, "--out", work / "run", "--overwrite")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    train_cli("export", work / "run", "--quantize", "int8", "--max-accuracy-drop", MAX_ACCURACY_DROP, "--out", MODEL)
    MODEL.with_suffix(".json").unlink(missing_ok=True)  # the export report names temporary paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=None, help="Folder for the training data and run (default: a temporary one).")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--pick-only", action="store_true", help="Keep the model; pick the images and write the texts again.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        if not args.pick_only:
            fit_and_export(work, args.epochs)
        kept = pick_images(work)
    from edge_runtime.recognizer import Recognizer

    info = Recognizer.from_file(MODEL).interpreter
    TEXTS.write_text(json.dumps({
        "model": MODEL.name,
        "made_on": f"{platform.machine()}, {info.distribution} {info.version}",
        "made_by": "python scripts/make_fixture_model.py" + (f" --epochs {args.epochs}" if args.epochs != EPOCHS else ""),
        "reads": kept,
    }, indent=1) + "\n")
    right = sum(k["text"] == k["label"] for k in kept)
    print(f"{MODEL}: {MODEL.stat().st_size} bytes; {len(kept)} images in {IMAGES} ({right} read right); {TEXTS}")


if __name__ == "__main__":
    main()
