"""A corpus of hostile inputs, generated (no binary blobs in the repository)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(width: int, height: int, color_type: int, rows: bytes, extra: bytes = b"", depth: int = 8) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def palette_png(gray: np.ndarray) -> bytes:
    """8-bit palette PNG whose palette maps index i to gray level i."""
    palette = bytes(v for i in range(256) for v in (i, i, i))
    rows = b"".join(b"\x00" + row.tobytes() for row in gray)
    return png(gray.shape[1], gray.shape[0], 3, rows, png_chunk(b"PLTE", palette))


def gif(frames: list[np.ndarray]) -> bytes:
    """Animated GIF (gray palette) with an uncompressed LZW stream: literal codes, clear every 250."""
    h, w = frames[0].shape
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", w, h, 0xF7, 0, 0))
    out += bytes(v for i in range(256) for v in (i, i, i))
    out += b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for frame in frames:
        out += b"!\xf9\x04\x00\x0a\x00\x00\x00"  # 0.1 s per frame
        out += b"," + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x08"
        bits, nbits, data = 0, 0, bytearray()

        def emit(code):
            nonlocal bits, nbits
            bits |= code << nbits
            nbits += 9
            while nbits >= 8:
                data.append(bits & 0xFF)
                bits >>= 8
                nbits -= 8

        for i, value in enumerate(frame.ravel().tolist()):
            if i % 250 == 0:
                emit(256)  # clear: keeps the code width at 9 bits
            emit(value)
        emit(257)
        if nbits:
            data.append(bits & 0xFF)
        for i in range(0, len(data), 255):
            out += bytes([len(data[i : i + 255])]) + data[i : i + 255]
        out += b"\x00"
    return bytes(out + b";")


def make_corpus(folder: Path, good: Path) -> dict[str, str | None]:
    """Write the corpus; returns {file name: expected text, or None when an error is expected}."""
    folder.mkdir(parents=True, exist_ok=True)
    gray = cv2.imread(str(good), cv2.IMREAD_GRAYSCALE)
    png_bytes = good.read_bytes()
    jpg = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    label = good.stem
    cases: dict[str, tuple[bytes, str | None]] = {
        "zero.png": (b"", None),
        "truncated.png": (png_bytes[: len(png_bytes) // 2], None),
        "truncated.jpg": (jpg[: len(jpg) // 2], None),
        "header-only.png": (png_bytes[:33], None),
        "crc-flipped.png": (png_bytes[:100] + bytes([png_bytes[100] ^ 0x55]) + png_bytes[101:], None),
        "huge-20000x20000.png": (png(20000, 20000, 0, b"\x00" * 64)[:-12], None),
        "huge-header.gif": (b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00" * 20, None),
        "huge-header.bmp": (b"BM" + b"\x00" * 16 + struct.pack("<ii", 60000, 60000) + b"\x00" * 30, None),
        "huge-header.jpg": (b"\xff\xd8\xff\xc0\x00\x11\x08" + struct.pack(">HH", 65000, 65000) + b"\x00" * 20, None),
        "one-pixel.png": (cv2.imencode(".png", np.zeros((1, 1), np.uint8))[1].tobytes(), None),
        "strip-10000x10.png": (cv2.imencode(".png", np.zeros((10, 10000), np.uint8))[1].tobytes(), None),
        "deep-16bit.png": (cv2.imencode(".png", gray.astype(np.uint16) * 257)[1].tobytes(), label),
        "palette.png": (palette_png(gray), label),
        "text-file.png": (b"hello, I am not an image\n" * 20, None),
        "elf-binary.jpg": (b"\x7fELF\x02\x01\x01" + os.urandom(200), None),
        "zip-archive.png": (b"PK\x03\x04" + os.urandom(300), None),
        "random-bytes.bmp": (os.urandom(4096), None),
        "name with spaces.png": (png_bytes, label),
        "name\nwith\nnewlines.png": (png_bytes, label),
    }
    expected = {}
    for name, (data, text) in cases.items():
        (folder / name).write_bytes(data)
        expected[name] = text
    animated = folder / "animated.gif"
    animated.write_bytes(gif([gray, 255 - gray]))
    expected[animated.name] = "either"  # OpenCV reads the first frame, or refuses GIF: both are fine
    odd = os.fsencode(folder) + b"/non-utf8-\xff\xfe.png"
    with open(odd, "wb") as f:
        f.write(png_bytes)
    expected[os.fsdecode(b"non-utf8-\xff\xfe.png")] = label
    (folder / "broken-link.png").symlink_to(folder / "does-not-exist.png")
    expected["broken-link.png"] = None
    (folder / "a-directory.png").mkdir()
    expected["a-directory.png"] = None
    locked = folder / "unreadable.png"
    locked.write_bytes(png_bytes)
    locked.chmod(0)
    # root reads anything: then this one is an ordinary good file.
    expected[locked.name] = label if os.geteuid() == 0 else None
    return expected
