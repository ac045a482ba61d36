"""Our own CAPTCHA renderer (PIL + OpenCV), for the development styles and the pre-training corpus.

A CAPTCHA is drawn in three layers: a background (solid, gradient, blotches, stripes, grid or
per-character tiles), the text (one glyph mask per character from a TrueType font, each scaled,
rotated and spaced, then inked solid, per character, hollow or as a gradient), and the clutter
(dots, salt and pepper, straight lines, curves, a warp of the whole image, blur, JPEG loss).

:class:`Look` holds every choice for one image; a :class:`Style` draws Looks from fixed ranges, so
its images look alike and differ from another style's. :func:`random_look` draws from the union
of all ranges, for pre-training. Everything is seeded by a numpy Generator: a data set can be made
again from its seed (on a machine with the same fonts: :func:`fonts` lists the ones found).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

DIGITS = "0123456789"
LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = LOWER.upper()
#: The pre-training charset: every letter in both cases and every digit.
ALNUM = DIGITS + LOWER + UPPER

#: Where fonts are looked for, besides the captcha package's own (a dependency of the trainer's distribution).
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
             "/Library/Fonts", "/System/Library/Fonts", "C:/Windows/Fonts")
#: File-name parts of fonts whose glyphs are not letters (symbols, dingbats, maths).
NOT_TEXT = ("symbol", "dingbat", "d050000l", "math", "cmex", "cmsy", "stixsiz", "stixnonuni", "lastresort", "emoji")
#: Glyphs that a text font draws distinctly (a symbol font maps them to one box, or to nothing).
PROBE = "aA0gQ8"


def font_files() -> list[str]:
    """Every TrueType/OpenType file in FONT_DIRS and the captcha package, sorted (for seeded picks)."""
    found: set[str] = set()
    for d in FONT_DIRS:
        root = Path(os.path.expanduser(d))
        if root.is_dir():
            found |= {str(p) for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".otf")}
    try:
        import captcha

        found |= {str(p) for p in (Path(captcha.__file__).parent / "data").glob("*.ttf")}
    except ImportError:
        pass
    return sorted(f for f in found if not any(part in Path(f).name.lower() for part in NOT_TEXT))


@functools.lru_cache(maxsize=None)
def fonts() -> tuple[str, ...]:
    """The usable text fonts: those that draw every PROBE glyph, each differently."""
    usable = []
    for path in font_files():
        try:
            masks = [glyph(path, 32, ch).tobytes() for ch in PROBE]
        except OSError:
            continue
        if all(any(m) for m in masks) and len(set(masks)) == len(masks):
            usable.append(path)
    if not usable:
        raise OSError("expected at least one TrueType font (the captcha package ships one), found none")
    return tuple(usable)


@functools.lru_cache(maxsize=4096)
def _font(path: str, px: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, px)


def glyph(path: str, px: int, ch: str, stroke: int = 0) -> np.ndarray:
    """One character's coverage mask (uint8, 0..255), cropped to its ink."""
    from PIL import Image, ImageDraw

    font = _font(path, px)
    left, top, right, bottom = font.getbbox(ch, stroke_width=stroke)
    w, h = max(1, right - left), max(1, bottom - top)
    img = Image.new("L", (w + 4, h + 4), 0)
    ImageDraw.Draw(img).text((2 - left, 2 - top), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    mask = np.asarray(img)
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return mask[:1, :1] * 0
    return mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


@dataclass(frozen=True)
class Look:
    """Every drawing choice for one image. Colours are BGR; sizes are shares of the image height."""
    height: int = 60
    width: int = 200
    font: int = 0                  # index into fonts(); with mix_fonts, the first of the per-character picks
    mix_fonts: bool = False        # a font per character
    glyph_height: float = 0.6      # cap height as a share of the image height
    spacing: float = 0.05          # gap between glyphs, share of the height (negative: overlap)
    rotation: float = 10.0         # max degrees per character, either way
    jitter: float = 0.1            # max vertical offset per character, share of the height
    centre: float = 0.5            # the text line's vertical centre, share of the height
    background: str = "solid"      # solid|gradient|blotches|stripes|grid|tiles
    paper: tuple = (235, 235, 235)
    paper2: tuple = (200, 220, 240)
    ink: str = "solid"             # solid|per-char|hollow|gradient
    ink_colour: tuple = (40, 40, 40)
    dots: float = 0.0              # dots per 100 pixels
    salt: float = 0.0              # share of pixels set to black or white
    lines: int = 0                 # straight lines across
    curves: int = 0                # curves across the text
    clutter_ink: bool = False      # clutter in the text's colour (else random colours)
    warp: float = 0.0              # sine warp amplitude, share of the height
    elastic: float = 0.0           # smooth random displacement, share of the height
    blur: float = 0.0              # Gaussian sigma in pixels
    jpeg: int = 0                  # JPEG quality, 0: none


def _colour(rng: np.random.Generator, lo: int, hi: int) -> tuple:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _contrast_ink(rng: np.random.Generator, paper: tuple) -> tuple:
    """An ink colour that stands out from the paper (at least 90 gray levels apart in luminance)."""
    light = np.mean(paper) > 128
    return _colour(rng, 0, 90) if light else _colour(rng, 170, 256)


def background(look: Look, rng: np.random.Generator, cells: int) -> np.ndarray:
    h, w = look.height, look.width
    img = np.empty((h, w, 3), np.float32)
    img[:] = look.paper
    kind = look.background
    if kind == "gradient":
        t = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
        img = (1 - t) * np.float32(look.paper) + t * np.float32(look.paper2) + np.zeros((h, 1, 1), np.float32)
    elif kind == "blotches":
        small = rng.uniform(-1, 1, (max(2, h // 12), max(2, w // 12), 3)).astype(np.float32)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * 40
    elif kind == "stripes":
        yy, xx = np.mgrid[0:h, 0:w]
        period, angle = rng.uniform(6, 20), rng.uniform(0, math.pi)
        phase = (xx * math.cos(angle) + yy * math.sin(angle)) / period
        img[(phase.astype(int) % 2) == 1] = look.paper2
    elif kind == "grid":
        step = int(rng.integers(6, 14))
        img[::step, :] = look.paper2
        img[:, ::step] = look.paper2
    elif kind == "tiles":
        for k in range(cells):
            x0, x1 = k * w // cells, (k + 1) * w // cells
            img[:, x0:x1] = _colour(rng, 90, 256)
    return img


def _place(look: Look, rng: np.random.Generator, label: str) -> list[tuple[np.ndarray, int, int]]:
    """Glyph masks with their top-left corners, scaled to fit the width."""
    all_fonts = fonts()
    px = max(8, int(look.height * look.glyph_height * 1.35))
    stroke = max(1, px // 14) if look.ink == "hollow" else 0
    masks = []
    for ch in label:
        path = all_fonts[(int(rng.integers(len(all_fonts))) if look.mix_fonts else look.font) % len(all_fonts)]
        m = glyph(path, px, ch, stroke)
        if stroke:  # the outline only: the thick glyph less the plain one
            inner = glyph(path, px, ch)
            pad_y, pad_x = (m.shape[0] - inner.shape[0]) // 2, (m.shape[1] - inner.shape[1]) // 2
            m = m.copy()
            m[pad_y: pad_y + inner.shape[0], pad_x: pad_x + inner.shape[1]] = np.maximum(
                0, m[pad_y: pad_y + inner.shape[0], pad_x: pad_x + inner.shape[1]].astype(int) - inner).astype(np.uint8)
        angle = float(rng.uniform(-look.rotation, look.rotation))
        if angle:
            mh, mw = m.shape
            rot = cv2.getRotationMatrix2D((mw / 2, mh / 2), angle, 1.0)
            cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
            nw, nh = int(mh * sin + mw * cos) + 1, int(mh * cos + mw * sin) + 1
            rot[0, 2] += nw / 2 - mw / 2
            rot[1, 2] += nh / 2 - mh / 2
            m = cv2.warpAffine(m, rot, (nw, nh), flags=cv2.INTER_LINEAR)
        masks.append(m)
    gap = int(round(look.spacing * look.height))
    total = sum(m.shape[1] for m in masks) + gap * (len(masks) - 1)
    tallest = max(m.shape[0] for m in masks)
    scale = min(1.0, 0.94 * look.width / max(1, total), 0.94 * look.height / max(1, tallest))
    if scale < 1.0:
        masks = [cv2.resize(m, (max(1, int(m.shape[1] * scale)), max(1, int(m.shape[0] * scale))),
                            interpolation=cv2.INTER_AREA) for m in masks]
        gap = int(gap * scale)
        total = sum(m.shape[1] for m in masks) + gap * (len(masks) - 1)
    x = int(rng.integers(0, max(1, look.width - total) + 1))
    placed = []
    for m in masks:
        mh, mw = m.shape
        centre = look.height * look.centre + rng.uniform(-look.jitter, look.jitter) * look.height
        y = int(np.clip(centre - mh / 2, 0, max(0, look.height - mh)))
        placed.append((m, max(0, min(x, look.width - mw)), y))
        x += mw + gap
    return placed


def _ink_text(img: np.ndarray, look: Look, rng: np.random.Generator, placed) -> None:
    h, w = look.height, look.width
    for k, (m, x, y) in enumerate(placed):
        mh, mw = min(m.shape[0], h - y), min(m.shape[1], w - x)
        alpha = (m[:mh, :mw].astype(np.float32) / 255.0)[:, :, None]
        if look.ink == "per-char":
            colour = np.float32(_contrast_ink(rng, look.paper))
        elif look.ink == "gradient":
            t = k / max(1, len(placed) - 1)
            colour = np.float32(look.ink_colour) * (1 - t) + np.float32(_contrast_ink(rng, look.paper)) * t
        else:
            colour = np.float32(look.ink_colour)
        region = img[y: y + mh, x: x + mw]
        img[y: y + mh, x: x + mw] = region * (1 - alpha) + colour * alpha


def _curve(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A quadratic curve across most of the width."""
    t = np.linspace(0.0, 1.0, 32)
    x0, x1 = rng.uniform(0.0, 0.25) * w, rng.uniform(0.75, 1.0) * w
    ys = rng.uniform(0.15, 0.85, 3) * h
    yc = (1 - t) ** 2 * ys[0] + 2 * (1 - t) * t * ys[1] + t**2 * ys[2]
    return np.stack([x0 + (x1 - x0) * t, yc], axis=1).round().astype(np.int32)


def _clutter(img: np.ndarray, look: Look, rng: np.random.Generator) -> None:
    h, w = look.height, look.width

    def colour():
        return tuple(float(c) for c in look.ink_colour) if look.clutter_ink else tuple(float(c) for c in _colour(rng, 0, 256))

    for _ in range(int(look.dots * h * w / 100)):
        cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(1, 3)), colour(), -1)
    for _ in range(look.lines):
        p0 = (int(rng.integers(0, w // 4 + 1)), int(rng.integers(h)))
        p1 = (int(rng.integers(3 * w // 4, w)), int(rng.integers(h)))
        cv2.line(img, p0, p1, colour(), int(rng.integers(1, 3)), cv2.LINE_AA)
    for _ in range(look.curves):
        cv2.polylines(img, [_curve(rng, h, w)], False, colour(), int(rng.integers(1, 4)), cv2.LINE_AA)


def _distort(img: np.ndarray, look: Look, rng: np.random.Generator) -> np.ndarray:
    h, w = look.height, look.width
    if not (look.warp or look.elastic):
        return img
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy = np.zeros((h, w), np.float32)
    dx = np.zeros((h, w), np.float32)
    if look.warp:
        period, phase = rng.uniform(0.4, 1.2) * w, rng.uniform(0, 2 * math.pi)
        dy += look.warp * h * np.sin(2 * math.pi * xx / period + phase)
    if look.elastic:
        for field in (dx, dy):
            small = rng.uniform(-1, 1, (4, max(4, w // 25))).astype(np.float32)
            field += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * look.elastic * h
    return cv2.remap(img, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def draw(look: Look, label: str, rng: np.random.Generator) -> np.ndarray:
    """One CAPTCHA of ``label`` in ``look``: an (H, W, 3) BGR uint8 image."""
    img = background(look, rng, len(label))
    _ink_text(img, look, rng, _place(look, rng, label))
    _clutter(img, look, rng)
    img = _distort(img, look, rng)
    if look.salt:
        flip = rng.random(img.shape[:2]) < look.salt
        img[flip] = (rng.random((int(flip.sum()), 1)) > 0.5) * 255.0
    if look.blur:
        img = cv2.GaussianBlur(img, (0, 0), look.blur)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if look.jpeg:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(look.jpeg)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def random_label(rng: np.random.Generator, charset: str, lengths: tuple[int, int]) -> str:
    n = int(rng.integers(lengths[0], lengths[1] + 1))
    return "".join(charset[i] for i in rng.integers(0, len(charset), n))


# ---- styles --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Style:
    """A CAPTCHA style: a charset, a length range and a way to draw a Look for each image."""
    name: str
    charset: str
    lengths: tuple[int, int]
    looks: Callable[[np.random.Generator], Look]
    description: str
    renderer: str = "own"  # "own": draw(); "captcha": the captcha package's ImageCaptcha

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """One (BGR image, label) pair, the label drawn from the style's charset and lengths."""
        label = random_label(rng, self.charset, self.lengths)
        return self.image(label, rng), label

    def image(self, label: str, rng: np.random.Generator) -> np.ndarray:
        """``label`` drawn in this style (any label: synth --style takes its own charset)."""
        look = self.looks(rng)
        if self.renderer == "captcha":
            return captcha_image(label, look.height, look.width, rng)
        return draw(look, label, rng)


def captcha_image(label: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """The captcha package's ImageCaptcha, seeded."""
    import random

    import captcha.image as module
    from captcha.image import ImageCaptcha

    with _seeded(module, random.Random(int(rng.integers(2**31)))):
        pil = ImageCaptcha(width=width, height=height).generate_image(label)
    return np.ascontiguousarray(np.asarray(pil.convert("RGB"))[:, :, ::-1])


class _SeededSecrets:
    """The part of the ``secrets`` API that captcha.image uses, drawn from a seeded generator."""

    def __init__(self, rng: "random.Random"):
        self.rng = rng

    def randbelow(self, n: int) -> int:
        return self.rng.randrange(n)

    def randbits(self, k: int) -> int:
        return self.rng.getrandbits(k)

    def choice(self, seq):
        return self.rng.choice(seq)


@contextlib.contextmanager
def _seeded(module, rng: "random.Random"):
    # captcha >= 0.5 draws from ``secrets``, which cannot be seeded; a dataset that cannot be
    # made again is no dataset, so its module-level ``secrets`` is swapped for this render only.
    saved = getattr(module, "secrets", None)
    module.secrets = _SeededSecrets(rng)
    try:
        yield
    finally:
        module.secrets = saved


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _font_named(*parts: str) -> int:
    """The index of the first usable font whose file name has all ``parts`` (0 if none): a style
    keeps its font on any machine that has it, and falls back to the first font elsewhere."""
    for i, path in enumerate(fonts()):
        name = Path(path).name.lower()
        if all(p in name for p in parts):
            return i
    return 0


def _ripple(rng):
    return Look(height=60, width=180, font=_font_named("dejavusans-bold"), glyph_height=0.55, spacing=0.02,
                rotation=15, paper=_colour(rng, 215, 256), ink_colour=_colour(rng, 0, 90), dots=3.0, curves=1,
                clutter_ink=True, warp=0.08, jpeg=70)


def _tiles(rng):
    return Look(height=50, width=160, font=_font_named("liberationserif-bold"), glyph_height=0.55, spacing=0.12,
                rotation=35, background="tiles", ink_colour=_colour(rng, 0, 60), lines=2)


def _hollow(rng):
    paper = _colour(rng, 180, 256)
    return Look(height=64, width=200, font=_font_named("freesansbold"), glyph_height=0.65, spacing=0.04,
                rotation=6, background="gradient", paper=paper, paper2=_colour(rng, 150, 256), ink="hollow",
                ink_colour=_colour(rng, 0, 80), dots=1.0)


def _crowded(rng):
    return Look(height=50, width=200, font=_font_named("lato", "regular"), glyph_height=0.6, spacing=-0.12,
                rotation=20, jitter=0.12, paper=_colour(rng, 200, 256), ink_colour=_colour(rng, 0, 70), blur=0.8)


def _inverse(rng):
    return Look(height=40, width=120, font=_font_named("dejavusansmono-bold"), glyph_height=0.6, spacing=0.1,
                rotation=8, background="grid", paper=_colour(rng, 0, 50), paper2=_colour(rng, 60, 110),
                ink_colour=_colour(rng, 190, 256), salt=0.02)


def _speckle(rng):
    return Look(height=60, width=240, mix_fonts=True, glyph_height=0.5, spacing=0.06, rotation=12,
                background="blotches", paper=_colour(rng, 170, 230), ink="per-char", ink_colour=(0, 0, 0),
                salt=0.06, lines=3, elastic=0.04)


def _stripes(rng):
    return Look(height=70, width=240, font=_font_named("urwbookman", "demi"), glyph_height=0.5, spacing=0.08,
                rotation=10, background="stripes", paper=_colour(rng, 170, 256), paper2=_colour(rng, 120, 200),
                ink="gradient", ink_colour=_colour(rng, 0, 80), curves=2, jpeg=50)


def _margin(rng):
    return Look(height=80, width=240, font=_font_named("dejavuserif.ttf"), glyph_height=0.27, spacing=0.03,
                rotation=6, jitter=0.03, centre=float(rng.uniform(0.25, 0.75)), background="gradient",
                paper=_colour(rng, 200, 256), paper2=_colour(rng, 170, 256), ink_colour=_colour(rng, 0, 100),
                dots=0.4, lines=1, blur=0.5)


def _package(rng):
    return Look(height=60, width=160)


#: The development styles: unlike Wilhelmy and unlike each other. For development only; what
#: counts is accuracy on styles nobody tuned for.
STYLES: dict[str, Style] = {s.name: s for s in (
    Style("ripple", DIGITS + LOWER, (4, 6), _ripple, "bold sans, rotated, sine-warped, dots and a curve in the text colour, JPEG"),
    Style("tiles", DIGITS + UPPER, (4, 4), _tiles, "serif capitals rotated up to 35 degrees on colour tiles, lines across"),
    Style("hollow", UPPER, (5, 5), _hollow, "outlined capitals on a colour gradient"),
    Style("crowded", LOWER, (6, 6), _crowded, "overlapping lowercase letters, rotated and jittered, blurred"),
    Style("inverse", DIGITS, (4, 5), _inverse, "light digits on a dark grid, salt noise, small (120x40)"),
    Style("speckle", DIGITS + LOWER + UPPER, (5, 7), _speckle, "mixed case, a font and colour per character, blotches, salt, lines, elastic warp"),
    Style("stripes", DIGITS + UPPER, (6, 6), _stripes, "bookman capitals over diagonal stripes, gradient ink, curves, JPEG"),
    Style("margin", DIGITS + UPPER, (4, 7), _margin, "small serif text anywhere in a large canvas (240x80), a gradient, a line, dots"),
    Style("package", DIGITS + LOWER, (4, 6), _package, "the captcha package's ImageCaptcha", renderer="captcha"),
)}


def random_look(rng: np.random.Generator) -> Look:
    """A Look drawn from the union of every style's ranges, and beyond: the pre-training corpus."""
    height = int(rng.integers(32, 90))
    width = int(height * rng.uniform(2.0, 5.0))
    bg = _pick(rng, ("solid", "solid", "gradient", "blotches", "stripes", "grid", "tiles"))
    dark = rng.random() < 0.2
    paper = _colour(rng, 0, 70) if dark else _colour(rng, 150, 256)
    return Look(
        height=height, width=width, font=int(rng.integers(len(fonts()))), mix_fonts=rng.random() < 0.3,
        glyph_height=float(rng.uniform(0.4, 0.75)), spacing=float(rng.uniform(-0.15, 0.2)),
        rotation=float(_pick(rng, (0, 5, 15, 30, 40))), jitter=float(rng.uniform(0, 0.15)), background=bg,
        paper=paper, paper2=_colour(rng, 0, 110) if dark else _colour(rng, 110, 256),
        ink=_pick(rng, ("solid", "solid", "per-char", "hollow", "gradient")), ink_colour=_contrast_ink(rng, paper),
        dots=float(_pick(rng, (0, 0, 1, 3, 6))), salt=float(_pick(rng, (0, 0, 0, 0.02, 0.06))),
        lines=int(_pick(rng, (0, 0, 1, 2, 3))), curves=int(_pick(rng, (0, 0, 1, 2))), clutter_ink=rng.random() < 0.5,
        warp=float(_pick(rng, (0, 0, 0.05, 0.1))), elastic=float(_pick(rng, (0, 0, 0.03, 0.06))),
        blur=float(_pick(rng, (0, 0, 0, 0.6, 1.2))), jpeg=int(_pick(rng, (0, 0, 40, 70, 90))))


#: The pre-training corpus (``captcha-train synth --style mixed``): our random looks, and this share
#: of the captcha package's images.
MIXED_PACKAGE_SHARE = 0.15


def mixed_image(label: str, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < MIXED_PACKAGE_SHARE:
        height = int(rng.integers(40, 90))
        return captcha_image(label, height, int(height * rng.uniform(2.2, 4.5)), rng)
    return draw(random_look(rng), label, rng)
