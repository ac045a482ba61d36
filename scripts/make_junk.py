"""Generate a junk corpus for issue #15: images that are not CAPTCHAs of a model's style, and real
CAPTCHAs lost in large pages. Deterministic from --seed (given the same optional packages and fonts).

    python scripts/make_junk.py --out data/junk --seed 0 --captchas ../shared/data/wilhelmy

One subfolder per category:

- ``blank``        solid pages and near-blank ones (faint noise, one line, a dot, a border, paper)
- ``noise``        gray Gaussian, colour, salt-and-pepper, blocky noise
- ``smooth``       gradients, blurred blobs and clouds, photo-like scenes (some JPEG)
- ``text``         printed words, lines and paragraphs (TrueType fonts through PIL if installed,
                   else OpenCV's Hershey fonts)
- ``captcha_pkg``  CAPTCHAs from the ``captcha`` package in other charsets and lengths (only if the
                   package is installed; a few use the Wilhelmy charset with 5 characters)
- ``styles``       our own CAPTCHA styles: rotated characters on colour tiles, wavy text, inverted,
                   dotted, a Wilhelmy-like grey style with another charset/length, arithmetic
- ``lost``         real CAPTCHAs from --captchas pasted into pages, screenshots and camera frames;
                   for these a correct read is acceptable too (the true label is in labels.csv)

Sizes run from 32x32 to 1280x720; about half the non-page images have a CAPTCHA-like aspect
(roughly 4:1), so an aspect-ratio check alone cannot pass the benchmark. ``labels.csv`` lists every
file with its category, the text drawn in it (if any) and the variant; ``manifest.json`` records the
seed, the counts and the optional packages that were used. Needs numpy and OpenCV; PIL and
``captcha`` are optional (``/work/venv-tr`` has both).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import string
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from _paths import default_data

try:
    from PIL import Image, ImageDraw, ImageFont
except ImportError:  # PIL is optional: Hershey fonts instead
    Image = ImageDraw = ImageFont = None

WILHELMY = "2345678bcdefgmnpwxy"
LOWER36 = string.ascii_lowercase + string.digits
UPPER36 = string.ascii_uppercase + string.digits
WORDS = ("invoice total amount paid receipt hello world temperature sensor meter reading date time "
         "login password submit cancel network device camera frame page error warning battery level "
         "north south station platform exit open closed monday friday coffee water bread").split()
CAPTCHA_SIZES = [(50, 200), (60, 160), (40, 150), (80, 300), (64, 256), (100, 400), (45, 180), (70, 220)]
PAGE_SIZES = [(480, 640), (600, 800), (768, 1024), (720, 1280), (300, 600), (240, 320), (100, 100),
              (32, 32), (20, 60), (200, 200), (1080, 720)]
COUNTS = {"blank": 48, "noise": 60, "smooth": 60, "text": 72, "captcha_pkg": 48, "styles": 72, "lost": 72}


def category_rng(seed: int, name: str) -> np.random.Generator:
    """One generator per category, so one category's draws never shift another's."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def size_for(rng: np.random.Generator, captcha_like: float = 0.5) -> tuple[int, int]:
    return pick(rng, CAPTCHA_SIZES if rng.random() < captcha_like else PAGE_SIZES)


def colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def rand_text(rng: np.random.Generator, charset: str, n: int) -> str:
    return "".join(charset[int(i)] for i in rng.integers(len(charset), size=n))


# ---- fonts -------------------------------------------------------------------------------------

def find_fonts() -> list[str]:
    if ImageFont is None:
        return []
    dirs = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path("/Library/Fonts"), Path("C:/Windows/Fonts")]
    fonts = sorted({str(p) for d in dirs if d.is_dir() for p in d.rglob("*.ttf")})
    return [f for f in fonts if "Math" not in f][:24]


FONTS: list[str] = []


def text_size(text: str, px: int, font_index: int) -> tuple[int, int]:
    """(width, height) in pixels of ``text`` drawn at about ``px`` pixels high."""
    if FONTS:
        font = ImageFont.truetype(FONTS[font_index % len(FONTS)], px)
        left, top, right, bottom = font.getbbox(text)
        return right - left, bottom - top
    scale = px / 30.0
    (w, h), base = cv2.getTextSize(text, font_index % 8, scale, max(1, int(scale * 2)))
    return w, h + base


def draw_text(img: np.ndarray, text: str, xy: tuple[int, int], px: int, bgr, font_index: int) -> np.ndarray:
    """Draw ``text`` with its top-left corner at ``xy`` (PIL TrueType if installed, else Hershey)."""
    if FONTS:
        font = ImageFont.truetype(FONTS[font_index % len(FONTS)], px)
        pil = Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]))
        left, top, _, _ = font.getbbox(text)
        ImageDraw.Draw(pil).text((xy[0] - left, xy[1] - top), text, font=font, fill=tuple(int(c) for c in bgr[::-1]))
        return np.ascontiguousarray(np.asarray(pil)[:, :, ::-1])
    scale = px / 30.0
    (_, h), _ = cv2.getTextSize(text, font_index % 8, scale, max(1, int(scale * 2)))
    cv2.putText(img, text, (xy[0], xy[1] + h), font_index % 8, scale, tuple(int(c) for c in bgr), max(1, int(scale * 2)),
                cv2.LINE_AA)
    return img


def fit_text(text: str, box_w: int, box_h: int, font_index: int) -> int:
    """The largest pixel size (>= 6) at which ``text`` fits in box_w x box_h."""
    px = max(6, box_h)
    while px > 6:
        w, h = text_size(text, px, font_index)
        if w <= box_w and h <= box_h:
            break
        px -= max(1, px // 10)
    return px


def page(h: int, w: int, bgr=(255, 255, 255)) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bgr
    return img


# ---- categories ----------------------------------------------------------------------------------

def blank(rng: np.random.Generator, i: int) -> tuple[np.ndarray, str, str]:
    h, w = size_for(rng)
    kind = ["white", "black", "gray", "colour", "faint_noise", "line", "dot", "border", "paper", "smudge",
            "jpeg_white", "light_gray_noise"][i % 12]
    if kind == "white":
        img = page(h, w)
    elif kind == "black":
        img = page(h, w, (0, 0, 0))
    elif kind == "gray":
        img = page(h, w, (int(rng.integers(60, 230)),) * 3)
    elif kind == "colour":
        img = page(h, w, colour(rng))
    elif kind in ("faint_noise", "light_gray_noise"):
        base = 250 if kind == "faint_noise" else int(rng.integers(170, 230))
        img = np.clip(base + rng.normal(0, rng.uniform(1, 4), (h, w, 1)), 0, 255).astype(np.uint8).repeat(3, 2)
    elif kind == "line":
        img = page(h, w)
        y = int(rng.integers(h))
        cv2.line(img, (0, y), (w - 1, int(np.clip(y + rng.integers(-h // 4 - 1, h // 4 + 1), 0, h - 1))),
                 colour(rng, 0, 120), int(rng.integers(1, 3)))
    elif kind == "dot":
        img = page(h, w)
        cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(1, 4)), colour(rng, 0, 100), -1)
    elif kind == "border":
        img = page(h, w)
        cv2.rectangle(img, (0, 0), (w - 1, h - 1), colour(rng, 0, 150), int(rng.integers(1, 4)))
    elif kind == "paper":
        low = cv2.resize(rng.normal(0, 1, (max(2, h // 16), max(2, w // 16))).astype(np.float32), (w, h))
        img = np.clip(238 + 8 * low[:, :, None] + np.array([0, 4, 8]), 0, 255).astype(np.uint8)
    elif kind == "smudge":
        img = page(h, w)
        blob = np.zeros((h, w), np.float32)
        cv2.circle(blob, (int(rng.integers(w)), int(rng.integers(h))), max(2, min(h, w) // 6), 1.0, -1)
        blob = cv2.GaussianBlur(blob, (0, 0), max(1.0, min(h, w) / 12))
        img = np.clip(255 - 50 * blob[:, :, None], 0, 255).astype(np.uint8).repeat(3, 2)
    else:  # jpeg_white: a white page through JPEG at low quality
        ok, buf = cv2.imencode(".jpg", page(h, w, (250, 250, 248)), [cv2.IMWRITE_JPEG_QUALITY, 30])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img, "", kind


def noise(rng: np.random.Generator, i: int) -> tuple[np.ndarray, str, str]:
    h, w = size_for(rng)
    kind = ["gray_gauss", "colour_uniform", "salt_pepper", "blocky", "colour_gauss", "sparse_dark"][i % 6]
    if i == 0:
        h, w, kind = 480, 640, "colour_uniform"  # the 640x480 colour-noise photo
    if kind == "gray_gauss":
        img = np.clip(rng.normal(rng.uniform(60, 200), rng.uniform(10, 80), (h, w, 1)), 0, 255).astype(np.uint8).repeat(3, 2)
    elif kind == "colour_uniform":
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif kind == "colour_gauss":
        img = np.clip(rng.normal(colour(rng, 40, 220), rng.uniform(10, 60), (h, w, 3)), 0, 255).astype(np.uint8)
    elif kind == "salt_pepper":
        img = page(h, w, (int(rng.integers(150, 256)),) * 3)
        r = rng.random((h, w))
        p = rng.uniform(0.02, 0.3)
        img[r < p / 2] = 0
        img[(r >= p / 2) & (r < p)] = 255
    elif kind == "sparse_dark":
        img = page(h, w)
        img[rng.random((h, w)) < rng.uniform(0.005, 0.05)] = 0
    else:  # blocky: coarse noise scaled up with nearest neighbour
        cell = int(rng.integers(3, 12))
        small = rng.integers(0, 256, (max(1, h // cell), max(1, w // cell), 3), dtype=np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    return img, "", kind


def smooth(rng: np.random.Generator, i: int) -> tuple[np.ndarray, str, str]:
    h, w = size_for(rng)
    kind = ["linear", "radial", "blobs", "clouds", "scene", "scene_jpeg"][i % 6]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "linear":
        a = rng.uniform(0, 2 * math.pi)
        t = (np.cos(a) * xx / w + np.sin(a) * yy / h)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        img = np.array(colour(rng)) * (1 - t[:, :, None]) + np.array(colour(rng)) * t[:, :, None]
    elif kind == "radial":
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        t = t / max(1e-6, float(t.max()))
        img = np.array(colour(rng)) * (1 - t[:, :, None]) + np.array(colour(rng)) * t[:, :, None]
    elif kind == "blobs":
        img = np.zeros((h, w, 3), np.float32) + colour(rng)
        for _ in range(int(rng.integers(3, 9))):
            cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(2, max(3, min(h, w) // 2))),
                       colour(rng), -1)
        img = cv2.GaussianBlur(img, (0, 0), max(1.5, min(h, w) / 10))
    elif kind == "clouds":
        img = np.zeros((h, w, 3), np.float32)
        for octave in range(1, 5):
            cells = 2 ** octave
            small = rng.normal(0, 1, (cells, cells * max(1, w // max(1, h)), 3)).astype(np.float32)
            img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) / octave
        img = 128 + 50 * img
    else:  # scene: sky, ground and a few soft shapes, with sensor noise
        horizon = int(h * rng.uniform(0.3, 0.7))
        sky, ground = np.array(colour(rng, 120, 255)), np.array(colour(rng, 20, 140))
        t = (yy / max(1, horizon))[:, :, None]
        img = np.where(yy[:, :, None] < horizon, sky * (0.7 + 0.3 * t), ground * 1.0).astype(np.float32)
        for _ in range(int(rng.integers(2, 6))):
            x0, y0 = int(rng.integers(w)), int(rng.integers(h))
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(4, w // 2 + 5)), y0 + int(rng.integers(4, h // 2 + 5))),
                          colour(rng), -1)
        img = cv2.GaussianBlur(img, (0, 0), max(1.0, min(h, w) / 40)) + rng.normal(0, 4, (h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    if kind == "scene_jpeg":
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img, "", kind


def text(rng: np.random.Generator, i: int) -> tuple[np.ndarray, str, str]:
    kind = ["word_strip", "random_string", "sentence_page", "paragraph", "charset5", "dark_strip"][i % 6]
    font = int(rng.integers(64))
    ink, paper = colour(rng, 0, 90), colour(rng, 200, 256)
    if kind in ("word_strip", "random_string", "charset5", "dark_strip"):
        h, w = pick(rng, CAPTCHA_SIZES)
        if kind == "word_strip":
            label = pick(rng, WORDS)
        elif kind == "random_string":
            label = rand_text(rng, pick(rng, [UPPER36, LOWER36, string.ascii_letters]), int(rng.integers(3, 11)))
        else:
            label = rand_text(rng, WILHELMY, 5)
        if kind == "dark_strip":
            ink, paper = paper, ink
        img = page(h, w, paper)
        px = fit_text(label, int(w * rng.uniform(0.5, 0.9)), int(h * rng.uniform(0.4, 0.8)), font)
        tw, th = text_size(label, px, font)
        xy = (int(rng.integers(0, max(1, w - tw))), int(rng.integers(0, max(1, h - th))))
        return draw_text(img, label, xy, px, ink, font), label, kind
    h, w = pick(rng, [(480, 640), (600, 800), (768, 1024), (240, 320), (300, 600)])
    img = page(h, w, paper)
    lines = 1 if kind == "sentence_page" else int(rng.integers(3, 12))
    px = int(rng.integers(12, 40))
    y = int(rng.integers(5, max(6, h // 3)))
    drawn = []
    for _ in range(lines):
        line = " ".join(pick(rng, WORDS) for _ in range(int(rng.integers(2, 8))))
        px_line = min(px, fit_text(line, w - 20, px, font))
        img = draw_text(img, line, (10, y), px_line, ink, font)
        drawn.append(line)
        y += int(px * 1.5)
        if y > h - px:
            break
    return img, " / ".join(drawn)[:80], kind


@contextmanager
def seeded_captcha(module, rng: random.Random):
    """captcha >= 0.5 draws from ``secrets``; swap in a seeded stand-in for one render."""
    class Secrets:
        randbelow = staticmethod(lambda n: rng.randrange(n))
        randbits = staticmethod(lambda k: rng.getrandbits(k))
        choice = staticmethod(lambda seq: rng.choice(seq))
    saved = getattr(module, "secrets", None)
    module.secrets = Secrets()
    try:
        yield
    finally:
        module.secrets = saved


def captcha_pkg(rng: np.random.Generator, i: int) -> tuple[np.ndarray, str, str]:
    import captcha.image as captcha_image
    from captcha.image import ImageCaptcha

    kind = ["upper4", "upper6", "lower4", "lower7", "wilhelmy_charset5", "upper5"][i % 6]
    charset = {"upper": UPPER36, "lower": LOWER36, "wilhelmy_charset": WILHELMY}[kind.rstrip("0123456789")]
    label = rand_text(rng, charset, int(kind[-1]))
    h, w = pick(rng, [(60, 160), (50, 200), (80, 240), (60, 280), (90, 160)])
    with seeded_captcha(captcha_image, random.Random(int(rng.integers(2**31)))):
        pil = ImageCaptcha(width=w, height=h).generate_image(label)
    return np.ascontiguousarray(np.asarray(pil.convert("RGB"))[:, :, ::-1]), label, kind


def styles(rng: np.random.Generator, i: int) -> tuple[np.ndarray, str, str]:
    kind = ["tiles", "wavy", "inverted", "dotted", "grey_strike", "arithmetic"][i % 6]
    h, w = pick(rng, CAPTCHA_SIZES)
    font = int(rng.integers(64))
    if kind == "arithmetic":
        label = f"{int(rng.integers(1, 20))} {pick(rng, '+-x')} {int(rng.integers(1, 10))} ="
    else:
        n = int(pick(rng, [3, 4, 6, 7, 8]))
        label = rand_text(rng, pick(rng, [UPPER36, string.ascii_uppercase, LOWER36]), n)
    if kind == "tiles":  # each character on its own coloured square, rotated
        img = page(h, w, colour(rng, 180, 256))
        cell = min(h - 4, (w - 4) // len(label))
        for k, ch in enumerate(label):
            tile = page(cell, cell, colour(rng, 60, 256))
            px = fit_text(ch, int(cell * 0.8), int(cell * 0.8), font)
            tw, th = text_size(ch, px, font)
            tile = draw_text(tile, ch, ((cell - tw) // 2, (cell - th) // 2), px, colour(rng, 0, 80), font)
            m = cv2.getRotationMatrix2D((cell / 2, cell / 2), float(rng.uniform(-40, 40)), 1.0)
            tile = cv2.warpAffine(tile, m, (cell, cell), borderMode=cv2.BORDER_REPLICATE)
            x, y = 2 + k * cell, (h - cell) // 2
            img[y:y + cell, x:x + cell] = tile
        return img, label, kind
    ink, paper = colour(rng, 0, 110), colour(rng, 170, 256)
    if kind == "inverted":
        ink, paper = colour(rng, 180, 256), colour(rng, 0, 60)
    if kind == "grey_strike":  # close to the Wilhelmy look (grey paper, dark serif glyphs, a stroke), other charset
        paper, ink = (int(rng.integers(200, 235)),) * 3, (int(rng.integers(20, 70)),) * 3
    img = page(h, w, paper)
    if kind == "dotted":
        for _ in range(int(h * w / 40)):
            cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), 1, colour(rng), -1)
    px = fit_text(label, int(w * 0.85), int(h * 0.7), font)
    tw, th = text_size(label, px, font)
    img = draw_text(img, label, ((w - tw) // 2, (h - th) // 2), px, ink, font)
    if kind == "wavy":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        amp, period = rng.uniform(2, h / 8), rng.uniform(w / 6, w / 2)
        img = cv2.remap(img, xx, yy + amp * np.sin(2 * math.pi * xx / period), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    if kind in ("grey_strike", "wavy", "dotted"):
        pts = np.stack([np.linspace(0, w - 1, 12), h / 2 + rng.normal(0, h / 8, 12)], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, ink, int(rng.integers(1, 3)), cv2.LINE_AA)
    if kind == "grey_strike":
        img = cv2.GaussianBlur(img, (3, 3), 0)
    return img, label, kind


def captcha_files(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def lost(rng: np.random.Generator, i: int, sources: list[Path]) -> tuple[np.ndarray, str, str]:
    src = sources[int(rng.integers(len(sources)))]
    cap = cv2.imread(str(src), cv2.IMREAD_COLOR)
    label = src.stem
    kind = ["centred_600x300", "document", "screenshot", "camera", "margin", "twice", "upscaled", "thumbnail"][i % 8]
    ch, cw = cap.shape[:2]
    if kind == "centred_600x300":  # the example
        img = page(300, 600)
        y, x = (300 - ch) // 2, (600 - cw) // 2
        img[y:y + ch, x:x + cw] = cap
    elif kind == "document":
        img, _, _ = text(rng, 3)  # a paragraph page
        h, w = img.shape[:2]
        y, x = int(rng.integers(0, h - ch)), int(rng.integers(0, w - cw))
        img[y:y + ch, x:x + cw] = cap
    elif kind == "screenshot":
        h, w = pick(rng, [(768, 1024), (720, 1280), (600, 800)])
        img = page(h, w, (240, 240, 240))
        cv2.rectangle(img, (0, 0), (w, 30), colour(rng, 40, 120), -1)
        for _ in range(int(rng.integers(3, 8))):
            x0, y0 = int(rng.integers(w - 100)), int(rng.integers(40, h - 40))
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(40, 300)), y0 + int(rng.integers(20, 40))), colour(rng, 150, 256), -1)
        img = draw_text(img, "Type the characters you see", (40, 60), 22, (30, 30, 30), int(rng.integers(64)))
        y, x = int(rng.integers(100, h - ch - 10)), int(rng.integers(10, w - cw - 10))
        img[y:y + ch, x:x + cw] = cap
        cv2.rectangle(img, (x, y + ch + 10), (x + cw, y + ch + 40), (255, 255, 255), -1)
    elif kind == "camera":  # a frame with the CAPTCHA on a screen: scaled, tilted, blurred, noisy
        img, _, _ = smooth(rng, 4)
        img = cv2.resize(img, (640, 480))
        s = float(rng.uniform(0.8, 2.0))
        capr = cv2.resize(cap, (int(cw * s), int(ch * s)))
        y, x = int(rng.integers(0, 480 - capr.shape[0])), int(rng.integers(0, 640 - capr.shape[1]))
        img[y:y + capr.shape[0], x:x + capr.shape[1]] = capr
        m = cv2.getRotationMatrix2D((320, 240), float(rng.uniform(-5, 5)), 1.0)
        img = cv2.warpAffine(img, m, (640, 480), borderMode=cv2.BORDER_REFLECT)
        img = np.clip(cv2.GaussianBlur(img, (3, 3), 0) + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
    elif kind == "margin":  # a loose crop: the CAPTCHA plus a margin of page around it
        t, b, l, r = (int(v) for v in rng.integers(5, 40, 4))
        img = cv2.copyMakeBorder(cap, t, b, l, r, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    elif kind == "twice":  # two CAPTCHAs side by side (a strip of a page that holds two)
        other = cv2.imread(str(sources[int(rng.integers(len(sources)))]), cv2.IMREAD_COLOR)
        img = np.concatenate([cap, cv2.resize(other, (cw, ch))], 1)
    elif kind == "upscaled":
        img = page(600, 800, colour(rng, 200, 256))
        capr = cv2.resize(cap, (cw * 2, ch * 2), interpolation=cv2.INTER_CUBIC)
        y, x = int(rng.integers(0, 600 - 2 * ch)), int(rng.integers(0, 800 - 2 * cw))
        img[y:y + 2 * ch, x:x + 2 * cw] = capr
    else:  # thumbnail page: 320x240 with the CAPTCHA at native size
        img = page(240, 320, colour(rng, 220, 256))
        y, x = int(rng.integers(0, 240 - ch)), int(rng.integers(0, 320 - cw))
        img[y:y + ch, x:x + cw] = cap
    return img, label, kind


def main(argv: list[str] | None = None) -> int:
    global FONTS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/junk", help="output folder (outside git; data/ is gitignored)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--captchas", default=None,
                    help="folder of real labelled CAPTCHAs (file stem = label) for the 'lost' category "
                         "(default: $CAPTCHA_DATA, else ../shared/data/wilhelmy beside the checkout, if it exists)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every category's count (e.g. 0.1 for a quick corpus)")
    ap.add_argument("--no-fonts", action="store_true", help="use OpenCV's Hershey fonts even if PIL is installed")
    args = ap.parse_args(argv)

    FONTS = [] if args.no_fonts else find_fonts()
    captchas = args.captchas or default_data()
    sources = captcha_files(Path(captchas))
    try:
        import captcha  # noqa: F401
        has_captcha = True
    except ImportError:
        has_captcha = False
    makers = {"blank": blank, "noise": noise, "smooth": smooth, "text": text, "styles": styles}
    if has_captcha:
        makers["captcha_pkg"] = captcha_pkg
    if sources:
        makers["lost"] = lambda rng, i: lost(rng, i, sources)
    out = Path(args.out)
    rows = []
    counts = {}
    for name in COUNTS:
        if name not in makers:
            print(f"skipping {name}: " + ("the 'captcha' package is not installed" if name == "captcha_pkg"
                                          else f"no CAPTCHA images in {captchas} (--captchas DIR)"), file=sys.stderr)
            continue
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        rng = category_rng(args.seed, name)
        n = max(1, round(COUNTS[name] * args.scale))
        for i in range(n):
            img, label, kind = makers[name](rng, i)
            path = folder / f"{i:03d}_{kind}.png"
            if not cv2.imwrite(str(path), img):
                raise SystemExit(f"could not write {path}")
            rows.append({"path": f"{name}/{path.name}", "category": name, "label": label, "variant": kind,
                         "height": img.shape[0], "width": img.shape[1]})
        counts[name] = n
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    manifest = {
        "seed": args.seed, "scale": args.scale, "counts": counts, "total": sum(counts.values()),
        "captchas": str(captchas) if sources else None,
        "fonts": [Path(f).name for f in FONTS] or "opencv-hershey",
        "packages": {"numpy": np.__version__, "opencv": cv2.__version__,
                     "pillow": getattr(sys.modules.get("PIL"), "__version__", None),
                     "captcha": getattr(sys.modules.get("captcha"), "__version__", None) if has_captcha else None},
        "command": "python scripts/make_junk.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{manifest['total']} images in {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
