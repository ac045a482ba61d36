"""Rejected reads, wired through the Recognizer, the output formats and the CLI (trust.py decides).
Fast: in this process, on the committed examples and numpy-made junk."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.recognizer import Recognizer
from edge_runtime.registry import default_model
from support import EXAMPLES_MODEL, encode, jsonl

M = ("--model", EXAMPLES_MODEL)


@pytest.fixture()
def junk(tmp_path):
    """The issue's case: a 640x480 colour-noise photo, which once read as '' with confidence 0.93."""
    path = tmp_path / "noise.png"
    path.write_bytes(encode(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)))
    return path


def test_junk_is_rejected_and_keeps_what_was_read(junk):
    for name in (default_model(), EXAMPLES_MODEL):
        p = Recognizer.from_file(name).recognize(junk)
        assert p.rejected is not None
        assert p.rejected != "low-confidence" or p.confidence < 0.5
        assert p.to_dict()["rejected"] == p.rejected


def test_examples_are_read_and_trusted(synth, examples):
    for path in examples:
        p = synth.recognize(path)
        assert (p.text, p.rejected) == (path.stem, None)


def test_min_confidence_is_the_python_api_option(examples):
    strict = Recognizer.from_file(EXAMPLES_MODEL, min_confidence=0.999)
    lenient = Recognizer.from_file(EXAMPLES_MODEL, min_confidence=0.0)
    p = strict.recognize(examples[0])
    assert p.rejected == "low-confidence" and p.text == examples[0].stem and p.confidence < 0.999
    assert lenient.recognize(examples[0]).rejected is None


def test_a_captcha_lost_on_a_page_is_never_a_trusted_wrong_read(synth, examples):
    import cv2

    for path in examples[:4]:
        captcha = cv2.imread(str(path))
        page = np.full((300, 600, 3), 255, np.uint8)
        h, w = captcha.shape[:2]
        page[125:125 + h, 200:200 + w] = captcha
        p = synth.recognize(page)
        assert p.rejected is not None or p.text == path.stem


def test_predict_marks_rejections_in_every_format_and_exits_1(invoke, examples, junk):
    out = invoke("predict", *M, "--format", "jsonl", examples[0], junk)
    assert out.exit_code == 1  # a rejected read is not one a script can act on
    good, bad = jsonl(out.stdout)
    assert "rejected" not in good and good["text"] == examples[0].stem
    assert bad["rejected"] and "text" in bad and "confidence" in bad
    text = invoke("predict", *M, junk).stdout.rstrip("\n").split("\t")
    assert text[0] == str(junk) and text[-1] == f"rejected:{bad['rejected']}"
    rows = invoke("predict", *M, "--format", "csv", junk).stdout.splitlines()
    assert rows[0].endswith(",rejected") and rows[1].endswith("," + bad["rejected"])


def test_predict_min_confidence_flag(invoke, examples):
    strict = invoke("predict", *M, "--format", "jsonl", "--min-confidence", "0.999", examples[0])
    assert strict.exit_code == 1 and jsonl(strict.stdout)[0]["rejected"] == "low-confidence"
    ok = invoke("predict", *M, "--format", "jsonl", "--min-confidence", "0", examples[0])
    assert ok.exit_code == 0 and "rejected" not in jsonl(ok.stdout)[0]
    bad = invoke("predict", *M, "--min-confidence", "1.5", examples[0])
    assert bad.exit_code == 2 and "--min-confidence" in bad.stderr


@pytest.mark.parametrize("command", ["predict", "watch", "camera", "serve"])
def test_every_reading_command_takes_min_confidence(invoke, command):
    from edge_runtime.options import RecognizerOptions, default

    out = invoke(command, "--help")
    assert "--min-confidence" in out.stdout and str(default(RecognizerOptions, "min_confidence")) in out.stdout


def test_pool_recognizers_keep_the_threshold(examples):
    from edge_runtime.pool import RecognizerPool

    pool = RecognizerPool.like(Recognizer.from_file(EXAMPLES_MODEL, min_confidence=0.999), 2)
    results = list(pool.recognize_many(examples * 2))
    assert {r.prediction.rejected for r in results} == {"low-confidence"}
    assert [r.prediction.text for r in results] == [p.stem for p in examples * 2]  # rejected reads keep their text
    assert [r.source for r in results] == [str(p) for p in examples * 2]
