"""How much of a style can a careful person read? A blind read by eye, for the development
benchmark (issue #14): a target above what a person reads is not a target for a model.

    # sheets of the images a cell's int8 file read wrong (bench_styles.py's OUT/base-*/STYLE-N)
    python scripts/read_by_eye.py sheets --cell OUT/base-HASH/ripple-1000 --out eye/ripple
    # or a seeded sample of a folder of labelled images
    python scripts/read_by_eye.py sheets --folder data/styles/speckle/test --sample 30 --out eye/speckle
    # look at eye/ripple/sheet-*.png, write one read a line (in the numbered order) to READS.txt, then
    python scripts/read_by_eye.py score eye/ripple READS.txt

The sheets show numbered images (enlarged to 100 pixels high), never their labels: the labels
stay in key.json until ``score``. For a cell, ``score`` prints how many of the model's errors the
person read right, and the bound that gives: a person who also reads every image the model
read right reads at most (model's right + person's right) of the test set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from trainer.data import label_from_name, list_images

ROW_HEIGHT = 100  # pixels: small CAPTCHAs enlarged enough to see serifs and dots
PER_SHEET = 10
NUMBER_WIDTH = 44


def wrong_reads(cell: Path) -> tuple[dict[str, str | None], int]:
    """The reads, by image, that a cell's predict.jsonl got wrong, and the number of images read."""
    records = [json.loads(line) for line in (cell / "predict.jsonl").read_text().splitlines() if line.strip()]
    return {r["path"]: r.get("text") for r in records if r.get("text") != label_from_name(r["path"])}, len(records)


def row(path: Path, number: int) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"expected an image at {path}, got a file OpenCV cannot read")
    h, w = image.shape[:2]
    image = cv2.resize(image, (max(1, round(w * ROW_HEIGHT / h)), ROW_HEIGHT), interpolation=cv2.INTER_CUBIC)
    tag = np.full((ROW_HEIGHT, NUMBER_WIDTH, 3), 255, np.uint8)
    cv2.putText(tag, str(number), (2, ROW_HEIGHT // 2 + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
    return np.hstack([tag, image])


def write_sheets(paths: list[Path], out: Path) -> list[Path]:
    """PNG sheets of PER_SHEET numbered rows each, padded white to the widest row."""
    sheets = []
    for start in range(0, len(paths), PER_SHEET):
        rows = [row(p, start + k) for k, p in enumerate(paths[start:start + PER_SHEET])]
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        sheet = out / f"sheet-{start // PER_SHEET}.png"
        cv2.imwrite(str(sheet), np.vstack(rows))
        sheets.append(sheet)
    return sheets


def sheets(args) -> int:
    if args.cell:
        model_reads, total = wrong_reads(args.cell)
        paths = [Path(p) for p in model_reads]
    else:
        paths = list_images(args.folder)
        paths = [paths[i] for i in np.random.default_rng(args.seed).permutation(len(paths))[:args.sample]]
        model_reads, total = None, len(paths)
    # Shuffled, so that a sheet's order (file names sort by label) gives nothing away.
    paths = [paths[i] for i in np.random.default_rng(args.seed).permutation(len(paths))]
    args.out.mkdir(parents=True, exist_ok=True)
    # model_reads: a cell's wrong reads by image (None for a sample); read_by_model: the cell's test images.
    key = {"images": [str(p) for p in paths], "model_reads": model_reads, "read_by_model": total}
    (args.out / "key.json").write_text(json.dumps(key, indent=1) + "\n")
    for sheet in write_sheets(paths, args.out):
        print(sheet)
    print(f"{len(paths)} images; write one read a line, in their numbered order, then: "
          f"python {Path(__file__).name} score {args.out} READS.txt")
    return 0


def score(args) -> int:
    key = json.loads((args.sheets / "key.json").read_text())
    paths = key["images"]
    reads = [line.strip() for line in args.reads.read_text().splitlines() if line.strip()]
    if len(reads) != len(paths):
        raise SystemExit(f"expected {len(paths)} reads (one a line, the sheets' images in order), got {len(reads)} in {args.reads}")
    right = 0
    for number, (path, read) in enumerate(zip(paths, reads)):
        label = label_from_name(path)
        right += read == label
        model = (key["model_reads"] or {}).get(path, "")
        print(f"{number:3d}  label {label:10s} read {read:10s} {'model ' + str(model) if model else ''}"
              f"{'  right' if read == label else ''}")
    print(f"read by eye: {right} of {len(paths)} ({right / len(paths):.1%})")
    if key["model_reads"] is not None:
        total, model_right = key["read_by_model"], key["read_by_model"] - len(key["model_reads"])
        print(f"the model read {model_right} of {total}; a person reads at most {model_right + right} of {total} "
              f"({(model_right + right) / total:.1%})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    make = verbs.add_parser("sheets", help="numbered images to read, without their labels")
    source = make.add_mutually_exclusive_group(required=True)
    source.add_argument("--cell", type=Path, help="a bench_styles.py cell: the images its int8 file read wrong")
    source.add_argument("--folder", type=Path, help="a folder of labelled images: a seeded sample of it")
    make.add_argument("--sample", type=int, default=30, help="images from --folder (default: 30)")
    make.add_argument("--seed", type=int, default=0, help="seeds the sample and the order (default: 0)")
    make.add_argument("--out", type=Path, required=True, help="folder for the sheets and key.json")
    check = verbs.add_parser("score", help="compare the reads with the labels")
    check.add_argument("sheets", type=Path, help="the folder `sheets` wrote")
    check.add_argument("reads", type=Path, help="one read a line, in the sheets' numbered order")
    args = parser.parse_args(argv)
    return sheets(args) if args.verb == "sheets" else score(args)


if __name__ == "__main__":
    sys.exit(main())
