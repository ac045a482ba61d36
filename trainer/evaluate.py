"""Evaluation of a run on its validation split (or another folder, minus the training images),
with a JSON report, a human table and PNG plots."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import data as D
from .metrics import DELETED, text_metrics
from .train import RunConfig, RunFiles, decode_batch, load_config, to_inputs


def load_keras(run_dir: str | os.PathLike, inference: bool = False):
    """The run's best model, rebuilt from its config; ``inference=True`` gives the export graph
    (recurrences unrolled, no dropout, batch 1) holding the same weights."""
    from .models import build, primary, transfer_weights

    config = load_config(run_dir)
    files = RunFiles(run_dir)
    if not files.best.exists():
        raise FileNotFoundError(f"expected trained weights at {files.best}, found none: run 'captcha-train fit' first")
    args = (config.arch, config.height, config.width, config.num_classes, config.label_length, config.width_mult)
    model = build(*args)
    try:
        model.load_weights(files.best)
    except ValueError:
        raise ValueError(
            f"expected the weights in {files.best} to fit the current '{config.arch}' architecture, they do not: "
            f"the run was made by trainer {config.trainer_version} with an older design of '{config.arch}'; retrain it"
        ) from None
    model = primary(model)
    if inference:
        export_model = build(*args, inference=True)
        transfer_weights(model, export_model)
        return config, export_model
    return config, model


def eval_images(run_dir: str | os.PathLike, data_dir: str | None = None, log=print) -> tuple[RunConfig, D.Dataset]:
    """The images to evaluate: the run's validation split, or a folder without the run's training images."""
    config = load_config(run_dir)
    split = D.read_json(RunFiles(run_dir).split)
    if data_dir is None:
        return config, D.load_folder(split["data_dir"], config.input_spec, config.charset, config.label_length, names=split["val"])
    dataset = D.load_folder(data_dir, config.input_spec, config.charset, config.label_length)
    for s in dataset.skipped:
        log(f"skipped {s.name}: {s.reason}")
    # A file named like a training image is that image (the name is its label): never score it.
    trained = set(split["train"])
    keep = [n for n in dataset.names if n not in trained]
    if len(keep) < len(dataset.names):
        log(f"left out {len(dataset.names) - len(keep)} images that this run trained on")
    return config, dataset.subset(keep)


def keras_texts(model, config: RunConfig, pixels: np.ndarray) -> list[str]:
    probs = model.predict(to_inputs(pixels, config.input_spec), batch_size=64, verbose=0)
    return decode_batch(probs, config)


def tflite_texts(model_file: str | os.PathLike, pixels: np.ndarray, threads: int = 1) -> list[str]:
    """Texts from an exported model through the edge runtime itself (same code as a device)."""
    from edge_runtime.recognizer import Recognizer

    rec = Recognizer.from_file(model_file, threads=threads)
    return [rec.recognize(p).text for p in pixels]


def evaluate(run_dir: str | os.PathLike, data_dir: str | None = None, tflite: str | None = None,
             out: str | None = None, plots: bool = True, log=print) -> dict:
    config, dataset = eval_images(run_dir, data_dir, log)
    if not dataset.names:
        raise ValueError("expected images to evaluate, found none")
    if tflite:
        texts = tflite_texts(tflite, dataset.pixels)
    else:
        _, model = load_keras(run_dir)
        texts = keras_texts(model, config, dataset.pixels)
    metrics = text_metrics(dataset.labels, texts)
    metrics["model"] = str(tflite) if tflite else f"{run_dir} (keras, best weights)"
    metrics["images"] = f"validation split of {run_dir}" if data_dir is None else str(data_dir)
    metrics["arch"] = config.arch
    out_dir = Path(out) if out else Path(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "eval-tflite" if tflite else "eval"
    D.write_json(out_dir / f"{stem}.json", metrics)
    if plots:
        plot_curves(RunFiles(run_dir), out_dir / "curves.png")
        plot_confusion(metrics, config.charset, out_dir / f"{stem}-confusion.png")
    return metrics


def plot_curves(files: RunFiles, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not files.state.exists():
        return
    history = D.read_json(files.state)["history"]
    if not history:
        return
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(epochs, [h["loss"] for h in history], label="train loss")
    a.plot(epochs, [h["val_loss"] for h in history], label="validation loss")
    a.set_xlabel("epoch"); a.set_yscale("log"); a.legend(); a.set_title("loss")
    b.plot(epochs, [h["val_accuracy"] for h in history], color="tab:green")
    b.set_xlabel("epoch"); b.set_ylim(0, 1.01); b.set_title("validation full-string accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(metrics: dict, charset: str, path: Path) -> None:
    """Truth x predicted counts of the character substitutions and deletions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = list(charset) + [DELETED]
    grid = np.zeros((len(charset), len(cols)), int)
    for key, count in metrics["confusion_counts"].items():
        t, p = key.split(">")
        if t in charset and p in cols:
            grid[charset.index(t), cols.index(p)] += count
    fig, ax = plt.subplots(figsize=(0.35 * len(cols) + 2, 0.35 * len(charset) + 1.5))
    ax.imshow(grid, cmap="Reds")
    ax.set_xticks(range(len(cols)), cols); ax.set_yticks(range(len(charset)), list(charset))
    ax.set_xlabel("predicted"); ax.set_ylabel("truth")
    ax.set_title(f"character confusions ({metrics['count'] - metrics['correct']} wrong strings of {metrics['count']})")
    for (i, j), v in np.ndenumerate(grid):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
