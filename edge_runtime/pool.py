"""A fixed pool of Recognizers for servers: each is leased to one thread at a time.

An interpreter has one set of tensors, so two threads must never invoke the same Recognizer at
once. The pool holds N of them (one per worker); a thread leases one, uses it and gives it back.
The N share one model file's bytes, read once. No server framework here.
"""

from __future__ import annotations

import os
import queue
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from . import images
from .recognizer import Recognizer


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class RecognizerPool:
    """``with pool.lease() as recognizer: ...``: blocks until one of the N is free."""

    def __init__(self, recognizers: list[Recognizer]):
        if not recognizers:
            raise ValueError("expected at least one Recognizer in a pool, got none")
        self.size = len(recognizers)
        self.first = recognizers[0]
        self._all = tuple(recognizers)
        self._free: queue.SimpleQueue[Recognizer] = queue.SimpleQueue()
        for recognizer in recognizers:
            self._free.put(recognizer)

    @classmethod
    def like(cls, first: Recognizer, size: int, threads: int = 1, interpreter: str | None = None) -> "RecognizerPool":
        """``first`` and size - 1 more Recognizers of the same loaded model (no second file read)."""
        more = [Recognizer(first.model, threads=threads, interpreter=interpreter) for _ in range(size - 1)]
        return cls([first, *more])

    @property
    def model_name(self) -> str:
        return self.first.model.path.stem

    def warm(self) -> None:
        """One recognition per Recognizer of a blank image, before serving: the first requests then
        pay neither the OpenCV import nor an interpreter's first-invoke allocations."""
        spec = self.first.contract.input
        blank = np.full((spec.height, spec.width), 255, np.uint8)
        images.cv2()
        for recognizer in self._all:
            recognizer.recognize(blank)

    @contextmanager
    def lease(self) -> Iterator[Recognizer]:
        recognizer = self._free.get()
        try:
            yield recognizer
        finally:
            self._free.put(recognizer)
