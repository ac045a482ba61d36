"""The options of every command, as frozen dataclasses: the one place their defaults are stated.

The CLI reads its flag defaults from here (``default(WatchOptions, "settle")``), and the
library takes these objects, so the command line and the Python API cannot disagree. This
module imports nothing heavy: the CLI's ``--help`` stays fast on a board.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any


#: Output formats of predict: text is 'path<TAB>text<TAB>confidence' with errors on stderr.
FORMATS = ("text", "jsonl", "csv")
#: Output formats of the reports of info and bench.
REPORT_FORMATS = ("text", "json")


@dataclass(frozen=True)
class RecognizerOptions:
    model: str = "default"  # a shipped model name, or a path to a .tflite file
    threads: int = 1  # interpreter threads
    interpreter: str | None = None  # None: CAPTCHA_EDGE_INTERPRETER, else the first that imports
    min_confidence: float = 0.5  # reads below it are rejected (trust.py says how it was measured)


@dataclass(frozen=True)
class PredictOptions:
    format: str = "text"  # one of FORMATS
    workers: int | None = None  # images read in parallel; None: the cores this process may use
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h: crop every image to it first; None: whole images


@dataclass(frozen=True)
class WatchOptions:
    folder: Path
    output: Path | None = None  # None: standard output (no ledger)
    recursive: bool = False
    move_done: Path | None = None
    delete_done: bool = False
    skip_existing: bool = False
    follow_symlinks: bool = False
    interval: float = 0.1  # seconds between folder scans
    settle: float = 1.0  # seconds a file of unknown format must stay unchanged
    max_wait: float = 30.0  # an incomplete-looking PNG/JPEG is read anyway after this long


@dataclass(frozen=True)
class CameraOptions:
    source: str
    fps: float | None = None  # recognitions per second at most; None: every frame
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h in frame pixels
    output: Path | None = None  # None: standard output
    changes_only: bool = False
    max_frames: int | None = None
    backoff_max: float = 30.0  # seconds between reconnect attempts, at most
    retries: int | None = None  # reconnect attempts for live sources; None: forever


@dataclass(frozen=True)
class BenchOptions:
    models: tuple[str, ...] = ("default",)
    threads: int = 1
    runs: int = 300
    warmup: int = 30
    images: Path | None = None  # None: seeded synthetic PNGs of each model's input size
    seed: int = 0
    interpreter: str | None = None
    workers: tuple[int, ...] | None = None  # worker counts for the throughput rows; None: 1 and the cores


def default(options: type, name: str) -> Any:
    """The default of one field of an options dataclass."""
    for f in fields(options):
        if f.name == name:
            if f.default is MISSING:
                raise KeyError(f"{options.__name__}.{name} has no default")
            return f.default
    raise KeyError(f"{options.__name__} has no field {name!r}")


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"  # loopback: other machines cannot connect unless you choose so
    port: int = 8000
    workers: int | None = None  # Recognizers serving at once; None: the cores this process may use
    api_key: str | None = None  # None: no authentication
    max_body_bytes: int = 4 * 1024 * 1024  # a CAPTCHA is ~10 KB; a batch of 64 in base64 fits easily
    max_images: int = 64  # images in one /ocr/batch request
    model: str = "default"
    threads: int = 1  # interpreter threads per worker
    interpreter: str | None = None


@dataclass(frozen=True)
class MqttOptions:
    url: str | None = None  # mqtt://HOST[:PORT][/TOPIC_PREFIX]; None: no MQTT
    discovery: bool = False  # also publish a retained Home Assistant sensor config
    keepalive: int = 15  # seconds; a silent broker is noticed within 1.5x this
    backoff_max: float = 30.0  # seconds between reconnect attempts, at most
    window: int = 20  # results handed to the broker but not yet acknowledged, at most
    flush_timeout: float = 5.0  # seconds a stop waits for acknowledgements before it gives up
    memory_queue: int = 10000  # without --output: results kept in memory while the broker is away
