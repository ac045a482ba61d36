"""Quantization handled in one place: uint8 pixels -> input tensor, output tensor -> float probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .contract import InputSpec, Output
from .errors import ModelError


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, d: dict) -> "TensorInfo":
        scale, zero = d.get("quantization", (0.0, 0))
        return cls(int(d["index"]), str(d.get("name", "")), tuple(int(x) for x in d["shape"]), d["dtype"], float(scale), int(zero))

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": np.dtype(self.dtype).name,
                "scale": self.scale, "zero_point": self.zero_point}

    @property
    def quantized(self) -> bool:
        return self.dtype in (np.uint8, np.int8) and self.scale > 0


def input_encoder(info: TensorInfo, spec: InputSpec) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping (H, W) uint8 pixels to an array for the input tensor."""
    shape = info.shape
    if info.dtype == np.float32:
        scale, offset = np.float32(spec.scale), np.float32(spec.offset)
        return lambda px: (px.astype(np.float32) * scale + offset).reshape(shape)
    if info.quantized:
        # q = value / s + z with value = pixel * scale + offset. When that is the identity
        # (uint8 input, s == scale, z == -offset / scale) raw pixels are fed as they are.
        a = spec.scale / info.scale
        b = spec.offset / info.scale + info.zero_point
        if info.dtype == np.uint8 and abs(a - 1.0) < 1e-4 and abs(b) < 1e-3:
            return lambda px: px.reshape(shape)
        lo, hi = np.iinfo(info.dtype).min, np.iinfo(info.dtype).max
        return lambda px: np.clip(np.rint(px.astype(np.float32) * a + b), lo, hi).astype(info.dtype).reshape(shape)
    raise ModelError(f"expected a float32, uint8 or int8 input tensor, got {np.dtype(info.dtype).name}")


def dequantize(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.quantized:
        return (values.astype(np.float32) - np.float32(info.zero_point)) * np.float32(info.scale)
    if values.dtype != np.float32:
        return values.astype(np.float32)
    return values


def output_decoder(info: TensorInfo, output: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping the output tensor's values to float32 class probabilities: dequantized,
    and for a file whose output holds logits (the contract's ``output``), their softmax per row."""
    if output != Output.LOGITS:
        return lambda values: dequantize(values, info)
    return lambda values: softmax(dequantize(values, info))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float32 (the largest logit subtracted first, so exp never overflows)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)
