"""``captcha-edge camera``: recognise frames from a camera, a video file or a network stream.

SOURCE can be:
* a camera index (``0``), opened with OpenCV (V4L2 on Linux);
* ``picamera2:N``, a Raspberry Pi camera module through picamera2, if it is installed
  (OpenCV's V4L2 capture often returns no frames on those modules);
* a video file or a URL that OpenCV opens (``rtsp://``, ``http://``).

A live source (camera, URL) that fails or drops out is reopened with exponential backoff. A
video file is read to its end, and recognition is sampled by video time at up to --fps.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from . import images, quiet
from .errors import ImageError, SourceError, UsageError
from .images import crop, cv2
from .options import CameraOptions
from .service import JsonlSink, StopFlag, outcome


def is_live(source: str) -> bool:
    return source.isdigit() or "://" in source or source.startswith("picamera2:")


#: The first bytes of still-image formats (PNG, JPEG, GIF, WebP, BMP); no video container starts so.
_IMAGE_MAGIC = (images.PNG_SIGNATURE, images.JPEG_START, b"GIF8", b"BM")


def _looks_like_an_image(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False  # unreadable: opening it reports that
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def check_source(source: str) -> None:
    """Refuse a still image as a source (a usage error). OpenCV would read it as a one-frame
    image sequence, or fail with ffmpeg's complaints on stderr, and exit as if all went well."""
    if is_live(source):
        return
    path = Path(source)
    if images.is_image_name(path) or (path.is_file() and _looks_like_an_image(path)):
        raise UsageError(f"expected a camera index, a video file or a stream URL, got an image, {source!r}: "
                         "use 'captcha-edge predict' to read images")


class _OpenCVSource:
    def __init__(self, source: str):
        # OpenCV's ffmpeg and V4L2 backends print their complaints to fd 2; the SourceError below
        # says what went wrong in one line.
        with quiet.muted():
            self.cap = cv2().VideoCapture(int(source) if source.isdigit() else source)
        if not self.cap.isOpened():
            self.cap.release()
            what = "camera" if source.isdigit() else ("stream" if "://" in source else "video file")
            raise SourceError(f"expected a {what} OpenCV can open, could not open {source!r}")

    def read(self) -> tuple[np.ndarray | None, float | None]:
        with quiet.muted():  # a corrupt frame makes ffmpeg print; the frame is then just missing
            ok, frame = self.cap.read()
        if not ok or frame is None:
            return None, None
        return frame, self.cap.get(cv2().CAP_PROP_POS_MSEC)

    def close(self) -> None:
        self.cap.release()


class _PiCamera2Source:
    def __init__(self, source: str):
        try:
            from picamera2 import Picamera2  # optional: only on Raspberry Pi OS
        except ImportError:
            raise SourceError("expected the picamera2 package for a 'picamera2:N' source, it is not installed "
                              "(sudo apt install python3-picamera2)") from None
        index = int(source.split(":", 1)[1] or 0)
        try:
            self.cam = Picamera2(index)
            self.cam.configure(self.cam.create_still_configuration(main={"format": "RGB888"}))
            self.cam.start()
        except Exception as exc:  # picamera2 raises many kinds; all mean "cannot open"
            raise SourceError(f"expected Pi camera {index} to open, picamera2 said: {exc}") from None

    def read(self):
        try:
            return self.cam.capture_array(), None
        except Exception:
            return None, None

    def close(self) -> None:
        try:
            self.cam.stop()
            self.cam.close()
        except Exception:
            pass


def open_source(source: str):
    if source.startswith("picamera2:"):
        return _PiCamera2Source(source)
    check_source(source)
    if not is_live(source) and not Path(source).exists():
        raise SourceError(f"expected a camera index, a video file or a URL, found no file at {source!r}")
    return _OpenCVSource(source)


class CameraRunner:
    """Reads frames from a source and writes one JSON line per recognised frame.
    ``open_source``, ``clock`` and ``sleep`` are parameters so that tests can feed frames without
    a camera and run the live-source timing (rate limit, reconnect backoff) without waiting."""

    def __init__(self, recognizer, options: CameraOptions, log: Callable[[str], None] = lambda m: None,
                 open_source: Callable[[str], object] = open_source,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] | None = None,
                 publisher=None):
        self.rec, self.opt, self.log = recognizer, options, log
        self.stop_flag = StopFlag()
        # The default sleep ends early when a stop is requested (SIGTERM during a backoff).
        self.open_source, self.clock, self.sleep = open_source, clock, sleep or self.stop_flag.wait
        self.sink = JsonlSink(options.output)
        self.publisher = publisher  # --mqtt: handed each record after the output line (see watch.py)
        self.last_text: str | None = None
        self.frames = self.recognised = 0

    def run(self) -> int:
        """0: stopped or the video ended; 1: the source could not be (re)opened."""
        live = is_live(self.opt.source)
        delay, attempts = 1.0, 0
        while not self.stop_flag:
            try:
                source = self.open_source(self.opt.source)
            except SourceError as exc:
                if not live:
                    self.log(str(exc))
                    return 1
                attempts += 1
                if self.opt.retries is not None and attempts > self.opt.retries:
                    self.log(f"{exc}; giving up after {attempts - 1} retries")
                    return 1
                self.log(f"{exc}; retrying in {delay:.0f} s")
                self._sleep(delay)
                delay = min(delay * 2, self.opt.backoff_max)
                continue
            delay, attempts = 1.0, 0
            try:
                ended = self._frames(source, live)
            finally:
                source.close()
            if ended == "error":
                return 1
            if ended == "done" or not live:
                self.log(f"end of {self.opt.source}: {self.frames} frames read, {self.recognised} recognised")
                return 0
            self.log(f"{self.opt.source} stopped delivering frames; reconnecting in {delay:.0f} s")
            self._sleep(delay)
            delay = min(delay * 2, self.opt.backoff_max)
        return 0

    def _sleep(self, seconds: float) -> None:
        if not self.stop_flag:
            self.sleep(seconds)

    def _frames(self, source, live: bool) -> str:
        period = 1.0 / self.opt.fps if self.opt.fps else 0.0
        last_at = None
        while not self.stop_flag:
            frame, video_ms = source.read()
            if frame is None:
                return "dropped"
            self.frames += 1
            # Live: rate by wall clock. Files: by video time, so results do not depend on CPU speed.
            now = self.clock() if live or video_ms is None else video_ms / 1000.0
            if period and last_at is not None and now - last_at < period - 1e-6:
                continue
            last_at = now
            try:
                region = crop(frame, self.opt.roi, "frame")
            except ImageError as exc:  # the roi does not fit this source's frames: no frame will do
                self.log(str(exc))
                return "error"
            result = self.rec.result(region, f"frame {self.frames}")
            if not result.ok:
                self._emit({"frame": self.frames, **outcome(result)}, video_ms)
                continue
            self.recognised += 1
            if self.opt.changes_only and result.prediction.text == self.last_text:
                continue
            self.last_text = result.prediction.text
            self._emit({"frame": self.frames, **outcome(result)}, video_ms)
            if self.opt.max_frames and self.recognised >= self.opt.max_frames:
                return "done"
        return "done"

    def _emit(self, record: dict, video_ms: float | None) -> None:
        record["time"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        if video_ms is not None and not is_live(self.opt.source):
            record["video_ms"] = round(video_ms, 1)
        self.sink.write(record)
        if self.publisher is not None:
            self.publisher.write(record)

    def close(self) -> None:
        self.sink.close()
