"""The ``captcha-edge`` command: a thin shell over the library.

Flag defaults come from the option dataclasses in :mod:`edge_runtime.options`; output,
error policy and signal handling from :mod:`edge_runtime.service`.
Exit codes: 0 every input was read (and, for predict, trusted), 1 some inputs failed or, for
predict, a read was rejected (the others were still processed), 2 usage errors (bad flags or
settings, a model that cannot be loaded).
"""

from __future__ import annotations

import json
import sys

import click

from ._version import __version__
from .options import (FORMATS, REPORT_FORMATS, BenchOptions, CameraOptions, MqttOptions, PredictOptions, RecognizerOptions, ServeOptions,
                      WatchOptions, default)
from .registry import INTERPRETERS

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

MODEL_HELP = "Shipped model name (see 'captcha-edge info --list') or a .tflite path; default: the shipped default."
model_option = click.option("--model", "-m", default=default(RecognizerOptions, "model"), show_default=True,
                            metavar="NAME|FILE", help=MODEL_HELP)
threads_option = click.option("--threads", type=click.IntRange(1, 64), default=default(RecognizerOptions, "threads"),
                              show_default=True, help="Interpreter threads.")
interpreter_option = click.option(
    "--interpreter",
    type=click.Choice(list(INTERPRETERS)),
    default=default(RecognizerOptions, "interpreter"),
    help=f"Force an interpreter package (default: CAPTCHA_EDGE_INTERPRETER, else the first of {', '.join(INTERPRETERS)} "
         "that imports).",
)


def fail_usage(message: str) -> None:
    click.echo(f"captcha-edge: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


min_confidence_option = click.option(
    "--min-confidence", type=click.FloatRange(0, 1), default=default(RecognizerOptions, "min_confidence"), show_default=True,
    help="Reads below this confidence are rejected: they keep their text and gain \"rejected\": \"<reason>\". Empty "
         "reads, lengths the model never saw, images not shaped like its input, and loose crops are rejected at any "
         "value (see README, \"Rejected reads\").")


def open_recognizer(model: str, threads: int, interpreter: str | None, min_confidence: float | None = None,
                    roi=None):
    """The Recognizer, after the settings every command depends on are checked: a bad model or
    setting is a usage error (one line, exit 2) before any input is read. ``roi``: predict's --roi."""
    from .errors import CaptchaEdgeError
    from .images import limits
    from .recognizer import Recognizer

    try:
        limits()
        if min_confidence is None:
            min_confidence = default(RecognizerOptions, "min_confidence")
        return Recognizer.from_file(model, threads=threads, interpreter=interpreter, min_confidence=min_confidence,
                                    roi=roi)
    except CaptchaEdgeError as exc:
        fail_usage(str(exc))


def _log(command: str):
    return lambda message: click.echo(f"captcha-edge {command}: {message}", err=True)


mqtt_option = click.option(
    "--mqtt", default=default(MqttOptions, "url"), metavar="mqtt://HOST[:PORT][/PREFIX]",
    help="Also publish every result at QoS 1 to PREFIX/result on this MQTT broker (default prefix "
         "captcha-edge/<hostname>), with PREFIX/availability online/offline. With --output nothing is lost while "
         "the broker is away. Needs: pip install 'captcha-edge[mqtt]'.")
mqtt_discovery_option = click.option(
    "--mqtt-discovery", is_flag=True, default=default(MqttOptions, "discovery"),
    help="With --mqtt: also publish a retained Home Assistant discovery config (a sensor with the last text).")


def open_publisher(url: str | None, discovery: bool, ledger: str | None, log):
    """--mqtt: the started publisher, or None without --mqtt. A bad URL or a missing paho-mqtt is
    a usage error (one line, exit 2); a broker that is not there is not (results wait for it)."""
    if url is None:
        return None
    from pathlib import Path

    from .errors import UsageError
    from .mqtt import Publisher

    try:
        return Publisher(MqttOptions(url, discovery), Path(ledger) if ledger else None, log).start()
    except UsageError as exc:
        fail_usage(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="captcha-edge")
def main() -> None:
    """Read text CAPTCHAs with a TFLite model on a small device.

    \b
    Examples:
      captcha-edge predict captcha.png
      captcha-edge predict --format jsonl images/ > results.jsonl
      captcha-edge info
    """


#: predict's PATH for one image read from standard input.
STDIN = "-"


def read_stdin(recognizer):
    """`predict -`: the Result for one image's bytes on standard input (a pipeline on a device),
    read up to the file-size limit so that an endless pipe cannot exhaust memory."""
    from .images import limits
    from .recognizer import Result

    most = limits().max_file_bytes
    data = sys.stdin.buffer.read(most + 1)
    if not data:
        return Result(STDIN, error="expected one image's bytes on standard input, got 0 bytes")
    if len(data) > most:
        return Result(STDIN, error=f"expected an image of at most {most} bytes (CAPTCHA_EDGE_MAX_FILE_BYTES) "
                                   "on standard input, got more")
    return recognizer.result(data, STDIN)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@model_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=default(PredictOptions, "format"),
              show_default=True,
              help="text: 'path<TAB>text<TAB>confidence' (errors on stderr); jsonl: one JSON object per input; csv.")
@click.option("--workers", type=click.IntRange(1, 256), default=default(PredictOptions, "workers"),
              help="Images read at once, each worker with its own interpreter, in threads. The output keeps the "
                   "input order. Default: the cores this process may use.")
@click.option("--roi", default=default(PredictOptions, "roi"), metavar="X,Y,W,H",
              help="Crop every image to this rectangle (pixels: top-left corner x,y, width w, height h) before it "
                   "is read, for a CAPTCHA at a known place in a screenshot or page: the whole image would be "
                   "rejected (aspect, margin). An image it does not fit in gets an error record. Default: whole images.")
@min_confidence_option
@threads_option
@interpreter_option
def predict(paths: tuple[str, ...], model: str, fmt: str, workers: int | None, roi: str | None, min_confidence: float,
            threads: int, interpreter: str | None) -> None:
    """Recognise the text in each image PATH (a file, or a directory of images, read in sorted order;
    '-' reads one image's bytes from standard input, and ./- is a file named '-').

    Every input gets one result line; an input that cannot be read gets an error line and the
    others still go through. A read that cannot be trusted keeps its text and says why
    (rejected). Exit status 1 if any input failed or was rejected.
    """
    from .cpu import cores
    from .errors import UsageError
    from .images import parse_roi
    from .pool import ParallelReader
    from .recognizer import Result
    from .service import result_writer

    try:
        region = parse_roi(roi) if roi is not None else None
    except UsageError as exc:
        fail_usage(str(exc))
    recognizer = open_recognizer(model, threads, interpreter, min_confidence, region)
    write = result_writer(fmt, errors=lambda line: click.echo(line, err=True))
    reader = ParallelReader(recognizer, workers or cores(), threads, interpreter)
    inputs = gather(paths, recognizer)
    # One call for every file of every PATH: the workers share them all, whether they came as one
    # folder or as many file arguments (a call per argument would read each alone).
    reads = reader.recognize_many([item for item in inputs if not isinstance(item, Result)])
    failed = 0
    for item in inputs:
        result = item if isinstance(item, Result) else next(reads)
        write(result)
        failed += not usable(result)
    sys.exit(EXIT_SOME_FAILED if failed else EXIT_OK)


def gather(paths: tuple[str, ...], recognizer) -> list:
    """predict's inputs in output order: each a file to read, or a Result already known (the image
    on standard input, a directory without images). Standard input is read here, before any
    worker starts, because ``recognizer`` is also one of the workers."""
    from .recognizer import Result, image_paths

    inputs: list = []
    for arg in paths:
        if arg == STDIN:
            inputs.append(read_stdin(recognizer))
            continue
        files = image_paths(arg)
        inputs.extend(files or [Result(arg, error="expected image files (.png, .jpg, ...) in this directory, found none")])
    return inputs


def usable(result) -> bool:
    """Read, and trusted: what a script calling predict can act on without looking further."""
    return result.ok and not result.prediction.rejected


@main.command()
@model_option
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default=REPORT_FORMATS[0], show_default=True,
              help="text: 'key: value' lines, for people; json: the same report as one JSON object, for scripts "
                   "(with --list too).")
@click.option("--list", "list_models", is_flag=True, help="List the shipped models instead.")
@interpreter_option
def info(model: str, fmt: str, list_models: bool, interpreter: str | None) -> None:
    """Show a model's embedded contract (charset, input, quantization, metrics) and its tensors."""
    from .registry import default_choice, default_model, shipped_models

    if list_models:
        models = {name: str(path) for name, path in shipped_models().items()}
        chosen = default_model()
        if fmt == "json":
            click.echo(json.dumps({"default": chosen, "models": models}, indent=2))
        else:
            for name, path in models.items():
                click.echo(f"{name}{' (default)' if name == chosen else ''}\t{path}")
        return
    report = open_recognizer(model, 1, interpreter).describe()
    if model == "default":  # say which variant "default" named on this CPU, and why
        choice = default_choice()
        report = {"default": {"model": choice.name, "reason": choice.reason}, **report}
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    for key, value in report.items():
        if isinstance(value, dict):
            click.echo(f"{key}:")
            for k, v in value.items():
                click.echo(f"  {k}: {json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v}")
        else:
            click.echo(f"{key}: {value}")


def _flag(options: type, name: str, flag_type, help: str, **kw):
    """A flag whose default is the options dataclass field's."""
    return click.option(f"--{name.replace('_', '-')}", name, type=flag_type, default=default(options, name),
                        show_default=True, help=help, **kw)


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="Append JSON lines here; this file is also the ledger that makes restarts exactly-once. Default: stdout.")
@model_option
@threads_option
@click.option("--recursive", is_flag=True, help="Watch subfolders too.")
@click.option("--move-done", default=None, type=click.Path(file_okay=False), metavar="DIR2",
              help="Move each file here once its result is written.")
@click.option("--delete-done", is_flag=True, help="Delete each file once its result is written.")
@click.option("--skip-existing", is_flag=True, help="Ignore the files present at start (default: process them).")
@click.option("--follow-symlinks", is_flag=True, help="Read symlinks that point outside the folder (default: refuse them).")
@_flag(WatchOptions, "interval", click.FloatRange(0.01, 60), "Seconds between folder scans.")
@_flag(WatchOptions, "settle", click.FloatRange(0, 600),
       "Seconds a file must stay unchanged before it is read, unless it is a complete PNG/JPEG.")
@_flag(WatchOptions, "max_wait", click.FloatRange(0, 3600),
       "Seconds to wait for a PNG/JPEG that looks unfinished before reading it anyway (it then gets an error record).")
@click.option("--exit-when-idle", type=click.FloatRange(0.1), default=None, metavar="SECONDS",
              help="Exit after this long with nothing new (batch use); default: run until SIGTERM/SIGINT.")
@interpreter_option
@mqtt_option
@mqtt_discovery_option
@min_confidence_option
def watch(folder, output, model, threads, recursive, move_done, delete_done, skip_existing, follow_symlinks,
          interval, settle, max_wait, exit_when_idle, interpreter, mqtt, mqtt_discovery, min_confidence):
    """Recognise every image that appears in FOLDER, exactly once, as JSON lines.

    A record is {"path", "text", "confidence", "size", "mtime_ns"}, or {"path", "error", ...}.
    Only names with an image extension (.png, .jpg, .jpeg, .bmp, .gif, .webp, .tif, .tiff,
    .pgm, .ppm, .pbm, .pnm) are read; one that is not a readable image gets an error record.
    Other names (notes.txt, a writer's temporary x.png.part) and names starting with '.' are
    left alone: no record, never moved or deleted.
    With --output, a killed and restarted service neither skips nor repeats a file.
    SIGTERM/SIGINT finish the current file, then exit: 0 if every file of this run was read,
    1 if some got an error record.
    """
    from pathlib import Path

    from .watch import Watcher

    if move_done and delete_done:
        fail_usage("expected at most one of --move-done and --delete-done, got both")
    recognizer = open_recognizer(model, threads, interpreter, min_confidence)
    options = WatchOptions(Path(folder), Path(output) if output else None, recursive,
                           Path(move_done) if move_done else None, delete_done, skip_existing, follow_symlinks,
                           interval, settle, max_wait)
    log = _log("watch")
    publisher = open_publisher(mqtt, mqtt_discovery, output, log)
    watcher = Watcher(recognizer, options, log=log, publisher=publisher)
    watcher.stop_flag.install()
    try:
        code = watcher.run(until_idle=exit_when_idle)
    finally:
        watcher.close()
        if publisher is not None:
            publisher.close()  # bounded: waits up to MqttOptions.flush_timeout for acknowledgements
    log(f"{watcher.processed} files, {watcher.failed} errors")
    sys.exit(code)


@main.command()
@click.argument("source")
@model_option
@threads_option
@click.option("--fps", type=click.FloatRange(0, min_open=True), default=default(CameraOptions, "fps"),
              help="Recognise at most this many frames per second (video files: per second of video). Default: every frame.")
@click.option("--roi", default=default(CameraOptions, "roi"), metavar="X,Y,W,H",
              help="Crop each frame to this rectangle first (pixels: top-left corner x,y, width w, height h). "
                   "Default: whole frames.")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False), help="Append JSON lines here (default: stdout).")
@click.option("--changes-only", is_flag=True, help="Emit a line only when the text changes.")
@click.option("--max-frames", type=click.IntRange(1), default=default(CameraOptions, "max_frames"),
              help="Stop after this many recognitions.")
@click.option("--retries", type=click.IntRange(0), default=default(CameraOptions, "retries"),
              help="Reconnect attempts for live sources (default: forever).")
@interpreter_option
@mqtt_option
@mqtt_discovery_option
@min_confidence_option
def camera(source, model, threads, fps, roi, output, changes_only, max_frames, retries, interpreter, mqtt,
           mqtt_discovery, min_confidence):
    """Recognise frames from SOURCE: a camera index (0), picamera2:N, a video file, or an rtsp/http URL.

    Each result is a JSON line with the frame number and a UTC timestamp (and video_ms for files).
    Live sources that fail or drop out are reopened with backoff; SIGTERM/SIGINT exit 0.
    A still image is a usage error (exit 2): read it with 'captcha-edge predict'.
    """
    from pathlib import Path

    from .camera import CameraRunner, check_source
    from .errors import UsageError
    from .images import parse_roi

    try:
        region = parse_roi(roi) if roi is not None else None
        check_source(source)  # a still image: usage error before the model loads
    except UsageError as exc:
        fail_usage(str(exc))
    recognizer = open_recognizer(model, threads, interpreter, min_confidence)
    options = CameraOptions(source, fps, region, Path(output) if output else None, changes_only, max_frames,
                            retries=retries)
    log = _log("camera")
    publisher = open_publisher(mqtt, mqtt_discovery, output, log)
    runner = CameraRunner(recognizer, options, log=log, publisher=publisher)
    runner.stop_flag.install()
    try:
        code = runner.run()
    finally:
        runner.close()
        if publisher is not None:
            publisher.close()
    sys.exit(code)


@main.command()
@_flag(ServeOptions, "host", str, "Address to listen on. The default takes connections from this machine only: "
                                  "read the README before exposing it.")
@_flag(ServeOptions, "port", click.IntRange(1, 65535), "TCP port.")
@model_option
@_flag(ServeOptions, "workers", click.IntRange(1, 256),
       "Requests recognised at once, each by its own interpreter. Default: the number of cores this process may use.")
@_flag(ServeOptions, "api_key", str, "Require this key in the X-API-Key or Authorization: Bearer header "
                                     "(also from CAPTCHA_EDGE_API_KEY, which keeps it out of 'ps'). Default: no key.",
       envvar="CAPTCHA_EDGE_API_KEY", show_envvar=True)
@_flag(ServeOptions, "max_body_bytes", click.IntRange(1), "Largest request body; a larger one gets 413.")
@_flag(ServeOptions, "max_images", click.IntRange(1), "Most images in one request to /ocr/batch.")
@min_confidence_option
@threads_option
@interpreter_option
def serve(host, port, model, workers, api_key, max_body_bytes, max_images, min_confidence, threads, interpreter):
    """Serve an HTTP API: POST /ocr (one image), POST /ocr/batch (several), GET /health, GET /models.

    An image comes as a multipart file field 'file', or as base64 in JSON {"image": ...}.
    Bad requests get a 4xx JSON {"error": ...}. SIGTERM/SIGINT finish the requests under way, then exit 0.
    Needs the serve extra: pip install 'captcha-edge[serve]'.
    """
    from .errors import UsageError

    try:
        from . import serve as server
    except ImportError as exc:  # starlette, uvicorn or python-multipart: the extra is not installed
        fail_usage(f"expected the serve extra, got no {exc.name or 'starlette'} module: pip install 'captcha-edge[serve]'")
    from .cpu import cores

    options = ServeOptions(host, port, workers, api_key or None, max_body_bytes, max_images, model, threads, interpreter)
    first = open_recognizer(model, threads, interpreter, min_confidence)
    try:
        sys.exit(server.run(options, first, workers or cores(), log=_log("serve")))
    except UsageError as exc:
        fail_usage(str(exc))


def worker_counts(text: str | None) -> tuple[int, ...] | None:
    """--workers 1,2,4 as a tuple; a usage error (exit 2) unless every item is a whole number >= 1."""
    if text is None:
        return None
    try:
        counts = tuple(int(item) for item in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        fail_usage(f"expected --workers as whole numbers >= 1 separated by commas (1,2,4), got {text!r}")
    return counts


@main.command()
@click.option("--model", "-m", "models", multiple=True, metavar="NAME|FILE",
              help="Model to measure (repeat it, or use --compare); default: the shipped default.")
@click.option("--compare", "compare", multiple=True, metavar="NAME|FILE",
              help="More models measured side by side in this same process (round-robin), for fair ratios.")
@threads_option
@_flag(BenchOptions, "runs", click.IntRange(1), "Measured recognitions per model.")
@_flag(BenchOptions, "warmup", click.IntRange(0), "Unmeasured recognitions first.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=str), default=None,
              help="Folder of real images to cycle through (default: seeded synthetic PNGs of the model's size).")
@_flag(BenchOptions, "seed", int, "Seed of the synthetic inputs.")
@click.option("--workers", "workers", default=None, metavar="N[,N...]",
              help="Worker counts for the throughput rows of the first model (predict --workers); default: 1 and the cores.")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default=REPORT_FORMATS[0], show_default=True,
              help="json is stable (schema captcha-edge-bench/1): paste it into issues.")
@interpreter_option
def bench(models, compare, threads, runs, warmup, images, seed, workers, fmt, interpreter):
    """Measure load time, first inference, and invoke-only and end-to-end latency (min/p50/p90/p99/max/mean/std),
    throughput and peak RSS, with the board's CPU, OS and package versions."""
    from pathlib import Path

    from .bench import format_text, run
    from .errors import CaptchaEdgeError
    from .images import limits

    names = tuple(models or default(BenchOptions, "models")) + tuple(compare)
    options = BenchOptions(names, threads, runs, warmup, Path(images) if images else None, seed, interpreter,
                           worker_counts(workers))
    show = sys.stderr.isatty()

    def progress(done, total):
        if show and (done == total or done % max(1, total // 50) == 0):
            click.echo(f"\rbench: {done}/{total} rounds", err=True, nl=done == total)

    try:
        limits()
        report = run(options, progress, log=_log("bench"))
    except CaptchaEdgeError as exc:
        fail_usage(str(exc))
    click.echo(json.dumps(report, indent=2) if fmt == "json" else format_text(report))


if __name__ == "__main__":
    main()
