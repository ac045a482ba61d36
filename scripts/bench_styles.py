"""The development benchmark (issue #14): for every development style and label count, fit with
the default command, export the int8 file, and read the style's 300 unseen test images with
``captcha-edge predict``. Prints the table: style, labels, full-string accuracy, fit time.

    python scripts/make_styles.py --out data/styles          # the styles' data, from seeds
    python scripts/bench_styles.py --styles-dir data/styles --wilhelmy ../shared/data/wilhelmy

    python scripts/make_styles.py --holdout --out data/holdout   # styles no default was chosen on
    python scripts/bench_styles.py --holdout --styles-dir data/holdout --wilhelmy none

The commands are the user's, with no other flag:
    captcha-train fit --data TRAIN --out RUN
    captcha-train export RUN --out MODEL.tflite
    captcha-edge predict TEST --model MODEL.tflite --format jsonl

It takes hours on 2 cores: every finished cell is kept in its table's results.jsonl, and a killed
run goes on where it was (a fit resumes from its last epoch). Tables live in OUT/base-<hash of the
shipped pre-trained base's weights>, so a re-trained base makes them anew. Wilhelmy's 863 images are split once
by a seeded shuffle: 300 test images, the rest the training pool.

With --unlabelled, each cell's training images beyond the labels it uses are given to fit as
unlabelled images (``fit --unlabelled REST``: self-training), in a table of its own
(OUT/base-<hash>/unlabelled); cells that use every image have none and are left out.

The default fit ends with a refit (a second fit on every labelled image, validation images too),
and its table is OUT/base-<hash>/refit. With --no-refit, each cell is fitted with ``fit
--no-refit``, in OUT/base-<hash> (the table as it was before the refit was the default). A
finished cell of that table is copied into the default one first, so only its refit trains: the
first fit is the same either way, and its time counts in the cell's.

After a change to the runtime's reading (preprocessing, decoding, trust), --reread reads every
finished cell's test images again with its int8 file; fits and exports are kept, and so are their times.
After a change to the export, --reexport exports every finished cell's run again, then reads; the
fits are kept, and so are their times.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The style sets live in holdout_styles.py, beside this script; named by path, as PYTHONSAFEPATH
# (or -P), which the test runner sets, leaves a script's own folder off sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import holdout_styles  # noqa: E402

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
WILHELMY_TEST = 300


def label_of(path: Path) -> str:
    """The text before the first '_' of the stem (our styles), or the whole stem (Wilhelmy)."""
    return path.stem.split("_", 1)[0]


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def by_index(paths: list[Path]) -> list[Path]:
    """Our styles' files in the order they were drawn (LABEL_INDEX.png): the first N are a fair sample."""
    return sorted(paths, key=lambda p: int(p.stem.rsplit("_", 1)[1]))


def link_folder(folder: Path, paths: list[Path]) -> Path:
    """A folder of symbolic links to ``paths`` (made again if it holds other files)."""
    wanted = {p.name for p in paths}
    if folder.is_dir() and {p.name for p in folder.iterdir()} == wanted:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for p in paths:
        (folder / p.name).symlink_to(p.resolve())
    return folder


def cells(args) -> list[tuple[str, int, list[Path], list[Path], list[Path]]]:
    """(style, labels, training images, the training pool's other images, test images) for every
    cell of the table."""
    out = []
    for name in args.styles:
        train, test = by_index(images(args.styles_dir / name / "train")), images(args.styles_dir / name / "test")
        for n in args.labels:
            out.append((name, n, train[:n], train[n:], test))
    if args.wilhelmy:
        paths = images(args.wilhelmy)
        order = np.random.default_rng(args.seed).permutation(len(paths))
        test = [paths[i] for i in order[:WILHELMY_TEST]]
        pool = [paths[i] for i in order[WILHELMY_TEST:]]
        for n in args.labels:
            out.append(("wilhelmy", min(n, len(pool)), pool[:n], pool[n:], test))
    return out


def run(cmd: list[str], log: Path) -> None:
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} exited {code}; see {log}")


def accuracy(model: Path, test: list[Path], work: Path, log: Path) -> tuple[float, int, int]:
    """Full-string accuracy of ``model`` on ``test`` through the real CLI (rejected reads count by their text)."""
    folder = link_folder(work / "test", test)
    out = work / "predict.jsonl"
    with open(out, "w") as f, open(log, "a") as err:
        code = subprocess.call([args_bin("captcha-edge"), "predict", str(folder), "--model", str(model),
                                "--format", "jsonl"], stdout=f, stderr=err)
    if code not in (0, 1):  # predict exits 1 when a read was rejected; its records still count
        raise RuntimeError(f"predict exited {code}; see {log}")
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    right = sum(r.get("text") == label_of(Path(r["path"])) for r in records)
    rejected = sum(bool(r.get("rejected")) for r in records)
    return right / max(1, len(test)), right, rejected


def args_bin(name: str) -> str:
    """The console script beside this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def base_id() -> str:
    """The shipped pre-trained base's weights, hashed: a re-trained base makes every cell anew."""
    from trainer.defaults import BASE_DIR

    weights = BASE_DIR / "last.weights.h5"
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:12] if weights.exists() else "none"


def bench_cell(style: str, n: int, train: list[Path], test: list[Path], out: Path,
               unlabelled: list[Path] | None = None, reexport: bool = False, plain: Path | None = None,
               flags: tuple[str, ...] = ()) -> dict:
    """One cell; with ``plain`` (the --no-refit table's folder), a cell that starts as a copy of the
    plain cell's finished run, on the same training folder (a run is tied to its folder)."""
    work = out / f"{style}-{n}"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.txt"
    data = link_folder((plain or out) / f"{style}-{n}" / "train", train)
    extra = [*flags, *(["--unlabelled", str(link_folder(work / "unlabelled", unlabelled))] if unlabelled else [])]
    runs = work / "run"
    model = work / "model.tflite"
    timing = work / "fit_seconds.json"
    if plain:
        copy_finished_fit(plain / f"{style}-{n}", runs, timing)
    spent = json.loads(timing.read_text())["seconds"] if timing.exists() else 0.0

    def cell(**result) -> dict:  # one row of results.jsonl, finished or failed
        return {"style": style, "labels": n, "base": base_id(), "test": len(test), "fit_seconds": round(spent, 1), **result}

    if reexport:  # the fit is kept, the export made again
        model.unlink(missing_ok=True)
    elif not model.exists():
        start = time.monotonic()
        try:
            run([args_bin("captcha-train"), "fit", "--data", str(data), "--out", str(runs), *extra], log)
        finally:  # a killed fit resumes; its time so far still counts
            spent += time.monotonic() - start
            timing.write_text(json.dumps({"seconds": spent}))
    if not model.exists():
        try:
            run([args_bin("captcha-train"), "export", str(runs), "--out", str(model)], log)
        except RuntimeError:
            # The user's second command failed (e.g. int8 disagrees with Keras): a result, not a crash.
            error = [line for line in log.read_text().splitlines() if line.startswith("Error: ")][-1:]
            return cell(accuracy=None, right=None, rejected=None, model_bytes=None,
                        error=error[0] if error else "export failed")
    acc, right, rejected = accuracy(model, test, work, log)
    return cell(accuracy=acc, right=right, rejected=rejected, model_bytes=model.stat().st_size)


def copy_finished_fit(source: Path, runs: Path, timing: Path) -> None:
    """A --no-refit cell's finished run and fit time, copied once into a default cell."""
    finished = source / "run" / "state.json"
    if runs.exists() or not finished.exists() or not json.loads(finished.read_text()).get("done"):
        return
    shutil.copytree(source / "run", runs)
    shutil.copyfile(source / "fit_seconds.json", timing)


def table(rows: list[dict]) -> str:
    lines = [f"{'style':10} {'labels':>6} {'accuracy':>9} {'right':>9} {'rejected':>8} {'fit min':>8}"]
    for r in rows:
        if r["accuracy"] is None:
            lines.append(f"{r['style']:10} {r['labels']:>6} {'failed':>9} {'':>9} {'':>8} {r['fit_seconds'] / 60:>8.1f}  "
                         f"{r['error']}")
            continue
        lines.append(f"{r['style']:10} {r['labels']:>6} {r['accuracy']:>9.1%} {r['right']:>4}/{r['test']:<4} "
                     f"{r['rejected']:>8} {r['fit_seconds'] / 60:>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles-dir", type=Path,
                        help="made by scripts/make_styles.py (default: data/styles, with --holdout data/holdout)")
    parser.add_argument("--styles", help="comma-separated (default: every style of the set)")
    parser.add_argument("--holdout", action="store_true",
                        help="the held-out styles (scripts/holdout_styles.py) instead of the development styles")
    parser.add_argument("--labels", default="1000,200", help="label counts per style (default: 1000,200)")
    parser.add_argument("--wilhelmy", type=Path, default=os.environ.get("CAPTCHA_DATA"),
                        help="the Wilhelmy folder, also a row (default: $CAPTCHA_DATA; 'none', or unset: no row)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-styles"), help="default: runs/bench-styles")
    parser.add_argument("--seed", type=int, default=0, help="seeds Wilhelmy's test split (default: 0)")
    parser.add_argument("--reread", action="store_true",
                        help="read the test images of every finished cell again with the current runtime "
                             "(its fit and export are kept)")
    parser.add_argument("--reexport", action="store_true",
                        help="export every finished cell's run again with the current trainer, then read its test "
                             "images (its fit is kept)")
    parser.add_argument("--unlabelled", action="store_true",
                        help="self-training: give fit each cell's other training images as --unlabelled "
                             "(a table of its own; cells with no other images are left out)")
    parser.add_argument("--no-refit", action="store_true",
                        help="fit --no-refit: the table without the refit, in OUT/base-<hash> (the default table, "
                             "in OUT/base-<hash>/refit, copies its finished cells, so only their refits train)")
    args = parser.parse_args(argv)
    if args.no_refit and args.unlabelled:
        parser.error("expected at most one of --no-refit and --unlabelled, got both (--unlabelled fits have no refit)")
    styles, folder = holdout_styles.style_set(args.holdout)
    args.styles = [s for s in (args.styles or ",".join(styles)).split(",") if s]
    args.styles_dir = args.styles_dir or folder
    args.labels = [int(n) for n in args.labels.split(",")]
    missing = [s for s in args.styles if not (args.styles_dir / s / "test").is_dir()]
    if missing:
        parser.error(f"expected {args.styles_dir}/<style>/train and test for {', '.join(missing)}; "
                     f"run scripts/make_styles.py{' --holdout' if args.holdout else ''} --out {args.styles_dir}")
    if args.wilhelmy is not None and str(args.wilhelmy) == "none":
        args.wilhelmy = None
    if args.wilhelmy and not args.wilhelmy.is_dir():
        parser.error(f"expected the Wilhelmy folder at --wilhelmy {args.wilhelmy}, found none")
    args.out = args.out / f"base-{base_id()}"  # cells made with another base are not this base's
    plain = None if args.no_refit or args.unlabelled else args.out
    if not args.no_refit:
        args.out = args.out / ("unlabelled" if args.unlabelled else "refit")
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = {}
    if results.exists():
        for line in results.read_text().splitlines():
            r = json.loads(line)
            done[(r["style"], r["labels"])] = r
    rows = []
    for style, n, train, rest, test in cells(args):
        if args.unlabelled and not rest:
            continue
        finished = (style, n) in done and done[(style, n)]["accuracy"] is not None
        again = (args.reread or args.reexport) and finished
        if (style, n) not in done or again:
            print(f"{style} with {n} labels ...", file=sys.stderr, flush=True)
            row = bench_cell(style, n, train, test, args.out, rest if args.unlabelled else None,
                             reexport=args.reexport and finished, plain=plain,
                             flags=("--no-refit",) if args.no_refit else ())
            with open(results, "a") as f:  # a cell's last row is its result
                f.write(json.dumps(row) + "\n")
            done[(style, n)] = row
            outcome = row.get("error") or f"{row['accuracy']:.1%}"
            print(f"  {outcome} in {row['fit_seconds'] / 60:.1f} min", file=sys.stderr, flush=True)
        rows.append(done[(style, n)])
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
