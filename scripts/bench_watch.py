"""captcha-edge watch: detection latency of single new files, and throughput on a burst,
compared with `captcha-edge predict` on the same files, in one run.

    python scripts/bench_watch.py [--data DIR] [--singles 20] [--burst 1000]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from _paths import default_data


def count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def stage(sources: list[Path], staging: Path, count: int, prefix: str) -> list[str]:
    """Copy ``count`` files (the sources repeated under new names) into ``staging``; their names.
    Shared with soak_watch.py: moving staged files into the watched folder is an atomic drop."""
    staging.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        src = sources[i % len(sources)]
        name = f"{prefix}{i:05d}_{src.name}"
        shutil.copy(src, staging / name)
        names.append(name)
    return names


def wait_count(path: Path, n: int, timeout: float = 300) -> float:
    end = time.monotonic() + timeout
    while count(path) < n:
        if time.monotonic() > end:
            raise TimeoutError(f"only {count(path)} of {n} results")
        time.sleep(0.002)
    return time.monotonic()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--singles", type=int, default=20)
    ap.add_argument("--burst", type=int, default=1000)
    args = ap.parse_args()
    exe = shutil.which("captcha-edge", path=os.path.dirname(sys.executable)) or "captcha-edge"
    sources = sorted(Path(args.data).glob("*.png"))
    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    folder, out = work / "in", work / "out.jsonl"
    folder.mkdir()
    proc = subprocess.Popen([exe, "watch", str(folder), "--output", str(out)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)  # start-up
        latencies = []
        for i in range(args.singles):
            src = sources[i]
            tmp = folder / f".{src.name}.part"
            shutil.copy(src, tmp)
            t0 = time.monotonic()
            os.replace(tmp, folder / src.name)
            latencies.append((wait_count(out, i + 1) - t0) * 1e3)
            time.sleep(0.13)  # land at varied points of the scan cycle
        # Burst: N files (the dataset repeated under new names) dropped as fast as possible.
        staging = work / "staging"
        names = stage(sources, staging, args.burst, "b")
        before = count(out)
        t0 = time.monotonic()
        for name in names:
            os.replace(staging / name, folder / name)
        t1 = wait_count(out, before + args.burst)
        watch_rate = args.burst / (t1 - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    t0 = time.monotonic()
    done = subprocess.run([exe, "predict", "--format", "jsonl", str(folder)], capture_output=True, text=True)
    predict_rate = len(done.stdout.splitlines()) / (time.monotonic() - t0)
    records = [json.loads(l) for l in out.read_text().splitlines()]
    paths = [r["path"] for r in records]
    report = {
        "detection_latency_ms": {"median": statistics.median(latencies), "max": max(latencies), "n": len(latencies)},
        "burst_files": args.burst, "watch_files_per_s": watch_rate,
        "predict_same_files_per_s": predict_rate, "watch_over_predict": watch_rate / predict_rate,
        "records": len(records), "duplicates": len(paths) - len(set(paths)),
        "errors": sum("error" in r for r in records),
    }
    print(json.dumps(report, indent=2))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
