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


def _collapse(path: list[int], score: list[float], class_chars: Sequence[str]) -> tuple[list[str], list[float]]:
    """A frame-by-frame path of classes (with each frame's probability of its class) as text:
    repeats collapsed, blanks ('' in class_chars) dropped. A character's confidence is the highest
    probability over the run of steps that produced it."""
    chars: list[str] = []
    confs: list[float] = []
    prev = -1
    for cls, conf in zip(path, score):
        ch = class_chars[cls]
        if cls != prev:
            if ch:
                chars.append(ch)
                confs.append(conf)
            prev = cls
        elif ch and conf > confs[-1]:
            confs[-1] = conf
    return chars, confs


def ctc_greedy(probs: np.ndarray, class_chars: list[str]) -> Decoded:
    """Best class per time step, repeats collapsed, blanks ('' in class_chars) dropped.

    A character's confidence is the highest probability over the run of steps that produced it.
    """
    best, score = _best(_clean(probs))
    chars, confs = _collapse(best, score, class_chars)
    # With no character at all, the confidence is that of the least sure step being blank.
    total = math.prod(confs) if confs else min(score)
    return Decoded("".join(chars), total, tuple(confs))


#: Log-probability of an impossible path state in :func:`ctc_best_path`.
_IMPOSSIBLE = -np.inf


def ctc_best_path(probs: np.ndarray, blank: int, lengths: tuple[int, int]) -> list[int] | None:
    """The most probable path of classes, one per step (Viterbi), among those whose text has
    ``lengths[0]``..``lengths[1]`` characters; None if no path of these steps has such a text.

    The state after each step is (characters so far, class at this step); a step may repeat its
    class (no new character), emit the blank, or emit another class (one more character).
    """
    probs = _clean(probs)
    steps, classes = probs.shape
    shortest, longest = lengths
    with np.errstate(divide="ignore"):
        logp = np.log(np.clip(probs, 0.0, 1.0)).astype(np.float64)
    counts, cls = np.arange(longest + 1), np.arange(classes)
    is_char = cls != blank
    score = np.full((longest + 1, classes), _IMPOSSIBLE)
    score[0, blank] = logp[0, blank]
    if longest:
        score[1, is_char] = logp[0, is_char]
    # For each step, state (count, class): the class of the step before, and whether it was another
    # character (the count grew); enough to walk the best path back.
    came_from = np.zeros((steps, longest + 1, classes), np.int64)
    grew = np.zeros((steps, longest + 1, classes), bool)
    for t in range(1, steps):
        first = score.argmax(axis=1)
        best = score[counts, first]
        runner_up = score.copy()
        runner_up[counts, first] = _IMPOSSIBLE
        second = runner_up.argmax(axis=1)
        # The best state one character back whose class differs from this step's (else a repeat).
        prev_cls = np.where(first[:, None] == cls, second[:, None], first[:, None])
        prev_score = np.where(first[:, None] == cls, runner_up[counts, second][:, None], best[:, None])
        new_char = np.full_like(score, _IMPOSSIBLE)
        new_char[1:] = prev_score[:-1]
        grow = is_char & (new_char > score)
        score = np.where(grow, new_char, score)
        came_from[t] = np.where(grow, np.vstack([prev_cls[:1], prev_cls[:-1]]), cls)
        grew[t] = grow
        score[:, blank] = best  # the blank follows any class, the count unchanged
        came_from[t, :, blank] = first
        score += logp[t]
    ends = score[shortest:]
    if not np.isfinite(ends).any():
        return None
    count, last = np.unravel_index(int(ends.argmax()), ends.shape)
    count += shortest
    path = [int(last)]
    for t in range(steps - 1, 0, -1):
        was = int(came_from[t, count, path[-1]])
        count -= int(grew[t, count, path[-1]])
        path.append(was)
    return path[::-1]


def ctc_decode(probs: np.ndarray, class_chars: list[str], lengths: tuple[int, int] | None = None) -> Decoded:
    """:func:`ctc_greedy`, kept to the label lengths the model was trained on: when the best class
    of each step spells a text of another length (a doubled letter merged, a wide one split), the
    read is the most probable path whose text has a trained length (:func:`ctc_best_path`).

    Such a read's confidence is further multiplied by its path's probability relative to the
    unconstrained best path's (1 for a greedy read): it says how far the read had to be forced.
    An empty read stays empty: all blank is the model's "nothing here".
    """
    greedy = ctc_greedy(probs, class_chars)
    if not greedy.text or lengths is None or lengths[0] <= len(greedy.text) <= lengths[1]:
        return greedy
    probs = _clean(probs)
    path = ctc_best_path(probs, class_chars.index(""), lengths)
    if path is None:
        return greedy
    steps = np.arange(len(path))
    score = np.clip(probs[steps, path], 0.0, 1.0)
    forced = float(np.prod(score / np.maximum(probs.max(axis=1), np.finfo(np.float32).tiny)))
    chars, confs = _collapse(path, score.tolist(), class_chars)
    return Decoded("".join(chars), math.prod(confs) * forced, tuple(confs))


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
        class_chars, lengths = contract.class_chars(), contract.length_range
        return lambda probs: ctc_decode(probs, class_chars, lengths)
    chars = contract.class_chars()  # the charset, plus '' for the end class if the model has one
    return lambda probs: per_position(probs, chars)


def decode(probs: np.ndarray, contract: Contract) -> Decoded:
    """Text, confidence and per-character confidences of one output, read as the contract says."""
    return decoder_for(contract)(probs)
