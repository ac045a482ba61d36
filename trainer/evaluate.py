"""Evaluation of a run (:class:`trainer.runs.Run`) on its validation split, or on another folder
minus the run's training images, through the Keras model or an exported file read by
edge_runtime: a JSON report, a human table and PNG plots. Images that cannot be read are said,
never dropped in silence."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from . import data as D
from .errors import DataError
from .metrics import DELETED, text_metrics
from .predict import predict_texts
from .runs import Run


def eval_images(run: Run, data_dir: str | None = None, log=print, labels: str | None = None) -> D.Dataset:
    """The images to evaluate: the run's validation split, or a folder without the run's training
    images, labelled by ``labels`` (a labels file), else as trainer.data finds them in the folder."""
    if data_dir is None:
        return run.images("val", log=log)
    config = run.config
    dataset = D.load_folder(data_dir, config.input_spec, config.charset, config.label_length,
                            labels=D.find_labels(data_dir, labels), ignore_case=config.ignore_case)
    for line in D.skipped_summary(dataset.skipped):
        log(line)
    # A file at the path of a training image (relative to its folder) is that image: never score it.
    trained = set(run.split["train"])
    keep = [n for n in dataset.names if n not in trained]
    if len(keep) < len(dataset.names):
        log(f"left out {len(dataset.names) - len(keep)} images that this run trained on")
    # The folder's unreadable images stay listed, as the split's would be.
    return dataclasses.replace(dataset.subset(keep), skipped=dataset.skipped)


def tflite_texts(model_file: str | os.PathLike, pixels: np.ndarray, threads: int = 1) -> list[str]:
    """Texts from an exported model through the edge runtime itself (same code as a device)."""
    from edge_runtime.recognizer import Recognizer

    from .predict import as_decoded

    rec = Recognizer.from_file(model_file, threads=threads)
    return [rec.recognize(as_decoded(p, rec.contract.input)).text for p in pixels]


def evaluate(run_dir: str | os.PathLike, data_dir: str | None = None, tflite: str | None = None,
             out: str | None = None, plots: bool = True, log=print, labels: str | None = None) -> dict:
    run = Run(run_dir)
    config = run.config
    dataset = eval_images(run, data_dir, log, labels)
    if not dataset.names:
        raise DataError(f"expected images to evaluate in {data_dir or run.split['data_dir']}, found none")
    if tflite:
        texts = tflite_texts(tflite, dataset.pixels)
    else:
        texts = predict_texts(run.load_keras(), config.contract(), dataset.pixels)
    metrics = text_metrics(dataset.labels, texts)
    metrics["model"] = str(tflite) if tflite else f"{run_dir} (keras, {run.kept_weights.name})"
    metrics["images"] = f"validation split of {run_dir}" if data_dir is None else str(data_dir)
    metrics["arch"] = config.arch
    # The images the split (or the folder) named that could not be read, so a score is never silently partial.
    metrics["unread"] = [{"name": s.name, "reason": s.reason} for s in dataset.skipped]
    out_dir = Path(out) if out else run.root
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "eval-tflite" if tflite else "eval"
    D.write_json(out_dir / f"{stem}.json", metrics)
    if plots:
        plot_curves(run, out_dir / "curves.png")
        plot_confusion(metrics, config.charset, out_dir / f"{stem}-confusion.png")
    return metrics


def plot_curves(run: Run, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = run.state.get("history")
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
