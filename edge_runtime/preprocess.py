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
- ``crop``: cut to the text's box (:func:`text_box`), widened to height:width within the image,
  then stretched. Small text anywhere in a large canvas reaches the input at the scale the
  model learned, wherever it sits; an image the text fills is taken nearly whole.

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


#: text_box: ink is what differs from the paper by more than Otsu's threshold of that difference,
#: and at least this much (of 255): paper texture and JPEG noise are not ink.
INK_FLOOR = 24
#: text_box: the text line is where ink is dense over a window of a fifth of the image height:
#: at least this share of the densest window's ink. Dots and thin lines across are sparse there.
DENSE_SHARE = 0.4
#: text_box: the box grows by this share of its height on every side (serifs, accents, a tilt).
BOX_MARGIN = 0.12
#: text_box: the box is at least this share of the image height (a lone mark is not zoomed to fill it).
MIN_BOX_HEIGHT = 0.3
#: crop: the box is found on a copy at most this many times the input's height (its cost grows
#: with the pixels; a box more exact than the input can show is of no use).
BOX_SEARCH_HEIGHT = 2
#: text_box: ink thinner than this in either direction is a speck or a hairline, not text.
_SPECK = np.ones((2, 2), np.uint8)


def _ink(gray: np.ndarray) -> np.ndarray:
    """0/1 mask of the pixels that differ from the paper: the difference from a morphological
    closing (dark ink) or opening (light ink), whichever side the ink pulls the mean to."""
    h = gray.shape[0]
    k = max(3, (h // 6) | 1)  # wider than a stroke, so the ink vanishes from the paper estimate
    kernel = cv2().getStructuringElement(cv2().MORPH_RECT, (k, k))
    if gray.mean() <= np.median(gray):
        diff = cv2().morphologyEx(gray, cv2().MORPH_CLOSE, kernel) - gray
    else:
        diff = gray - cv2().morphologyEx(gray, cv2().MORPH_OPEN, kernel)
    otsu, _ = cv2().threshold(diff, 0, 255, cv2().THRESH_BINARY + cv2().THRESH_OTSU)
    return (diff > max(otsu, INK_FLOOR)).astype(np.uint8)


def text_box(gray: np.ndarray, aspect: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the text in an 8-bit gray image, widened to ``aspect``
    (width / height) within the image: the ``crop`` policy's geometry. The text line is the dense
    blob with the most ink, with every dense blob that overlaps its rows; without ink, the whole image."""
    h, w = gray.shape
    ink = _ink(gray)
    # An opening drops specks and one-pixel lines, which otherwise pass as dense where they
    # cluster and widen the box; ink drawn no thicker than that is kept as it is.
    opened = cv2().morphologyEx(ink, cv2().MORPH_OPEN, _SPECK)
    ink = opened if opened.any() else ink
    window = max(3, h // 5)
    density = cv2().blur(ink.astype(np.float32), (window, window))
    if density.max() <= 0:
        return 0, 0, h, w
    dense = (density >= DENSE_SHARE * density.max()).astype(np.uint8)
    n, labels, stats, _ = cv2().connectedComponentsWithStats(dense, connectivity=8)
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n)
    # Large text falls apart into several dense blobs: the line takes in every blob that overlaps
    # its rows, until none is left.
    tops, lefts = stats[1:, cv2().CC_STAT_TOP], stats[1:, cv2().CC_STAT_LEFT]
    bottoms, rights = tops + stats[1:, cv2().CC_STAT_HEIGHT], lefts + stats[1:, cv2().CC_STAT_WIDTH]
    line = np.zeros(n - 1, bool)
    line[int(np.argmax(mass[1:]))] = True
    while True:
        y0, y1 = tops[line].min(), bottoms[line].max()
        level = (tops < y1) & (bottoms > y0)
        if (level == line).all():
            break
        line = level
    x0, x1 = lefts[line].min(), rights[line].max()
    margin = BOX_MARGIN * (y1 - y0)
    bw, bh = x1 - x0 + 2 * margin, y1 - y0 + 2 * margin
    bh = min(h, max(bh, MIN_BOX_HEIGHT * h, bw / aspect))
    bw = min(w, max(bw, bh * aspect))
    bh, bw = max(1, int(round(bh))), max(1, int(round(bw)))
    left = int(round(min(max((x0 + x1 - bw) / 2, 0), w - bw)))
    top = int(round(min(max((y0 + y1 - bh) / 2, 0), h - bh)))
    return top, left, bh, bw


def _gray(pixels: np.ndarray) -> np.ndarray:
    return pixels if pixels.ndim == 2 else cv2().cvtColor(pixels, cv2().COLOR_RGB2GRAY)


def crop_box(pixels: np.ndarray, spec: InputSpec) -> tuple[int, int, int, int]:
    """(top, left, height, width) that ``crop`` cuts from gray or RGB pixels: :func:`text_box`,
    found on a copy shrunk to at most :data:`BOX_SEARCH_HEIGHT` times the input's height."""
    gray = _gray(pixels)
    h, w = gray.shape
    shrink = min(1.0, BOX_SEARCH_HEIGHT * spec.height / h)
    if shrink == 1.0:
        return text_box(gray, spec.width / spec.height)
    small = _resize(gray, max(1, round(h * shrink)), max(1, round(w * shrink)))
    top, left, bh, bw = (v / shrink for v in text_box(small, spec.width / spec.height))
    top, left = min(int(top), h - 1), min(int(left), w - 1)
    return top, left, max(1, min(int(round(bh)), h - top)), max(1, min(int(round(bw)), w - left))


def fit(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """8-bit gray (HxW) or RGB (HxWx3) pixels brought to the model's height x width by its resize policy."""
    if spec.resize == Resize.STRETCH:
        return _resize(pixels, spec.height, spec.width)
    if spec.resize == Resize.CROP:
        top, left, h, w = crop_box(pixels, spec)
        return _resize(np.ascontiguousarray(pixels[top : top + h, left : left + w]), spec.height, spec.width)
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
