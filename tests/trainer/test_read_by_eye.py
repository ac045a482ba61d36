"""scripts/read_by_eye.py: sheets show numbered images without their labels, and score compares
a person's reads with the labels, and bounds what a person reads of a cell's test set."""

import json
import subprocess
import sys
from pathlib import Path

import cv2

from trainer.data import label_from_name

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = [sys.executable, str(ROOT / "scripts" / "read_by_eye.py")]


def run(*args) -> str:
    return subprocess.run([*SCRIPT, *map(str, args)], check=True, capture_output=True, text=True).stdout


def test_sample_sheets_and_score_counts_the_right_reads(synth_data, tmp_path):
    eye = tmp_path / "eye"
    run("sheets", "--folder", synth_data, "--sample", 12, "--seed", 3, "--out", eye)
    sheets = sorted(eye.glob("sheet-*.png"))
    assert len(sheets) == 2 and cv2.imread(str(sheets[0])).shape[0] == 10 * 100  # 10 rows, then 2
    key = json.loads((eye / "key.json").read_text())
    labels = [label_from_name(p) for p in key["images"]]
    assert len(set(key["images"])) == 12
    reads = tmp_path / "reads.txt"
    reads.write_text("\n".join(labels[:9] + ["wrong"] * 3) + "\n")
    assert "read by eye: 9 of 12" in run("score", eye, reads)
    reads.write_text("\n".join(labels[:11]) + "\n")  # one read short: refused, not scored
    short = subprocess.run([*SCRIPT, "score", str(eye), str(reads)], capture_output=True, text=True)
    assert short.returncode != 0 and "expected 12 reads" in short.stderr


def test_cell_sheets_show_the_models_errors_and_score_bounds_a_person(synth_data, tmp_path):
    images = sorted(synth_data.glob("*.png"))[:5]
    cell = tmp_path / "cell"
    cell.mkdir()
    records = [{"path": str(p), "text": label_from_name(p)} for p in images[:3]]
    records += [{"path": str(p), "text": "x"} for p in images[3:]]  # the model's two errors
    (cell / "predict.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    eye = tmp_path / "eye"
    run("sheets", "--cell", cell, "--out", eye)
    key = json.loads((eye / "key.json").read_text())
    assert sorted(key["images"]) == sorted(str(p) for p in images[3:])
    reads = tmp_path / "reads.txt"
    reads.write_text(label_from_name(key["images"][0]) + "\nnope\n")
    out = run("score", eye, reads)
    assert "read by eye: 1 of 2" in out and "a person reads at most 4 of 5" in out
