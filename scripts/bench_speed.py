"""Speed of captcha-edge on this CPU, in one run: precision variants, workers, cold start, memory,
and ddddocr on the same files.

    python scripts/bench_speed.py [--data DIR] [--count 1035] [--runs 5]

Prints, for the machine it runs on (the board line says which CPU):

1. the default network in each shipped precision: invoke and end-to-end p50, in alternating
   blocks in one process, and the precision ``--model default`` resolves to here, with its reason;
2. per-image cost over a folder, file bytes to text, start-up excluded, one core (the process is
   pinned to one CPU): ``Recognizer.recognize`` against ddddocr (its default model, restricted to
   the dataset's alphabet with ``set_ranges``) when ddddocr is installed;
3. ``captcha-edge predict --workers K`` over ``--count`` images as a subprocess, start-up
   included, medians of ``--runs`` runs, with the speed-up over one worker and the peak RSS;
4. cold start: ``captcha-edge predict one.png``, median of ``--runs`` runs.

Images: the dataset's files, repeated through symlinks in a temporary folder up to ``--count``.
Every figure is a median; ratios are taken within this run. Machines here change speed between
runs: quote the board line with every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from _paths import ROOT, default_data



def board_line() -> str:
    from edge_runtime.bench import board
    from edge_runtime.cpu import X86_INT8_DOT, this_cpu

    b, cpu = board(), this_cpu()
    shown = [f for f in ("avx2", "avx512f", *X86_INT8_DOT, "asimddp", "fphp") if f in cpu.flags]
    return (f"cpu: {b['cpu']} ({b['machine']}, {b['cores']} cores; flags {' '.join(shown) or 'none of note'}); "
            f"python {b['python']}")


def folder_of(data: Path, count: int, into: Path) -> list[Path]:
    files = sorted(p for p in data.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        sys.exit(f"bench_speed: expected images in {data}, got none (--data or CAPTCHA_DATA)")
    made = []
    for i in range(count):
        link = into / f"{i:05d}_{files[i % len(files)].name}"
        link.symlink_to(files[i % len(files)].resolve())
        made.append(link)
    return made


def precisions(files: list[Path], blocks: int = 6, per_block: int = 150) -> None:
    from edge_runtime.images import load
    from edge_runtime.preprocess import prepare
    from edge_runtime.recognizer import Recognizer
    from edge_runtime.registry import default_choice, default_variants

    choice = default_choice()
    variants = {name: Recognizer.from_file(name) for name in default_variants().values()}
    pixels = [prepare(load(f), next(iter(variants.values())).contract.input) for f in files[:per_block]]
    invoke = {name: [] for name in variants}
    e2e = {name: [] for name in variants}
    for _ in range(blocks):  # alternating blocks: both variants see the same drift of the machine
        for name, rec in variants.items():
            for px in pixels:
                t0 = time.perf_counter()
                rec.invoke_only(px)
                invoke[name].append((time.perf_counter() - t0) * 1e3)
            for f in files[:per_block]:
                t0 = time.perf_counter()
                rec.recognize(f)
                e2e[name].append((time.perf_counter() - t0) * 1e3)
    texts = {name: [rec.recognize(f).text for f in files[:300]] for name, rec in variants.items()}
    same = len({tuple(t) for t in texts.values()}) == 1
    print("\n1. precision variants of the default network (1 thread, alternating blocks)")
    print(f"{'model':<24} {'invoke p50 ms':>13} {'e2e p50 ms':>10}")
    for name in variants:
        print(f"{name:<24} {statistics.median(invoke[name]):>13.3f} {statistics.median(e2e[name]):>10.3f}")
    fastest = min(variants, key=lambda n: statistics.median(e2e[n]))
    print(f"fastest here: {fastest}; 'default' resolves to {choice.name} ({choice.reason})"
          f"{'' if choice.name == fastest else '  <-- the rule picked the slower one'}")
    print(f"same texts on the first 300 images: {'yes' if same else 'NO'}")


def per_image(files: list[Path], charset: str) -> None:
    from edge_runtime.recognizer import Recognizer

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for both readers
    rec = Recognizer.from_file()
    data = [f.read_bytes() for f in files]  # file bytes -> text, as ddddocr is called
    for d in data[:50]:
        rec.recognize(d)
    t0 = time.perf_counter()
    ours = [rec.recognize(d).text for d in data]
    ours_ms = (time.perf_counter() - t0) * 1e3 / len(data)
    print(f"\n2. per image over {len(data)} files, bytes to text, start-up excluded, pinned to one core")
    print(f"captcha-edge ({rec.model.path.stem}): {ours_ms:.3f} ms/image; "
          f"correct {sum(t == f.stem.split('_', 1)[1] for t, f in zip(ours, files))}/{len(files)}")
    try:
        import ddddocr
    except ImportError:
        print("ddddocr: not installed here (pip install ddddocr), no comparison")
        return
    ocr = ddddocr.DdddOcr(show_ad=False)
    ocr.set_ranges(charset)
    for d in data[:20]:
        ocr.classification(d)
    sample = data[: min(len(data), 300)]  # ddddocr is slow: 300 images give a stable mean
    t0 = time.perf_counter()
    theirs = [ocr.classification(d) for d in sample]
    theirs_ms = (time.perf_counter() - t0) * 1e3 / len(sample)
    correct = sum(t == f.stem.split("_", 1)[1] for t, f in zip(theirs, files))
    print(f"ddddocr {getattr(ddddocr, '__version__', '')} (default model, set_ranges to the alphabet): "
          f"{theirs_ms:.3f} ms/image over {len(sample)}; correct {correct}/{len(sample)}")
    print(f"captcha-edge is {theirs_ms / ours_ms:.1f}x faster per image (target >= 20x)")
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def run_predict(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one ``python -m edge_runtime predict ARGS`` subprocess.

    The peak is the child's own VmHWM, polled from /proc: the rusage of a child also counts the
    memory of the parent it was forked from, and this parent has ddddocr loaded."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "edge_runtime", "predict", "--format", "jsonl", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, vm_hwm_mb(proc.pid))
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"bench_speed: predict {' '.join(args)} exited {proc.returncode}")
    return wall, peak


def vm_hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # it has just exited
        pass
    return 0.0


def workers(folder: Path, count: int, runs: int) -> None:
    from edge_runtime.cpu import cores

    print(f"\n3. captcha-edge predict --workers K over {count} images (subprocess, start-up included, "
          f"median of {runs})")
    print(f"{'workers':>7} {'wall s':>7} {'ms/image':>8} {'speed-up':>8} {'peak RSS MB':>11}")
    base = None
    for k in sorted({1, 2, cores()}):
        results = [run_predict(["--workers", str(k), str(folder)]) for _ in range(runs)]
        wall = statistics.median(r[0] for r in results)
        rss = max(r[1] for r in results)
        base = base or wall
        print(f"{k:>7} {wall:>7.3f} {wall / count * 1e3:>8.3f} {base / wall:>7.2f}x {rss:>11.1f}")


def cold_start(one: Path, runs: int) -> None:
    results = [run_predict([str(one)]) for _ in range(runs)]
    print(f"\n4. cold start, captcha-edge predict one.png: {statistics.median(r[0] for r in results):.3f} s "
          f"(median of {runs}); peak RSS {max(r[1] for r in results):.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--count", type=int, default=1035, help="images per predict run (the folder repeated)")
    ap.add_argument("--runs", type=int, default=5, help="subprocess runs per figure")
    args = ap.parse_args()
    from edge_runtime.recognizer import load_model

    charset = load_model().contract.charset
    print(board_line())
    with tempfile.TemporaryDirectory() as tmp:
        files = folder_of(args.data, args.count, Path(tmp))
        precisions(files)
        per_image(files, charset)
        workers(Path(tmp), args.count, args.runs)
        cold_start(files[0], args.runs)


if __name__ == "__main__":
    main()
