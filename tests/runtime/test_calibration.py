"""Issue #15, confidence that means what it says: the contract's temperature, the Recognizer that
applies it, the bounded temperature fit and the reliability bins behind the ECE; and predict --roi,
which turns a CAPTCHA in a larger image into one the trust rules accept. Fast: committed files only
(a temperature is put into a copy of a shipped model without TensorFlow, support.with_contract)."""

import json
import math

import cv2
import numpy as np
import pytest

from edge_runtime import trust
from edge_runtime.contract import Contract, InputSpec, read_contract
from edge_runtime.decode import decoder_for
from edge_runtime.errors import ContractError, ImageError
from edge_runtime.recognizer import Recognizer
from support import EXAMPLES_MODEL, jsonl, with_contract

M = ("--model", EXAMPLES_MODEL)


def base(**changes):
    return Contract(**{"kind": "ctc", "charset": "abc", "input": InputSpec(32, 128), "blank_index": 3, **changes})


# ---- the contract's temperature ------------------------------------------------------------------

def test_temperature_round_trips_and_is_left_out_at_one():
    c = base(temperature=2.5)
    assert c.to_dict()["temperature"] == 2.5
    assert Contract.from_json(c.to_json()) == c and Contract.from_dict(c.to_dict()).temperature == 2.5
    # uncalibrated: the JSON is what it was before the field existed, and reads back as 1.0
    assert "temperature" not in base().to_dict() and "temperature" not in json.loads(base().to_json())
    assert Contract.from_json(base().to_json()).temperature == 1.0


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "2", True, None])
def test_a_bad_temperature_is_refused(value):
    d = base().to_dict()
    d["temperature"] = value
    with pytest.raises(ContractError, match="expected a positive, finite temperature"):
        Contract.from_dict(d)


def test_shipped_models_are_uncalibrated(shipped):
    for path in shipped.values():
        assert read_contract(path.read_bytes()).temperature == 1.0


# ---- the Recognizer applies it -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tempered_model(shipped, tmp_path_factory):
    """The examples' model with temperature 2 in its contract (the weights are the same)."""
    path = tmp_path_factory.mktemp("tempered") / "synth36-t2.tflite"
    path.write_bytes(with_contract(shipped[EXAMPLES_MODEL].read_bytes(), temperature=2.0))
    return path


def test_recognizer_tempers_confidences_but_never_texts(synth, tempered_model, examples):
    hot = Recognizer.from_file(tempered_model)
    assert hot.contract.temperature == 2.0
    decode = decoder_for(hot.contract)
    softened = 0
    for path in examples:
        plain, warm = synth.recognize(path), hot.recognize(path)
        assert warm.text == plain.text == path.stem
        expected = decode(trust.temper(hot.probabilities(path), 2.0))
        assert warm.confidence == pytest.approx(expected.confidence, abs=1e-6)
        assert warm.char_confidences == pytest.approx(expected.char_confidences, abs=1e-6)
        # T > 1 softens; an int8 step whose other classes are all 0 has nothing to soften
        assert warm.confidence <= plain.confidence
        softened += warm.confidence < plain.confidence - 0.01
    assert softened >= 2


def test_at_temperature_one_confidences_are_the_raw_decode(synth, examples):
    decode = decoder_for(synth.contract)
    pred = synth.recognize(examples[0])
    assert pred.confidence == decode(synth.probabilities(examples[0])).confidence


def test_info_shows_the_temperature(invoke, tempered_model):
    assert "  temperature: 2.0" in invoke("info", "--model", tempered_model).stdout.splitlines()
    shown = json.loads(invoke("info", *M, "--format", "json").stdout)
    assert shown["contract"]["temperature"] == 1.0


# ---- the fit and the reliability bins ------------------------------------------------------------

def test_reliability_bins_by_hand():
    conf = [0.05, 0.15, 0.15, 0.55, 0.95, 0.95, 1.0, 0.97]
    ok = [0, 1, 0, 1, 1, 1, 0, 1]
    r = trust.reliability(conf, ok, bins=10)
    assert r.bins == 10 and r.count.tolist() == [1, 2, 0, 0, 0, 1, 0, 0, 0, 4]
    assert r.accuracy[[0, 1, 5, 9]].tolist() == [0.0, 0.5, 1.0, 0.75]
    assert r.confidence[[0, 1, 5, 9]] == pytest.approx([0.05, 0.15, 0.55, 0.9675])
    assert math.isnan(r.accuracy[2]) and math.isnan(r.confidence[2])  # an empty bin
    # ECE from the same bins: (1*0.05 + 2*0.35 + 1*0.45 + 4*0.2175) / 8
    assert r.ece == pytest.approx((0.05 + 0.7 + 0.45 + 0.87) / 8)
    assert trust.expected_calibration_error(conf, ok) == r.ece
    assert trust.reliability([], []).count.sum() == 0 and math.isnan(trust.reliability([], []).ece)
    with pytest.raises(ValueError, match="one correctness per confidence"):
        trust.reliability([0.5, 0.5], [1])


def test_fit_never_sharpens():
    """Every read right and sure (a validation split without errors): the log-loss optimum lies
    below 1, and the fit stays at 1."""
    conf = np.array([0.9, 0.95, 0.8])
    assert trust.fit_temperature(lambda t: conf ** t, [1, 1, 1]) == 1.0
    assert trust.fit_temperature(lambda t: conf, []) == 1.0


def test_fit_softens_an_overconfident_model():
    """A stand-in for tempering: confidence conf ** T falls as T grows. The log-loss optimum is
    the confidence that equals the accuracy."""
    sure = np.full(10, 0.99)
    # half the sure reads wrong: the optimum (0.99 ** T = 0.5, T ~ 69) is beyond the range, so its top
    assert trust.fit_temperature(lambda t: sure ** t, [1, 0] * 5) == trust.TEMPERATURE_MAX
    # 70 % right at 0.8: the optimum 0.8 ** T = 0.7, T = log(0.7) / log(0.8) ~ 1.60, within a grid step
    t = trust.fit_temperature(lambda t: np.full(10, 0.8) ** t, [1] * 7 + [0] * 3)
    assert t == pytest.approx(math.log(0.7) / math.log(0.8), rel=0.03)


def test_calibrated_keeps_the_raw_text():
    decode = decoder_for(base())
    probs = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.1, 0.1, 0.6], [0.1, 0.5, 0.0, 0.4]], np.float32)
    assert trust.calibrated(decode, probs, 1.0) == decode(probs)
    warm = trust.calibrated(decode, probs, 3.0)
    assert warm.text == decode(probs).text == "ab" and warm.confidence < decode(probs).confidence
    assert len(warm.char_confidences) == 2


def test_temper_is_continuous_at_one_and_keeps_zeros_and_totals():
    """temper(p, 1) is p (int8 totals off 1 and zeros included), so a fit sees no jump at T = 1."""
    p = np.array([[253, 3, 0, 0], [0, 0, 0, 0], [128, 64, 64, 0]], np.float32) / 256
    assert np.allclose(trust.temper(p, 1.0), p, atol=1e-6)
    soft = trust.temper(p, 2.0)
    assert np.allclose(soft.sum(axis=1), p.sum(axis=1), atol=1e-6)
    assert (soft[p == 0] == 0).all() and (soft.argmax(axis=1)[[0, 2]] == 0).all()
    assert soft[0, 0] < p[0, 0] and soft[2, 0] < p[2, 0]


def test_reported_confidence_is_zero_for_reads_that_cannot_be_right():
    c = base(min_length=2, max_length=3)
    assert trust.reported_confidence(c, "", 0.9) == 0.0 and trust.reported_confidence(c, "abca", 0.9) == 0.0
    assert trust.reported_confidence(c, "ab", 0.9) == 0.9


# ---- predict --roi -------------------------------------------------------------------------------

def framed(example, size=(120, 320), at=(30, 60)) -> np.ndarray:
    """A CAPTCHA at (y, x) on a white page: what a screenshot gives."""
    page = np.full((*size, 3), 255, np.uint8)
    image = cv2.imread(str(example), cv2.IMREAD_COLOR)
    y, x = at
    page[y : y + image.shape[0], x : x + image.shape[1]] = image
    return page


def test_predict_roi_reads_the_captcha_in_a_page(invoke, examples, tmp_path):
    pages = []
    for i, example in enumerate(examples[:3]):
        pages.append(tmp_path / f"page{i}.png")
        cv2.imwrite(str(pages[-1]), framed(example))
    whole = jsonl(invoke("predict", *M, "--format", "jsonl", *pages).stdout)
    assert all(r.get("rejected") in ("aspect", "margin", "empty", "length") for r in whole)  # never trusted whole
    out = invoke("predict", *M, "--format", "jsonl", "--roi", "60,30,200,50", *pages)
    assert out.exit_code == 0, out.stdout + out.stderr
    assert [r["text"] for r in jsonl(out.stdout)] == [e.stem for e in examples[:3]]
    assert all("rejected" not in r for r in jsonl(out.stdout))


def test_predict_roi_outside_one_image_is_that_images_error(invoke, examples, tmp_path):
    page = tmp_path / "page.png"
    cv2.imwrite(str(page), framed(examples[0]))
    out = invoke("predict", *M, "--format", "jsonl", "--roi", "60,30,200,50", examples[1], page)
    assert out.exit_code == 1
    small, big = jsonl(out.stdout)
    assert small == {"path": str(examples[1]), "error": "expected --roi inside the 200x50 image, got 60,30,200,50"}
    assert big["text"] == examples[0].stem and "rejected" not in big


@pytest.mark.parametrize("roi", ["1,2,3", "a,b,c,d", "0,0,0,5", "-1,0,5,5"])
def test_predict_malformed_roi_is_a_usage_error(invoke, examples, roi):
    out = invoke("predict", *M, "--roi", roi, examples[0])
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr.startswith("captcha-edge: error: expected") and len(out.stderr.splitlines()) == 1


def test_python_api_roi_and_workers_share_it(shipped, examples, tmp_path):
    from edge_runtime.pool import RecognizerPool

    rec = Recognizer.from_file(EXAMPLES_MODEL, roi=(60, 30, 200, 50))
    assert rec.recognize(framed(examples[0])).text == examples[0].stem
    with pytest.raises(ImageError, match="inside the 200x50 image"):
        rec.recognize(examples[0])
    pool = RecognizerPool.like(rec, 2)
    pages = [framed(e) for e in examples[:10]]
    assert [r.prediction.text for r in pool.recognize_many(pages)] == [e.stem for e in examples[:10]]
