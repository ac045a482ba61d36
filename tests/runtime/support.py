"""Helpers shared by the runtime tests (imported by name: tests/runtime/conftest.py puts this
folder on sys.path). Committed fixtures only: nothing here reads ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "examples"  # synthetic CAPTCHAs, committed; each file's stem is its label
#: The shipped model that reads every committed example correctly (the README's quick start).
EXAMPLES_MODEL = "synth36-int8"
#: The pre-trained base (scripts/pretrain_base.py): where fine-tuning starts, not a reader of one
#: style; it reads 3-8 characters of 0-9a-zA-Z, and its validation images are not committed.
BASE_MODEL = "base-alnum-int8"
#: Every shipped model's exact texts on x86 with ai-edge-litert (scripts/reference_texts.py).
REFERENCE = json.loads((HERE / "reference_texts.json").read_text())


def example_paths() -> list[Path]:
    return sorted(EXAMPLES.glob("*.png"))


def encode(image: np.ndarray, ext: str = ".png", params: list[int] | None = None) -> bytes:
    import cv2

    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok, ext
    return buf.tobytes()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def with_contract(model: bytes, **changes) -> bytes:
    """A copy of a .tflite file whose embedded contract has ``changes`` (e.g. temperature=2.0),
    without TensorFlow: the contract's JSON is rewritten compactly, padded with spaces (valid
    JSON) to its old length and put back in place, so every flatbuffer offset stays valid."""
    from edge_runtime.contract import METADATA_NAME
    from edge_runtime.flatbuf import read_metadata

    old = read_metadata(model)[METADATA_NAME]
    new = json.dumps({**json.loads(old), **changes}, sort_keys=True, ensure_ascii=False,
                     separators=(",", ":")).encode("utf-8")
    assert len(new) <= len(old) and model.count(old) == 1, "the changed contract must fit in the old one's place"
    return model.replace(old, new + b" " * (len(old) - len(new)))
