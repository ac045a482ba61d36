"""A thin typed adapter around whichever TFLite interpreter the device has.

Order of preference: ``ai_edge_litert`` (LiteRT), then ``tflite_runtime``. TensorFlow is
never imported. ``CAPTCHA_EDGE_INTERPRETER=tflite_runtime`` (or ``interpreter=``) picks one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from . import quiet
from .contract import Contract, Kind
from .errors import InterpreterUnavailable, ModelError, first_line
from .quant import TensorInfo, input_encoder, output_decoder
from .registry import INTERPRETERS as PACKAGES


@dataclass(frozen=True)
class InterpreterInfo:
    module: str
    distribution: str
    version: str


def _installed(module: str) -> bool:
    """Whether a top-level module is installed, without importing it."""
    return importlib.util.find_spec(module) is not None


def _import(name: str):
    package = PACKAGES[name]
    # Missing comes first: a package that is not there must be named as missing, not blamed on numpy.
    if not _installed(name):
        raise InterpreterUnavailable(
            f"expected the {package.distribution} package for the {name} interpreter, it is not installed: "
            f"{package.install}")
    if name == "tflite_runtime" and int(np.__version__.split(".")[0]) >= 2:
        # Its extension is built against NumPy 1.x and fails with "_ARRAY_API not found".
        raise InterpreterUnavailable(
            f"expected numpy<2 for {package.distribution}, found numpy {np.__version__}: {package.install}")
    try:
        module = importlib.import_module(package.module)
    except ImportError as exc:
        raise InterpreterUnavailable(
            f"expected {package.distribution} to import, it failed ({first_line(exc)}): {package.install}") from None
    try:
        version = metadata.version(package.distribution)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return module.Interpreter, InterpreterInfo(name, package.distribution, version)


def interpreter_class(preferred: str | None = None):
    """(Interpreter class, InterpreterInfo) for the preferred or first importable package."""
    preferred = preferred or os.environ.get("CAPTCHA_EDGE_INTERPRETER") or None
    if preferred is not None:
        if preferred not in PACKAGES:
            raise InterpreterUnavailable(f"expected an interpreter in {sorted(PACKAGES)}, got {preferred!r}")
        return _import(preferred)
    problems = []
    for name in PACKAGES:
        try:
            return _import(name)
        except InterpreterUnavailable as exc:
            problems.append(str(exc))
    raise InterpreterUnavailable("expected a TFLite interpreter, found none (" + "; ".join(problems) + ")")


def refuse_known_crash(info: InterpreterInfo, model_bytes: bytes) -> None:
    """tflite-runtime <= 2.14 on ARM segfaults in invoke() on int8 FULLY_CONNECTED layers with
    per-channel weights (gemmlowp's per-channel output stage reads past its multipliers).
    TF >= 2.16 converters quantize Dense layers per channel by default. captcha-train exports
    per-tensor Dense weights, so this only refuses foreign or old files. A segfault is never
    an acceptable answer."""
    import platform

    if info.module != "tflite_runtime" or not platform.machine().lower().startswith(("aarch64", "arm")):
        return
    try:
        major, minor = (int(x) for x in info.version.split(".")[:2])
    except ValueError:
        return
    if (major, minor) >= (2, 15):
        return
    from .flatbuf import has_per_channel_fully_connected

    if has_per_channel_fully_connected(model_bytes):
        raise ModelError(
            f"expected per-tensor int8 fully-connected weights for tflite-runtime {info.version} on ARM, this model has "
            "per-channel ones, which crash it; use ai-edge-litert (pip install ai-edge-litert) or re-export the model "
            "with captcha-train"
        )


class Engine:
    """Owns one interpreter; maps uint8 pixels to output probabilities as float32."""

    def __init__(self, model_bytes: bytes, contract: Contract, threads: int = 1, interpreter: str | None = None):
        cls, self.info = interpreter_class(interpreter)
        refuse_known_crash(self.info, model_bytes)
        self._model_bytes = model_bytes  # the interpreter reads from this buffer; keep it alive
        try:
            # The interpreter's native "INFO: Created TensorFlow Lite ... delegate" banner has no
            # off switch and would break one-line error output; anything else it prints is kept.
            with quiet.filtered(lambda line: line.startswith("INFO: Created TensorFlow Lite")):
                self._interp = cls(model_content=model_bytes, num_threads=max(1, int(threads)))
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"expected a model the {self.info.module} interpreter can load, it said: {first_line(exc)}") from None
        inputs = self._interp.get_input_details()
        outputs = self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"expected 1 input and 1 output tensor, got {len(inputs)} and {len(outputs)}")
        self.input = TensorInfo.from_details(inputs[0])
        self.output = TensorInfo.from_details(outputs[0])
        self._check_shapes(contract)
        self._encode = input_encoder(self.input, contract.input)
        self._probabilities = output_decoder(self.output, contract.output)
        self._invoke = self._interp.invoke

    def _check_shapes(self, c: Contract) -> None:
        want_in = (1, c.input.height, c.input.width, c.input.channels)
        if self.input.shape != want_in:
            raise ModelError(f"expected input shape {want_in} from the contract, the model has {self.input.shape}")
        out = self.output.shape
        if len(out) != 3 or out[0] != 1 or out[2] != c.num_classes:
            raise ModelError(
                f"expected output shape (1, steps, {c.num_classes}) for {len(c.charset)} characters"
                f"{' + blank' if c.kind == Kind.CTC else ''}, the model has {out}"
            )
        if c.kind == Kind.MULTIHEAD and out[1] != c.label_length:
            raise ModelError(f"expected {c.label_length} output positions, the model has {out[1]}")

    def set_input(self, pixels: np.ndarray) -> None:
        self._interp.set_tensor(self.input.index, self._encode(pixels))

    def invoke(self) -> None:
        self._invoke()

    def output_probs(self) -> np.ndarray:
        """(steps, classes) float32 probabilities of the last invoke."""
        return self._probabilities(self._interp.get_tensor(self.output.index)[0])
