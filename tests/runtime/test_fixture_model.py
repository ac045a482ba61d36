"""The committed fixture model (tests/runtime/fixtures/, made by scripts/make_fixture_model.py): a
tiny int8 CTC model for RGB input, padded to its input size, reading 3 to 6 characters in both
cases. It reads exactly the texts it read on x86 with ai-edge-litert on this platform and
interpreter (tests/run.sh arm64 runs this on emulated aarch64 with both interpreters), and its
contract says so. Its output holds int8 logits, as every convctc export does. Fast: committed files only."""

import json

import numpy as np
import pytest

from edge_runtime import images
from edge_runtime.recognizer import Recognizer
from support import HERE, jsonl

FIXTURES = HERE / "fixtures"
EXPECTED = json.loads((FIXTURES / "varlen.json").read_text())
MODEL = FIXTURES / EXPECTED["model"]
READS = EXPECTED["reads"]
PATHS = [FIXTURES / "varlen" / r["image"] for r in READS]


@pytest.fixture(scope="module")
def rec():
    return Recognizer.from_file(MODEL)


def test_the_fixture_is_small_and_varied():
    assert MODEL.stat().st_size < 100_000
    assert all(p.stat().st_size < 20_000 for p in PATHS)
    sizes = {images.load(p).shape for p in PATHS}
    assert len(sizes) >= 3 and all(len(s) == 3 for s in sizes)  # mixed sizes, in colour
    assert len({len(r["text"]) for r in READS}) >= 2  # texts of different lengths
    labels = "".join(r["label"] for r in READS)
    assert any(c.islower() for c in labels) and any(c.isupper() for c in labels)


def test_info_shows_rgb_pad_and_the_length_range(invoke):
    result = invoke("info", "--model", MODEL, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    c = report["contract"]
    assert (c["kind"], c["quantization"], c["min_length"], c["max_length"], c["output"]) == ("ctc", "int8", 3, 6, "logits")
    assert (c["input"]["color"], c["input"]["channels"], c["input"]["resize"]) == ("rgb", 3, "pad")
    assert report["input_tensor"]["shape"] == [1, c["input"]["height"], c["input"]["width"], 3]
    text = invoke("info", "--model", MODEL).stdout
    assert '"resize": "pad"' in text and '"color": "rgb"' in text and "min_length: 3" in text


def test_same_texts_as_on_x86(rec):
    got = [rec.recognize(p).text for p in PATHS]
    info = rec.interpreter
    assert got == [r["text"] for r in READS], f"on {info.distribution} {info.version}"


def test_predict_reads_the_same_texts(invoke):
    result = invoke("predict", "--model", MODEL, "--format", "jsonl", *PATHS)
    records = jsonl(result.stdout)
    assert [r["text"] for r in records] == [r["text"] for r in READS]
    # a read outside the model's 3..6 characters would be rejected for its length
    assert all(r.get("rejected") != "length" for r in records)


def test_int8_logits_keep_the_odds_an_int8_softmax_reads_as_zero(rec):
    """The runtime's softmax of the file's logits: every class keeps a probability, and many are
    below 1/512, which an int8 softmax (steps of 1/256) would have read as 0."""
    probs = np.stack([rec.probabilities(p) for p in PATHS])
    assert rec.describe()["output_tensor"]["dtype"] == "uint8"
    assert (probs > 0).all() and np.allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    assert (probs < 1 / 512).mean() > 0.5
