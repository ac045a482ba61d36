"""The Python API: ``Recognizer.from_file(...).recognize(image) -> Prediction``."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from . import images, trust
from .contract import Contract, read_contract
from .decode import decoder_for
from .engine import Engine, InterpreterInfo
from .errors import INPUT_ERRORS, ImageError, ModelError, input_error_message
from .preprocess import prepare
from .registry import resolve


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each stage of one recognition."""

    read_ms: float
    preprocess_ms: float
    invoke_ms: float
    decode_ms: float

    @property
    def total_ms(self) -> float:
        return self.read_ms + self.preprocess_ms + self.invoke_ms + self.decode_ms


@dataclass(frozen=True)
class Prediction:
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    timings: Timings
    rejected: str | None = None  # why the read is not to be trusted (trust.REASONS), or None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["timings"]["total_ms"] = self.timings.total_ms
        return d


@dataclass(frozen=True)
class Result:
    """One input of a batch: a prediction, or the one-line reason it failed."""

    source: str
    prediction: Prediction | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class LoadedModel:
    path: Path
    contract: Contract
    data: bytes


def load_model(model: str | os.PathLike | None = None) -> LoadedModel:
    """Read a model file (or shipped name) and its contract, without creating an interpreter."""
    path = resolve(model)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"expected a readable model file, got {exc.strerror or exc} for {path}") from None
    return LoadedModel(path, read_contract(data), data)


class Recognizer:
    """One model and one interpreter: ``Recognizer.from_file(name|path).recognize(image)``.

    Not thread-safe (an interpreter has one set of tensors): use one Recognizer per thread."""

    def __init__(self, loaded: LoadedModel, threads: int = 1, interpreter: str | None = None,
                 min_confidence: float = trust.MIN_CONFIDENCE, roi: images.Roi | None = None):
        self.model = loaded
        self.contract = loaded.contract
        self.min_confidence = min_confidence
        self.roi = roi
        self._engine = Engine(loaded.data, loaded.contract, threads=threads, interpreter=interpreter)
        self._decode = decoder_for(self.contract)

    @classmethod
    def from_file(cls, model: str | os.PathLike | None = None, threads: int = 1, interpreter: str | None = None,
                  min_confidence: float = trust.MIN_CONFIDENCE, roi: images.Roi | None = None) -> "Recognizer":
        """``min_confidence``: reads below it come back with ``rejected="low-confidence"``.
        ``roi``: (x, y, w, h) in image pixels; every image is cropped to it before it is read (an
        image it does not fit in gets an ImageError), as ``predict --roi`` does."""
        return cls(load_model(model), threads=threads, interpreter=interpreter, min_confidence=min_confidence, roi=roi)

    @property
    def interpreter(self) -> InterpreterInfo:
        """The interpreter package that runs this model."""
        return self._engine.info

    def describe(self) -> dict:
        """The model file, its contract, its tensors and the interpreter, as ``info`` and ``bench`` show them."""
        engine, m = self._engine, self.model
        return {
            "file": str(m.path),
            "bytes": len(m.data),
            # the temperature is shown even when the file leaves it out (1.0: uncalibrated)
            "contract": {**m.contract.to_dict(), "temperature": m.contract.temperature},
            "input_tensor": engine.input.to_dict(),
            "output_tensor": engine.output.to_dict(),
            "interpreter": {"package": engine.info.distribution, "version": engine.info.version},
        }

    def _invoke(self, image: images.ImageSource, prepared: bool = False) -> tuple[float, float, float, float, trust.ImageStats]:
        """Read, prepare and invoke; the stage boundaries' perf_counter times, and the input's stats.
        ``prepared``: ``image`` is an array that ``prepare`` returned for this contract, used as it is."""
        t0 = time.perf_counter()
        decoded_image = self._prepared(image) if prepared else images.crop(images.load(image), self.roi)
        t1 = time.perf_counter()
        pixels = decoded_image if prepared else prepare(decoded_image, self.contract.input)
        t2 = time.perf_counter()
        self._engine.set_input(pixels)
        self._engine.invoke()
        t3 = time.perf_counter()
        return t0, t1, t2, t3, trust.image_stats(decoded_image.shape[0], decoded_image.shape[1], pixels)

    def _prepared(self, pixels: np.ndarray) -> np.ndarray:
        spec = self.contract.input
        shape = (spec.height, spec.width) + ((spec.channels,) if spec.channels > 1 else ())
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.shape != shape:
            got = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
            raise ImageError(f"expected prepared uint8 pixels of shape {shape}, got {got}")
        return pixels

    def probabilities(self, image: images.ImageSource, prepared: bool = False) -> np.ndarray:
        """The model's (steps, classes) float32 class probabilities for one image (``prepared``: as
        in :meth:`recognize`)."""
        self._invoke(image, prepared)
        return self._engine.output_probs()

    def invoke_only(self, pixels: np.ndarray) -> None:
        """Run the interpreter on already prepared (height, width) uint8 pixels: for benchmarks."""
        self._engine.set_input(pixels)
        self._engine.invoke()

    def recognize(self, image: images.ImageSource, prepared: bool = False) -> Prediction:
        """Text in one image, given as a path, encoded bytes, or an array (gray/BGR/BGRA, any size).
        A read that cannot be trusted (trust.py) keeps its text and says why in ``rejected``.
        ``prepared``: the image is pixels that ``preprocess.prepare`` already brought to this
        contract's input (gray, or RGB), read as they are: the trainer checks an exported file
        on the very pixels its Keras model read (``crop`` would not give them back unchanged)."""
        t0, t1, t2, t3, stats = self._invoke(image, prepared)
        result = trust.calibrated(self._decode, self._engine.output_probs(), self.contract.temperature)
        verdict = trust.assess(self.contract, result.text, result.confidence, stats, min_confidence=self.min_confidence)
        t4 = time.perf_counter()
        timings = Timings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3)
        return Prediction(result.text, verdict.confidence, result.char_confidences, timings, verdict.reason)

    def result(self, source: images.ImageSource, name: str | None = None) -> Result:
        """recognize() under the error policy of every batch and service: a bad input becomes a
        Result with a one-line error, never an exception that would stop the others."""
        if name is None:
            name = os.fsdecode(source) if isinstance(source, (str, os.PathLike)) else f"<{type(source).__name__}>"
        try:
            return Result(name, prediction=self.recognize(source))
        except INPUT_ERRORS as exc:
            return Result(name, error=input_error_message(exc))

    def recognize_many(self, sources: Iterable[images.ImageSource]) -> Iterator[Result]:
        """Each source's Result in order; a bad input gives an error Result and the rest go on."""
        for source in sources:
            yield self.result(source)


def image_paths(path: str | os.PathLike) -> list[Path]:
    """The inputs a CLI path stands for: a file itself, or the image files in a directory, sorted."""
    p = Path(path)
    if p.is_dir():
        return sorted(q for q in p.iterdir() if images.is_image_name(q))
    return [p]
