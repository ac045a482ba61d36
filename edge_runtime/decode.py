"""Turning a model's class probabilities into text. The contract picks the decoder
(:func:`decoder_for`); the runtime's Recognizer and the trainer's metrics both use it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .contract import Contract, Kind


@dataclass(frozen=True)
class Decoded:
    text: str
    confidence: float
    char_confidences: tuple[float, ...]


def _clean(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"expected a (steps, classes) probability array, got shape {probs.shape}")
    if not np.isfinite(probs).all():  # NaN must not become text; rare, so checked before copying
        probs = np.nan_to_num(probs, nan=0.0, posinf=1.0, neginf=0.0)
    return probs


def _best(probs: np.ndarray) -> tuple[list[int], list[float]]:
    """Best class and its probability (clipped to [0, 1]) for every step, as Python lists:
    the arrays are tiny, so plain loops beat further numpy calls here."""
    best = probs.argmax(axis=1)
    score = np.clip(probs[np.arange(len(best)), best], 0.0, 1.0)
    return best.tolist(), score.tolist()


def ctc_greedy(probs: np.ndarray, class_chars: list[str]) -> Decoded:
    """Best class per time step, repeats collapsed, blanks ('' in class_chars) dropped.

    A character's confidence is the highest probability over the run of steps that produced it.
    """
    best, score = _best(_clean(probs))
    chars: list[str] = []
    confs: list[float] = []
    prev = -1
    for cls, conf in zip(best, score):
        ch = class_chars[cls]
        if cls != prev:
            if ch:
                chars.append(ch)
                confs.append(conf)
            prev = cls
        elif ch and conf > confs[-1]:
            confs[-1] = conf
    # With no character at all, the confidence is that of the least sure step being blank.
    total = math.prod(confs) if confs else min(score)
    return Decoded("".join(chars), total, tuple(confs))


def per_position(probs: np.ndarray, class_chars: Sequence[str]) -> Decoded:
    """Multi-head decoding: the most likely class at each position, its probability the character's
    confidence, the read's the product over the positions.

    With an end class ('' in ``class_chars``) the text stops at the first position whose best class
    is the end: training put the end at every position after the text, so what follows is not
    read. The positions after the text still count: the confidence is the probability of exactly
    this reading, the end class's at the first end and at every later position included, so an
    unsure end, or a character the model half sees after it, makes the read unsure.
    """
    probs = _clean(probs)
    best, score = _best(probs)
    chars = [class_chars[i] for i in best]
    if "" not in chars:
        return Decoded("".join(chars), math.prod(score), tuple(score))
    stop = chars.index("")
    ends = np.clip(probs[stop:, best[stop]], 0.0, 1.0).tolist()
    confs = score[:stop]
    return Decoded("".join(chars[:stop]), math.prod(confs) * math.prod(ends), tuple(confs))


def decoder_for(contract: Contract) -> Callable[[np.ndarray], Decoded]:
    """The decoder the contract's kind calls for, as a function of one (steps, classes) array."""
    if contract.kind == Kind.CTC:
        class_chars = contract.class_chars()
        return lambda probs: ctc_greedy(probs, class_chars)
    chars = contract.class_chars()  # the charset, plus '' for the end class if the model has one
    return lambda probs: per_position(probs, chars)


def decode(probs: np.ndarray, contract: Contract) -> Decoded:
    """Text, confidence and per-character confidences of one output, read as the contract says."""
    return decoder_for(contract)(probs)
