"""Turning a model's class probabilities into text. The trainer imports these for its metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Decoded:
    text: str
    confidence: float
    char_confidences: tuple[float, ...]


def _clean(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"expected a (steps, classes) probability array, got shape {probs.shape}")
    # Quantized or badly calibrated outputs can stray outside [0, 1]; NaN must not become text.
    return np.clip(np.nan_to_num(probs, nan=0.0), 0.0, 1.0)


def ctc_greedy(probs: np.ndarray, class_chars: list[str]) -> Decoded:
    """Best class per time step, repeats collapsed, blanks ('' in class_chars) dropped.

    A character's confidence is the highest probability over the run of steps that produced it.
    """
    probs = _clean(probs)
    best = probs.argmax(axis=1)
    score = probs[np.arange(len(best)), best]
    starts = np.flatnonzero(np.r_[True, best[1:] != best[:-1]])
    run_scores = np.maximum.reduceat(score, starts)
    chars, confs = [], []
    for cls, conf in zip(best[starts].tolist(), run_scores.tolist()):
        ch = class_chars[cls]
        if ch:
            chars.append(ch)
            confs.append(conf)
    # With no character at all, the confidence is that of the least sure step being blank.
    total = float(np.prod(confs)) if confs else float(score.min())
    return Decoded("".join(chars), total, tuple(confs))


def per_position(probs: np.ndarray, charset: str) -> Decoded:
    """Multi-head decoding: the most likely character for each fixed position."""
    probs = _clean(probs)
    best = probs.argmax(axis=1)
    confs = probs[np.arange(len(best)), best].tolist()
    text = "".join(charset[i] for i in best.tolist())
    return Decoded(text, float(np.prod(confs)), tuple(confs))
