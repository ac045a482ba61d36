"""Whether a read can be trusted (issue #15): pure functions of the contract, the decoded read and
two cheap facts about the input image. No interpreter, no I/O: the Recognizer computes
:func:`image_stats` while it prepares the pixels, and the caller passes the read and the stats to
:func:`assess`.

A read is rejected for the first of these reasons that applies:

- ``"empty"``: no character. A CTC model answers junk (blank pages, noise, photos, pages with a
  small CAPTCHA somewhere) with all-blank frames at a high confidence: the empty read is the
  model's own "nothing here".
- ``"length"``: a text length the model was never trained on; such a read cannot be right.
- ``"aspect"``: the image is not shaped like the model's input (a page, a camera frame, two
  CAPTCHAs side by side): squeezed into the input it is read badly. Crop it (``--roi``).
- ``"margin"``: flat bands above and below the content (a loose crop, a CAPTCHA on a page): the
  text is squashed vertically and the models misread it while still sounding confident.
- ``"low-confidence"``: confidence below ``min_confidence``.

For "empty" and "length" the returned confidence is 0.0: such a read is never right.

Every constant was measured with ``scripts/bench_trust.py --rules`` on the junk corpus of
``scripts/make_junk.py --seed 0`` (432 images), the Wilhelmy validation split (129 images) and
300 unseen synthetic images for ``synth36-int8``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .contract import Contract
from .options import RecognizerOptions, default

#: The default of ``--min-confidence`` (stated in options.RecognizerOptions): the issue's bar for
#: "flagged". Every correct read of the default model on the Wilhelmy validation images has
#: confidence >= 0.62 (129/129); at 0.8 the default model keeps only 98.4 % of them
#: (bench_trust.py --rules, rows "(a)").
MIN_CONFIDENCE = default(RecognizerOptions, "min_confidence")

#: How far the image's width/height may be from the model input's, as |log2(ratio)|: 0.5 is a
#: factor of sqrt(2) either way (a 200x50 input accepts 142x50 .. 282x50). Padding validation
#: images (bench_trust.py margin sweep): at 0.58 (300x50, 240x90) and beyond, the Wilhelmy models
#: read 0-22 % correctly, and the CRNNs misread 13-17 % of 300x50 ones with confidence >= 0.5; at
#: 0.49 (200x70) they still read 25-72 %. Junk and held-out figures are the same at 1.41x and 1.5x.
MAX_ASPECT_ERROR = 0.5

#: A row of the prepared pixels is "flat" if its standard deviation is below this (gray levels).
FLAT_ROW_STD = 3.0

#: Most flat rows allowed at the top plus the bottom of the prepared pixels, as a share of the
#: input height (5 rows of 50). Wilhelmy (all 863) and synthetic images have none: their
#: backgrounds are textured edge to edge. Padding 5-15 px above and below a validation image
#: gives 8-18 flat rows; without this rule the default model misreads 2-9 of 60 such images with
#: confidence >= 0.5, the CRNNs up to 24 of 60; with it none (bench_trust.py margin sweep).
MAX_FLAT_ROWS = 0.1

EMPTY, LENGTH, ASPECT, MARGIN, LOW_CONFIDENCE = "empty", "length", "aspect", "margin", "low-confidence"
REASONS = (EMPTY, LENGTH, ASPECT, MARGIN, LOW_CONFIDENCE)


@dataclass(frozen=True)
class ImageStats:
    """What :func:`assess` needs to know about the input image."""

    height: int  # of the decoded image (after any --roi crop), before it was fitted to the model input
    width: int
    flat_rows: int = 0  # flat rows at the top plus the bottom of the prepared pixels


@dataclass(frozen=True)
class Verdict:
    """What :func:`assess` concludes about one read."""

    reason: str | None  # None if the read can be trusted, else one of REASONS
    confidence: float  # the read's confidence; 0.0 for "empty" and "length" (never right)

    @property
    def rejected(self) -> bool:
        return self.reason is not None


def _flat(rows: np.ndarray) -> np.ndarray:
    """Which rows of uint8 pixels have a standard deviation below FLAT_ROW_STD (integer arithmetic:
    n * sum(x^2) - sum(x)^2 = n^2 * variance)."""
    x = rows.astype(np.int64)
    n = x.shape[1]
    s = x.sum(axis=1)
    return n * (x * x).sum(axis=1) - s * s < (FLAT_ROW_STD * n) ** 2


def flat_rows(pixels: np.ndarray) -> int:
    """Rows at the top plus rows at the bottom of (height, width) pixels whose std is below FLAT_ROW_STD."""
    pixels = np.asarray(pixels)
    if not _flat(pixels[[0, -1]]).any():  # the usual case, and the cheap one: two rows
        return 0
    flat = _flat(pixels)
    if flat.all():
        return int(flat.size)
    return int(flat.argmin() + flat[::-1].argmin())


def image_stats(height: int, width: int, pixels: np.ndarray) -> ImageStats:
    """The stats of one input: the decoded image's size and its prepared (model-sized) pixels."""
    return ImageStats(int(height), int(width), flat_rows(pixels))


def aspect_error(contract: Contract, height: int, width: int) -> float:
    """|log2| of the image's width/height over the model input's: 0 when shaped alike, 1 at a factor of 2."""
    if height < 1 or width < 1:
        return math.inf
    return abs(math.log2((width / height) / (contract.input.width / contract.input.height)))


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities with temperature scaling: softmax(log(p) / T) per step. (Measured, not
    adopted: see the issue #15 report.) int8 models output probabilities in steps of 1/256, zeros
    included, so each is floored at half a step before the logarithm."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1.0 / 512.0, 1.0)
    logits = np.log(p) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def expected_calibration_error(confidences, correct, bins: int = 10) -> float:
    """ECE: the count-weighted mean of |accuracy - mean confidence| over ``bins`` equal-width
    confidence bins (a confidence of 1.0 falls in the last bin); NaN for no reads."""
    conf = np.asarray(confidences, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        return float("nan")
    idx = np.minimum((np.clip(conf, 0.0, 1.0) * bins).astype(int), bins - 1)
    count = np.bincount(idx, minlength=bins)
    gap = np.abs(np.bincount(idx, ok, bins) - np.bincount(idx, conf, bins))  # per bin: count * |acc - conf|
    return float(gap.sum() / count.sum())


def assess(contract: Contract, text: str, confidence: float, stats: ImageStats, *,
           min_confidence: float = MIN_CONFIDENCE, lengths: tuple[int, int] | None = None) -> Verdict:
    """Whether to trust one read (``Prediction.text``/``.confidence``) of an image with ``stats``.

    ``lengths`` overrides the contract's ``length_range`` (the label lengths it was trained on)."""
    lengths = lengths or contract.length_range
    if not text:
        return Verdict(EMPTY, 0.0)
    if lengths is not None and not lengths[0] <= len(text) <= lengths[1]:
        return Verdict(LENGTH, 0.0)
    if aspect_error(contract, stats.height, stats.width) > MAX_ASPECT_ERROR:
        return Verdict(ASPECT, confidence)
    if stats.flat_rows > MAX_FLAT_ROWS * contract.input.height:
        return Verdict(MARGIN, confidence)
    if not confidence >= min_confidence:  # NaN too
        return Verdict(LOW_CONFIDENCE, confidence)
    return Verdict(None, confidence)
