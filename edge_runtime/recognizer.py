"""The Python API: ``Recognizer.from_file(...).recognize(image) -> Prediction``."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from . import images
from .contract import Contract, read_contract
from .decode import Decoded, ctc_greedy, per_position
from .engine import Engine
from .errors import CaptchaEdgeError, ModelError
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
    def __init__(self, loaded: LoadedModel, threads: int = 1, interpreter: str | None = None):
        self.model = loaded
        self.contract = loaded.contract
        self.engine = Engine(loaded.data, loaded.contract, threads=threads, interpreter=interpreter)
        self._chars = self.contract.class_chars()
        self._decode = self._ctc if self.contract.kind == "ctc" else self._heads

    @classmethod
    def from_file(cls, model: str | os.PathLike | None = None, threads: int = 1, interpreter: str | None = None) -> "Recognizer":
        return cls(load_model(model), threads=threads, interpreter=interpreter)

    def _ctc(self, probs: np.ndarray) -> Decoded:
        return ctc_greedy(probs, self._chars)

    def _heads(self, probs: np.ndarray) -> Decoded:
        return per_position(probs, self.contract.charset)

    def recognize(self, image: images.ImageSource) -> Prediction:
        """Text in one image, given as a path, encoded bytes, or an array (gray/BGR/BGRA, any size)."""
        t0 = time.perf_counter()
        decoded_image = images.load(image)
        t1 = time.perf_counter()
        pixels = prepare(decoded_image, self.contract.input)
        t2 = time.perf_counter()
        self.engine.set_input(pixels)
        self.engine.invoke()
        t3 = time.perf_counter()
        result = self._decode(self.engine.output_probs())
        t4 = time.perf_counter()
        timings = Timings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3)
        return Prediction(result.text, result.confidence, result.char_confidences, timings)

    def recognize_many(self, sources: Iterable[images.ImageSource]) -> Iterator[Result]:
        """Each source's Result in order; a bad input gives an error Result and the rest go on."""
        for source in sources:
            name = os.fsdecode(source) if isinstance(source, (str, os.PathLike)) else f"<{type(source).__name__}>"
            try:
                yield Result(name, prediction=self.recognize(source))
            except CaptchaEdgeError as exc:
                yield Result(name, error=str(exc))
            except (MemoryError, ValueError) as exc:  # last resort: never let one input stop a batch
                yield Result(name, error=f"{type(exc).__name__}: {exc}")


def image_paths(path: str | os.PathLike) -> list[Path]:
    """The inputs a CLI path stands for: a file itself, or the image files in a directory, sorted."""
    p = Path(path)
    if p.is_dir():
        return sorted(q for q in p.iterdir() if images.is_image_name(q))
    return [p]
