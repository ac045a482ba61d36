"""Two starts: ``fit`` with --init-from auto, on a folder of which the pre-trained base reads little.

The base gets a small folder off the CTC blank plateau, and where it reads a style at all it
gives the most at 200 labels. On a style whose glyphs it does not know, its head start costs
instead: fitted from it, the held-out ``dotmatrix`` (of which the base reads 3 % of the
characters) read 13-17 of 300 test images fewer than fitted from scratch. So, before it fits,
``fit`` has the base's int8 file read a seeded sample of the labelled images through the runtime
(:func:`zero_shot`). When it misreads more than :data:`trainer.defaults.TWO_STARTS_ABOVE_CER` of
their characters, ``fit`` trains twice, from the base and from scratch (the same split, seed,
size and length), and keeps the start with the lower validation loss.

    RUN/starts.json                  the zero-shot read; with two starts, their validation and the choice
    RUN/from-base/, RUN/from-scratch/  with two starts: the two fits, each resumable on its own
    RUN/config.json, weights, ...    with two starts: a copy of the chosen fit's files, so RUN is a run
                                     like any other (export, evaluate, --init-from)

Without two starts, RUN is the one fit, as always, and starts.json only records the read.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import data as D
from . import defaults
from .config import RunConfig
from .runs import FILES, Run

#: The two fits of a two-start run, as subfolders of RUN, in the order they are fitted.
FROM_BASE, FROM_SCRATCH = "from-base", "from-scratch"
#: The record of the zero-shot read and of the choice.
STARTS_FILE = "starts.json"


@dataclass(frozen=True)
class ZeroShot:
    """How the pre-trained base reads a sample of the labelled images, before any fit."""

    images: int
    cer: float  # character error rate, case folded
    right: int  # whole labels read right, case folded

    @property
    def two_starts(self) -> bool:
        return self.cer > defaults.TWO_STARTS_ABOVE_CER

    def describe(self) -> str:
        return (f"the pre-trained base ({defaults.BASE_MODEL}) reads {self.right} of {self.images} of these images "
                f"whole, character error rate {self.cer:.2f}")


def cer(truths: Sequence[str], reads: Sequence[str]) -> float:
    """Edits over characters of the truths (:func:`trainer.metrics.text_metrics`' CER), case folded."""
    from .metrics import text_metrics

    return text_metrics([t.casefold() for t in truths], [r.casefold() for r in reads])["cer"]


def zero_shot(paths: Sequence[Path], labels: Sequence[str], seed: int, resize: str,
              sample: int = defaults.ZERO_SHOT_SAMPLE) -> ZeroShot | None:
    """The base's int8 file reads up to ``sample`` of the labelled images (a seeded choice) through
    the runtime, as ``captcha-edge predict --model base-alnum-int8`` would, but brought to its input
    by the fit's ``resize`` policy: the base is judged on the pixels the fit will give it. Case is
    folded: the base reads 0-9a-zA-Z, and its case is a guess between look-alike shapes (o/O, s/S);
    what decides the start is whether it knows the shapes. An image that cannot be read counts as
    read empty. None when no base model is installed."""
    from edge_runtime.errors import CaptchaEdgeError
    from edge_runtime.recognizer import Recognizer, load_model

    try:
        base = load_model(defaults.BASE_MODEL)
    except CaptchaEdgeError:
        return None
    contract = dataclasses.replace(base.contract, input=dataclasses.replace(base.contract.input, resize=resize))
    recognizer = Recognizer(dataclasses.replace(base, contract=contract), min_confidence=0.0)
    rows = list(range(len(paths)))
    random.Random(seed).shuffle(rows)
    rows = sorted(rows[:sample])
    reads = []
    for i in rows:
        result = recognizer.result(paths[i])
        reads.append(result.prediction.text if result.ok else "")
    truths = [labels[i] for i in rows]
    right = sum(t.casefold() == r.casefold() for t, r in zip(truths, reads))
    return ZeroShot(images=len(rows), cer=cer(truths, reads), right=right)


def recorded(out: str | os.PathLike) -> ZeroShot | None:
    """The zero-shot read a run recorded when it started (None: none recorded)."""
    path = Path(out) / STARTS_FILE
    if not path.exists():
        return None
    return ZeroShot(**D.read_json(path)["zero_shot"])


def record(out: str | os.PathLike, read: ZeroShot, **more) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    D.write_json(Path(out) / STARTS_FILE, {"zero_shot": dataclasses.asdict(read), **more})


def plan(out: str | os.PathLike, overwrite: bool, paths: Sequence[Path], labels: Sequence[str], seed: int,
         resize: str, log=print) -> ZeroShot | None:
    """The zero-shot read that decides between one start and two, for a fit from the base chosen by
    --init-from auto: the one recorded when the run in ``out`` started (a resume keeps its plan),
    none for a run started before starts.json was written (it resumes as one fit), else read now
    and recorded before any fit. --overwrite discards a two-start run's fits first, whether or
    not this fit has two starts."""
    if overwrite:
        discard(out)
    read = recorded(out)
    if read is not None:
        log(f"{read.describe()} (read when {out} started)")
    elif Run(out).config_file.exists():
        return None
    else:
        log(f"reading {min(len(paths), defaults.ZERO_SHOT_SAMPLE)} of the labelled images with the pre-trained base")
        read = zero_shot(paths, labels, seed, resize)
        if read is None:
            log(f"no {defaults.BASE_MODEL} model is installed with the runtime: one fit, from the base")
            return None
        log(read.describe())
        record(out, read)
    threshold = f"{defaults.TWO_STARTS_ABOVE_CER:.0%} of the characters"
    if read.two_starts:
        log(f"it misreads more than {threshold}: it knows little of this style, so fit trains twice, from the base "
            f"and from scratch, and keeps the one with the lower validation loss (about twice the time; "
            f"--init-from none: from scratch only)")
    else:
        log(f"it misreads at most {threshold}: one fit, from the base")
    return read


def discard(out: str | os.PathLike) -> None:
    """--overwrite: the two fits, the record and the copy of a two-start run in ``out``; nothing else."""
    root = Path(out)
    for name in (FROM_BASE, FROM_SCRATCH):
        shutil.rmtree(root / name, ignore_errors=True)
    for name in (STARTS_FILE, *FILES.values()):
        (root / name).unlink(missing_ok=True)


def adopt(chosen: Run, out: Run) -> None:
    """Copy the chosen fit's files into ``out``, each whole; the state last, so that a copy cut
    short by a kill is never taken for a finished run (a resume copies again)."""
    out.state_file.unlink(missing_ok=True)
    state = FILES["state_file"]
    for name in [n for n in FILES.values() if n != state] + [state]:
        if (chosen.root / name).exists():
            tmp = out.root / (name + ".tmp")
            shutil.copyfile(chosen.root / name, tmp)
            os.replace(tmp, out.root / name)


def fit_two_starts(config: RunConfig, out: str | os.PathLike, read: ZeroShot, log=print,
                   command: str | None = None) -> dict:
    """Fit from the base and from scratch into RUN/from-base and RUN/from-scratch (each resumed if
    it was started), then make RUN a copy of the one with the lower validation loss (module
    docstring). Returns its state. :func:`plan` made the read and handled --overwrite."""
    from .train import fit

    run = Run(out)
    starts = {}
    for i, (name, init_from) in enumerate(((FROM_BASE, config.init_from), (FROM_SCRATCH, None)), 1):
        log(f"two starts, {i} of 2: {'from the pre-trained base' if init_from else 'from scratch'}, in {run.root / name}")
        state = fit(dataclasses.replace(config, init_from=init_from), run.root / name, log=log, command=command,
                    report=i == 1)
        # The kept epoch's (with --select last, the last one's).
        starts[name] = {"val_loss": state["best_val_loss"], "val_accuracy": state["best_val_accuracy"]}
    chosen = min(starts, key=lambda name: starts[name]["val_loss"])
    adopt(Run(run.root / chosen), run)
    record(run.root, read, starts=starts, chosen=chosen)
    log("; ".join(f"{name}: validation loss {s['val_loss']:.4f}, accuracy {s['val_accuracy']:.4f}"
                  for name, s in starts.items()) + f". Kept {chosen} (the lower validation loss), copied into {run.root}")
    return run.state
