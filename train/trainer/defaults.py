"""What ``captcha-train fit`` decides when it is given no flag: the architecture, whether to
fine-tune from the pre-trained base, and how long to train. Every rule and number is stated
here once; ``fit`` prints each decision and why. No Keras here (the CLI decides before
TensorFlow is imported).

- Architecture: the base's (convctc-fast). CTC reads every label length the folder has, and on
  Wilhelmy it read as well as the larger designs at a third of their compute.
- Fine-tuning: from the base when the folder has at most :data:`FINE_TUNE_MAX` labelled images
  and the model's layers have the base's shapes (the base's arch and width). A base that already
  knows where characters are skips the CTC blank plateau, which a small folder (a few optimizer
  steps an epoch) may never leave.
- Two starts: when the base, read zero-shot on a sample of the folder, misreads more than
  :data:`TWO_STARTS_ABOVE_CER` of the characters, it knows little of the style and its head start
  may cost; ``fit`` then also trains from scratch and keeps the lower validation loss
  (:mod:`trainer.starts`).
- Input size, when fine-tuning from the base: at least :func:`base_pixels_per_character` for each
  character of the mean label length (:data:`trainer.config.SIZE_SCALE_RULE`), so that narrow
  characters reach the scale at which the base learned to read them.
- Resize (``--resize auto``): ``crop`` to the text's box when the text is small in its canvas
  (:data:`CROP_FROM_ZOOM`), else ``stretch``.
- Length: a budget of optimizer steps, not epochs, so that 200 labels and 5000 get the same
  amount of learning; the fit ends earlier once it has converged (see :mod:`trainer.train`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.contract import Resize

#: The value of --arch and --init-from that lets fit decide; --init-from none trains from scratch.
AUTO, NONE = "auto", "none"
#: The pre-trained base, installed with the trainer (not with the runtime): a run directory
#: holding config.json and last.weights.h5 (weights only, no optimizer state).
BASE_DIR = Path(__file__).resolve().parent / "base"
#: The base's int8 file, shipped with the runtime (converted/): the zero-shot read of two starts.
BASE_MODEL = "base-alnum-int8"
#: Two starts when the base misreads more than this fraction of the characters of the folder's
#: sample (case folded): it reads fewer than half. On the development styles and Wilhelmy it
#: misread 6-27 %, and fitting from it gave the most at 200 labels; on the held-out dotmatrix it
#: misread 97 %, and from scratch read 13-17 images of 300 more. Between those, a round half;
#: the choice itself is made by validation, so a needless second start costs time, not accuracy.
TWO_STARTS_ABOVE_CER = 0.5
#: Labelled images the base reads for that (a seeded sample; a second or two on a Pi-class CPU).
ZERO_SHOT_SAMPLE = 200
#: --resize auto crops to the text's box (:func:`edge_runtime.preprocess.crop_box`) when that box,
#: on the folder's median image, would be enlarged by at least this factor (each side, the square
#: root of image area over box area): the text covers at most half of the image. On the development
#: styles whose text fills the image the median was 1.00-1.15, and on Wilhelmy 1.04; on ``margin``
#: (small text anywhere in a large canvas) 1.75; this is about the middle of that gap (the
#: geometric mean of 1.15 and 1.75 is 1.42).
CROP_FROM_ZOOM = 1.4
#: Labelled images whose text box --resize auto measures (evenly spread; a few ms each).
CROP_SAMPLE = 200
#: The arch chosen when there is no base to follow.
FALLBACK_ARCH = "convctc-fast"
#: Fine-tune from the base up to this many labelled images; peers' trainers ask for 5-10 k
#: labels before a new style reads at all, and below that the base's head start matters most.
FINE_TUNE_MAX = 5000
#: Optimizer steps of a fit when --epochs is not given: 8.6 min of convctc-fast at 50x132, batch 16,
#: with 200 labels, on a 2-core AMD EPYC (AVX2).
STEP_BUDGET = 6000
#: The default --patience, in optimizer steps. A third of it (:func:`plateau_epochs`) without
#: improvement halves the learning rate, and at the lowest rate ends the fit (converged);
#: with --select best, early stopping also waits the whole patience for a better validation accuracy.
PATIENCE_STEPS = 1200
#: No learning-rate cut in a fit's first steps: the training loss of a new style may sit flat at
#: the all-blank value for about 500 steps before it falls, and a lower rate would prolong that.
HOLD_STEPS = 1000
#: Self-training (--unlabelled): the student starts from its teacher's weights, which already read
#: the style, and trains for this fraction of the step budget (it learns only what the teacher's
#: reads add).
STUDENT_STEP_FRACTION = 0.5
#: Self-training (--unlabelled): a teacher's read joins the training images when the runtime
#: trusts it (not rejected) at this calibrated confidence or more. On package, 200 labels, a
#: teacher's reads of 800 unlabelled images were right 98 % of the time at 0.9 (393 kept) and 91 %
#: with none left out (696): a wrong label teaches the error it carries.
PSEUDO_MIN_CONFIDENCE = 0.9
#: Below this many labelled images, a fit without --unlabelled says that self-training may help.
SELF_TRAIN_HINT_BELOW = 1000
#: The learning rate falls to this fraction of its start at least; a fit whose training loss has
#: stopped improving there has converged and ends.
MIN_LR_FRACTION = 1 / 16
#: Over this last fraction of a budgeted fit's epochs (no --epochs) the learning rate's ceiling falls to
#: the floor, which the last epoch reaches: a fit that runs out of epochs before it has converged
#: (a large folder, whose loss keeps improving) still ends annealed, so its last weights are not
#: taken mid-stride. A fit that converges sooner never meets the ceiling.
ANNEAL_FRACTION = 0.25
#: After the fit, a second fit on every labelled image, validation images included (--refit),
#: wherever validation only measures (--select last, no --folds, no --unlabelled). With --select
#: last the validation images teach nothing; given back, they read +53 test images over the 16
#: 200-label cells of the development and held-out tables (11 better, 2 worse), +32 over their
#: 16 cells at 1000 labels (12 better, 1 worse), and Wilhelmy's 5-fold CV 855/863 against 856, for
#: about twice the fit time (see "Training on the validation images too" in docs/training-log.md).
REFIT = True


@dataclass(frozen=True)
class Choice:
    arch: str
    init_from: str | None
    reason: str


def base_available() -> bool:
    return (BASE_DIR / "config.json").is_file() and (BASE_DIR / "last.weights.h5").is_file()


def base_config():
    from .runs import Run

    return Run(BASE_DIR).config if base_available() else None


def is_base(init_from: str | None) -> bool:
    """Whether a fit from ``init_from`` starts from the pre-trained base: chosen by auto, or named
    with --init-from in any spelling of its path."""
    return init_from is not None and Path(init_from).resolve() == BASE_DIR


def base_pixels_per_character() -> float | None:
    """The horizontal scale at which the base learned characters: its input width over its mean
    label length (its corpus draws every length of its range equally often), or None without a base."""
    base = base_config()
    if base is None or not base.min_length or not base.max_length:
        return None
    return base.width / ((base.min_length + base.max_length) / 2)


def choose(arch: str, init_from: str | None, images: int, width_mult: float) -> Choice:
    """Resolve --arch auto and --init-from auto/none for a folder of ``images`` labelled images."""
    base = base_config()
    if arch == AUTO:
        arch = base.arch if base else FALLBACK_ARCH
        why_arch = f"--arch auto: {arch}" + (" (the pre-trained base's)" if base else "")
    else:
        why_arch = f"--arch {arch}"
    if init_from not in (AUTO, NONE, None):
        return Choice(arch, init_from, f"{why_arch}, fine-tuned from --init-from {init_from}")
    if init_from == NONE or init_from is None:
        return Choice(arch, None, f"{why_arch}, from scratch (--init-from none)")
    if base is None:
        return Choice(arch, None, f"{why_arch}, from scratch: no pre-trained base is installed in {BASE_DIR}")
    if arch != base.arch or width_mult != base.width_mult:
        return Choice(arch, None, f"{why_arch}, from scratch: the pre-trained base is {base.arch} at width "
                                  f"{base.width_mult}, this model is {arch} at width {width_mult}")
    if images > FINE_TUNE_MAX:
        return Choice(arch, None, f"{why_arch}, from scratch: {images} labelled images are more than "
                                  f"{FINE_TUNE_MAX}, enough to learn without the pre-trained base")
    return Choice(arch, str(BASE_DIR), f"{why_arch}, fine-tuned from the pre-trained base: {images} labelled "
                                       f"images, at most {FINE_TUNE_MAX} (--init-from none: from scratch)")


def choose_resize(zoom: float | None) -> tuple[str, str]:
    """Resolve --resize auto from the median enlargement ``zoom`` of the text's box (None: not
    measured); returns the policy and why."""
    if zoom is not None and zoom >= CROP_FROM_ZOOM:
        return Resize.CROP.value, (f"--resize auto: crop to the text's box; on the median image it covers "
                                   f"{1 / zoom**2:.0%} of the image (enlarged {zoom:.2f}x, at least {CROP_FROM_ZOOM})")
    shown = f"{zoom:.2f}x" if zoom is not None else "not measured"
    return Resize.STRETCH.value, (f"--resize auto: stretch; the text fills the images (its box enlarged {shown} "
                                  f"on the median image, crop from {CROP_FROM_ZOOM}x)")


def steps_per_epoch(train_images: int, batch_size: int, max_steps: int | None) -> int:
    steps = math.ceil(train_images / batch_size)
    return min(steps, max_steps) if max_steps else steps


def epochs_for(steps: int, budget: int = STEP_BUDGET) -> int:
    """Epochs that spend ``budget`` optimizer steps at ``steps`` an epoch."""
    return max(1, math.ceil(budget / steps))


def patience_for(steps: int) -> int:
    """Epochs that make :data:`PATIENCE_STEPS` optimizer steps (at least 3)."""
    return max(3, math.ceil(PATIENCE_STEPS / steps))


def anneal_epochs(epochs: int) -> int:
    """The last epochs, :data:`ANNEAL_FRACTION` of them (at least one), whose ceiling falls to the floor."""
    return max(1, round(epochs * ANNEAL_FRACTION))


def lr_ceiling(epoch: int, epochs: int, start: float) -> float:
    """The highest learning rate epoch ``epoch`` (0-based) of ``epochs`` may train at: ``start``,
    then over the last :data:`ANNEAL_FRACTION` of the epochs a geometric path down to
    ``start * MIN_LR_FRACTION``, reached at the last epoch."""
    window = anneal_epochs(epochs)
    into = epoch - (epochs - window) + 1
    return start * MIN_LR_FRACTION ** min(1.0, into / window) if into > 0 else start


def plateau_epochs(patience: int) -> int:
    """Epochs without improvement of the monitored loss that halve the learning rate, and that
    end the fit once the rate is at its floor (converged): a third of ``patience``, at least 3."""
    return max(3, patience // 3)
