"""Whether a read can be trusted (issue #15): pure functions of the contract, the decoded read and
two cheap facts about the input image. No interpreter, no I/O: the Recognizer computes
:func:`image_stats` while it prepares the pixels, and the caller passes the read and the stats to
:func:`assess`.

A read is rejected for the first of these reasons that applies:

- ``"empty"``: no character. A CTC model answers junk (blank pages, noise, photos, pages with a
  small CAPTCHA somewhere) with all-blank frames at a high confidence: the empty read is the
  model's own "nothing here".
- ``"length"``: a text length the model was never trained on; such a read cannot be right. A CTC
  decoder keeps its reads to the trained lengths when it can (decode.ctc_decode), so this is left
  for a multihead read and a CTC read with too few steps for the length.
- ``"aspect"``: the image is not shaped like the model's input (a page, a camera frame, two
  CAPTCHAs side by side): squeezed into the input it is read badly. Crop it (``--roi``).
- ``"margin"``: flat bands above and below the content (a loose crop, a CAPTCHA on a page): the
  text is squashed vertically and the models misread it while still sounding confident. A model
  whose training images had such bands (text on a plain band) allows what they had
  (:func:`margin_allowance`).
- ``"low-confidence"``: confidence below ``min_confidence``.

For "empty" and "length" the returned confidence is 0.0: such a read is never right.

Every constant was measured with ``scripts/bench_trust.py --rules`` on the junk corpus of
``scripts/make_junk.py --seed 0`` (432 images), the Wilhelmy validation split (129 images) and
300 unseen synthetic images for ``synth36-int8``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

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
    """Which rows of uint8 gray (rows, W) or RGB (rows, W, 3) pixels have a standard deviation
    below FLAT_ROW_STD, in every channel (integer arithmetic: n * sum(x^2) - sum(x)^2 = n^2 * variance)."""
    x = rows.astype(np.int64)
    n = x.shape[1]
    s = x.sum(axis=1)
    flat = n * (x * x).sum(axis=1) - s * s < (FLAT_ROW_STD * n) ** 2
    return flat.all(axis=-1) if flat.ndim > 1 else flat  # RGB: one answer per row, not per channel


def flat_rows(pixels: np.ndarray) -> int:
    """Rows at the top plus rows at the bottom of (height, width[, 3]) pixels whose std is below FLAT_ROW_STD."""
    pixels = np.asarray(pixels)
    if not _flat(pixels[[0, -1]]).any():  # the usual case, and the cheap one: two rows
        return 0
    flat = _flat(pixels)
    if flat.all():
        return int(flat.size)
    return int(flat.argmin() + flat[::-1].argmin())


def margin_allowance(contract: Contract) -> float:
    """The most flat rows (top plus bottom) a trusted input may have: what the model's training
    images had, recorded by export (``max_flat_rows``), else MAX_FLAT_ROWS of the input height."""
    if contract.max_flat_rows is not None:
        return contract.max_flat_rows
    return MAX_FLAT_ROWS * contract.input.height


def trained_flat_rows(pixels, height: int) -> int | None:
    """What export records as ``max_flat_rows`` for training images (prepared, model-sized
    pixels): the most flat rows any of them has, or None when the default share allows them all,
    so that a model of a textured style keeps the default rule (and the JSON it always had)."""
    most = max((flat_rows(p) for p in pixels), default=0)
    return most if most > MAX_FLAT_ROWS * height else None


def image_stats(height: int, width: int, pixels: np.ndarray) -> ImageStats:
    """The stats of one input: the decoded image's size and its prepared (model-sized) pixels."""
    return ImageStats(int(height), int(width), flat_rows(pixels))


def aspect_error(contract: Contract, height: int, width: int) -> float:
    """|log2| of the image's width/height over the model input's: 0 when shaped alike, 1 at a factor of 2."""
    if height < 1 or width < 1:
        return math.inf
    return abs(math.log2((width / height) / (contract.input.width / contract.input.height)))


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities with temperature scaling: softmax(log(p) / T) per step, that is p ** (1/T)
    rescaled to the step's own total. T > 1 softens them; each step's best class stays its best, so
    a text never changes. temper(p, 1) is p, so confidences change smoothly with T:
    - a zero probability (int8 outputs come in steps of 1/256) stays zero. Flooring it at half a
      step, as first measured, made the log-loss of every T > 1 jump far above T = 1's (0.15 ->
      0.27 on convctc-fast-int8's degraded validation images): no fit could ever choose one;
    - the total is the step's own, not 1: int8 outputs do not sum to exactly 1, and renormalising
      them to 1 raised a model's confidences at T just above 1 (sharpening it).
    A step with no positive probability stays all zero."""
    p = np.clip(np.nan_to_num(np.asarray(probs, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        logits = np.log(p) / float(temperature)
    top = logits.max(axis=-1, keepdims=True)
    top[~np.isfinite(top)] = 0.0
    e = np.exp(logits - top)
    total = e.sum(axis=-1, keepdims=True)
    return (e * (p.sum(axis=-1, keepdims=True) / np.where(total > 0, total, 1.0))).astype(np.float32)


def calibrated(decode, probs: np.ndarray, temperature: float):
    """``decode(probs)`` (a :mod:`edge_runtime.decode` decoder) with its confidences read from the
    probabilities tempered by the contract's ``temperature``. The text is always that of the raw
    probabilities; at T == 1 nothing more is done (the hot path of every shipped model)."""
    result = decode(probs)
    if temperature == 1.0:
        return result
    tempered = decode(temper(probs, temperature))
    return replace(result, confidence=tempered.confidence, char_confidences=tempered.char_confidences)


#: The highest temperature export may fit. The fit never goes below 1 (sharpening): a validation
#: split with few or no errors (Wilhelmy's has none for most shipped models) pulls the log-loss
#: optimum to T ~ 0.25, which makes every read, junk included, more confident. The top only bounds
#: the search: on degraded validation images (read 67-81 % right) the fits stay within 1..1.25.
TEMPERATURE_MAX = 4.0
#: Candidate temperatures per doubling of T in the fit's grid search (log-spaced from 1).
TEMPERATURE_STEPS_PER_OCTAVE = 16


def fit_temperature(confidences_at, correct, t_max: float = TEMPERATURE_MAX) -> float:
    """The T in [1, t_max] minimising the binary log-loss of ``confidences_at(T)`` (the full-string
    confidences of the reads) against ``correct``, by grid search; 1.0 unless a higher T is strictly
    better. Bounded below by 1: see TEMPERATURE_MAX."""
    ok = np.asarray(correct, dtype=np.float64)
    if ok.size == 0:
        return 1.0
    steps = max(1, round(math.log2(t_max) * TEMPERATURE_STEPS_PER_OCTAVE))
    best, best_loss = 1.0, math.inf
    for t in np.exp(np.linspace(0.0, math.log(t_max), steps + 1)):
        c = np.clip(np.asarray(confidences_at(float(t)), dtype=np.float64), 1e-6, 1 - 1e-6)
        loss = -float(np.mean(ok * np.log(c) + (1 - ok) * np.log(1 - c)))
        if loss < best_loss - 1e-9:
            best, best_loss = float(t), loss
    return best


@dataclass(frozen=True)
class Reliability:
    """Reads binned by confidence into equal-width bins (a confidence of 1.0 falls in the last
    bin): the numbers behind a reliability plot and the expected calibration error."""

    count: np.ndarray  # reads per bin
    accuracy: np.ndarray  # share of correct reads per bin (NaN for an empty bin)
    confidence: np.ndarray  # mean confidence per bin (NaN for an empty bin)

    @property
    def bins(self) -> int:
        return len(self.count)

    @property
    def ece(self) -> float:
        """The count-weighted mean of |accuracy - mean confidence| over the bins; NaN for no reads."""
        total = int(self.count.sum())
        if total == 0:
            return float("nan")
        full = self.count > 0
        return float((self.count[full] * np.abs(self.accuracy[full] - self.confidence[full])).sum() / total)


#: Equal-width confidence bins of the reliability table and the expected calibration error: one
#: statement for export's ECE in the contract, evaluate's report and the trust benchmark.
RELIABILITY_BINS = 10


def reliability(confidences, correct, bins: int = RELIABILITY_BINS) -> Reliability:
    """Per-bin counts, accuracy and mean confidence of reads with these confidences and correctness."""
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    ok = np.asarray(correct, dtype=np.float64).reshape(-1)
    if conf.shape != ok.shape:
        raise ValueError(f"expected one correctness per confidence, got {ok.size} for {conf.size}")
    idx = np.minimum((np.clip(conf, 0.0, 1.0) * bins).astype(int), bins - 1)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(idx, ok, bins) / count
        mean_conf = np.bincount(idx, conf, bins) / count
    return Reliability(count, accuracy, mean_conf)


def expected_calibration_error(confidences, correct, bins: int = RELIABILITY_BINS) -> float:
    """ECE: the count-weighted mean of |accuracy - mean confidence| over ``bins`` equal-width
    confidence bins (a confidence of 1.0 falls in the last bin); NaN for no reads."""
    return reliability(confidences, correct, bins).ece


def never_right(contract: Contract, text: str, lengths: tuple[int, int] | None = None) -> str | None:
    """EMPTY or LENGTH if a read with this text cannot be right whatever its confidence, else None."""
    lengths = lengths or contract.length_range
    if not text:
        return EMPTY
    if lengths is not None and not lengths[0] <= len(text) <= lengths[1]:
        return LENGTH
    return None


def reported_confidence(contract: Contract, text: str, confidence: float) -> float:
    """The confidence a Prediction carries for this read: 0.0 if it can never be right (see
    :func:`assess`), else its own. Calibration fits and measures this number."""
    return 0.0 if never_right(contract, text) else confidence


def assess(contract: Contract, text: str, confidence: float, stats: ImageStats, *,
           min_confidence: float = MIN_CONFIDENCE, lengths: tuple[int, int] | None = None) -> Verdict:
    """Whether to trust one read (``Prediction.text``/``.confidence``) of an image with ``stats``.

    ``lengths`` overrides the contract's ``length_range`` (the label lengths it was trained on)."""
    never = never_right(contract, text, lengths)
    if never:
        return Verdict(never, 0.0)
    if aspect_error(contract, stats.height, stats.width) > MAX_ASPECT_ERROR:
        return Verdict(ASPECT, confidence)
    if stats.flat_rows > margin_allowance(contract):
        return Verdict(MARGIN, confidence)
    if not confidence >= min_confidence:  # NaN too
        return Verdict(LOW_CONFIDENCE, confidence)
    return Verdict(None, confidence)
