"""Reading images from paths, bytes or arrays, with checks done before any large allocation.

Every failure is an ``ImageError`` whose one-line message says what was expected and what
was received. A header check refuses decompression bombs before OpenCV allocates anything.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from . import quiet
from .errors import ImageError, UsageError, first_line

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm", ".pnm"}
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC: the last 8 bytes of a complete PNG
JPEG_START = b"\xff\xd8"

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray]

#: Refuse images smaller than this on a side, or longer than MAX_ASPECT times their other side:
#: neither can hold a readable CAPTCHA, and resizing them would only produce noise.
MIN_SIDE = 4
MAX_ASPECT = 100


@dataclass(frozen=True)
class Limits:
    """Input limits, checked before any large allocation. A CAPTCHA is tiny; the pixel limit
    still admits a full 12 MP camera frame. Each is read from its environment variable when used."""

    max_pixels: int = 40_000_000  # width * height, from the header
    max_file_bytes: int = 64 * 1024 * 1024  # on disk, before reading


_ENV = {"max_pixels": "CAPTCHA_EDGE_MAX_PIXELS", "max_file_bytes": "CAPTCHA_EDGE_MAX_FILE_BYTES"}


def limits() -> Limits:
    """The limits in force now: the defaults, or the environment's. UsageError for a malformed value."""
    # The variables are read on every call (a test or a service may change them); parsing them
    # is cached, since this is on every image's path.
    return _parse_limits(tuple(os.environ.get(var) for var in _ENV.values()))


@functools.lru_cache(maxsize=8)
def _parse_limits(texts: tuple[str | None, ...]) -> Limits:
    values = {}
    for (name, var), text in zip(_ENV.items(), texts):
        if text is None or not text.strip():
            continue
        try:
            values[name] = int(text.strip().replace("_", ""))
        except ValueError:
            values[name] = 0
        if values[name] <= 0:
            raise UsageError(f"expected {var} to be a positive whole number, got {text!r}")
    return Limits(**values)


_cv2 = None


def cv2():
    """OpenCV, imported on first use (it is the slowest import of the runtime)."""
    global _cv2
    if _cv2 is None:
        # OpenCV's own pixel limit, as a second line of defence for formats our header check
        # does not parse; and its warnings off, since our errors already say what went wrong.
        os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(limits().max_pixels))
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        import cv2 as module

        _cv2 = module
    return _cv2


def is_image_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_file(path: str | os.PathLike, lim: Limits | None = None) -> bytes:
    """The bytes of an image file; ImageError for anything that is not a readable, non-empty file."""
    # One open + fstat instead of several stat calls: this is on every image's path.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        kind = "a broken symlink" if os.path.islink(path) else "nothing"
        raise ImageError(f"expected an image file, found {kind} at this path") from None
    except OSError as exc:
        raise ImageError(f"expected a readable image file, got {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError("expected an image file, got a directory")
        if not stat.S_ISREG(st.st_mode):
            raise ImageError("expected a regular image file, got a device, pipe or socket")
        if st.st_size == 0:
            raise ImageError("expected an image file, got an empty (0-byte) file")
        max_bytes = (lim or limits()).max_file_bytes
        if st.st_size > max_bytes:
            raise ImageError(f"expected an image file of at most {max_bytes} bytes (CAPTCHA_EDGE_MAX_FILE_BYTES), "
                             f"got {st.st_size} bytes")
        # os.read straight from the descriptor: a Python file object would cost more than the read.
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, max(st.st_size, 4096) + 1))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError as exc:
        raise ImageError(f"expected a readable image file, got {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of PNG, GIF, BMP, WebP or JPEG data, else None."""
    if data[:8] == PNG_SIGNATURE and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        return _webp_size(data)
    if data[:2] == JPEG_START:
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos, n = 2, len(data)
    while pos + 9 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        # Start-of-frame markers (baseline, progressive, ...) carry the dimensions.
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return w, h
        pos += 2 + length
    return None


def check_png_chunks(data: bytes) -> None:
    """Refuse a PNG whose chunk lengths run past its end: OpenCV would otherwise spend seconds
    (and memory) on a corrupt length such as 2 GB before failing."""
    pos, n = 8, len(data)
    while pos + 8 <= n:
        length, kind = struct.unpack_from(">I4s", data, pos)
        if length > n - pos - 12:
            raise ImageError(f"expected a complete PNG, chunk {kind!r} claims {length} bytes but only {max(0, n - pos - 12)} remain")
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ImageError(f"expected a complete PNG, got {n} bytes without an IEND chunk (truncated?)")


def check_pixels(width: int, height: int, lim: Limits | None = None) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"expected positive image dimensions, got {width}x{height}")
    max_pixels = (lim or limits()).max_pixels
    if width * height > max_pixels:
        raise ImageError(
            f"expected at most {max_pixels} pixels (CAPTCHA_EDGE_MAX_PIXELS), got a {width}x{height} image"
        )
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(
            f"expected an image at least {MIN_SIDE} px on each side and at most {MAX_ASPECT}:1, got {width}x{height}"
        )


def _imdecode_quietly(buf: np.ndarray):
    """cv2.imdecode with native stderr muted: libpng and libjpeg print their complaints straight
    to file descriptor 2. The failure itself still shows, as None or a cv2.error, and becomes our
    own one-line ImageError."""
    with quiet.muted():
        return cv2().imdecode(buf, cv2().IMREAD_UNCHANGED)


def decode(data: bytes, lim: Limits | None = None) -> np.ndarray:
    """Decode encoded image bytes to an array as stored (gray, BGR or BGRA; 8 or 16 bit)."""
    if not data:
        raise ImageError("expected image data, got 0 bytes")
    size = header_size(data)
    if size is not None:
        check_pixels(*size, lim)
    if data[:8] == PNG_SIGNATURE:
        check_png_chunks(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        image = _imdecode_quietly(buf)
    except Exception as exc:  # OpenCV raises cv2.error for its own limits and corrupt data
        raise ImageError(f"expected decodable image data, OpenCV refused it ({first_line(exc)})") from None
    if image is None or image.size == 0:
        raise ImageError(f"expected PNG/JPEG/BMP/GIF/WebP/TIFF data, got {len(data)} bytes OpenCV cannot decode")
    return image  # its shape is checked once, by preprocess.to_gray, which every consumer calls


#: A region of interest: x, y (its top-left corner), w, h, in image pixels.
Roi = tuple[int, int, int, int]


def parse_roi(text: str) -> Roi:
    """--roi x,y,w,h (predict, camera) as four integers; UsageError unless x, y >= 0 and w, h >= 1."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"expected --roi x,y,w,h as four integers, got {text!r}") from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise UsageError(f"expected a non-negative x,y and a positive w,h, got {text!r}")
    return x, y, w, h


def crop(image: np.ndarray, roi: Roi | None, what: str = "image") -> np.ndarray:
    """The ``roi`` of a decoded image (a view, no copy), or the image itself for None. An roi that
    does not fit is that input's ImageError: another image may be large enough."""
    if roi is None:
        return image
    x, y, w, h = roi
    ih, iw = image.shape[:2]
    if x + w > iw or y + h > ih:
        raise ImageError(f"expected --roi inside the {iw}x{ih} {what}, got {x},{y},{w},{h}")
    return image[y : y + h, x : x + w]


def load(source: ImageSource) -> np.ndarray:
    """An image as a numpy array, from a path, encoded bytes, or an array (returned as is)."""
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        lim = limits()  # read once for the file and its pixels
        return decode(read_file(source, lim), lim)
    raise ImageError(f"expected a path, bytes or a numpy array, got {type(source).__name__}")
