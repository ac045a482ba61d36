"""Soak the watch service: N files dropped in bursts while the service is SIGKILLed and restarted
K times; then every file must have exactly one result.

    python scripts/soak_watch.py [--files 5000] [--kills 3] [--data DIR]
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench_watch import stage  # this script's folder is on sys.path when it runs
from _paths import default_data


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    exe = shutil.which("captcha-edge", path=os.path.dirname(sys.executable)) or "captcha-edge"
    sources = sorted(Path(args.data).glob("*.png"))
    work = Path(tempfile.mkdtemp(prefix="soak-watch-"))
    folder, staging, out = work / "in", work / "staging", work / "out.jsonl"
    folder.mkdir()
    names = stage(sources, staging, args.files, "f")
    # Bursts of random size; kills at random moments while a burst is being worked through.
    bursts, i = [], 0
    while i < len(names):
        n = rng.randint(200, 900)
        bursts.append(names[i : i + n])
        i += n
    kill_after = set(rng.sample(range(len(bursts)), min(args.kills, len(bursts))))
    t0 = time.monotonic()
    kills = 0
    proc = subprocess.Popen([exe, "watch", str(folder), "--output", str(out)], stderr=subprocess.DEVNULL)
    for b, burst in enumerate(bursts):
        for name in burst:
            os.replace(staging / name, folder / name)
        if b in kill_after:
            before = lines(out)
            while lines(out) < before + len(burst) // 3:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            print(f"SIGKILL {kills} at {lines(out)} results (burst {b + 1}/{len(bursts)})")
            proc = subprocess.Popen([exe, "watch", str(folder), "--output", str(out)], stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.5))
    deadline = time.monotonic() + 600
    while lines(out) < len(names) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # anything extra would show up now
    proc.send_signal(signal.SIGTERM)
    code = proc.wait()
    records = [json.loads(l) for l in out.read_text().splitlines()]
    counts = Counter(Path(r["path"]).name for r in records)
    missing = [n for n in names if n not in counts]
    doubles = [n for n, c in counts.items() if c > 1]
    wrong = sum(r.get("text") != Path(r["path"]).name.split("_", 1)[1][:-4] for r in records)
    print(f"{len(names)} files, {len(bursts)} bursts, {kills} SIGKILLs + restarts, {time.monotonic() - t0:.0f} s; "
          f"{len(records)} results; missing {len(missing)}; duplicated {len(doubles)}; errors "
          f"{sum('error' in r for r in records)}; wrong texts {wrong}; final SIGTERM exit {code}")
    shutil.rmtree(work)
    raise SystemExit(0 if not missing and not doubles and code == 0 else 1)


if __name__ == "__main__":
    main()
