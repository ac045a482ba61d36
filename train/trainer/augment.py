"""Training-time augmentation on uint8 pixels (numpy + cv2): small affine warps, contrast, noise,
and thin line strokes like the ones drawn across real CAPTCHAs."""

from __future__ import annotations

import cv2
import numpy as np


def _ink(pixels: np.ndarray, value) -> int | tuple[int, ...]:
    """A gray drawing colour for cv2: a scalar would only paint an RGB image's first channel."""
    return int(value) if pixels.ndim == 2 else (int(value),) * pixels.shape[2]


def stroke(pixels: np.ndarray, rng: np.random.Generator) -> None:
    """Draw, in place, one dark curve across most of the width, like the line every real image
    has: it teaches the model that a stroke may cross any character (an n under a stroke is
    not an m)."""
    h, w = pixels.shape[:2]
    x0 = rng.uniform(0.0, 0.3) * w
    x1 = rng.uniform(0.7, 1.0) * w
    ys = rng.uniform(0.2, 0.8, 3) * h  # start, bend, end: a quadratic curve
    t = np.linspace(0.0, 1.0, 24)
    xs = x0 + (x1 - x0) * t
    yc = (1 - t) ** 2 * ys[0] + 2 * (1 - t) * t * ys[1] + t**2 * ys[2]
    points = np.stack([xs, yc], axis=1).round().astype(np.int32)
    cv2.polylines(pixels, [points], False, _ink(pixels, rng.integers(0, 70)), int(rng.integers(1, 4)), cv2.LINE_AA)


def augment(pixels: np.ndarray, rng: np.random.Generator, strokes: float = 0.0) -> np.ndarray:
    """One randomly distorted copy of an (H, W) gray or (H, W, 3) RGB uint8 image; ``strokes``:
    chance of an extra curve across the text."""
    h, w = pixels.shape[:2]
    angle = rng.uniform(-3.0, 3.0)
    scale = rng.uniform(0.93, 1.07)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[0, 1] += rng.uniform(-0.15, 0.15)  # shear
    m[0, 2] += rng.uniform(-0.04, 0.04) * w
    m[1, 2] += rng.uniform(-0.06, 0.06) * h
    out = cv2.warpAffine(pixels, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.3:
        x0, x1 = sorted(rng.integers(0, w, 2))
        y0, y1 = rng.integers(0, h, 2)
        cv2.line(out, (int(x0), int(y0)), (int(x1), int(y1)), _ink(out, rng.integers(0, 120)), int(rng.integers(1, 3)))
    # Short-circuit: with strokes=0 no random number is drawn, so older runs replay exactly.
    if strokes and rng.random() < strokes:
        stroke(out, rng)
    out = out.astype(np.float32)
    out = (out - 128.0) * rng.uniform(0.8, 1.2) + 128.0 + rng.uniform(-20, 20)
    if rng.random() < 0.5:
        out += rng.normal(0.0, rng.uniform(2.0, 10.0), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)
