"""The ``captcha-train`` command: fit, evaluate, export, synth. TensorFlow is imported only by
the commands that need it, so ``--help`` works without the train extra."""

from __future__ import annotations

import os
import shlex
import sys

import click

from edge_runtime._version import __version__

ARCH_NAMES = ("cnn", "cnn-attn", "crnn", "cnn-faithful", "crnn-faithful", "convctc", "convctc-fast")


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise click.ClickException("TensorFlow is not installed: pip install 'captcha-edge[train]'") from None


def _log(message: str) -> None:
    click.echo(message)
    sys.stdout.flush()


def _input_size(value: str | None):
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
        assert h > 0 and w > 0
        return h, w
    except (ValueError, AssertionError):
        raise click.BadParameter(f"expected HEIGHTxWIDTH such as 50x200, got {value!r}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="captcha-train")
def main() -> None:
    """Train, evaluate and export captcha-edge models (needs: pip install 'captcha-edge[train]').

    \b
    Typical run:
      captcha-train fit --data ../shared/data/wilhelmy --arch crnn --out runs/crnn
      captcha-train evaluate runs/crnn
      captcha-train export runs/crnn --quantize int8 --out converted/crnn-int8.tflite
    """


@main.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False),
              envvar="CAPTCHA_DATA", show_envvar=True, help="Folder of images named <label>.png/.jpg/...")
@click.option("--arch", type=click.Choice(ARCH_NAMES), default="crnn", show_default=True,
              help="cnn/crnn: our tuned designs; cnn-faithful/crnn-faithful: the published ones, for comparison; "
                   "cnn-attn: multi-head CNN with attention heads; convctc: convolution-only CTC; "
                   "convctc-fast: convctc at a third of the compute.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory (created; an existing run is resumed).")
@click.option("--epochs", type=click.IntRange(1), default=150, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Default: the arch's.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the split, initialisation and augmentation.")
@click.option("--val-fraction", type=click.FloatRange(0.01, 0.9), default=0.15, show_default=True)
@click.option("--charset", default=None, help="Allowed characters (default: those found in the labels).")
@click.option("--input-size", default=None, metavar="HxW", help="Model input size (default: the arch's, 50x200).")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=25, show_default=True, help="Early stopping patience (epochs).")
@click.option("--augment/--no-augment", default=None, help="Default: on for tuned archs, off for faithful ones.")
@click.option("--strokes", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="With augmentation: the chance of an extra dark curve across the text, like the real ones.")
@click.option("--width-mult", type=click.FloatRange(0.05, 4.0), default=1.0, show_default=True, help="Scale every layer's width.")
@click.option("--max-steps", type=click.IntRange(1), default=None, help="Cap batches per epoch (quick trials).")
@click.option("--init-from", default=None, type=click.Path(exists=True, file_okay=False), metavar="RUN_DIR",
              help="Start from another run's weights for every layer of the same name and shape (e.g. a cnn "
                   "from a convctc run: same trunk). That run must not have trained on this run's validation images.")
@click.option("--folds", type=click.IntRange(2), default=None,
              help="Cross-validation: deal the seeded order into K folds. Alone, fits every fold in turn into "
                   "OUT/fold-1..K and writes OUT/cv.json; with --fold, fits that fold only, into OUT.")
@click.option("--fold", type=click.IntRange(1), default=None, help="Which fold validates (1..--folds).")
@click.option("--select", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Keep the epoch best on validation, or the last one (no early stopping, learning rate steered by "
                   "training loss): then the validation score is an unbiased estimate.")
@click.option("--overwrite", is_flag=True, help="Discard an existing run in --out instead of resuming it.")
def fit(data_dir, arch, out, epochs, batch_size, seed, val_fraction, charset, input_size, learning_rate,
        patience, augment, strokes, width_mult, max_steps, init_from, folds, fold, select, overwrite):
    """Fit a model on a labelled folder; prints one line per epoch; resumable after a kill."""
    from trainer.data import common_length, infer_charset, list_images, scan_labels

    if (fold is not None and folds is None) or (folds and fold and fold > folds):
        raise click.UsageError(f"expected --fold 1..K with --folds K, got --folds {folds} --fold {fold}")
    _quiet_tensorflow()
    from trainer.models import ARCHS
    from trainer.train import RunConfig

    spec = ARCHS[arch]
    files, labels, _ = scan_labels(list_images(data_dir), charset)
    if not labels:
        raise click.ClickException(f"expected labelled images in {data_dir}, found none")
    charset = charset or infer_charset(labels)
    size = _input_size(input_size) or (spec.height, spec.width)
    config = RunConfig(
        arch=arch, data_dir=os.path.abspath(data_dir), kind=spec.kind, charset=charset,
        label_length=common_length(labels) if spec.kind == "multihead" else None,
        height=size[0], width=size[1], seed=seed, epochs=epochs, batch_size=batch_size or spec.batch_size,
        val_fraction=val_fraction, learning_rate=learning_rate, patience=patience,
        augment=spec.augment if augment is None else augment, strokes=strokes, width_mult=width_mult, max_steps=max_steps,
        init_from=os.path.abspath(init_from) if init_from else None, folds=folds, fold=fold, select=select)
    if folds and fold is None:
        _fit_every_fold(config, out, overwrite)
        return
    _fit_one(config, out, overwrite)


def _fit_one(config, out: str, overwrite: bool) -> dict:
    from trainer.train import fit as run_fit

    try:
        state = run_fit(config, out, overwrite=overwrite, log=_log)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    with open(os.path.join(out, "command.txt"), "w") as f:
        f.write(shlex.join(["captcha-train", *sys.argv[1:]]) + "\n")
    return state


def _fit_every_fold(config, out: str, overwrite: bool) -> None:
    """Fit fold 1..K into OUT/fold-k (each resumable on its own), then summarise in OUT/cv.json."""
    import dataclasses

    from trainer.data import read_json, write_json

    folds = []
    for k in range(1, config.folds + 1):
        _log(f"== fold {k}/{config.folds}")
        run = os.path.join(out, f"fold-{k}")
        state = _fit_one(dataclasses.replace(config, fold=k), run, overwrite)
        val = len(read_json(os.path.join(run, "split.json"))["val"])
        folds.append({"fold": k, "run": run, "val_images": val, "val_accuracy": state["best_val_accuracy"],
                      "epoch": state["best_epoch"]})
    mean = sum(f["val_accuracy"] for f in folds) / len(folds)
    write_json(os.path.join(out, "cv.json"), {"select": config.select, "folds": folds, "mean_val_accuracy": mean})
    _log(" ".join(f"fold {f['fold']}: {f['val_accuracy']:.4f}" for f in folds) + f"; mean {mean:.4f} "
         f"(Keras, {'last epoch' if config.select == 'last' else 'best epoch: an optimistic estimate'}); {out}/cv.json")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Evaluate this folder instead of the run's validation split (training images are left out).")
@click.option("--tflite", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Evaluate this exported model through edge_runtime instead of the Keras weights.")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Where eval.json and plots go (default: RUN_DIR).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
def evaluate(run_dir, data_dir, tflite, out, fmt, no_plots):
    """Full-string, per-character and per-position accuracy, CER and confusions; JSON, table and plots."""
    import json

    _quiet_tensorflow()
    from trainer.evaluate import evaluate as run_eval
    from trainer.metrics import format_table

    log = (lambda m: click.echo(m, err=True)) if fmt == "json" else _log
    try:
        metrics = run_eval(run_dir, data_dir, tflite, out, plots=not no_plots, log=log)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(metrics, indent=2, ensure_ascii=False))
    else:
        click.echo(format_table(metrics))
        click.echo(f"report and plots in {out or run_dir}")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--quantize", type=click.Choice(["float32", "float16", "dynamic", "int8", "all"]), default="int8", show_default=True)
@click.option("--out", required=True, type=click.Path(),
              help="Output .tflite file; with --quantize all, a directory that gets <arch>-<mode>.tflite files.")
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=0.98, show_default=True,
              help="Fail an int8 export that reads a different text from Keras on more than this share of validation images.")
def export(run_dir, quantize, out, min_agreement):
    """Export TFLite with the model contract embedded; checks the file against Keras on the validation split."""
    _quiet_tensorflow()
    from trainer.export import MODES, ExportError, export as run_export
    from trainer.train import load_config

    modes = MODES if quantize == "all" else (quantize,)
    arch = load_config(run_dir).arch
    for mode in modes:
        target = os.path.join(out, f"{arch}-{mode}.tflite") if quantize == "all" else out
        try:
            run_export(run_dir, mode, target, min_agreement=min_agreement, log=_log)
        except (ExportError, ValueError, FileNotFoundError) as exc:
            raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--count", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--charset", default="abcdefghijklmnopqrstuvwxyz0123456789", show_default=True)
@click.option("--length", default="5", show_default=True, help="Label length, or a range such as 4-6.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", default="50x200", show_default=True, metavar="HxW")
def synth(out, count, charset, length, seed, size):
    """Render labelled synthetic CAPTCHAs with the 'captcha' package (file stem = label)."""
    from trainer.synth import render

    h, w = _input_size(size)
    try:
        lo, _, hi = length.partition("-")
        lengths = (int(lo), int(hi or lo))
    except ValueError:
        raise click.BadParameter(f"expected a length such as 5 or 4-6, got {length!r}") from None
    n = render(out, count, charset, lengths, seed, (h, w), log=_log)
    click.echo(f"{n} images in {out}")


if __name__ == "__main__":
    main()
