"""Runtime latency, throughput and cold start of a model on this machine (no TensorFlow needed).

    python scripts/bench_runtime.py [--model default] [--data DIR] [--threads 1] [--passes 3]

Also times bringing each decoded image to the model's input under every resize policy of the
contract (``prepare_ms_p50_by_resize``: stretch, pad and crop, the last one finding the text's
box), whatever the model's own policy; ``--resize-data DIR`` times it on another folder (small
text in a large canvas, say) at the model's input size.

Prints medians; the machine may be shared and noisy, so every figure is a median over many
runs, and ratios are taken within this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace

from edge_runtime import images, preprocess
from edge_runtime.contract import InputSpec, Resize
from edge_runtime.recognizer import Recognizer, image_paths
from _paths import default_data


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def prepare_costs(paths, spec: InputSpec, passes: int) -> dict:
    """Median ms per image of ``preprocess.prepare`` (decoded image to input pixels) for every
    resize policy, the policies interleaved image by image so that they share the machine's mood."""
    decoded = [images.load(p) for p in paths]
    specs = {r.value: replace(spec, resize=r.value) for r in Resize}
    times = {name: [] for name in specs}
    for _ in range(passes):
        for image in decoded:
            for name, s in specs.items():
                t0 = time.perf_counter()
                preprocess.prepare(image, s)
                times[name].append((time.perf_counter() - t0) * 1e3)
    h, w = decoded[0].shape[:2]
    return {"images": f"{len(decoded)}, first {h}x{w}", "input": f"{spec.height}x{spec.width}",
            **{name: statistics.median(t) for name, t in times.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=9)
    ap.add_argument("--resize-data", help="folder whose images time each resize policy (default: --data)")
    args = ap.parse_args()

    paths = image_paths(args.data)
    rec = Recognizer.from_file(args.model, threads=args.threads)
    for p in paths[:50]:  # warm-up: caches, CPU frequency
        rec.recognize(p)
    e2e, invoke, read, prep, dec = [], [], [], [], []
    correct = 0
    for _ in range(args.passes):
        for p in paths:
            t0 = time.perf_counter()
            pred = rec.recognize(p)
            e2e.append((time.perf_counter() - t0) * 1e3)
            invoke.append(pred.timings.invoke_ms)
            read.append(pred.timings.read_ms)
            prep.append(pred.timings.preprocess_ms)
            dec.append(pred.timings.decode_ms)
            correct += pred.text == p.stem
    n = len(e2e)
    exe = shutil.which("captcha-edge", path=os.path.dirname(sys.executable)) or "captcha-edge"
    cold = []
    for _ in range(args.cold_runs):
        t0 = time.perf_counter()
        subprocess.run([exe, "predict", "--model", args.model, str(paths[0])], check=True, capture_output=True)
        cold.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    out = subprocess.run([exe, "predict", "--model", args.model, "--threads", str(args.threads), "--format", "jsonl",
                          args.data], capture_output=True, text=True)
    cli_seconds = time.perf_counter() - t0
    cli_lines = len(out.stdout.splitlines())
    report = {
        "model": str(rec.model.path.name), "bytes": len(rec.model.data), "threads": args.threads,
        "interpreter": f"{rec.interpreter.distribution} {rec.interpreter.version}",
        "images": len(paths), "recognitions": n, "accuracy_all_images": correct / n,
        "end_to_end_ms": {"p50": statistics.median(e2e), "p90": pct(e2e, 90), "p99": pct(e2e, 99), "mean": statistics.fmean(e2e)},
        "invoke_ms_p50": statistics.median(invoke), "read_ms_p50": statistics.median(read),
        "preprocess_ms_p50": statistics.median(prep), "decode_ms_p50": statistics.median(dec),
        "in_process_images_per_s": 1e3 / statistics.fmean(e2e),
        "cli_predict_dir": {"images": cli_lines, "seconds": cli_seconds, "images_per_s": cli_lines / cli_seconds,
                            "exit": out.returncode},
        "cold_start_s": {"median": statistics.median(cold), "min": min(cold), "max": max(cold), "runs": len(cold)},
        "prepare_ms_p50_by_resize": prepare_costs(image_paths(args.resize_data or args.data)[:300],
                                                  rec.contract.input, args.passes),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
