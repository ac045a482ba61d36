"""The one helper for native code that writes to file descriptor 2.

Errors here are one line each. Two native libraries would break that: image decoders (libpng,
libjpeg) print complaints about the broken files we then refuse in our own words, and the
interpreter prints an "INFO: Created ... delegate" banner, with no off switch, when it starts.

File descriptor 2 belongs to the whole process, so every redirection goes through one
condition variable:

* ``muted()`` discards fd 2 for a block. It is on every image's path, so it is cheap, and many
  threads may be inside at once: the first one in redirects, the last one out restores.
* ``filtered(drop)`` captures fd 2 for a block and prints back the lines ``drop`` does not
  match. It waits until no block is muted, and holds fd 2 alone (interpreter creation is rare).
* ``audible()`` is for a thread that writes its own stderr lines while others read images (the
  ``--mqtt`` publisher): it waits until nothing is muted and keeps fd 2 as it is meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import Callable, Iterator

_state = threading.Condition(threading.RLock())
_muted = 0  # threads inside muted()
_saved: int | None = None  # fd 2 as it was before the first of them came in
_devnull: int | None = None
_waiting = 0  # threads in filtered() or audible() waiting for the muted blocks to end


def _open_devnull() -> int | None:
    global _devnull
    if _devnull is None:
        try:
            _devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            return None
    return _devnull


class _Muted:
    """The muted() block, as a plain class: it is on every image's path, and a generator-based
    context manager would cost more than the two dup2 calls it wraps."""

    def __enter__(self) -> None:
        global _muted, _saved
        with _state:
            if _muted == 0:
                devnull = _open_devnull()
                try:
                    _saved = os.dup(2)
                    if devnull is not None:
                        os.dup2(devnull, 2)
                except OSError:
                    _saved = None
            _muted += 1

    def __exit__(self, *exc) -> None:
        global _muted, _saved
        with _state:
            _muted -= 1
            if _muted == 0:
                if _saved is not None:
                    os.dup2(_saved, 2)
                    os.close(_saved)
                    _saved = None
                if _waiting:
                    _state.notify_all()


_MUTED = _Muted()


def muted() -> _Muted:
    """Discard what native code writes to fd 2 during the block (``with quiet.muted(): ...``)."""
    return _MUTED


def _wait_unmuted() -> None:
    """With _state held: wait until no thread is inside muted()."""
    global _waiting
    _waiting += 1
    try:
        _state.wait_for(lambda: _muted == 0)
    finally:
        _waiting -= 1


@contextlib.contextmanager
def filtered(drop: Callable[[str], bool]) -> Iterator[None]:
    """Capture fd 2 during the block, then print to stderr the non-blank lines ``drop`` rejects."""
    with _state:
        _wait_unmuted()
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        with tempfile.TemporaryFile() as capture:
            sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = [line for line in capture.read().decode("utf-8", "replace").splitlines()
                        if line.strip() and not drop(line)]
                if kept:
                    print("\n".join(kept), file=sys.stderr)


@contextlib.contextmanager
def audible() -> Iterator[None]:
    """For a thread that writes to stderr while others read images (the --mqtt publisher): wait
    until no block is muted or filtered, and keep fd 2 as it is until the write is done. Without
    it, a line written during another thread's muted() would go to /dev/null."""
    with _state:
        _wait_unmuted()
        yield
