"""Synthetic labelled CAPTCHAs from the ``captcha`` package, for pre-training or for users with no data."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .errors import INSTALL_HINT, TrainerError

DEFAULT_CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789"
DEFAULT_LENGTH = 5
DEFAULT_SIZE = (50, 200)  # height, width: the input size of every arch


#: Characters a synthetic label may not have: they cannot be in a file name on every system, or
#: would change the label read back from it (``_`` ends the label, a leading ``.`` hides the file).
FORBIDDEN = frozenset('/\\_.:*?"<>|')
#: LABEL_SEED-INDEX.png: the label first (the text before the first ``_`` is the label), then the slot.
NAME = "{label}_{seed}-{index:06d}.png"
_SLOT = re.compile(r"^[^_]+_(-?\d+)-(\d+)\.png$")


def parse_lengths(text: str) -> tuple[int, int]:
    """``5`` -> (5, 5); ``4-6`` -> (4, 6)."""
    lo, dash, hi = str(text).strip().partition("-")
    try:
        lengths = (int(lo), int(hi) if dash else int(lo))
    except ValueError:
        raise TrainerError(f"expected a label length such as 5 or a range such as 4-6, got {text!r}") from None
    check_lengths(lengths)
    return lengths


def check_lengths(lengths: tuple[int, int]) -> None:
    lo, hi = lengths
    if lo < 1 or hi < lo:
        raise TrainerError(f"expected label lengths from 1 up, the range low to high (such as 4-6), got {lo}-{hi}"
                           if lo != hi else f"expected a label length of 1 or more, got {lo}")


def check_charset(charset: str) -> None:
    """Every character must survive the trip through a file name: LABEL_SEED-INDEX.png."""
    if not charset:
        raise TrainerError("expected at least one character in --charset, got none")
    bad = sorted({c for c in charset if c in FORBIDDEN or c.isspace() or not c.isprintable()})
    if bad:
        raise TrainerError(f"expected characters that a file name keeps as the label, got {''.join(bad)!r} in "
                           f"{charset!r} (not allowed: {' '.join(sorted(FORBIDDEN))}, whitespace, control characters)")


def label_space(charset: str, lengths: tuple[int, int]) -> int:
    """How many different labels there are."""
    k = len(set(charset))
    return sum(k**n for n in range(lengths[0], lengths[1] + 1))


#: --style: "captcha", the captcha package's ImageCaptcha at --size; "mixed", our renderer's random
#: looks and a share of the package's, at random sizes (the pre-training corpus); or a development
#: style of trainer.render.STYLES, at its own size. The labels always come from --charset and --length.
CAPTCHA_STYLE, MIXED_STYLE = "captcha", "mixed"


def style_names() -> tuple[str, ...]:
    from .render import STYLES

    return (CAPTCHA_STYLE, MIXED_STYLE, *STYLES)


def _painter(style: str, size: tuple[int, int]):
    """A function (label, rng) -> BGR uint8 image for ``style``."""
    if style == CAPTCHA_STYLE:
        try:
            import captcha.image  # noqa: F401
        except ImportError:
            raise TrainerError(f"expected the 'captcha' package, it is missing: {INSTALL_HINT}") from None
        from .render import captcha_image

        return lambda label, rng: captcha_image(label, size[0], size[1], rng)
    from . import render as R

    if style == MIXED_STYLE:
        return lambda label, rng: R.mixed_image(label, rng)
    if style not in R.STYLES:
        raise TrainerError(f"expected a style from {', '.join(style_names())}, got {style!r}")
    return R.STYLES[style].image


def render(out: str | os.PathLike, count: int, charset: str, lengths: tuple[int, int], seed: int,
           size: tuple[int, int] = DEFAULT_SIZE, log=print, style: str = CAPTCHA_STYLE) -> int:
    """Write ``count`` PNGs named LABEL_SEED-INDEX.png (:data:`NAME`); returns how many were written.

    Image INDEX of a seed is always the same picture, so rendering again into the same folder with
    the same seed rewrites the same files (an earlier file of that slot with another label, from
    another charset or length, is replaced) and never adds more; another seed adds new ones.
    Labels are distinct while there are at least ``count`` of them to draw from; then repeats are
    kept, and their names still differ by index."""
    check_charset(charset)
    check_lengths(lengths)
    paint = _painter(style, size)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    slots, others = {}, 0
    for p in out.glob("*.png"):
        match = _SLOT.match(p.name)
        if match:
            slots.setdefault((int(match[1]), int(match[2])), []).append(p)
        else:
            others += 1
    rng = np.random.default_rng(seed)
    distinct = label_space(charset, lengths) >= count
    written, replaced, seen, attempts = 0, 0, set(), 0
    while written < count:
        attempts += 1
        label = "".join(rng.choice(list(charset), int(rng.integers(lengths[0], lengths[1] + 1))))
        if distinct and label in seen and attempts < count * 20:
            continue
        seen.add(label)
        name = NAME.format(label=label, seed=seed, index=written)
        for old in slots.get((seed, written), []):
            if old.name != name:
                old.unlink(missing_ok=True)
                replaced += 1
        _write_png(out / name, paint(label, np.random.default_rng(int(rng.integers(0, 2**31)))))
        written += 1
        if written % 500 == 0:
            log(f"{written}/{count}")
    if replaced:
        log(f"replaced {replaced} images of seed {seed} made earlier with other labels")
    if others:
        log(f"left {others} other PNG files in {out} as they are (not named LABEL_SEED-INDEX.png)")
    return written


def _write_png(path: Path, image: np.ndarray) -> None:
    """Written under a temporary name, then renamed: a killed run leaves no half image."""
    import cv2

    tmp = path.with_name(f".{path.name}.tmp.png")
    if not cv2.imwrite(str(tmp), image):
        raise TrainerError(f"expected to write {path}, OpenCV could not")
    os.replace(tmp, path)
