"""Held-out styles: CAPTCHA looks that no default was ever chosen on (issue #14 counts accuracy on
styles nobody tuned for). They are drawn here, apart from trainer.render and its TrueType fonts,
with OpenCV's Hershey vector faces only: the base never saw these glyphs, and the images do not
depend on the fonts a machine has installed.

    python scripts/make_styles.py --holdout                     # into data/holdout (style_set)
    python scripts/bench_styles.py --holdout --wilhelmy none

Read them, report them, never tune on them: a default changed because of these rows makes them
development styles, and then new held-out styles are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from trainer import render
from trainer.render import DIGITS, LOWER, UPPER, random_label

#: Hershey faces (cv2.FONT_ITALIC may be or-ed in).
FACES = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)


@dataclass(frozen=True)
class HeldOutStyle:
    name: str
    charset: str
    lengths: tuple[int, int]
    height: int
    width: int
    draw: Callable[[str, int, int, np.random.Generator], np.ndarray]
    description: str

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """One (BGR image, label) pair, as trainer.render.Style.sample."""
        label = random_label(rng, self.charset, self.lengths)
        return self.draw(label, self.height, self.width, rng), label


# ---- glyphs and layout ---------------------------------------------------------------------------

def glyph(char: str, face: int, height: int, thickness: int, angle: float) -> np.ndarray:
    """One character's mask (uint8, 0 or 255), its cap height about ``height`` pixels, rotated
    by ``angle`` degrees and cropped to its ink."""
    scale = height / 22.0  # Hershey capitals are about 22 pixels high at scale 1
    (w, h), base = cv2.getTextSize(char, face, scale, thickness)
    pad = thickness + height // 2
    canvas = np.zeros((h + base + 2 * pad, w + 2 * pad), np.uint8)
    cv2.putText(canvas, char, (pad, pad + h), face, scale, 255, thickness, cv2.LINE_AA)
    centre = (canvas.shape[1] / 2, canvas.shape[0] / 2)
    canvas = cv2.warpAffine(canvas, cv2.getRotationMatrix2D(centre, angle, 1.0), canvas.shape[::-1])
    ys, xs = np.nonzero(canvas > 40)
    return canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(xs) else canvas[:1, :1]


def place(glyphs: list[np.ndarray], height: int, width: int, gap: float, rng: np.random.Generator,
          jitter: float = 0.1) -> np.ndarray:
    """The glyphs side by side, ``gap`` times the mean glyph width apart, centred with a little
    vertical jitter, shrunk as a whole if they do not fit: a (height, width) mask."""
    widths = [g.shape[1] for g in glyphs]
    step = gap * float(np.mean(widths))
    total = sum(widths) + step * (len(glyphs) - 1)
    tallest = max(g.shape[0] for g in glyphs)
    row = np.zeros((int(tallest * (1 + 2 * jitter)) + 2, int(total) + 2), np.uint8)
    x = 0.0
    for g in glyphs:
        y = int((row.shape[0] - g.shape[0]) / 2 + rng.uniform(-jitter, jitter) * tallest)
        y = min(max(y, 0), row.shape[0] - g.shape[0])
        xi = int(round(x))
        region = row[y:y + g.shape[0], xi:xi + g.shape[1]]
        np.maximum(region, g[:, :region.shape[1]], out=region)
        x += g.shape[1] + step
    fit = min(0.9 * width / row.shape[1], 0.8 * height / row.shape[0], 1.0)
    row = cv2.resize(row, (max(1, int(row.shape[1] * fit)), max(1, int(row.shape[0] * fit))),
                     interpolation=cv2.INTER_AREA)
    mask = np.zeros((height, width), np.uint8)
    top = int(rng.integers(0, height - row.shape[0] + 1))
    left = int(rng.integers(0, width - row.shape[1] + 1))
    mask[top:top + row.shape[0], left:left + row.shape[1]] = row
    return mask


def colour(rng: np.random.Generator, low: int, high: int) -> np.ndarray:
    return rng.integers(low, high, 3).astype(np.float32)


def pen(rng: np.random.Generator, low: int, high: int) -> tuple[float, ...]:
    """A random colour as OpenCV's drawing calls take it."""
    return tuple(float(v) for v in colour(rng, low, high))


def ink(paper: np.ndarray, mask: np.ndarray, ink_colour: np.ndarray) -> np.ndarray:
    """``ink_colour`` laid over ``paper`` (float32 BGR) where ``mask`` is set, anti-aliased."""
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    return paper * (1 - alpha) + ink_colour * alpha


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


# ---- the styles ----------------------------------------------------------------------------------

def _hershey(label: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Single-stroke vector capitals, one face per image, each character rotated and sized on its
    own; pale noisy paper, two thin polylines, the whole image tilted in perspective."""
    face = int(rng.choice(FACES)) | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    thickness = int(rng.integers(1, 4))
    glyphs = [glyph(c, face, int(rng.integers(24, 34)), thickness, rng.uniform(-25, 25)) for c in label]
    mask = place(glyphs, height, width, rng.uniform(0.05, 0.35), rng, jitter=0.15)
    paper = colour(rng, 200, 256) + rng.normal(0, 12, (height, width, 1)).astype(np.float32)
    ink_colour = colour(rng, 0, 100)
    image = ink(np.broadcast_to(paper, (height, width, 3)).copy(), mask, ink_colour)
    for _ in range(2):
        points = np.stack([np.linspace(0, width, 6), rng.uniform(0, height, 6)], 1).astype(np.int32)
        cv2.polylines(image, [points], False, pen(rng, 0, 140), 1, cv2.LINE_AA)
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    moved = (corners + rng.uniform(-0.04, 0.04, (4, 2)) * [width, height]).astype(np.float32)
    image = cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners, moved), (width, height),
                                borderMode=cv2.BORDER_REPLICATE)
    return to_uint8(image)


def _dotmatrix(label: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Letters made of round dots (a bold Hershey mask sampled on a grid), each dot coloured, on a
    field of large faint discs."""
    glyphs = [glyph(c, cv2.FONT_HERSHEY_DUPLEX, int(rng.integers(26, 32)), 4, rng.uniform(-8, 8)) for c in label]
    mask = place(glyphs, height, width, rng.uniform(0.15, 0.35), rng, jitter=0.05)
    image = np.broadcast_to(colour(rng, 150, 256), (height, width, 3)).copy()
    for _ in range(int(rng.integers(8, 16))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, centre, int(rng.integers(6, 20)), pen(rng, 120, 256), -1, cv2.LINE_AA)
    pitch = int(rng.integers(3, 5))
    base_ink = colour(rng, 0, 110)
    for y in range(pitch // 2, height, pitch):
        for x in range(pitch // 2, width, pitch):
            if mask[y, x] > 128:
                dot = tuple(float(v) for v in np.clip(base_ink + rng.normal(0, 25, 3), 0, 255))
                cv2.circle(image, (x, y), max(1, pitch // 2), dot, -1, cv2.LINE_AA)
    return to_uint8(image)


def _smudge(label: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Heavy letters drawn small and blown up, slanted as a block, smeared by motion blur and
    saved as a low-quality JPEG over a mottled grey."""
    small = (height // 2, width // 2)
    face = int(rng.choice((cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX)))
    glyphs = [glyph(c, face, int(rng.integers(13, 17)), 2, rng.uniform(-10, 10)) for c in label]
    mask = place(glyphs, *small, rng.uniform(0.0, 0.2), rng, jitter=0.08)
    shear = rng.uniform(-0.35, 0.35)
    matrix = np.float32([[1, shear, -shear * small[0] / 2], [0, 1, 0]])
    mask = cv2.warpAffine(mask, matrix, small[::-1])
    mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    mottle = cv2.resize(rng.normal(0, 1, (6, 18)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    grey = float(rng.uniform(150, 220))
    paper = (grey + 18 * mottle)[..., None] + colour(rng, -12, 12)
    image = ink(np.broadcast_to(paper, (height, width, 3)).copy(), mask, colour(rng, 0, 70))
    length = int(rng.integers(3, 8))
    kernel = np.zeros((length, length), np.float32)
    cv2.line(kernel, (0, int(rng.integers(0, length))), (length - 1, int(rng.integers(0, length))), 1.0, 1)
    image = cv2.filter2D(image, -1, kernel / kernel.sum())
    return jpeg(to_uint8(image), int(rng.integers(15, 35)))


#: Seven-segment cells: the lit segments of each character (a top, b upper right, c lower right,
#: d bottom, e lower left, f upper left, g middle), digits and the letters a display can show.
SEGMENTS = {"0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg", "6": "acdefg",
            "7": "abc", "8": "abcdefg", "9": "abcdfg", "A": "abcefg", "b": "cdefg", "C": "adef", "d": "bcdeg",
            "E": "adefg", "F": "aefg", "H": "bcefg", "J": "bcde", "L": "def", "n": "ceg", "o": "cdeg",
            "P": "abefg", "r": "eg", "t": "defg", "U": "bcdef", "y": "bcdfg"}
#: Each segment's ends in a cell of width 1 and height 2 (x right, y down).
SEGMENT_ENDS = {"a": ((0, 0), (1, 0)), "b": ((1, 0), (1, 1)), "c": ((1, 1), (1, 2)), "d": ((0, 2), (1, 2)),
                "e": ((0, 1), (0, 2)), "f": ((0, 0), (0, 1)), "g": ((0, 1), (1, 1))}


def _segments(label: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A seven-segment display: slanted bars lit in one colour on a dark or pale panel, the unlit
    segments faintly visible, scan lines, a glow, and a little rotation."""
    size = float(rng.uniform(0.26, 0.34)) * height  # a cell's width; its height is twice that
    thick = max(2, int(round(size * rng.uniform(0.18, 0.28))))
    slant = rng.uniform(0.0, 0.25)
    pitch = size * rng.uniform(1.5, 1.9)
    total = pitch * (len(label) - 1) + size + 2 * size * slant
    left = rng.uniform(0.03, max(0.04, 1 - total / width - 0.03)) * width
    top = (height - 2 * size) / 2 + rng.uniform(-0.08, 0.08) * height
    lit, unlit = np.zeros((height, width), np.uint8), np.zeros((height, width), np.uint8)
    for i, char in enumerate(label):
        x0 = left + i * pitch
        for seg, (p, q) in SEGMENT_ENDS.items():
            ends = []
            for (x, y), (ox, oy) in ((p, q), (q, p)):
                x, y = x + 0.12 * (ox - x), y + 0.12 * (oy - y)  # a gap where segments meet
                ends.append((int(round(x0 + size * (x + slant * (2 - y)))), int(round(top + size * y))))
            cv2.line(lit if seg in SEGMENTS[char] else unlit, ends[0], ends[1], 255, thick, cv2.LINE_AA)
    dark = rng.random() < 0.5
    panel = colour(rng, 0, 50) if dark else colour(rng, 150, 210)
    glow = colour(rng, 150, 256) if dark else colour(rng, 0, 60)
    image = np.broadcast_to(panel, (height, width, 3)).copy() + rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    image = ink(image, (unlit * rng.uniform(0.08, 0.2)).astype(np.uint8), glow)
    if dark:
        halo = cv2.GaussianBlur(lit, (0, 0), thick)
        image = ink(image, (halo * 0.5).astype(np.uint8), glow)
    image = ink(image, lit, glow)
    image[::int(rng.integers(2, 4))] *= rng.uniform(0.75, 0.95)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-5, 5), 1.0)
    image = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return to_uint8(image)


def _script(label: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """OpenCV's Hershey script faces in one ink colour on ruled paper, waved along the rows, with
    a few ink dots."""
    face = int(rng.choice((cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)))
    thickness = int(rng.integers(1, 3))
    glyphs = [glyph(c, face, int(rng.integers(22, 30)), thickness, rng.uniform(-6, 6)) for c in label]
    mask = place(glyphs, height, width, rng.uniform(-0.05, 0.15), rng, jitter=0.12)
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    phase, wave = rng.uniform(0, 2 * np.pi), rng.uniform(2, 4)
    map_y = rows + wave * np.sin(cols / rng.uniform(18, 30) + phase)
    mask = cv2.remap(mask, np.broadcast_to(cols, (height, width)).copy(), map_y.astype(np.float32), cv2.INTER_LINEAR)
    paper = np.broadcast_to(colour(rng, 215, 256), (height, width, 3)).copy()
    spacing = int(rng.integers(11, 17))
    for y in range(int(rng.integers(2, spacing)), height, spacing):
        cv2.line(paper, (0, y), (width, y), pen(rng, 120, 200), 1, cv2.LINE_AA)
    image = ink(paper, mask, colour(rng, 0, 120))
    for _ in range(int(rng.integers(0, 4))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, centre, int(rng.integers(1, 3)), pen(rng, 0, 120), -1, cv2.LINE_AA)
    return to_uint8(image)


def _stamp(label: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A small line of Hershey letters, rotated as a block, anywhere on a large mottled photo-like
    field with a few thin strokes across, often inside a thin frame; JPEG."""
    face = int(rng.choice(FACES)) | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    size = int(rng.integers(13, 19))
    glyphs = [glyph(c, face, size, int(rng.integers(1, 3)), rng.uniform(-4, 4)) for c in label]
    row = place(glyphs, size * 2, width, rng.uniform(0.1, 0.4), rng, jitter=0.05)
    ys, xs = np.nonzero(row)
    row = row[max(0, ys.min() - 2):ys.max() + 3, :xs.max() + 3]
    angle = rng.uniform(-8, 8)
    pad = row.shape[1] // 4
    row = cv2.copyMakeBorder(row, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=0)
    row = cv2.warpAffine(row, cv2.getRotationMatrix2D((row.shape[1] / 2, row.shape[0] / 2), angle, 1.0), row.shape[::-1])
    ys, xs = np.nonzero(row > 40)
    row = row[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    top = int(rng.integers(4, height - row.shape[0] - 4))
    left = int(rng.integers(4, width - row.shape[1] - 4))
    mask = np.zeros((height, width), np.uint8)
    mask[top:top + row.shape[0], left:left + row.shape[1]] = row
    field = rng.uniform(-1, 1, (max(2, height // 16), max(2, width // 16), 3)).astype(np.float32)
    image = colour(rng, 150, 230) + cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC) * 35
    image = image + rng.normal(0, 5, (height, width, 1)).astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        points = np.stack([np.linspace(0, width, 12), rng.uniform(0, height, 12)], axis=1).astype(np.int32)
        cv2.polylines(image, [points], False, pen(rng, 60, 200), 1, cv2.LINE_AA)
    if rng.random() < 0.6:
        cv2.rectangle(image, (left - 4, top - 4), (left + row.shape[1] + 3, top + row.shape[0] + 3), pen(rng, 40, 140), 1)
    image = ink(image, mask, colour(rng, 0, 90))
    return jpeg(to_uint8(image), int(rng.integers(50, 85)))


def _caption(label: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A small caption of pale letters with a dark outline, like text laid over a picture, somewhere
    on a busy scene of soft coloured shapes; a little blur."""
    face = int(rng.choice(FACES))
    size = int(rng.integers(14, 21))
    thickness = int(rng.integers(1, 3))
    glyphs = [glyph(c, face, size, thickness, rng.uniform(-3, 3)) for c in label]
    row = place(glyphs, size * 2, width, rng.uniform(0.15, 0.45), rng, jitter=0.04)
    ys, xs = np.nonzero(row)
    row = row[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    row = cv2.copyMakeBorder(row, 3, 3, 3, 3, cv2.BORDER_CONSTANT, value=0)
    top = int(rng.integers(2, height - row.shape[0] - 2))
    left = int(rng.integers(2, width - row.shape[1] - 2))
    mask = np.zeros((height, width), np.uint8)
    mask[top:top + row.shape[0], left:left + row.shape[1]] = row
    outline = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3 + 2 * thickness,) * 2))
    image = np.broadcast_to(colour(rng, 40, 220), (height, width, 3)).copy()
    for _ in range(int(rng.integers(6, 14))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            axes = (int(rng.integers(8, width // 3)), int(rng.integers(6, height // 2)))
            cv2.ellipse(image, centre, axes, rng.uniform(0, 180), 0, 360, pen(rng, 30, 240), -1, cv2.LINE_AA)
        else:
            corner = (centre[0] + int(rng.integers(10, width // 3)), centre[1] + int(rng.integers(8, height // 2)))
            cv2.rectangle(image, centre, corner, pen(rng, 30, 240), -1)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.5, 4))
    image = ink(image, outline, colour(rng, 0, 50))
    image = ink(image, mask, colour(rng, 215, 256))
    image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.3, 0.8))
    return to_uint8(image + rng.normal(0, 4, (height, width, 1)).astype(np.float32))


STYLES: dict[str, HeldOutStyle] = {s.name: s for s in (
    HeldOutStyle("hershey", DIGITS + UPPER, (5, 6), 64, 192, _hershey,
                 "single-stroke vector capitals, rotated, thin polylines, perspective tilt"),
    HeldOutStyle("dotmatrix", DIGITS + LOWER, (4, 6), 50, 170, _dotmatrix, "letters of coloured dots on a field of discs"),
    HeldOutStyle("smudge", DIGITS + LOWER, (5, 7), 48, 180, _smudge, "low-resolution slanted letters, motion blur, JPEG 15-35"),
    HeldOutStyle("segments", "".join(SEGMENTS), (4, 7), 50, 200, _segments,
                 "a seven-segment display, lit bars over faint unlit ones, scan lines"),
    HeldOutStyle("script", DIGITS + LOWER, (4, 6), 60, 200, _script, "Hershey script faces on ruled paper, waved along the rows, ink dots"),
    HeldOutStyle("stamp", DIGITS + LOWER, (5, 6), 120, 320, _stamp,
                 "a small rotated line of Hershey letters anywhere on a large mottled field, thin strokes, a frame, JPEG"),
    HeldOutStyle("caption", DIGITS + UPPER, (4, 6), 100, 300, _caption,
                 "a small caption of pale outlined letters anywhere on a busy scene of soft coloured shapes"),
)}


def style_set(holdout: bool) -> tuple[dict, Path]:
    """The styles make_styles.py and bench_styles.py work on, and the folder they go in by default:
    these held-out ones, or the development styles of trainer.render."""
    return (STYLES, Path("data/holdout")) if holdout else (render.STYLES, Path("data/styles"))
