"""Training-time augmentation on uint8 pixels (numpy + cv2): small affine warps, contrast, noise,
and thin line strokes like the ones drawn across real CAPTCHAs."""

from __future__ import annotations

import cv2
import numpy as np


def augment(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One randomly distorted copy of an (H, W) uint8 image."""
    h, w = pixels.shape
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
        cv2.line(out, (int(x0), int(y0)), (int(x1), int(y1)), int(rng.integers(0, 120)), int(rng.integers(1, 3)))
    out = out.astype(np.float32)
    out = (out - 128.0) * rng.uniform(0.8, 1.2) + 128.0 + rng.uniform(-20, 20)
    if rng.random() < 0.5:
        out += rng.normal(0.0, rng.uniform(2.0, 10.0), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)
