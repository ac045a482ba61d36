"""Image reading and preprocessing, including inputs that must be refused with a clear message.
Fast: committed examples and bytes generated here."""

import os
import struct
import zlib

import cv2
import numpy as np
import pytest

from edge_runtime import images
from edge_runtime.contract import InputSpec
from edge_runtime.errors import ImageError, UsageError
from edge_runtime.preprocess import fit, normalise, prepare, to_gray
from support import encode

SPEC = InputSpec(height=50, width=200)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_png_header(width=20000, height=20000) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return images.PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_png_signature_is_the_standard_one(examples):
    assert images.PNG_SIGNATURE == b"\x89PNG\r\n\x1a\n"
    assert all(p.read_bytes().startswith(images.PNG_SIGNATURE) for p in examples)


def test_example_image_becomes_model_pixels(examples):
    pixels = prepare(images.load(examples[0]), SPEC)
    assert pixels.shape == (50, 200) and pixels.dtype == np.uint8
    assert 50 < pixels.mean() < 250 and pixels.std() > 10  # a real picture, not a blank


def test_path_bytes_and_array_give_the_same_pixels(examples):
    path = examples[1]
    a = prepare(images.load(path), SPEC)
    b = prepare(images.load(path.read_bytes()), SPEC)
    c = prepare(images.load(str(path)), SPEC)
    d = prepare(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), SPEC)
    e = prepare(images.load(bytearray(path.read_bytes())), SPEC)
    assert all(np.array_equal(a, x) for x in (b, c, d, e))


@pytest.mark.parametrize("shape", [(50, 200), (50, 200, 1), (50, 200, 3), (50, 200, 4), (100, 400, 3), (20, 80)])
def test_gray_bgr_bgra_any_size(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = prepare(image, SPEC)
    assert out.shape == (50, 200) and out.dtype == np.uint8


def test_color_conversion_and_resize_are_exact_on_flat_images():
    bgr = np.zeros((25, 100, 3), np.uint8)
    bgr[:] = (10, 20, 30)  # B, G, R
    want = cv2.cvtColor(bgr[:1, :1], cv2.COLOR_BGR2GRAY)[0, 0]
    out = prepare(bgr, SPEC)
    assert out.shape == (50, 200) and (out == want).all()
    same = np.full((50, 200), 77, np.uint8)
    assert fit(same, SPEC) is same  # already the model's size: no copy


def test_transparent_pixels_read_as_white():
    bgra = np.zeros((10, 10, 4), np.uint8)  # black, fully transparent
    assert to_gray(bgra).min() == 255
    half = np.zeros((10, 10, 4), np.uint8)
    half[..., 3] = 128
    assert abs(int(to_gray(half)[0, 0]) - 127) <= 1
    opaque = np.zeros((10, 10, 4), np.uint8)
    opaque[..., 3] = 255
    assert to_gray(opaque).max() == 0


@pytest.mark.parametrize("dtype, value, want", [
    (np.uint16, 65535, 255), (np.uint16, 257 * 100, 100), (np.float32, 1.0, 255), (np.float64, 0.5, 128),
    (np.float32, 7.0, 255), (np.float32, -1.0, 0), (np.bool_, True, 255),
])
def test_deep_and_float_pixels_become_8_bit(dtype, value, want):
    out = to_gray(np.full((8, 8), value, dtype))
    assert out.dtype == np.uint8 and (out == want).all()


@pytest.mark.parametrize("image, fragment", [
    (np.zeros((8, 8), np.int32), "dtype"),
    (np.full((8, 8), np.nan, np.float32), "finite"),
    (np.zeros((8, 8, 2), np.uint8), "shape"),
    (np.zeros((8,), np.uint8), "shape"),
    (np.zeros((2, 8), np.uint8), "at least"),
    (np.zeros((5, 1000), np.uint8), "100:1"),
    ([[0, 1], [2, 3]], "numpy array"),
])
def test_unusable_arrays_are_refused(image, fragment):
    with pytest.raises(ImageError, match=fragment):
        to_gray(image)


def test_16_bit_png_is_read(tmp_path):
    image = (np.arange(50 * 200, dtype=np.uint32).reshape(50, 200) * 6).astype(np.uint16)
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), image)
    decoded = images.load(path)
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, image)
    assert np.array_equal(prepare(decoded, SPEC), (image >> 8).astype(np.uint8))


def test_normalise_matches_contract():
    px = np.array([[0, 255]], np.uint8)
    assert np.allclose(normalise(px, SPEC), [[0.0, 1.0]])
    assert np.allclose(normalise(px, InputSpec(1, 2, scale=2 / 255, offset=-1)), [[-1.0, 1.0]])


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("empty.png", b"", "0-byte"),
        ("text.png", b"this is not an image\n" * 10, "cannot decode"),
        ("truncated.png", encode(np.full((50, 200), 200, np.uint8))[:40], "complete PNG"),
        ("no-iend.png", encode(np.full((50, 200), 200, np.uint8))[:-12], "IEND"),
        ("huge.png", huge_png_header(), "pixels"),
        ("huge.gif", b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00" * 20, "pixels"),
        ("huge.bmp", b"BM" + b"\x00" * 16 + struct.pack("<ii", 60000, -60000) + b"\x00" * 30, "pixels"),
        ("huge.jpg", b"\xff\xd8\xff\xc0\x00\x11\x08" + struct.pack(">HH", 65000, 65000) + b"\x00" * 20, "pixels"),
        ("zero-width.png", huge_png_header(0, 50), "positive"),
        ("strip.png", encode(np.zeros((10, 2000), np.uint8)), "100:1"),
        ("one-pixel.png", encode(np.zeros((1, 1), np.uint8)), "at least"),
    ],
)
def test_bad_files_are_refused_with_one_line(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        images.load(path)
    message = str(err.value)
    assert fragment in message and "\n" not in message and message.startswith("expected")


def test_missing_file_directory_symlink_and_fifo(tmp_path):
    with pytest.raises(ImageError, match="found nothing"):
        images.load(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="directory"):
        images.load(tmp_path)
    (tmp_path / "broken.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ImageError, match="broken symlink"):
        images.load(tmp_path / "broken.png")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    # Opening a FIFO for reading blocks until there is a writer: hold one open so this cannot hang.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(ImageError, match="pipe"):
            images.load(fifo)
    finally:
        os.close(writer)
        os.close(reader)


def test_other_sources_are_refused():
    with pytest.raises(ImageError, match="path, bytes or a numpy array"):
        images.load(12345)
    with pytest.raises(ImageError, match="0 bytes"):
        images.load(b"")


def test_header_sizes():
    assert images.header_size(huge_png_header(123, 45)) == (123, 45)
    assert images.header_size(encode(np.zeros((37, 91), np.uint8), ".jpg")) == (91, 37)
    assert images.header_size(encode(np.zeros((7, 9, 3), np.uint8), ".bmp")) == (9, 7)
    assert images.header_size(b"GIF89a" + struct.pack("<HH", 300, 20)) == (300, 20)
    webp = encode(np.zeros((17, 33, 3), np.uint8), ".webp")
    assert images.header_size(webp) == (33, 17)
    assert images.header_size(b"plain text") is None
    assert images.header_size(b"\xff\xd8\x00garbage-no-marker") is None


def test_limits_are_read_when_used(monkeypatch, tmp_path):
    monkeypatch.delenv("CAPTCHA_EDGE_MAX_PIXELS", raising=False)
    monkeypatch.delenv("CAPTCHA_EDGE_MAX_FILE_BYTES", raising=False)
    default = images.limits()
    assert default == images.Limits() and default.max_pixels == 40_000_000 and default.max_file_bytes == 64 << 20
    data = encode(np.full((50, 200), 255, np.uint8))
    images.decode(data)  # fine under the default
    monkeypatch.setenv("CAPTCHA_EDGE_MAX_PIXELS", "9999")
    assert images.limits().max_pixels == 9999
    with pytest.raises(ImageError, match="at most 9999 pixels"):
        images.decode(data)  # 10,000 pixels: refused now, with no re-import
    monkeypatch.setenv("CAPTCHA_EDGE_MAX_FILE_BYTES", str(len(data) - 1))
    path = tmp_path / "a.png"
    path.write_bytes(data)
    with pytest.raises(ImageError, match="CAPTCHA_EDGE_MAX_FILE_BYTES"):
        images.read_file(path)
    monkeypatch.setenv("CAPTCHA_EDGE_MAX_FILE_BYTES", str(len(data)))
    assert images.read_file(path) == data
    with pytest.raises(Exception):
        images.limits().max_pixels = 1  # frozen


@pytest.mark.parametrize("var", ["CAPTCHA_EDGE_MAX_PIXELS", "CAPTCHA_EDGE_MAX_FILE_BYTES"])
@pytest.mark.parametrize("value", ["abc", "-5", "0", "1e6"])
def test_malformed_limits_are_one_line_usage_errors(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(UsageError, match=var) as err:
        images.limits()
    assert "\n" not in str(err.value) and str(err.value).startswith("expected")


def test_image_names():
    assert images.is_image_name("a.PNG") and images.is_image_name("b.jpeg") and images.is_image_name("c.webp")
    assert not images.is_image_name("notes.txt") and not images.is_image_name("png")
