"""Synthetic labelled CAPTCHAs from the ``captcha`` package, for pre-training or for users with no data."""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import numpy as np

from .errors import TrainerError

DEFAULT_CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789"
DEFAULT_LENGTH = 5
DEFAULT_SIZE = (50, 200)  # height, width: the input size of every arch


class _SeededSecrets:
    """The part of the ``secrets`` API that captcha.image uses, drawn from a seeded generator."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def randbelow(self, n: int) -> int:
        return self.rng.randrange(n)

    def randbits(self, k: int) -> int:
        return self.rng.getrandbits(k)

    def choice(self, seq):
        return self.rng.choice(seq)


@contextlib.contextmanager
def _seeded(module, rng: random.Random):
    # captcha >= 0.5 draws from ``secrets``, which cannot be seeded; a dataset that cannot be
    # made again is no dataset, so its module-level ``secrets`` is swapped for this render only.
    saved = getattr(module, "secrets", None)
    module.secrets = _SeededSecrets(rng)
    try:
        yield
    finally:
        module.secrets = saved


def render(out: str | os.PathLike, count: int, charset: str, lengths: tuple[int, int], seed: int,
           size: tuple[int, int] = DEFAULT_SIZE, log=print) -> int:
    """Write ``count`` PNGs named <label>.png (labels are unique); returns how many were written."""
    try:
        import captcha.image as captcha_image
        from captcha.image import ImageCaptcha
    except ImportError:
        raise TrainerError("expected the 'captcha' package, it is missing: pip install 'captcha-edge[train]'") from None
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
        with _seeded(captcha_image, random.Random(int(rng.integers(0, 2**31)))):
            maker.write(label, str(out / f"{label}.png"))
        written += 1
        if written % 500 == 0:
            log(f"{written}/{count}")
    return written
