"""edge_runtime.trust: the rejection rule of issue #15, as pure functions, and on the shipped
models with the committed examples and junk made here with numpy (no dataset)."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import images, trust
from edge_runtime.contract import Contract, InputSpec
from edge_runtime.errors import ContractError

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
SPEC = InputSpec(height=50, width=200)
CTC = Contract.for_charset("ctc", "abcde12345", SPEC)
MULTIHEAD = Contract.for_charset("multihead", "abcde12345", SPEC, label_length=5)
GOOD = trust.ImageStats(50, 200, 0)


# ---- the rule, one reason at a time ------------------------------------------------------------

def test_a_plain_confident_read_of_the_right_shape_is_trusted():
    v = trust.assess(CTC, "ab12e", 0.93, GOOD, lengths=(5, 5))
    assert v == trust.Verdict(None, 0.93) and not v.rejected


def test_an_empty_read_is_rejected_with_confidence_zero():
    assert trust.assess(CTC, "", 0.996, GOOD) == trust.Verdict(trust.EMPTY, 0.0)


def test_a_read_of_a_length_the_model_never_learned_is_rejected_with_confidence_zero():
    assert trust.assess(CTC, "ab1", 0.99, GOOD, lengths=(5, 5)) == trust.Verdict(trust.LENGTH, 0.0)
    assert trust.assess(CTC, "ab12e1", 0.99, GOOD, lengths=(4, 5)).reason == trust.LENGTH
    assert trust.assess(CTC, "ab12", 0.99, GOOD, lengths=(4, 5)).reason is None


def test_without_a_length_range_only_the_empty_read_is_a_length_problem():
    assert CTC.length_range is None
    assert trust.assess(CTC, "ab1", 0.99, GOOD).reason is None


def test_a_multihead_contract_gives_its_label_length():
    assert MULTIHEAD.length_range == (5, 5)
    assert trust.assess(MULTIHEAD, "ab1", 0.99, GOOD).reason == trust.LENGTH


@pytest.mark.parametrize("height, width, rejected", [
    (50, 200, False), (100, 400, False), (60, 210, False), (50, 282, False), (50, 142, False),
    (50, 300, True), (50, 400, True), (300, 600, True), (480, 640, True), (50, 100, True), (32, 32, True),
])
def test_an_image_not_shaped_like_the_model_input_is_rejected(height, width, rejected):
    v = trust.assess(CTC, "ab12e", 0.99, trust.ImageStats(height, width), lengths=(5, 5))
    assert (v.reason == trust.ASPECT) is rejected
    assert v.confidence == 0.99  # the read stays as it was; only its trust changes


def test_flat_bands_above_and_below_are_rejected_as_a_margin():
    limit = int(trust.MAX_FLAT_ROWS * SPEC.height)
    ok = trust.assess(CTC, "ab12e", 0.99, trust.ImageStats(50, 200, limit), lengths=(5, 5))
    bad = trust.assess(CTC, "ab12e", 0.99, trust.ImageStats(50, 200, limit + 1), lengths=(5, 5))
    assert ok.reason is None and bad.reason == trust.MARGIN


def test_a_model_trained_on_plain_bands_allows_what_its_training_images_had():
    """A style of text on a plain band (15 flat rows of 50) is the model's own input, not a loose
    crop: the contract's max_flat_rows, recorded by export, raises the allowance to it."""
    banded = dataclasses.replace(CTC, max_flat_rows=15)
    stats = trust.ImageStats(50, 200, 15)
    assert trust.assess(CTC, "ab12e", 0.99, stats, lengths=(5, 5)).reason == trust.MARGIN
    assert trust.assess(banded, "ab12e", 0.99, stats, lengths=(5, 5)).reason is None
    assert trust.assess(banded, "ab12e", 0.99, trust.ImageStats(50, 200, 16), lengths=(5, 5)).reason == trust.MARGIN


def band_image(flat_top: int, flat_bottom: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = np.full((50, 200), 255, np.uint8)
    pixels[flat_top:50 - flat_bottom] = rng.integers(0, 256, (50 - flat_top - flat_bottom, 200))
    return pixels


def test_export_records_the_training_images_flat_rows_only_beyond_the_default():
    textured = [band_image(0, 0, s) for s in range(3)]
    assert trust.trained_flat_rows(textured, 50) is None  # the default rule, and the JSON it always had
    assert trust.trained_flat_rows([*textured, band_image(2, 2)], 50) is None  # 4 of 50: within the default
    assert trust.trained_flat_rows([*textured, band_image(6, 3), band_image(4, 4)], 50) == 9


def test_an_rgb_image_has_as_many_flat_rows_as_its_gray_version():
    """It used to count each channel of a flat row (18 for 6): RGB models' margin rule was 3x as strict."""
    gray = band_image(3, 3)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    rgb[3:47, :, 1] = 255 - rgb[3:47, :, 1]  # the channels differ inside the band, not outside it
    assert trust.flat_rows(gray) == trust.flat_rows(rgb) == 6


def test_max_flat_rows_travels_in_the_contract_and_is_checked():
    banded = dataclasses.replace(CTC, max_flat_rows=12)
    assert Contract.from_json(banded.to_json()) == banded and "max_flat_rows" not in CTC.to_dict()
    for bad in (-1, 2.5, True, "12"):
        with pytest.raises(ContractError, match="expected max_flat_rows to be a non-negative integer"):
            Contract.from_dict({**CTC.to_dict(), "max_flat_rows": bad})


def test_low_confidence_is_rejected_and_the_threshold_is_an_option():
    assert trust.assess(CTC, "ab12e", 0.49, GOOD).reason == trust.LOW_CONFIDENCE
    assert trust.assess(CTC, "ab12e", 0.5, GOOD).reason is None
    assert trust.assess(CTC, "ab12e", 0.7, GOOD, min_confidence=0.8).reason == trust.LOW_CONFIDENCE
    assert trust.assess(CTC, "ab12e", float("nan"), GOOD).reason == trust.LOW_CONFIDENCE


def test_the_first_reason_wins():
    everything = trust.ImageStats(480, 640, 40)
    assert trust.assess(CTC, "", 0.1, everything, lengths=(5, 5)).reason == trust.EMPTY
    assert trust.assess(CTC, "ab", 0.1, everything, lengths=(5, 5)).reason == trust.LENGTH
    assert trust.assess(CTC, "ab12e", 0.1, everything, lengths=(5, 5)).reason == trust.ASPECT
    assert trust.assess(CTC, "ab12e", 0.1, trust.ImageStats(50, 200, 40), lengths=(5, 5)).reason == trust.MARGIN
    assert set(trust.REASONS) == {trust.EMPTY, trust.LENGTH, trust.ASPECT, trust.MARGIN, trust.LOW_CONFIDENCE}


# ---- the statistics --------------------------------------------------------------------------

def test_aspect_error_is_the_log2_of_the_shape_ratio():
    assert trust.aspect_error(CTC, 50, 200) == 0.0
    assert trust.aspect_error(CTC, 50, 400) == pytest.approx(1.0)
    assert trust.aspect_error(CTC, 100, 200) == pytest.approx(1.0)
    assert trust.aspect_error(CTC, 0, 200) == math.inf


def test_flat_rows_counts_flat_rows_at_both_ends_only():
    rng = np.random.default_rng(0)
    px = rng.integers(0, 256, (50, 200), dtype=np.uint8)
    assert trust.flat_rows(px) == 0
    px[:5] = 220
    px[5] = np.clip(220 + rng.normal(0, 1.5, 200), 0, 255).astype(np.uint8)  # faint noise is still flat
    px[-3:] = 40
    px[20:30] = 128  # flat rows in the middle are the content's business
    assert trust.flat_rows(px) == 9
    assert trust.flat_rows(np.full((50, 200), 255, np.uint8)) == 50


def test_image_stats_of_a_padded_image():
    rng = np.random.default_rng(1)
    inner = rng.integers(0, 256, (30, 200), dtype=np.uint8)
    padded = np.pad(inner, ((10, 10), (0, 0)), constant_values=250)
    stats = trust.image_stats(padded.shape[0], padded.shape[1], padded)
    assert stats == trust.ImageStats(50, 200, 20)


def test_temper_keeps_probabilities_and_sharpens_below_one():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    assert np.allclose(trust.temper(p, 1.0), p, atol=1e-6)
    sharp = trust.temper(p, 0.5)
    assert np.allclose(sharp.sum(axis=1), 1.0) and (sharp.max(axis=1) > p.max(axis=1)).all()
    assert (sharp.argmax(axis=1) == p.argmax(axis=1)).all()


def test_expected_calibration_error():
    assert trust.expected_calibration_error([0.9, 0.9, 0.9, 0.9], [1, 1, 1, 0]) == pytest.approx(0.15)
    assert trust.expected_calibration_error([1.0, 0.0], [1, 0]) == 0.0
    # two bins: 0.95 x2 (both right, gap 0.05) and 0.25 x2 (one right, gap 0.25): (2*0.05 + 2*0.25) / 4
    assert trust.expected_calibration_error([0.95, 0.95, 0.25, 0.25], [1, 1, 1, 0]) == pytest.approx(0.15)
    assert math.isnan(trust.expected_calibration_error([], []))


def test_trust_is_pure_it_imports_only_numpy_the_contract_and_its_default():
    tree = ast.parse(Path(trust.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {("." * n.level) + (n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "math", "dataclasses", "numpy", ".contract", ".options"}, imported


# ---- on the shipped models ---------------------------------------------------------------------

def rejection(rec, image: np.ndarray) -> str | None:
    """The Recognizer's own verdict on an image: why it rejects the read, or None if it trusts it."""
    rejected = rec.recognize(image).rejected
    assert rejected is None or rejected in trust.REASONS, rejected
    return rejected


@pytest.fixture(scope="module")
def default():
    from edge_runtime.recognizer import Recognizer

    return Recognizer.from_file()


def junk() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(15)
    return {
        "640x480 colour noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),  # the example
        "blank 200x50": np.full((50, 200, 3), 255, np.uint8),
        "gray noise 200x50": np.clip(rng.normal(128, 40, (50, 200)), 0, 255).astype(np.uint8),
        "gradient 200x50": np.tile(np.linspace(0, 255, 200, dtype=np.float32), (50, 1)).astype(np.uint8),
    }


@pytest.mark.parametrize("name", list(junk()))
def test_junk_is_rejected_by_the_default_and_the_examples_model(name, default, synth):
    image = junk()[name]
    for rec in (default, synth):
        assert rejection(rec, image) is not None, f"{name} was trusted by {rec.model.path.stem}"


def test_every_committed_example_is_trusted(synth):
    for path in sorted(EXAMPLES.glob("*.png")):
        image = images.load(str(path))
        reason = rejection(synth, image)
        assert reason is None, f"{path.name}: {reason}"
        assert synth.recognize(image).text == path.stem


def test_a_captcha_lost_in_a_page_or_padded_is_never_a_trusted_wrong_read(synth):
    for path in sorted(EXAMPLES.glob("*.png"))[:4]:
        cap = images.load(str(path))[:, :, :3]
        page = np.full((300, 600, 3), 255, np.uint8)  # the centred 600x300 page
        page[125:175, 200:400] = cap
        assert rejection(synth, page) in (trust.EMPTY, trust.LENGTH, trust.ASPECT)
        padded = np.empty((62, 200, 3), np.uint8)  # a loose crop: 6 flat rows above and below
        padded[:] = cap[0, 0]
        padded[6:56] = cap
        reason = rejection(synth, padded)
        assert reason == trust.MARGIN or (reason is None and synth.recognize(padded).text == path.stem), reason
