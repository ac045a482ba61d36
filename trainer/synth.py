"""Synthetic labelled CAPTCHAs from the ``captcha`` package, for pre-training or for users with no data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def render(out: str | os.PathLike, count: int, charset: str, lengths: tuple[int, int], seed: int,
           size: tuple[int, int] = (50, 200), log=print) -> int:
    """Write ``count`` PNGs named <label>.png (labels are unique); returns how many were written."""
    try:
        from captcha.image import ImageCaptcha
    except ImportError:
        raise RuntimeError("the 'captcha' package is missing: pip install 'captcha-edge[train]'") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    maker = ImageCaptcha(width=size[1], height=size[0])
    written, seen, attempts = 0, {p.stem for p in out.glob("*.png")}, 0
    while written < count and attempts < count * 20:
        attempts += 1
        label = "".join(rng.choice(list(charset), int(rng.integers(lengths[0], lengths[1] + 1))))
        if label in seen:
            continue
        seen.add(label)
        # The captcha package draws with Python's random module; seed it per image for repeatability.
        import random

        random.seed(int(rng.integers(0, 2**31)))
        maker.write(label, str(out / f"{label}.png"))
        written += 1
        if written % 500 == 0:
            log(f"{written}/{count}")
    return written
