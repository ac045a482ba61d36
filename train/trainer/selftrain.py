"""Self-training (``fit --unlabelled DIR``): labels are scarce, images are not.

1. A teacher fits on the labelled images alone (``RUN/teacher``, the same split and recipe).
2. It is exported as float32 and reads the unlabelled images through the runtime, exactly as a
   device would: calibrated confidence and every trust rule (trust.py). A read joins the training
   images when the runtime trusts it at ``pseudo_confidence`` or more (``RUN/pseudo-labels.tsv``).
3. The run itself fits on the labelled training images and those reads, from the teacher's
   weights, for a fraction of the step budget (``defaults.STUDENT_STEP_FRACTION``); it validates
   on the same labelled images only, so its score stays honest.

Every step is kept on disk, so a killed fit resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterable

from edge_runtime.recognizer import Recognizer, Result, image_paths

from . import data as D
from . import defaults
from .config import RunConfig
from .errors import DataError
from .runs import Run

#: The teacher's file, in its run: float32 reads as Keras does, and needs no calibration images.
TEACHER_MODEL = "teacher-float32.tflite"
#: Progress while the teacher reads: a line every this many images.
PROGRESS_EVERY = 200


def trusted(results: Iterable[Result], min_confidence: float) -> list[tuple[str, str]]:
    """(source, text) of every read the runtime trusts at ``min_confidence`` or more."""
    return [(r.source, r.prediction.text) for r in results
            if r.ok and r.prediction.rejected is None and r.prediction.text and r.prediction.confidence >= min_confidence]


def unlabelled_images(folder: str | os.PathLike, labelled: Iterable[Path]) -> tuple[list[Path], int]:
    """The images of ``folder`` that are none of the ``labelled`` images (a validation image read
    by the teacher and trained on would make the validation score a training score), and how many
    were left out for that."""
    labelled = {Path(p).resolve() for p in labelled}
    paths = image_paths(folder)
    kept = [p for p in paths if p.resolve() not in labelled]
    return kept, len(paths) - len(kept)


def pseudo_label(run: Run, config: RunConfig, log=print) -> int:
    """Read ``config.unlabelled`` with the exported teacher and keep the trusted reads in
    ``run.pseudo_file`` (written once: a resumed fit reuses it); returns how many were kept."""
    from .export import export

    teacher = run.teacher
    model = teacher.root / TEACHER_MODEL
    if not model.exists():
        export(teacher.root, "float32", model, log=log)
    paths, overlap = unlabelled_images(config.unlabelled, D.label_folder(config.data_dir, config.labels).paths)
    if overlap:
        log(f"{overlap} images of {config.unlabelled} are labelled images too: left out of self-training")
    if not paths:
        raise DataError(f"expected unlabelled images in {config.unlabelled}, found none that are not labelled images")
    recognizer = Recognizer.from_file(model, min_confidence=config.pseudo_confidence)
    results = []
    for i, path in enumerate(paths, 1):
        results.append(recognizer.result(path))
        if i % PROGRESS_EVERY == 0 or i == len(paths):
            log(f"teacher read {i}/{len(paths)} unlabelled images")
    reads, errors = trusted(results, config.pseudo_confidence), sum(not r.ok for r in results)
    log(f"{len(reads)} of {len(paths)} unlabelled images read at confidence {config.pseudo_confidence} or more join "
        f"the training images" + (f"; {errors} could not be read" if errors else ""))
    tmp = run.pseudo_file.with_suffix(".tmp")
    tmp.write_text("".join(f"{os.path.abspath(source)}\t{text}\n" for source, text in reads))
    os.replace(tmp, run.pseudo_file)
    return len(reads)


def pseudo_images(run: Run, config: RunConfig) -> D.Dataset | None:
    """The teacher's trusted reads of the unlabelled images, as training images (None: none)."""
    if not run.pseudo_file.exists():
        raise DataError(f"expected the teacher's reads in {run.pseudo_file}, found none; run the same fit again")
    if run.pseudo_file.stat().st_size == 0:  # written whole by pseudo_label: empty means no read was kept
        return None
    return D.load_folder(config.unlabelled, config.input_spec, config.charset, config.lengths,
                         labels=run.pseudo_file, ignore_case=config.ignore_case)


def fit_self_trained(config: RunConfig, out: str | os.PathLike, overwrite: bool = False, log=print,
                     command: str | None = None) -> dict:
    """The teacher, its trusted reads, then the run on both (module docstring)."""
    from .train import fit

    run = Run(out)
    log(f"self-training, step 1 of 3: the teacher fits on the labelled images alone, in {run.teacher.root}")
    fit(dataclasses.replace(config, unlabelled=None, pseudo_confidence=None), run.teacher.root, overwrite=overwrite,
        log=log, command=command)
    if overwrite:
        run.pseudo_file.unlink(missing_ok=True)
        (run.teacher.root / TEACHER_MODEL).unlink(missing_ok=True)
    log(f"self-training, step 2 of 3: the teacher reads {config.unlabelled}")
    if run.pseudo_file.exists():
        log(f"kept from before: {run.pseudo_file}")
    else:
        pseudo_label(run, config, log)
    budget = round(defaults.STUDENT_STEP_FRACTION * defaults.STEP_BUDGET)
    log(f"self-training, step 3 of 3: the model fits on the labelled images and the teacher's trusted reads, "
        f"from the teacher's weights, for {budget} optimizer steps unless --epochs says otherwise")
    student = dataclasses.replace(config, init_from=os.path.abspath(run.teacher.root))
    return fit(student, run.root, overwrite=overwrite, log=log, command=command, report=False,
               extra=pseudo_images(run, config), budget=budget)
