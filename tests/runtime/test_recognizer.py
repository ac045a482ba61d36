"""The Python API on the shipped models and real images."""

import cv2
import numpy as np
import pytest

from edge_runtime import Recognizer
from edge_runtime.errors import InterpreterUnavailable
from edge_runtime.engine import interpreter_class


def val_paths(wilhelmy, report):
    paths = [wilhelmy / n for n in report["split"]["val_names"]]
    assert paths and all(p.exists() for p in paths)
    return paths


def test_default_model_reads_its_validation_images(wilhelmy, default_report):
    rec = Recognizer.from_file()
    paths = val_paths(wilhelmy, default_report)
    texts = [rec.recognize(p).text for p in paths]
    accuracy = np.mean([t == p.stem for t, p in zip(texts, paths)])
    # The shipped metrics were measured by this same code path at export time.
    assert accuracy == pytest.approx(default_report["accuracy"], abs=1e-9)
    assert accuracy >= 0.95


def test_every_shipped_model_reads_its_held_out_images(held_out, shipped):
    import json

    for name, path in shipped.items():
        report = json.loads(path.with_suffix(".json").read_text())
        folder, names = held_out(report)
        rec = Recognizer.from_file(path)
        paths = [folder / n for n in names[:40]]
        assert paths and all(p.exists() for p in paths)
        accuracy = np.mean([rec.recognize(p).text == p.stem for p in paths])
        assert accuracy >= 0.9, f"{name}: {accuracy}"


def test_prediction_record(wilhelmy):
    rec = Recognizer.from_file("default", threads=2)
    pred = rec.recognize(sorted(wilhelmy.glob("*.png"))[0])
    assert 0.0 <= pred.confidence <= 1.0
    assert len(pred.char_confidences) == len(pred.text)
    assert set(pred.text) <= set(rec.contract.charset)
    assert pred.timings.invoke_ms > 0 and pred.timings.total_ms >= pred.timings.invoke_ms
    assert pred.to_dict()["timings"]["total_ms"] == pytest.approx(pred.timings.total_ms)


def test_same_text_from_path_bytes_gray_bgr_and_rescaled(wilhelmy):
    rec = Recognizer.from_file()
    path = sorted(wilhelmy.glob("*.png"))[5]
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    texts = {rec.recognize(path).text, rec.recognize(path.read_bytes()).text, rec.recognize(gray).text,
             rec.recognize(bgr).text}
    assert texts == {path.stem}
    big = cv2.resize(bgr, (400, 100), interpolation=cv2.INTER_CUBIC)
    assert rec.recognize(big).text == path.stem


def test_batch_keeps_going_after_a_bad_input(wilhelmy, tmp_path):
    rec = Recognizer.from_file()
    good = sorted(wilhelmy.glob("*.png"))[:3]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    results = list(rec.recognize_many([good[0], bad, tmp_path / "missing.png", good[1], b"", good[2]]))
    assert [r.ok for r in results] == [True, False, False, True, False, True]
    assert all(r.error and "\n" not in r.error for r in results if not r.ok)


def test_interpreter_choice_is_honoured():
    import os

    rec = Recognizer.from_file()
    wanted = os.environ.get("CAPTCHA_EDGE_INTERPRETER", "ai_edge_litert")
    assert rec.engine.info.module == wanted


def test_unknown_interpreter_is_named():
    with pytest.raises(InterpreterUnavailable, match="expected an interpreter"):
        interpreter_class("tensorflow")
