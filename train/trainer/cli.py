"""The ``captcha-train`` command: fit, evaluate, export, synth. TensorFlow is imported only by
the commands that need it, so ``--help`` works without the train extra. Option defaults and
choices come from where they are defined: RunConfig's fields (:mod:`trainer.config`), the arch
table (:mod:`trainer.archs`), the runtime's quantization modes, the export's constants. Errors:
the trainer's and the runtime's named exceptions become one line and exit 1; usage errors exit 2."""

from __future__ import annotations

import json
import os
import shlex
import sys

import click

from edge_runtime.contract import COLORS, QUANTIZATIONS, RESIZES, InputSpec, Kind, Quantization
from edge_runtime.errors import CaptchaEdgeError
from edge_runtime.options import REPORT_FORMATS

from ._version import __version__
from .archs import ARCHS
from .config import AUTO_HEIGHT, DEFAULTS, SELECT, SELECT_LAST, SIZE_RULE, SIZE_SCALE_RULE, RunConfig
from .defaults import (ANNEAL_FRACTION, AUTO, FINE_TUNE_MAX, HOLD_STEPS, MIN_LR_FRACTION, NONE, PATIENCE_STEPS,
                       PSEUDO_MIN_CONFIDENCE, REFIT, SELF_TRAIN_HINT_BELOW, STEP_BUDGET, STUDENT_STEP_FRACTION,
                       TWO_STARTS_ABOVE_CER, ZERO_SHOT_SAMPLE, CROP_FROM_ZOOM, CROP_SAMPLE, base_pixels_per_character,
                       choose, choose_resize, is_base)
from .export import INT8_LOSS_CHANCE, MAX_INT8_ACCURACY_DROP
from .errors import INSTALL_HINT, TrainerError
from .synth import (CAPTCHA_STYLE, DEFAULT_CHARSET, DEFAULT_LENGTH, DEFAULT_SIZE, FORBIDDEN, check_charset,
                    parse_lengths, style_names)

LABELS_HELP = ("Labels file, one image a line: its path (relative to FILE's folder, inside the data folder) and its "
               "label. .csv: PATH,LABEL with csv quoting; .tsv: PATH<TAB>LABEL; .txt: split at the first tab, else at "
               "the first comma or space. An optional header line (path,label), blank and # lines are ignored. "
               "Default: labels.csv, labels.tsv or labels.txt in the data folder, if there is one.")


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise click.ClickException(f"expected TensorFlow, it is not installed: {INSTALL_HINT}") from None


def _log(message: str) -> None:
    click.echo(message)
    sys.stdout.flush()


def _chosen_size(sizes, labels: list[str], stride: int, from_base: bool) -> tuple[tuple[int, int], str]:
    """The input size fit chooses without --input-size, and the rule it prints."""
    from trainer import data as D

    rule = SIZE_RULE.format(height=AUTO_HEIGHT, stride=stride)
    scale = base_pixels_per_character() if from_base else None
    if not scale:
        return D.choose_input_size(sizes, stride), rule
    length = D.mean_length(labels)
    rule += SIZE_SCALE_RULE.format(pixels=scale, length=length)
    return D.choose_input_size(sizes, stride, min_width=scale * length), rule


def _input_size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        h = w = 0
    if h <= 0 or w <= 0:
        raise click.BadParameter(f"expected HEIGHTxWIDTH such as 50x200, got {value!r}")
    return h, w


def _command() -> str:
    return shlex.join(["captcha-train", *sys.argv[1:]])


class _Group(click.Group):
    """Our named errors (trainer and runtime) become one line and exit 1; anything else is a
    bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CaptchaEdgeError as exc:
            raise click.ClickException(" ".join(str(exc).split()) or type(exc).__name__) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="captcha-train")
def main() -> None:
    """Train, evaluate and export captcha-edge models (installed with: pip install . ./train).

    \b
    Typical run:
      captcha-train fit --data my-captchas --out runs/mine     (decides arch, base and length; says why)
      captcha-train evaluate runs/mine
      captcha-train export runs/mine --out runs/mine/mine-int8.tflite
    """


@main.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False),
              envvar="CAPTCHA_DATA", show_envvar=True,
              help="Folder of labelled images: by --labels FILE, else by its own labels.csv/.tsv/.txt, else by file "
                   "name (LABEL.png, or LABEL_anything.png: the text before the first '_').")
@click.option("--labels", "labels_file", default=None, type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help=LABELS_HELP)
@click.option("--ignore-case", is_flag=True, help="Fold labels and --charset to lowercase (default: keep the labels' case).")
@click.option("--arch", type=click.Choice([AUTO, *ARCHS]), default=AUTO, show_default=True,
              help="auto: the pre-trained base's arch (convctc-fast), printed with the reason. "
                   "cnn/crnn: our tuned designs; cnn-faithful/crnn-faithful: the published ones, for comparison; "
                   "cnn-attn: multi-head CNN with attention heads; convctc: convolution-only CTC; "
                   "convctc-fast: convctc at a third of the compute.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory (created; an existing run is resumed).")
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS["epochs"],
              help=f"At most this many epochs. Default: as many as {STEP_BUDGET} optimizer steps take (a small "
                   "folder trains as long as a large one), the learning rate falling to its lowest over the last "
                   f"{ANNEAL_FRACTION:.0%} of them; epochs you set are not annealed. Either way the fit ends "
                   "sooner once the monitored loss "
                   "(--select last: the training loss; --select best: the validation loss) has stopped improving at "
                   "the lowest learning rate (converged; see --patience), or, with --select best, at early stopping.")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Default: the arch's.")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True, help="Seeds the split, initialisation and augmentation.")
@click.option("--val-fraction", type=click.FloatRange(0.01, 0.9), default=DEFAULTS["val_fraction"], show_default=True,
              help="Share of the labelled images held out for validation (a seeded split; see --folds).")
@click.option("--charset", default=None, help="Allowed characters (default: those found in the labels).")
@click.option("--input-size", default=None, metavar="HxW",
              help="Model input size. Default: chosen from the images, " + SIZE_RULE.format(height=AUTO_HEIGHT, stride="N")
              + "; when fine-tuning from the pre-trained base, also at least the base's pixels per character "
                "(its width over its mean label length) times the mean label length; printed before training.")
@click.option("--resize", type=click.Choice((AUTO, *RESIZES)), default=AUTO, show_default=True,
              help="How images become the input size: stretch to it; pad (aspect ratio kept, centred on white); or crop "
                   "to the text's box, widened to the input's aspect ratio, then stretched (small text in a large "
                   f"canvas). auto: crop when the text's box on the median image would be enlarged {CROP_FROM_ZOOM}x or "
                   "more, else stretch; printed before training. Recorded in the model, so devices do the same.")
@click.option("--color", type=click.Choice(COLORS), default=DEFAULTS["color"], show_default=True,
              help="Input channels: gray (1), or rgb (3) for styles where colour carries the signal.")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=DEFAULTS["learning_rate"], show_default=True,
              help=f"Adam's starting learning rate; plateaus halve it, down to 1/{round(1 / MIN_LR_FRACTION)} of it.")
@click.option("--patience", type=click.IntRange(1), default=DEFAULTS["patience"],
              help=f"Plateau length in epochs. --select last: a third of it (at least 3) without a lower training "
                   f"loss halves the learning rate, and at the lowest rate (1/{round(1 / MIN_LR_FRACTION)} of the "
                   f"start) ends the fit (converged). --select best: the same on the validation loss, and early "
                   f"stopping after all of it without a better validation accuracy. No halving in the first "
                   f"{HOLD_STEPS} optimizer steps. Default: as many epochs as {PATIENCE_STEPS} optimizer steps take.")
@click.option("--augment/--no-augment", default=None, help="Default: on for tuned archs, off for faithful ones.")
@click.option("--strokes", type=click.FloatRange(0, 1), default=DEFAULTS["strokes"], show_default=True,
              help="With augmentation: the chance of an extra dark curve across the text, like the real ones.")
@click.option("--width-mult", type=click.FloatRange(0.05, 4.0), default=DEFAULTS["width_mult"], show_default=True, help="Scale every layer's width.")
@click.option("--max-steps", type=click.IntRange(1), default=DEFAULTS["max_steps"], help="Cap batches per epoch (quick trials).")
@click.option("--init-from", default=AUTO, show_default=True, metavar="auto|none|RUN_DIR",
              help=f"Start from another run's weights for every layer of the same name and shape (e.g. a cnn "
                   f"from a convctc run: same trunk); that run must not have trained on this run's validation images. "
                   f"auto: the pre-trained base (0-9a-zA-Z, shipped with the trainer) when the folder has at most "
                   f"{FINE_TUNE_MAX} labelled images and the model has the base's arch and width; then, if the base "
                   f"misreads more than {TWO_STARTS_ABOVE_CER:.0%} of the characters of {ZERO_SHOT_SAMPLE} of them "
                   f"(OUT/starts.json), fit trains from the base and from scratch (OUT/from-base, OUT/from-scratch) and "
                   f"keeps the lower validation loss in OUT. none: from scratch.")
@click.option("--folds", type=click.IntRange(2), default=None,
              help="Cross-validation: deal the seeded order into K folds. Alone, fits every fold in turn into "
                   "OUT/fold-1..K and writes OUT/cv.json; with --fold, fits that fold only, into OUT.")
@click.option("--fold", type=click.IntRange(1), default=None, help="Which fold validates (1..--folds).")
@click.option("--select", type=click.Choice(SELECT), default=DEFAULTS["select"], show_default=True,
              help="Keep the epoch best on validation, or the last one (no early stopping, learning rate steered by "
                   "training loss): then the validation score is an unbiased estimate.")
@click.option("--unlabelled", "unlabelled_dir", default=None, type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="Images of the same style without labels (their names are ignored): self-training. A teacher fits on "
                   "the labelled images (OUT/teacher) and reads DIR through the runtime; the reads it trusts at "
                   "--pseudo-confidence or more (OUT/pseudo-labels.tsv) join the training images of a second fit, "
                   f"which starts from the teacher's weights, trains for {STUDENT_STEP_FRACTION:g} of the step budget "
                   "and validates on the labelled images only. About one and a half times a plain fit.")
@click.option("--pseudo-confidence", type=click.FloatRange(0, 1), default=PSEUDO_MIN_CONFIDENCE, show_default=True,
              help="With --unlabelled: the calibrated confidence a teacher's read needs to join the training images.")
@click.option("--refit/--no-refit", default=None,
              help="After the fit, fit once more on every labelled image, the validation images too (OUT/refit): the "
                   "same start, seed and recipe, about twice the time. export then writes the refit's weights, checked "
                   "and calibrated on the first fit's validation images. Default: "
                   + ("on" if REFIT else "off") + ", except with --select best, --folds or --unlabelled, which "
                   "measure on the validation images a refit would train on (--refit with them is refused).")
@click.option("--overwrite", is_flag=True, help="Discard an existing run in --out instead of resuming it.")
def fit(data_dir, labels_file, ignore_case, arch, out, epochs, batch_size, seed, val_fraction, charset, input_size,
        resize, color, learning_rate, patience, augment, strokes, width_mult, max_steps, init_from, folds, fold, select,
        unlabelled_dir, pseudo_confidence, refit, overwrite):
    """Fit a model on a labelled folder; prints the charset (count per character) and what was
    skipped, then one line per epoch; resumable after a kill (weights and optimizer state)."""
    from trainer import data as D

    if fold is not None and folds is None:
        raise click.UsageError(f"expected --fold 1..K with --folds K, got --fold {fold} without --folds")
    if folds and fold and fold > folds:
        raise click.UsageError(f"expected --fold 1..K with --folds K, got --folds {folds} --fold {fold}")
    if unlabelled_dir and folds:
        raise click.UsageError("expected at most one of --unlabelled and --folds, got both")
    asked, refit = refit, _refit(refit, folds, unlabelled_dir, select)
    size = _input_size(input_size)
    # The labels are checked before TensorFlow is imported: bad data fails at once.
    labels = D.find_labels(data_dir, labels_file)
    if charset is not None:
        charset = D.fold_charset(charset) if ignore_case else charset
        D.check_charset(charset)
    labelled = D.label_folder(data_dir, labels, ignore_case, charset)
    D.require_labels(labelled, data_dir)
    charset = charset or D.infer_charset(labelled.labels)
    D.check_charset(charset)
    if init_from not in (AUTO, NONE) and not os.path.isdir(init_from):
        raise click.BadParameter(f"expected auto, none or a run directory, got {init_from!r}", param_hint="--init-from")
    choice = choose(arch, init_from, len(labelled.labels), width_mult)
    _log(choice.reason)
    if not unlabelled_dir and not folds and len(labelled.labels) < SELF_TRAIN_HINT_BELOW:
        _log(f"{len(labelled.labels)} labelled images: if you have unlabelled images of the same style, "
             "--unlabelled DIR lets the model learn from them too (self-training)")
    auto_start = init_from == AUTO and is_base(choice.init_from) and not unlabelled_dir and not folds
    arch, init_from = choice.arch, choice.init_from
    spec = ARCHS[arch]
    shortest, longest = D.length_range(labelled.labels)
    if spec.kind == Kind.MULTIHEAD and shortest != longest:
        _log(f"{arch}: {longest} heads for labels of {shortest} to {longest} characters; the heads after a "
             "shorter text learn an end class")
    sizes = D.image_sizes(labelled.paths)
    rule = None
    if not size:
        size, rule = _chosen_size(sizes, labelled.labels, spec.time_stride, from_base=is_base(init_from))
    for line in D.size_report(sizes, size, rule):
        _log(line)
    if resize == AUTO:
        resize, why = choose_resize(D.text_zoom(labelled.paths, InputSpec(*size), CROP_SAMPLE))
        _log(why)
    two_starts = None
    if auto_start:
        from trainer.starts import plan

        read = plan(out, overwrite, labelled.paths, labelled.labels, seed, resize, log=_log)
        two_starts = read if read is not None and read.two_starts else None
    _quiet_tensorflow()
    from trainer.train import discard_refit, fit as run_fit, fit_folds, refit as run_refit

    config = RunConfig(
        arch=arch, data_dir=os.path.abspath(data_dir), kind=spec.kind.value, charset=charset,
        label_length=longest if spec.kind == Kind.MULTIHEAD else None,
        height=size[0], width=size[1], resize=resize, color=color, min_length=shortest, max_length=longest,
        seed=seed, epochs=epochs, batch_size=batch_size or spec.batch_size,
        val_fraction=val_fraction, learning_rate=learning_rate, patience=patience,
        augment=spec.augment if augment is None else augment, strokes=strokes, width_mult=width_mult, max_steps=max_steps,
        init_from=os.path.abspath(init_from) if init_from else None, folds=folds, fold=fold, select=select,
        labels=labels, ignore_case=ignore_case, unlabelled=os.path.abspath(unlabelled_dir) if unlabelled_dir else None,
        pseudo_confidence=pseudo_confidence if unlabelled_dir else None, refit=refit)
    if overwrite:
        discard_refit(out)
    if refit and asked is None:
        _log("then a refit on every labelled image, the validation images too: about twice the time (--no-refit: "
             "none)")
    if unlabelled_dir:
        from trainer.selftrain import fit_self_trained

        fit_self_trained(config, out, overwrite=overwrite, log=_log, command=_command())
    elif two_starts:
        from trainer.starts import fit_two_starts

        fit_two_starts(config, out, two_starts, log=_log, command=_command())
    else:
        fit_all = fit_folds if folds and fold is None else run_fit
        fit_all(config, out, overwrite=overwrite, log=_log, command=_command())
    if refit:
        run_refit(out, log=_log, command=_command())


def _refit(asked: bool | None, folds: int | None, unlabelled_dir: str | None, select: str) -> bool:
    """Whether the fit is followed by a refit: --refit/--no-refit, else the default wherever
    validation only measures."""
    measures = ("--folds" if folds else "--unlabelled" if unlabelled_dir
                else f"--select {select}" if select != SELECT_LAST else None)
    if asked and measures:
        raise click.UsageError(f"expected --refit with --select {SELECT_LAST} and without --folds or --unlabelled, "
                               f"got {measures}: the refit trains on the validation images that these measure on")
    return (REFIT if asked is None else asked) and not measures


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Evaluate this folder instead of the run's validation split (training images are left out).")
@click.option("--labels", "labels_file", default=None, type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="With --data: " + LABELS_HELP)
@click.option("--tflite", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Evaluate this exported model through edge_runtime instead of the Keras weights.")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Where eval.json and plots go (default: RUN_DIR).")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default=REPORT_FORMATS[0], show_default=True,
              help="text: a table on stdout; json: the eval.json report on stdout (progress on stderr).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--reliability-plot", default=None, type=click.Path(dir_okay=False), metavar="PATH",
              help="Where the reliability plot (accuracy per confidence bin against the diagonal) goes. Default: "
                   "eval-reliability.png (eval-tflite-reliability.png with --tflite) next to the report.")
def evaluate(run_dir, data_dir, labels_file, tflite, out, fmt, no_plots, reliability_plot):
    """Full-string, per-character and per-position accuracy, CER and confusions, and the expected
    calibration error of the confidence (equal-width confidence bins); JSON, table and plots."""
    _import_tensorflow_quietly()
    from trainer.evaluate import evaluate as run_eval
    from trainer.metrics import format_table

    log = (lambda m: click.echo(m, err=True)) if fmt == "json" else _log
    if labels_file and not data_dir:
        raise click.UsageError("expected --data DIR with --labels FILE, got --labels alone")
    if no_plots and reliability_plot:
        raise click.UsageError("expected at most one of --no-plots and --reliability-plot, got both")
    metrics = run_eval(run_dir, data_dir, tflite, out, plots=not no_plots, log=log, labels=labels_file,
                       reliability_plot=reliability_plot)
    if fmt == "json":
        click.echo(json.dumps(metrics, indent=2, ensure_ascii=False))
    else:
        click.echo(format_table(metrics))
        click.echo(f"report and plots in {out or run_dir}")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--quantize", type=click.Choice([*QUANTIZATIONS, "all"]), default=Quantization.INT8.value, show_default=True,
              help="Weight storage of the file; all: one file per mode, into the --out directory.")
@click.option("--out", required=True, type=click.Path(),
              help="Output .tflite file; with --quantize all, a directory that gets <arch>-<mode>.tflite files.")
@click.option("--max-accuracy-drop", type=click.FloatRange(0, 1), default=MAX_INT8_ACCURACY_DROP, show_default=True,
              help="Fail an int8 export whose validation accuracy is more than this below the Keras model's, unless "
                   "it loses only one image, or chance explains the loss: near-ties read differently at random lose "
                   f"that many images with a chance of {INT8_LOSS_CHANCE:g} or more (a sign test over the images "
                   "only one of the two reads right). Images both read wrongly, in different ways, cost nothing.")
@click.option("--overwrite", is_flag=True,
              help="Replace a shipped model (a .tflite file in converted/) at --out; without it, that is refused.")
def export(run_dir, quantize, out, max_accuracy_drop, overwrite):
    """Export TFLite with the model contract embedded; checks the file against Keras on the validation split."""
    from edge_runtime.errors import UsageError
    from trainer.export import refuse_shipped
    from trainer.runs import Run

    if quantize == "all":
        arch = Run(run_dir).config.arch
        targets = {mode: os.path.join(out, f"{arch}-{mode}.tflite") for mode in QUANTIZATIONS}
    else:
        targets = {quantize: out}
    try:
        refuse_shipped(targets.values(), overwrite)  # before TensorFlow's slow import
    except UsageError as exc:
        _fail_usage(str(exc))
    _import_tensorflow_quietly()
    from trainer.export import export_modes

    export_modes(run_dir, targets, max_accuracy_drop=max_accuracy_drop, log=_log, overwrite=overwrite)


def _fail_usage(message: str) -> None:
    """A usage error as one line and exit 2 (click's UsageError would add the usage text)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _import_tensorflow_quietly() -> None:
    """_quiet_tensorflow() with fd 2 muted: importing TensorFlow prints absl and oneDNN banners
    there before absl's log is set up, whatever TF_CPP_MIN_LOG_LEVEL says, and they would bury
    the lines export and evaluate report. An import that fails still says so, after the block."""
    from edge_runtime import quiet

    with quiet.muted():
        _quiet_tensorflow()


STYLE_NAMES = style_names()


def _synth_check(check):
    """A click callback running one of trainer.synth's checks: a bad value exits 2 with its message;
    the check's result (if any) is the option's value."""

    def callback(ctx, param, value):
        try:
            result = check(value)
        except TrainerError as exc:
            raise click.BadParameter(str(exc)) from None
        return value if result is None else result

    return callback


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder the PNGs go into (created).")
@click.option("--count", type=click.IntRange(1), default=1000, show_default=True, help="How many images to render.")
@click.option("--charset", default=DEFAULT_CHARSET, show_default=True, callback=_synth_check(check_charset),
              help=f"Characters to draw from; each must be able to stand in a file name "
                   f"(no {' '.join(sorted(FORBIDDEN))} or spaces).")
@click.option("--length", "lengths", default=str(DEFAULT_LENGTH), show_default=True, callback=_synth_check(parse_lengths),
              help="Label length, or a range such as 4-6.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the labels and pictures: the same seed renders the same images.")
@click.option("--size", default="x".join(map(str, DEFAULT_SIZE)), show_default=True, metavar="HxW",
              help="Image size for --style captcha (the other styles draw their own sizes).")
@click.option("--style", type=click.Choice(STYLE_NAMES), default=CAPTCHA_STYLE, show_default=True,
              help="captcha: the 'captcha' package's images; mixed: the pre-training corpus (our renderer's random "
                   "fonts, backgrounds, clutter and warps, at random sizes, and some of the package's); or a "
                   "development style (trainer/render.py STYLES).")
def synth(out, count, charset, lengths, seed, size, style):
    """Render labelled synthetic CAPTCHAs.

    Files are named LABEL_SEED-INDEX.png (the label is the text before the first '_'). Image INDEX
    of a seed is always the same picture, so running again into the same folder with the same
    --seed rewrites those files instead of adding more; use another --seed to add images. Labels
    repeat only when there are fewer possible labels than --count; repeats get their own files.
    """
    from trainer.synth import render

    h, w = _input_size(size)
    n = render(out, count, charset, lengths, seed, (h, w), log=_log, style=style)
    click.echo(f"{n} images in {out}")


if __name__ == "__main__":
    main()
