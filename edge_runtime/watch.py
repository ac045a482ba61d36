"""``captcha-edge watch``: recognise every image that appears in a folder, exactly once.

How exactly-once works (documented in the README):

* The output file is the ledger. Each record is the ``predict --format jsonl`` record plus
  ``size`` and ``mtime_ns``, the identity of the file version it describes. A record is written
  in one ``write`` of one line, then flushed and fsynced before the file is moved or deleted.
* At start the ledger is read back. A torn last line (the process was killed mid-write) is
  cut off. Then every file in the folder is compared with it. A file whose identity is already
  recorded is not recognised again. With --move-done/--delete-done its pending move or delete
  is finished.
* Only names with an image extension (``images.IMAGE_EXTENSIONS``) are candidates: a stray
  non-image under such a name gets an error record. Any other name is left alone (no record,
  never moved or deleted): a drop folder also holds writers' temporary names (``x.png.part``,
  ``x.tmp``) that must not be read, recorded or deleted before they are renamed, and the
  user's own files (``notes.txt``).
* A file is read only when it is complete. That means a PNG that ends with its IEND chunk, a JPEG
  that ends with its EOI marker, or another file whose size and mtime have not changed for
  ``settle`` seconds. A writer that renames a finished temporary file into the folder is
  always safe.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import images
from .options import WatchOptions
from .recognizer import Result
from .service import JsonlSink, StopFlag, outcome


@dataclass(frozen=True)
class Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time this size/mtime was first seen


def looks_complete(head: bytes, tail: bytes) -> bool | None:
    """True/False for formats whose end is recognisable (PNG, JPEG), None for the others."""
    if head.startswith(images.PNG_SIGNATURE):
        return tail.endswith(images.PNG_END)
    if head.startswith(images.JPEG_START):
        return tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")
    return None


def read_ledger(path: Path) -> set[tuple[str, int, int]]:
    """Identities already recorded in the output; a torn last line is cut off first."""
    if not path.exists():
        return set()
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    done = set()
    for line in data[:end].splitlines():
        try:
            r = json.loads(line)
            done.add((r["path"], int(r["size"]), int(r["mtime_ns"])))
        except (ValueError, KeyError, TypeError):
            continue  # a foreign or damaged line: not ours to interpret
    return done


class Watcher:
    def __init__(self, recognizer, options: WatchOptions, log: Callable[[str], None] = lambda m: None,
                 publisher=None):
        self.rec = recognizer
        self.opt = options
        self.log = log
        self.folder = options.folder.resolve()
        self.stop_flag = StopFlag()  # SIGTERM/SIGINT: finish the current file, then leave
        self.seen: dict[str, Seen] = {}
        self.done = read_ledger(options.output) if options.output else set()
        self.ignored: set[tuple[str, int, int]] = set()
        # The output file is the ledger: each record is on disk before the file is moved or deleted.
        self.sink = JsonlSink(options.output, fsync=True)
        # --mqtt: a sink-like publisher (edge_runtime.mqtt.Publisher) handed each record after the
        # ledger write; it reads its outbox in its own thread, so the loop never waits on the network.
        self.publisher = publisher
        self.processed = self.failed = self.pending = 0

    def candidates(self) -> list[Path]:
        """Image-named entries of the folder (and subfolders with --recursive), sorted; other
        names are left alone (see the module's docstring)."""
        found, stack = [], [self.folder]
        skip = self.opt.move_done.resolve() if self.opt.move_done else None
        while stack:
            current = stack.pop()
            try:
                entries = list(os.scandir(current))
            except OSError as exc:
                self.log(f"cannot scan {current}: {exc.strerror or exc}")
                continue
            for e in entries:
                if e.name.startswith("."):
                    continue
                if self.opt.recursive and e.is_dir(follow_symlinks=False) and Path(e.path).resolve() != skip:
                    stack.append(Path(e.path))
                elif images.is_image_name(e.name):
                    found.append(Path(e.path))
        return sorted(found)

    def run(self, until_idle: float | None = None) -> int:
        """Watch until stopped (or, for tests and batch use, until idle for ``until_idle`` s).
        Returns 0 if every file of this run was read, 1 if some got an error record."""
        if self.opt.skip_existing:
            for p in self.candidates():
                st = self._stat(p)
                if st:
                    self.ignored.add((str(p), st.st_size, st.st_mtime_ns))
            # One line: the user learns how many files were set aside, and that watching began.
            self.log(f"--skip-existing: {len(self.ignored)} file(s) already in {self.folder} will not be read")
        idle_since = time.monotonic()
        while not self.stop_flag:
            did = self.scan_once()
            now = time.monotonic()
            if did or self.pending:  # files still being written are not idleness
                idle_since = now
            elif until_idle is not None and now - idle_since >= until_idle:
                break
            if not did:
                time.sleep(self.opt.interval)
        return 1 if self.failed else 0

    def _stat(self, path: Path):
        try:
            return path.lstat() if path.is_symlink() else path.stat()
        except OSError:
            return None

    def scan_once(self) -> bool:
        """Process every ready file once; True if anything was processed."""
        did = False
        now = time.monotonic()
        present = set()
        self.pending = 0
        for path in self.candidates():
            if self.stop_flag:
                break
            key = str(path)
            present.add(key)
            st = self._stat(path)
            if st is None:
                continue
            ident = (key, st.st_size, st.st_mtime_ns)
            if ident in self.ignored:
                continue
            if ident in self.done:
                self._finish(path)  # recorded before a crash: only the move/delete was pending
                continue
            prev = self.seen.get(key)
            if prev is None or (prev.size, prev.mtime_ns) != (st.st_size, st.st_mtime_ns):
                self.seen[key] = prev = Seen(st.st_size, st.st_mtime_ns, now)
            if self._ready(path, prev, now):
                self._process(path, st)
                did = True
            else:
                self.pending += 1
        for key in list(self.seen):
            if key not in present:
                del self.seen[key]
        # Months of running: forget identities of files that are gone (a file cannot come back
        # with the same size and nanosecond mtime), so memory stays bounded by the folder.
        if len(self.done) > 2 * len(present) + 1000:
            self.done = {d for d in self.done if d[0] in present}
            self.ignored = {d for d in self.ignored if d[0] in present}
        return did

    def _ready(self, path: Path, seen: Seen, now: float) -> bool:
        if path.is_symlink() or seen.size == 0:
            return now - seen.since >= self.opt.settle
        try:
            with open(path, "rb") as f:
                head = f.read(8)
                f.seek(max(0, seen.size - 16))
                tail = f.read(16)
        except OSError:
            return now - seen.since >= self.opt.settle  # unreadable: report it once it is stable
        complete = looks_complete(head, tail)
        if complete is True:
            return True
        if complete is False:
            return now - seen.since >= self.opt.max_wait
        return now - seen.since >= self.opt.settle

    def _outside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.folder)
            return False
        except ValueError:
            return True

    def _process(self, path: Path, st) -> None:
        name = str(path)
        if path.is_symlink() and not self.opt.follow_symlinks and self._outside(path):
            result = Result(name, error="expected a file inside the watched folder, got a symlink pointing outside it "
                                        "(see --follow-symlinks)")
        else:
            result = self.rec.result(path, name)
        record = {"path": name, **outcome(result), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        self.sink.write(record)
        if self.publisher is not None:
            self.publisher.write(record)
        self.done.add((name, st.st_size, st.st_mtime_ns))
        self.processed += 1
        self.failed += not result.ok
        self._finish(path)

    def _finish(self, path: Path) -> None:
        try:
            if self.opt.delete_done:
                path.unlink(missing_ok=True)
            elif self.opt.move_done:
                # Candidates come from scanning the folder, so they always lie inside it.
                target = self.opt.move_done / Path(os.path.abspath(path)).relative_to(self.folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        except OSError as exc:
            self.log(f"cannot move or delete {path}: {exc.strerror or exc}")

    def close(self) -> None:
        self.sink.close()
