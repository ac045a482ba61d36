"""What every command that reads many inputs shares: predict, watch, camera (and serve).

* One error policy: ``Recognizer.result`` turns a bad input into a record with a one-line
  ``error``; it never raises, so the other inputs still go through.
* One record shape: ``outcome(result)`` is ``{"text", "confidence"}`` (plus ``"rejected"`` for a
  read that cannot be trusted) or ``{"error"}``, after the input's identity (``path``, or
  ``frame``) and before any extra fields; serve's ``answer(result, model)`` is that record with
  the per-character confidences, the model and the timings added.
* One JSON-lines sink (``JsonlSink``): standard output or a file; each record is one write of
  one whole line, flushed, and fsynced where the file is a ledger.
* One signal handling (``StopFlag``): SIGTERM and SIGINT let the current input finish, then the
  loop leaves and the command exits with its normal status.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
import threading
from typing import Callable, TextIO

from .options import FORMATS
from .recognizer import Result



def outcome(result: Result) -> dict:
    """What was read: the text and its confidence, or the one-line error."""
    if result.prediction is None:
        return {"error": result.error}
    p = result.prediction
    record = {"text": p.text, "confidence": round(p.confidence, 6)}
    if p.rejected:  # only when there is a reason: a trusted read's record is as before
        record["rejected"] = p.rejected
    return record


def ms(value: float) -> float:
    """Milliseconds as serve shows them: to the microsecond."""
    return round(value, 3)


def answer(result: Result, model: str) -> dict:
    """serve's JSON for one image: ``outcome(result)``, so ``rejected`` is there exactly when it is
    in predict's, watch's and camera's records, then the per-character confidences, the model and
    the stage timings. An image that could not be read is ``{"error"}`` alone."""
    record = outcome(result)
    p = result.prediction
    if p is None:
        return record
    t = p.timings
    return {**record, "char_confidences": [round(c, 6) for c in p.char_confidences], "model": model,
            "timings": {"read_ms": ms(t.read_ms), "preprocess_ms": ms(t.preprocess_ms), "invoke_ms": ms(t.invoke_ms),
                        "decode_ms": ms(t.decode_ms), "total_ms": ms(t.total_ms)}}


class JsonlSink:
    """JSON lines to standard output (``path=None``) or appended to a file. With ``fsync`` (a
    ledger) each line is on disk before ``write`` returns."""

    def __init__(self, path: str | os.PathLike | None = None, fsync: bool = False, stream: TextIO | None = None):
        self._file: TextIO | None = open(path, "a", encoding="utf-8") if path is not None else None
        self._out: TextIO = self._file or stream or sys.stdout
        self._fsync = fsync and self._file is not None

    def write(self, record: dict) -> None:
        # One write of one whole line, then flush (and fsync): a kill never leaves half a line that counts.
        self._out.write(json.dumps(record) + "\n")
        self._out.flush()
        if self._fsync:
            os.fsync(self._out.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "JsonlSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StopFlag:
    """Set by SIGTERM/SIGINT (after ``install``) or by ``set()``; loops poll it between inputs."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self, *_signal_args) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def __bool__(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking as soon as a stop is requested; True if it was."""
        return self._event.wait(seconds)

    def install(self) -> None:
        """Route SIGTERM and SIGINT here (only the main thread may install signal handlers)."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self.set)


def printable(path: str) -> str:
    """A path as one printable line: control characters and undecodable bytes escaped."""
    return path if path.isprintable() else path.encode("unicode_escape", "backslashreplace").decode("ascii")


def result_writer(fmt: str, stream: TextIO | None = None,
                  errors: Callable[[str], None] | None = None) -> Callable[[Result], None]:
    """A function writing one Result per call in ``fmt``: jsonl through a JsonlSink; csv with a
    header row; text as 'path<TAB>text<TAB>confidence', errors as one line each to ``errors``."""
    out = stream or sys.stdout
    if fmt not in FORMATS:
        raise ValueError(f"expected a format in {FORMATS}, got {fmt!r}")
    if fmt == "jsonl":
        sink = JsonlSink(stream=out)
        return lambda result: sink.write({"path": result.source, **outcome(result)})
    if fmt == "csv":
        rows = csv.writer(out, lineterminator="\n")
        rows.writerow(["path", "text", "confidence", "error", "rejected"])

        def write_csv(result: Result) -> None:
            p = result.prediction
            rows.writerow([result.source, p.text if p else "", f"{p.confidence:.4f}" if p else "", result.error or "",
                           (p.rejected or "") if p else ""])
            out.flush()

        return write_csv
    report = errors or (lambda line: print(line, file=sys.stderr, flush=True))

    def write_text(result: Result) -> None:
        shown = printable(result.source)
        if result.prediction is None:
            report(f"{shown}: error: {result.error}")
        else:
            p = result.prediction
            out.write(f"{shown}\t{p.text}\t{p.confidence:.4f}" + (f"\trejected:{p.rejected}" if p.rejected else "") + "\n")
            out.flush()

    return write_text
