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
from edge_runtime import trust
from edge_runtime.contract import Contract
from edge_runtime.decode import decoder_for

from .metrics import DELETED, text_metrics
from .predict import predict_probs, to_inputs
from .runs import Run


def eval_images(run: Run, data_dir: str | None = None, log=print, labels: str | None = None) -> D.Dataset:
    """The images to evaluate: the run's validation split, or a folder without the run's training
    images, labelled by ``labels`` (a labels file), else as trainer.data finds them in the folder."""
    if data_dir is None:
        return run.images("val", log=log)
    config = run.config
    dataset = D.load_folder(data_dir, config.input_spec, config.charset, config.lengths,
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


def tflite_reads(model_file: str | os.PathLike, pixels: np.ndarray, threads: int = 1) -> tuple[list[str], list[float]]:
    """Texts and confidences from an exported model through the edge runtime itself (same code as
    a device, so its contract's temperature included)."""
    from edge_runtime.recognizer import Recognizer

    rec = Recognizer.from_file(model_file, threads=threads)
    preds = [rec.recognize(p, prepared=True) for p in pixels]
    return [p.text for p in preds], [p.confidence for p in preds]


def keras_reads(model, contract: Contract, pixels: np.ndarray) -> tuple[list[str], list[float]]:
    """Texts and confidences of the Keras model, decoded as a device decodes an uncalibrated file
    (a read that can never be right, empty or of a length never trained on, has confidence 0)."""
    decode = decoder_for(contract)
    reads = [decode(p) for p in predict_probs(model, to_inputs(pixels, contract.input))]
    return [r.text for r in reads], [trust.reported_confidence(contract, r.text, r.confidence) for r in reads]


def calibration_metrics(confidences: list[float], texts: list[str], labels: list[str]) -> dict:
    """The expected calibration error of the full-string confidence, and its reliability bins
    (None for an empty bin's accuracy and confidence). The bins are trust.reliability's default,
    as in the ECE that export writes into the file's contract, so the two figures compare."""
    rel = trust.reliability(confidences, [t == label for t, label in zip(texts, labels)])

    def listed(values: np.ndarray) -> list:
        return [None if v != v else round(float(v), 6) for v in values]

    return {"ece": rel.ece, "reliability": {"bins": rel.bins, "count": rel.count.tolist(),
                                           "accuracy": listed(rel.accuracy), "confidence": listed(rel.confidence)}}


def evaluate(run_dir: str | os.PathLike, data_dir: str | None = None, tflite: str | None = None,
             out: str | None = None, plots: bool = True, log=print, labels: str | None = None,
             reliability_plot: str | os.PathLike | None = None) -> dict:
    """The metrics (also written as OUT/eval.json, eval-tflite.json with ``tflite``) and, with
    ``plots``, the PNGs: curves, confusions, and the reliability plot at ``reliability_plot``
    (default: OUT/eval-reliability.png, eval-tflite-reliability.png)."""
    run = Run(run_dir)
    config = run.config
    if config.refit and data_dir is None:
        log(f"{run_dir} has a refit (fit's default; --no-refit: none): the refit that export writes "
            f"({run.refit.root}) trained on these "
            f"validation images, so to measure it, evaluate its file on other labelled images (--data DIR)")
    dataset = eval_images(run, data_dir, log, labels)
    if not dataset.names:
        raise DataError(f"expected images to evaluate in {data_dir or run.split['data_dir']}, found none")
    if tflite:
        texts, confidences = tflite_reads(tflite, dataset.pixels)
    else:
        texts, confidences = keras_reads(run.load_keras(), config.contract(), dataset.pixels)
    metrics = text_metrics(dataset.labels, texts)
    metrics.update(calibration_metrics(confidences, texts, dataset.labels))
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
        plot_reliability(metrics, Path(reliability_plot) if reliability_plot else out_dir / f"{stem}-reliability.png")
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


def plot_reliability(metrics: dict, path: Path) -> None:
    """The reliability diagram, drawn with OpenCV (a runtime dependency; no plotting library): per
    confidence bin, a bar of the share read correctly, the bin's mean confidence as a red tick, the
    diagonal of perfect calibration, and the count of reads above each bar; the ECE in the title."""
    import cv2

    rel = metrics["reliability"]
    size, left, top, bottom = 400, 60, 50, 50
    canvas = np.full((top + size + bottom, left + size + 20, 3), 255, np.uint8)

    def at(x: float, y: float) -> tuple[int, int]:  # (confidence, accuracy) in [0, 1]^2 -> pixel
        return left + round(x * size), top + round((1 - y) * size)

    font, gray, black = cv2.FONT_HERSHEY_SIMPLEX, (160, 160, 160), (0, 0, 0)
    width = 1 / rel["bins"]
    for i, (count, acc, conf) in enumerate(zip(rel["count"], rel["accuracy"], rel["confidence"])):
        if not count:
            continue
        cv2.rectangle(canvas, at(i * width, acc), at((i + 1) * width, 0), (200, 120, 40), -1)  # BGR: blue
        cv2.rectangle(canvas, at(i * width, acc), at((i + 1) * width, 0), black, 1)
        cv2.line(canvas, at(i * width, conf), at((i + 1) * width, conf), (30, 30, 220), 2)  # red: mean confidence
        x, y = at((i + 0.5) * width, max(acc, conf))
        label = str(count)
        (w, _), _ = cv2.getTextSize(label, font, 0.4, 1)
        cv2.putText(canvas, label, (x - w // 2, y - 5), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.line(canvas, at(0, 0), at(1, 1), gray, 1, cv2.LINE_AA)  # perfect calibration
    cv2.rectangle(canvas, at(0, 1), at(1, 0), black, 1)
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        x, y = at(tick, 0)
        cv2.putText(canvas, f"{tick:.1f}", (x - 10, y + 18), font, 0.4, black, 1, cv2.LINE_AA)
        x, y = at(0, tick)
        cv2.putText(canvas, f"{tick:.1f}", (x - 32, y + 4), font, 0.4, black, 1, cv2.LINE_AA)
    # the legend, top left: where a diagram of an over-confident model has no bars
    cv2.rectangle(canvas, (left + 10, top + 10), (left + 24, top + 20), (200, 120, 40), -1)
    cv2.putText(canvas, "share read correctly", (left + 30, top + 20), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.line(canvas, (left + 10, top + 34), (left + 24, top + 34), (30, 30, 220), 2)
    cv2.putText(canvas, "mean confidence", (left + 30, top + 38), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, "n above a bar: reads in the bin", (left + 10, top + 56), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, "confidence", (left + size // 2 - 40, top + size + 40), font, 0.5, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, "accuracy", (4, top - 10), font, 0.45, black, 1, cv2.LINE_AA)
    ece = metrics["ece"]
    title = f"reliability: ECE {ece:.3f} ({sum(rel['count'])} reads, {rel['bins']} bins)"
    cv2.putText(canvas, title, (left, 24), font, 0.55, black, 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", canvas)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png.tobytes())
