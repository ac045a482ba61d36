"""``captcha-edge bench``: latency of models on this board, in one process.

Models are measured round-robin (run i of every model, then run i+1), so a noisy neighbour or
a CPU frequency change affects every model alike, and their ratios stay fair.

The JSON output (``--format json``) is versioned by its ``schema`` field:
``captcha-edge-bench/1``. Fields are only ever added within a schema version.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import INPUT_ERRORS, UsageError, input_error_message
from .options import BenchOptions

SCHEMA = "captcha-edge-bench/1"

#: Sustained int8 multiply-accumulates per second of one Raspberry Pi 4 core (Cortex-A72,
#: 1.5 GHz), for a compute-bound latency ESTIMATE. Derived from ncnn's published Pi 4 benchmark
#: (github.com/Tencent/ncnn/issues/3485): mobilenet_int8 (MobileNet v1, 569 M MACs) in 40.3 ms on
#: 4 threads = 14.1 GMAC/s, about 3.5 GMAC/s per core. It ignores per-operator interpreter
#: overhead, which dominates for models with hundreds of tiny ops (an unrolled LSTM).
PI4_INT8_MACS_PER_S = 3.5e9


def stats(values_ms: list[float]) -> dict[str, float]:
    v = sorted(values_ms)

    def pct(q: float) -> float:
        return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]

    return {"min": v[0], "p50": statistics.median(v), "p90": pct(90), "p99": pct(99), "max": v[-1],
            "mean": statistics.fmean(v), "std": statistics.pstdev(v)}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def board() -> dict:
    import cv2

    from .cpu import X86_INT8_DOT, this_cpu

    cpu = this_cpu()
    return {
        "cpu": cpu.model, "machine": platform.machine(), "cores": os.cpu_count(),
        "flags": [f for f in ("avx2", "avx512f", *X86_INT8_DOT, "asimddp") if f in cpu.flags],
        "os": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "opencv": cv2.__version__,
    }


def peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2**20


def synthetic_inputs(height: int, width: int, count: int, seed: int) -> list[bytes]:
    """Seeded random gray PNGs of the model's size: end-to-end then includes a real decode."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ok, buf = cv2.imencode(".png", rng.integers(0, 256, (height, width), dtype=np.uint8))
        out.append(buf.tobytes())
    return out


def usable_images(folder: Path, log: Callable[[str], None]) -> tuple[list[Path], list[dict]]:
    """The folder's image files that decode, and a {"path", "error"} record for each that does
    not. One bad file in a folder of real images must not abort a benchmark; each skipped file is
    named once, with its reason, and only a folder with no usable image is refused."""
    from .images import load
    from .recognizer import image_paths

    usable, skipped = [], []
    for path in image_paths(folder):
        try:
            load(path)
        except INPUT_ERRORS as exc:
            skipped.append({"path": str(path), "error": input_error_message(exc)})
            log(f"skipping {path}: {skipped[-1]['error']}")
        else:
            usable.append(path)
    if not usable:
        found = f"none usable ({len(skipped)} could not be read)" if skipped else "none"
        raise UsageError(f"expected images (.png, .jpg, ...) in {folder}, found {found}")
    return usable, skipped


class _Model:
    def __init__(self, name: str, options: BenchOptions, inputs: list | None = None):
        from .recognizer import Recognizer, load_model

        t0 = time.perf_counter()
        loaded = load_model(name)
        t1 = time.perf_counter()
        self.rec = Recognizer(loaded, threads=options.threads, interpreter=options.interpreter)
        t2 = time.perf_counter()
        self.name, self.loaded = name, loaded
        self.load_ms, self.init_ms = (t1 - t0) * 1e3, (t2 - t1) * 1e3
        c = loaded.contract
        self.inputs = inputs or synthetic_inputs(c.input.height, c.input.width, 16, options.seed)
        t3 = time.perf_counter()
        self.rec.recognize(self.inputs[0])
        self.first_ms = (time.perf_counter() - t3) * 1e3
        self.e2e: list[float] = []
        self.invoke: list[float] = []

    def once(self, i: int, keep: bool) -> None:
        t0 = time.perf_counter()
        pred = self.rec.recognize(self.inputs[i % len(self.inputs)])
        if keep:
            self.e2e.append((time.perf_counter() - t0) * 1e3)
            self.invoke.append(pred.timings.invoke_ms)

    def report(self, seconds: float) -> dict:
        from .flatbuf import operator_count

        interp = self.rec.interpreter

        macs = self.loaded.contract.metrics.get("macs")
        return {
            "macs": macs, "operators": operator_count(self.loaded.data),
            "pi4_estimate_ms": macs / PI4_INT8_MACS_PER_S * 1e3 if macs else None,
            "model": self.name, "file": str(self.loaded.path), "bytes": len(self.loaded.data),
            "arch": self.loaded.contract.arch, "quantization": self.loaded.contract.quantization,
            "interpreter": f"{interp.distribution} {interp.version}",
            "load_ms": self.load_ms, "init_ms": self.init_ms, "first_inference_ms": self.first_ms,
            "invoke_ms": stats(self.invoke), "end_to_end_ms": stats(self.e2e),
            "throughput_per_s": len(self.e2e) / seconds if seconds > 0 else None,
        }


def run(options: BenchOptions, progress: Callable[[int, int], None] = lambda done, total: None,
        log: Callable[[str], None] = lambda message: None) -> dict:
    """The report; ``log`` gets one line per image file of --images that is skipped."""
    inputs, skipped = usable_images(options.images, log) if options.images else (None, [])
    models = [_Model(name, options, inputs) for name in options.models]
    total = options.warmup + options.runs
    busy = [0.0] * len(models)
    for i in range(total):
        keep = i >= options.warmup
        for k, m in enumerate(models):
            t0 = time.perf_counter()
            m.once(i, keep)
            if keep:
                busy[k] += time.perf_counter() - t0
        progress(i + 1, total)
    results = [m.report(seconds) for m, seconds in zip(models, busy)]
    scaling = worker_rows(models[0], options)
    base = results[0]["end_to_end_ms"]["p50"]
    for r in results:
        r["end_to_end_p50_ratio_to_first"] = r["end_to_end_ms"]["p50"] / base
    return {
        "schema": SCHEMA,
        "board": board(),
        "options": {"threads": options.threads, "runs": options.runs, "warmup": options.warmup,
                    "images": str(options.images) if options.images else f"synthetic (seed {options.seed})",
                    "skipped_images": skipped},
        "results": results,
        "workers": scaling,
        "default_choice": _default_choice(options),
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_rows(model: "_Model", options: BenchOptions) -> list[dict]:
    """Images/s of the first model read by 1..N workers at once (predict --workers), each over
    ``runs`` images after one untimed pass: [{"workers", "images_per_s", "speedup"}]."""
    from .cpu import cores
    from .pool import CHUNK, RecognizerPool

    counts = options.workers or tuple(sorted({1, cores()}))
    sources = [model.inputs[i % len(model.inputs)] for i in range(options.runs)]
    rows = []
    for n in counts:
        pool = RecognizerPool.like(model.rec, n, threads=options.threads, interpreter=options.interpreter)
        list(pool.recognize_many(sources[: 4 * n * CHUNK]))  # warm every interpreter
        t0 = time.perf_counter()
        list(pool.recognize_many(sources))
        rate = len(sources) / (time.perf_counter() - t0)
        rows.append({"workers": n, "images_per_s": rate, "speedup": rate / rows[0]["images_per_s"] if rows else 1.0})
    return rows


def _default_choice(options: BenchOptions) -> dict | None:
    """Which variant "default" named here, and why (None when no model was asked for by "default")."""
    if "default" not in options.models:
        return None
    from .registry import default_choice

    choice = default_choice()
    return {"model": choice.name, "reason": choice.reason}


def format_text(report: dict) -> str:
    b = report["board"]
    flags = f"; {' '.join(b['flags'])}" if b.get("flags") else ""
    lines = [f"board: {b['cpu']} ({b['machine']}, {b['cores']} cores{flags}) · {b['os']} · Python {b['python']}",
             f"runs: {report['options']['runs']} after {report['options']['warmup']} warm-up, "
             f"{report['options']['threads']} thread(s), inputs: {report['options']['images']}"
             + (f" (skipped {len(report['options']['skipped_images'])} unreadable file(s))"
                if report['options']['skipped_images'] else "")]
    for r in report["results"]:
        e, v = r["end_to_end_ms"], r["invoke_ms"]
        lines += [
            f"\n{r['model']}  ({r['bytes']} bytes, {r['arch']}, {r['quantization']}, {r['interpreter']})",
            f"  load {r['load_ms']:.2f} ms · init {r['init_ms']:.2f} ms · first inference {r['first_inference_ms']:.2f} ms",
            f"  {r['operators']} operators"
            + (f" · {r['macs'] / 1e6:.1f} M MACs · Pi 4 estimate ~{r['pi4_estimate_ms']:.2f} ms "
               f"(MACs at {PI4_INT8_MACS_PER_S / 1e9:g} GMAC/s, 1 core, per-operator overhead left out; "
               "an estimate, not a measurement)" if r["macs"] else ""),
            "  {:12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}".format("ms", "min", "p50", "p90", "p99", "max", "mean", "std"),
            "  {:12} ".format("invoke") + " ".join(f"{v[k]:8.3f}" for k in ("min", "p50", "p90", "p99", "max", "mean", "std")),
            "  {:12} ".format("end-to-end") + " ".join(f"{e[k]:8.3f}" for k in ("min", "p50", "p90", "p99", "max", "mean", "std")),
            f"  throughput {r['throughput_per_s']:.0f} images/s"
            + (f" · end-to-end p50 = {r['end_to_end_p50_ratio_to_first']:.2f}x the first model" if len(report["results"]) > 1 else ""),
        ]
    if report.get("default_choice"):
        lines.append(f"\ndefault = {report['default_choice']['model']}: {report['default_choice']['reason']}")
    if report.get("workers"):
        lines.append(f"\n{report['results'][0]['model']} read by N workers at once (predict --workers N), end to end:")
        lines += [f"  {w['workers']:>3} worker(s): {w['images_per_s']:7.0f} images/s  ({w['speedup']:.2f}x)"
                  for w in report["workers"]]
    if report["peak_rss_mb"] is not None:
        lines.append(f"\npeak RSS {report['peak_rss_mb']:.1f} MB")
    return "\n".join(lines)
