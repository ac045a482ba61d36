"""The ``captcha-edge`` command: a thin shell over the library.

Exit codes: 0 every input was read, 1 some inputs failed (the others were still processed),
2 usage errors (bad flags, a model that cannot be loaded).
"""

from __future__ import annotations

import csv
import json
import sys

import click

from ._version import __version__

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

MODEL_HELP = "Shipped model name (see 'captcha-edge info --list') or a .tflite path; default: the shipped default."
model_option = click.option("--model", "-m", default="default", show_default=True, metavar="NAME|FILE", help=MODEL_HELP)
threads_option = click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True, help="Interpreter threads.")
interpreter_option = click.option(
    "--interpreter",
    type=click.Choice(["ai_edge_litert", "tflite_runtime"]),
    default=None,
    help="Force an interpreter package (default: ai_edge_litert, else tflite_runtime).",
)


def fail_usage(message: str) -> None:
    click.echo(f"captcha-edge: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def open_recognizer(model: str, threads: int, interpreter: str | None):
    from .errors import CaptchaEdgeError
    from .recognizer import Recognizer

    try:
        return Recognizer.from_file(model, threads=threads, interpreter=interpreter)
    except CaptchaEdgeError as exc:
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


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@model_option
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl", "csv"]), default="text", show_default=True,
              help="text: 'path<TAB>text<TAB>confidence' (errors on stderr); jsonl: one JSON object per input; csv.")
@threads_option
@interpreter_option
def predict(paths: tuple[str, ...], model: str, fmt: str, threads: int, interpreter: str | None) -> None:
    """Recognise the text in each image PATH (a file, or a directory of images, read in sorted order).

    Every input gets one result line; an input that cannot be read gets an error line and the
    others still go through. Exit status 1 if any input failed.
    """
    from .recognizer import image_paths

    recognizer = open_recognizer(model, threads, interpreter)
    write = _writer(fmt)
    failed = 0
    for arg in paths:
        files = image_paths(arg)
        if not files:
            write(arg, None, "expected image files (.png, .jpg, ...) in this directory, found none")
            failed += 1
            continue
        for result in recognizer.recognize_many(files):
            write(result.source, result.prediction, result.error)
            failed += not result.ok
    sys.exit(EXIT_SOME_FAILED if failed else EXIT_OK)


def _writer(fmt: str):
    out = sys.stdout
    if fmt == "csv":
        rows = csv.writer(out, lineterminator="\n")
        rows.writerow(["path", "text", "confidence", "error"])

        def write(path, pred, error):
            rows.writerow([path, pred.text if pred else "", f"{pred.confidence:.4f}" if pred else "", error or ""])
            out.flush()

        return write
    if fmt == "jsonl":

        def write(path, pred, error):
            record = {"path": path, "error": error} if pred is None else {
                "path": path, "text": pred.text, "confidence": round(pred.confidence, 6)}
            out.write(json.dumps(record) + "\n")
            out.flush()

        return write

    def write(path, pred, error):
        shown = path.encode("unicode_escape", "backslashreplace").decode("ascii") if not path.isprintable() else path
        if pred is None:
            click.echo(f"{shown}: error: {error}", err=True)
        else:
            out.write(f"{shown}\t{pred.text}\t{pred.confidence:.4f}\n")
            out.flush()

    return write


@main.command()
@model_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--list", "list_models", is_flag=True, help="List the shipped models instead.")
@interpreter_option
def info(model: str, fmt: str, list_models: bool, interpreter: str | None) -> None:
    """Show a model's embedded contract (charset, input, quantization, metrics) and its tensors."""
    from .registry import DEFAULT_MODEL, shipped_models

    if list_models:
        models = {name: str(path) for name, path in shipped_models().items()}
        if fmt == "json":
            click.echo(json.dumps({"default": DEFAULT_MODEL, "models": models}, indent=2))
        else:
            for name, path in models.items():
                click.echo(f"{name}{' (default)' if name == DEFAULT_MODEL else ''}\t{path}")
        return
    recognizer = open_recognizer(model, 1, interpreter)
    report = _describe(recognizer)
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


def _describe(recognizer) -> dict:
    import numpy as np

    engine, m = recognizer.engine, recognizer.model

    def tensor(t):
        return {"name": t.name, "shape": list(t.shape), "dtype": np.dtype(t.dtype).name,
                "scale": t.scale, "zero_point": t.zero_point}

    return {
        "file": str(m.path),
        "bytes": len(m.data),
        "contract": m.contract.to_dict(),
        "input_tensor": tensor(engine.input),
        "output_tensor": tensor(engine.output),
        "interpreter": {"package": engine.info.distribution, "version": engine.info.version},
    }


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
@click.option("--interval", type=click.FloatRange(0.01, 60), default=0.1, show_default=True, help="Seconds between folder scans.")
@click.option("--settle", type=click.FloatRange(0, 600), default=1.0, show_default=True,
              help="Seconds a file must stay unchanged before it is read, unless it is a complete PNG/JPEG.")
@click.option("--max-wait", type=click.FloatRange(0, 3600), default=30.0, show_default=True,
              help="Seconds to wait for a PNG/JPEG that looks unfinished before reading it anyway (it then gets an error record).")
@click.option("--exit-when-idle", type=click.FloatRange(0.1), default=None, metavar="SECONDS",
              help="Exit after this long with nothing new (batch use); default: run until SIGTERM/SIGINT.")
@interpreter_option
def watch(folder, output, model, threads, recursive, move_done, delete_done, skip_existing, follow_symlinks,
          interval, settle, max_wait, exit_when_idle, interpreter):
    """Recognise every image that appears in FOLDER, exactly once, as JSON lines.

    A record is {"path", "text", "confidence", "size", "mtime_ns"}, or {"path", "error", ...}.
    With --output, a killed and restarted service neither skips nor repeats a file.
    SIGTERM/SIGINT finish the current file and exit 0.
    """
    from pathlib import Path

    from .watch import Watcher, WatchOptions

    if move_done and delete_done:
        fail_usage("expected at most one of --move-done and --delete-done, got both")
    recognizer = open_recognizer(model, threads, interpreter)
    options = WatchOptions(Path(folder), Path(output) if output else None, recursive,
                           Path(move_done) if move_done else None, delete_done, skip_existing, follow_symlinks,
                           interval, settle, max_wait)
    watcher = Watcher(recognizer, options, log=lambda m: click.echo(f"captcha-edge watch: {m}", err=True))
    watcher.install_signal_handlers()
    try:
        watcher.run(until_idle=exit_when_idle)
    finally:
        watcher.close()
    click.echo(f"captcha-edge watch: {watcher.processed} files, {watcher.failed} errors", err=True)
    sys.exit(EXIT_OK)


@main.command()
@click.argument("source")
@model_option
@threads_option
@click.option("--fps", type=click.FloatRange(0, min_open=True), default=None,
              help="Recognise at most this many frames per second (video files: per second of video).")
@click.option("--roi", default=None, metavar="X,Y,W,H", help="Crop each frame to this rectangle first.")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False), help="Append JSON lines here (default: stdout).")
@click.option("--changes-only", is_flag=True, help="Emit a line only when the text changes.")
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Stop after this many recognitions.")
@click.option("--retries", type=click.IntRange(0), default=None, help="Reconnect attempts for live sources (default: forever).")
@interpreter_option
def camera(source, model, threads, fps, roi, output, changes_only, max_frames, retries, interpreter):
    """Recognise frames from SOURCE: a camera index (0), picamera2:N, a video file, or an rtsp/http URL.

    Each result is a JSON line with the frame number and a UTC timestamp (and video_ms for files).
    Live sources that fail or drop out are reopened with backoff; SIGTERM/SIGINT exit 0.
    """
    from pathlib import Path

    from .camera import CameraOptions, CameraRunner, parse_roi

    try:
        region = parse_roi(roi) if roi else None
    except ValueError as exc:
        fail_usage(str(exc))
    recognizer = open_recognizer(model, threads, interpreter)
    runner = CameraRunner(recognizer, CameraOptions(source, fps, region, Path(output) if output else None,
                                                    changes_only, max_frames, retries=retries),
                          log=lambda m: click.echo(f"captcha-edge camera: {m}", err=True))
    runner.install_signal_handlers()
    try:
        code = runner.run()
    finally:
        runner.close()
    sys.exit(code)


@main.command()
@click.option("--model", "-m", "models", multiple=True, metavar="NAME|FILE",
              help="Model to measure (repeat it, or use --compare); default: the shipped default.")
@click.option("--compare", "compare", multiple=True, metavar="NAME|FILE",
              help="More models measured side by side in this same process (round-robin), for fair ratios.")
@threads_option
@click.option("--runs", type=click.IntRange(1), default=300, show_default=True, help="Measured recognitions per model.")
@click.option("--warmup", type=click.IntRange(0), default=30, show_default=True, help="Unmeasured recognitions first.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=str), default=None,
              help="Folder of real images to cycle through (default: seeded synthetic PNGs of the model's size).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic inputs.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json is stable (schema captcha-edge-bench/1): paste it into issues.")
@interpreter_option
def bench(models, compare, threads, runs, warmup, images, seed, fmt, interpreter):
    """Measure load time, first inference, and invoke-only and end-to-end latency (min/p50/p90/p99/max/mean/std),
    throughput and peak RSS, with the board's CPU, OS and package versions."""
    from pathlib import Path

    from .bench import BenchOptions, format_text, run
    from .errors import CaptchaEdgeError

    names = tuple(models or ("default",)) + tuple(compare)
    options = BenchOptions(names, threads, runs, warmup, Path(images) if images else None, seed, interpreter)
    show = sys.stderr.isatty()

    def progress(done, total):
        if show and (done == total or done % max(1, total // 50) == 0):
            click.echo(f"\rbench: {done}/{total} rounds", err=True, nl=done == total)

    try:
        report = run(options, progress)
    except (CaptchaEdgeError, ValueError) as exc:
        fail_usage(str(exc))
    click.echo(json.dumps(report, indent=2) if fmt == "json" else format_text(report))


if __name__ == "__main__":
    main()
