"""Image reading and preprocessing, including inputs that must be refused with a clear message."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from edge_runtime import images
from edge_runtime.contract import InputSpec
from edge_runtime.errors import ImageError
from edge_runtime.preprocess import normalise, prepare, to_gray

SPEC = InputSpec(height=50, width=200)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_png_header(width=20000, height=20000) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))


def encoded(image, ext=".png") -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def test_real_image_becomes_model_pixels(wilhelmy):
    path = sorted(wilhelmy.glob("*.png"))[0]
    pixels = prepare(images.load(path), SPEC)
    assert pixels.shape == (50, 200) and pixels.dtype == np.uint8
    assert 50 < pixels.mean() < 250  # a real picture, not a blank


def test_path_bytes_and_array_give_the_same_pixels(wilhelmy):
    path = sorted(wilhelmy.glob("*.png"))[1]
    a = prepare(images.load(path), SPEC)
    b = prepare(images.load(path.read_bytes()), SPEC)
    c = prepare(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), SPEC)
    assert np.array_equal(a, b) and np.array_equal(a, c)


@pytest.mark.parametrize("shape", [(50, 200), (50, 200, 1), (50, 200, 3), (50, 200, 4), (100, 400, 3), (20, 80)])
def test_gray_bgr_bgra_any_size(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert prepare(image, SPEC).shape == (50, 200)


def test_transparent_pixels_read_as_white():
    bgra = np.zeros((10, 10, 4), np.uint8)  # black, fully transparent
    assert to_gray(bgra).min() == 255


def test_16_bit_png_is_read(tmp_path):
    image = (np.arange(50 * 200, dtype=np.uint32).reshape(50, 200) * 6).astype(np.uint16)
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), image)
    decoded = images.load(path)
    assert decoded.dtype == np.uint16
    assert prepare(decoded, SPEC).dtype == np.uint8


def test_normalise_matches_contract():
    px = np.array([[0, 255]], np.uint8)
    assert np.allclose(normalise(px, SPEC), [[0.0, 1.0]])


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("empty.png", b"", "0-byte"),
        ("text.png", b"this is not an image\n" * 10, "cannot decode"),
        ("truncated.png", None, "complete PNG"),
        ("huge.png", huge_png_header(), "pixels"),
    ],
)
def test_bad_files_are_refused_with_one_line(tmp_path, name, content, fragment):
    if content is None:
        content = encoded(np.full((50, 200), 200, np.uint8))[:40]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        images.load(path)
    message = str(err.value)
    assert fragment in message and "\n" not in message


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="found nothing"):
        images.load(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="directory"):
        images.load(tmp_path)


def test_header_sizes():
    assert images.header_size(huge_png_header(123, 45)) == (123, 45)
    jpg = encoded(np.zeros((37, 91), np.uint8), ".jpg")
    assert images.header_size(jpg) == (91, 37)
    bmp = encoded(np.zeros((7, 9, 3), np.uint8), ".bmp")
    assert images.header_size(bmp) == (9, 7)
