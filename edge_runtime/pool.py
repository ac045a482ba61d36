"""A fixed pool of Recognizers: each is leased to one thread at a time (serve, predict --workers).

An interpreter has one set of tensors, so two threads must never invoke the same Recognizer at
once. The pool holds N of them (one per worker); a thread leases one, uses it and gives it back.
The N share one model file's bytes, read once. No server framework here.

Threads, not processes: the interpreter's invoke and OpenCV's decode and resize release the GIL,
and they are most of a recognition, so N threads keep N cores busy without the start-up cost
(~0.3 s of imports per process) or the pickling of results that processes would add.
"""

from __future__ import annotations

import itertools
import queue
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterable, Iterator

import numpy as np

from . import images
from .recognizer import Recognizer, Result

#: Images one thread reads per task in recognize_many: enough to hide the hand-over cost
#: (~30 us a task), few enough that both threads stay busy to the end of a small folder.
CHUNK = 8


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
        more = [Recognizer(first.model, threads=threads, interpreter=interpreter, min_confidence=first.min_confidence,
                           roi=first.roi) for _ in range(size - 1)]
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

    def recognize_many(self, sources: Iterable[images.ImageSource]) -> Iterator[Result]:
        """Each source's Result, in input order, read by all N Recognizers in parallel threads;
        the records are those of ``Recognizer.recognize_many``. At most 2N chunks are in flight,
        so a huge folder is not held in memory."""
        chunks = iter(lambda it=iter(sources): list(itertools.islice(it, CHUNK)), [])
        with ThreadPoolExecutor(self.size, thread_name_prefix="recognize") as executor:
            pending: deque = deque()
            for chunk in chunks:
                pending.append(executor.submit(self._read_chunk, chunk))
                if len(pending) >= 2 * self.size:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()

    def _read_chunk(self, chunk: list) -> list[Result]:
        with self.lease() as recognizer:
            return [recognizer.result(source) for source in chunk]


class ParallelReader:
    """``recognize_many`` over ``workers`` Recognizers like ``first``, made only when a batch is
    big enough to share: ``predict one.png`` stays one interpreter (cold start matters on a board)."""

    def __init__(self, first: Recognizer, workers: int, threads: int = 1, interpreter: str | None = None):
        self.first, self.workers, self.threads, self.interpreter = first, workers, threads, interpreter
        self._pool: RecognizerPool | None = None

    def recognize_many(self, sources: list) -> Iterator[Result]:
        if self.workers == 1 or len(sources) <= CHUNK:
            return self.first.recognize_many(sources)
        if self._pool is None:
            self._pool = RecognizerPool.like(self.first, self.workers, self.threads, self.interpreter)
        return self._pool.recognize_many(sources)
