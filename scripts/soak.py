"""Soak: N recognitions in one process, RSS sampled as it goes (no TensorFlow).

    python scripts/soak.py [--count 100000] [--model default] [--data DIR]

Cycles through real images (paths, bytes and arrays in turn) plus a bad input every 100th
call, and reports RSS after warm-up and at the end. Target: growth under 5 MB.
"""

import argparse
import time
from pathlib import Path

import cv2

from edge_runtime.errors import CaptchaEdgeError
from edge_runtime.recognizer import Recognizer
from _paths import default_data


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default=default_data())
    args = ap.parse_args()
    paths = sorted(Path(args.data).glob("*.png"))[:200]
    blobs = [p.read_bytes() for p in paths]
    arrays = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths]
    rec = Recognizer.from_file(args.model)
    samples = []
    errors = wrong = 0
    warm = 2000
    t0 = time.monotonic()
    for i in range(args.count + warm):
        k = i % len(paths)
        source = (paths[k], blobs[k], arrays[k])[i % 3] if i % 100 else b"not an image"
        try:
            wrong += rec.recognize(source).text != paths[k].stem
        except CaptchaEdgeError:
            errors += 1
        if i == warm or (i > warm and (i - warm) % 10_000 == 0):
            samples.append((i - warm, rss_mb()))
    seconds = time.monotonic() - t0
    samples.append((args.count, rss_mb()))
    print(f"{args.count} recognitions after {warm} warm-up in {seconds:.0f} s; {errors} expected errors; {wrong} wrong texts")
    for n, mb in samples:
        print(f"  after {n:>7}: RSS {mb:7.1f} MB")
    growth = samples[-1][1] - samples[0][1]
    print(f"RSS growth {growth:+.2f} MB (target < 5 MB): {'ok' if growth < 5 else 'TOO MUCH'}")
    raise SystemExit(0 if growth < 5 else 1)


if __name__ == "__main__":
    main()
