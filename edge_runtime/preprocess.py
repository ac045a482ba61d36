"""Turning any decoded image into the model's input pixels. The trainer imports this too,
so a device sees exactly what training saw.

Pipeline: ``to_gray`` (8-bit gray, alpha composited on white) -> ``fit`` (resize to the
contract's height x width) -> the engine maps pixels to the input tensor's dtype using
``InputSpec.scale``/``offset`` (see :mod:`edge_runtime.quant`).
"""

from __future__ import annotations

import numpy as np

from .contract import InputSpec
from .errors import ImageError
from .images import check_pixels, cv2


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit single-channel version of a gray, BGR or BGRA array (uint8, uint16 or float in [0, 1])."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    check_pixels(image.shape[1], image.shape[0])
    image = _to_uint8(image)
    if image.ndim == 2:
        return image
    if image.shape[2] == 3:
        return cv2().cvtColor(image, cv2().COLOR_BGR2GRAY)
    gray = cv2().cvtColor(image, cv2().COLOR_BGRA2GRAY)
    alpha = image[:, :, 3]
    if alpha.min() == 255:  # opaque: nothing to composite
        return gray
    # Transparent pixels read as white paper, not as whatever colour they happen to store.
    a = alpha.astype(np.float32) * (1.0 / 255.0)
    return (gray * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if image.dtype in (np.float32, np.float64):
        if not np.isfinite(image).all():
            raise ImageError("expected finite float pixels in [0, 1], got NaN or infinity")
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    raise ImageError(f"expected uint8, uint16 or float pixels, got dtype {image.dtype}")


def fit(gray: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Resize 8-bit gray pixels to the model's height x width (area when shrinking, linear when enlarging)."""
    h, w = gray.shape[:2]
    if (h, w) == (spec.height, spec.width):
        return gray
    shrink = h * w >= spec.height * spec.width
    interp = cv2().INTER_AREA if shrink else cv2().INTER_LINEAR
    return cv2().resize(gray, (spec.width, spec.height), interpolation=interp)


def prepare(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Decoded image -> uint8 pixels of shape (height, width), ready for the engine."""
    return fit(to_gray(image), spec)


def normalise(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 pixels -> the float values a float model was trained on."""
    return pixels.astype(np.float32) * np.float32(spec.scale) + np.float32(spec.offset)
