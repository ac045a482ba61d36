"""Pre-train the base that ``captcha-train fit`` fine-tunes from (issue #14), and ship it.

    python scripts/pretrain_base.py --work data/pretrain            # hours on 2 cores; resumable
    python scripts/pretrain_base.py --work data/pretrain --ship     # then: the base into the repository

Three steps, each resumable, so the command can be killed and run again at any time:
1. The corpus: 60,000 images from ``captcha-train synth --style mixed`` (our own renderer, every
   look drawn at random, 15 % from the captcha package), 3-8 characters of 0-9a-zA-Z, from seeds
   1 and 2. A seed's images are made once (WORK/corpus-seed-S.done marks them).
2. The fits, each ``captcha-train fit`` resumed after a kill from its last epoch: WORK/run from
   scratch at a learning rate of 3e-3, then WORK/run-s2 from its weights at 1e-3, then WORK/run-s3
   at 3e-4. Each stage began when the loss of the one before had flattened (3e-3: 13.96, 13.85,
   13.76 over epochs 9-11; 1e-3: validation loss 12.01, 12.02, 11.99 over its epochs 1-3).
3. With --ship: the last fit's weights alone (no optimizer state) and config into train/trainer/base/,
   which ``fit --init-from auto`` uses, and its int8 file into converted/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
CORPUS = ((1, 40000), (2, 20000))  # (seed, images)
#: --no-refit: with 60,000 images the 5 % held out matter little, and a refit would double hours.
COMMON = ["--arch", "convctc-fast", "--val-fraction", "0.05", "--select", "last", "--seed", "0", "--no-refit"]
#: (run directory in WORK, the fit's own flags); a stage after the first starts from the one before.
STAGES = (("run", ["--init-from", "none", "--epochs", "11", "--learning-rate", "0.003"]),
          ("run-s2", ["--epochs", "3", "--learning-rate", "0.001"]),
          ("run-s3", ["--epochs", "2", "--learning-rate", "0.0003"]))


def run(*args: str) -> None:
    print("$ " + shlex.join(args), flush=True)
    subprocess.run(args, check=True)


def make_corpus(corpus: Path, work: Path) -> None:
    for seed, count in CORPUS:
        done = work / f"corpus-seed-{seed}.done"
        if done.exists():
            continue
        run("captcha-train", "synth", "--out", str(corpus), "--style", "mixed", "--charset", ALNUM,
            "--length", "3-8", "--count", str(count), "--seed", str(seed))
        done.touch()


def fit_stages(corpus: Path, work: Path) -> None:
    previous = None
    for name, flags in STAGES:
        start = ["--init-from", str(work / previous)] if previous else []
        run("captcha-train", "fit", "--data", str(corpus), "--out", str(work / name), *COMMON, *start, *flags)
        previous = name


def ship(fit_run: Path) -> None:
    """train/trainer/base/: config.json, last.weights.h5 (weights only) and command.txt (this script);
    converted/: the int8 file."""
    from trainer.defaults import BASE_DIR, BASE_MODEL
    from trainer.runs import Run

    source = Run(fit_run)
    model = source.load_keras()  # rebuilt uncompiled: saving it keeps no optimizer state
    BASE_DIR.mkdir(exist_ok=True)
    model.save_weights(BASE_DIR / "last.weights.h5")
    config = dataclasses.replace(source.config, data_dir="synthetic: scripts/pretrain_base.py", init_from=None)
    (BASE_DIR / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1) + "\n")
    # The script is the command that made the base (its stages in order), so the base's own
    # --init-from (a stage on this machine) is not kept: a fit chain stops at the base.
    (BASE_DIR / "command.txt").write_text(shlex.join(["python", "scripts/pretrain_base.py", "--work", "data/pretrain"]) + "\n")
    shipped = ROOT / "converted" / f"{BASE_MODEL}.tflite"
    run("captcha-train", "export", str(fit_run), "--out", str(shipped),
        "--overwrite", "--max-accuracy-drop", "1")  # its own reads of the hard mixed corpus are no measure of it
    print(f"shipped {BASE_DIR} and {shipped}; now run scripts/reference_texts.py and scripts/converted_table.py")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("data/pretrain"), help="corpus and run (default: data/pretrain)")
    ap.add_argument("--ship", action="store_true", help="after the fit, copy the base into the repository")
    ap.add_argument("--no-fit", action="store_true", help="with --ship: ship the run as it is now")
    args = ap.parse_args()
    corpus = args.work / "corpus"
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.no_fit:
        make_corpus(corpus, args.work)
        fit_stages(corpus, args.work)
    if args.ship:
        ship(args.work / STAGES[-1][0])


if __name__ == "__main__":
    main()
