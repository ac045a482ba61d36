"""Turning any decoded image into the model's input pixels. The trainer imports this too,
so a device sees exactly what training saw.

Pipeline: ``to_gray`` or ``to_rgb`` as ``InputSpec.color`` says (8-bit, alpha composited on
white) -> ``fit`` (to the contract's height x width by ``InputSpec.resize``) -> the engine maps
pixels to the input tensor's dtype using ``InputSpec.scale``/``offset`` (see :mod:`edge_runtime.quant`).

Resize policies (``fit``), the same on a device and in training:

- ``stretch``: resized to exactly height x width, aspect ratio ignored (files without the field).
- ``pad``: scaled by ``min(height / h, width / w)`` (each side rounded, at least 1 pixel), so the
  whole image fits with its aspect ratio kept, then centred on a white (255) canvas of
  height x width; an odd leftover pixel goes to the bottom/right.

Both resize with area interpolation when the image shrinks (by pixel count) and linear when it grows.
"""

from __future__ import annotations

import numpy as np

from .contract import Color, InputSpec, Resize
from .errors import ImageError
from .images import check_pixels, cv2


#: The pad value of ``pad``: white paper, the background of nearly every CAPTCHA.
PAD_VALUE = 255


def _check_shape(image: np.ndarray) -> np.ndarray:
    """An HxW, HxWx1, HxWx3 or HxWx4 array of 8-bit pixels (HxWx1 becomes HxW)."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    check_pixels(image.shape[1], image.shape[0])
    return _to_uint8(image)


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit single-channel version of a gray, BGR or BGRA array (uint8, uint16 or float in [0, 1])."""
    image = _check_shape(image)
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


def to_rgb(image: np.ndarray) -> np.ndarray:
    """8-bit HxWx3 RGB version of a gray, BGR or BGRA array (OpenCV decodes to BGR; models take RGB)."""
    image = _check_shape(image)
    if image.ndim == 2:
        return cv2().cvtColor(image, cv2().COLOR_GRAY2RGB)
    if image.shape[2] == 3:
        return cv2().cvtColor(image, cv2().COLOR_BGR2RGB)
    rgb = cv2().cvtColor(image, cv2().COLOR_BGRA2RGB)
    alpha = image[:, :, 3]
    if alpha.min() == 255:
        return rgb
    # As in to_gray: transparent pixels read as white paper.
    a = alpha.astype(np.float32)[:, :, None] * (1.0 / 255.0)
    return (rgb * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)


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


def _resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area interpolation when shrinking, linear when enlarging."""
    h, w = pixels.shape[:2]
    if (h, w) == (height, width):
        return pixels
    interp = cv2().INTER_AREA if h * w >= height * width else cv2().INTER_LINEAR
    return cv2().resize(pixels, (width, height), interpolation=interp)


def pad_box(h: int, w: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, new height, new width) of an h x w image scaled to fit height x width,
    aspect ratio kept, centred: the ``pad`` policy's geometry."""
    scale = min(height / h, width / w)
    nh = min(height, max(1, int(round(h * scale))))
    nw = min(width, max(1, int(round(w * scale))))
    return (height - nh) // 2, (width - nw) // 2, nh, nw


def fit(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """8-bit gray (HxW) or RGB (HxWx3) pixels brought to the model's height x width by its resize policy."""
    if spec.resize == Resize.STRETCH:
        return _resize(pixels, spec.height, spec.width)
    top, left, nh, nw = pad_box(pixels.shape[0], pixels.shape[1], spec.height, spec.width)
    canvas = np.full((spec.height, spec.width, *pixels.shape[2:]), PAD_VALUE, np.uint8)
    canvas[top : top + nh, left : left + nw] = _resize(pixels, nh, nw)
    return canvas


def prepare(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Decoded image -> uint8 pixels of shape (height, width) for gray models, (height, width, 3)
    RGB for rgb models, ready for the engine."""
    convert = to_rgb if spec.color == Color.RGB else to_gray
    return fit(convert(image), spec)


def normalise(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 pixels -> the float values a float model was trained on."""
    return pixels.astype(np.float32) * np.float32(spec.scale) + np.float32(spec.offset)
