"""Labelled image folders (file stem = label), charsets, the seeded train/validation split and
folds, and atomic JSON files.

No TensorFlow here: images are read and preprocessed by edge_runtime, exactly as on a device.
Nothing is dropped silently: every image left out is a :class:`Skipped` with its reason.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime import images
from edge_runtime.contract import InputSpec
from edge_runtime.errors import CaptchaEdgeError
from edge_runtime.preprocess import prepare

from .errors import DataError

NOT_IN_FOLDER = "not in the folder"


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass
class Dataset:
    """Preprocessed images (N, H, W) uint8 with their labels, in file-name order."""

    names: list[str]
    labels: list[str]
    pixels: np.ndarray
    skipped: list[Skipped] = field(default_factory=list)

    def subset(self, names: list[str]) -> "Dataset":
        """The images of ``names``, in that order. A name this dataset lacks is in the result's
        ``skipped``, with the reason it was skipped when the folder was read."""
        index = {n: i for i, n in enumerate(self.names)}
        rows = [index[n] for n in names if n in index]
        why = {s.name: s.reason for s in self.skipped}
        missing = [Skipped(n, why.get(n, NOT_IN_FOLDER)) for n in names if n not in index]
        return Dataset([self.names[i] for i in rows], [self.labels[i] for i in rows], self.pixels[rows], missing)


def missing_message(skipped: list[Skipped], what: str, shown: int = 10) -> str:
    """One line naming the images that could not be read, e.g. for a split's validation images."""
    names = ", ".join(s.name for s in skipped[:shown]) + (", ..." if len(skipped) > shown else "")
    return f"{len(skipped)} {what} could not be read: {names}"


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"expected a folder of labelled images, got {'a file' if folder.exists() else 'nothing'} at {folder}")
    return sorted(p for p in folder.iterdir() if images.is_image_name(p) and not p.name.startswith("."))


def infer_charset(labels: list[str]) -> str:
    return "".join(sorted(set("".join(labels))))


def scan_labels(
    files: list[Path], charset: str | None = None, label_length: int | None = None
) -> tuple[list[Path], list[str], list[Skipped]]:
    """Keep files whose label is new, non-empty, within the charset and of the required length."""
    kept, labels, skipped, seen = [], [], [], {}
    for path in files:
        label = path.stem
        reason = None
        if not label:
            reason = "empty label (file stem)"
        elif label in seen:
            reason = f"duplicate label {label!r}: already taken from {seen[label]}"
        elif charset is not None and set(label) - set(charset):
            reason = f"label {label!r} has characters {''.join(sorted(set(label) - set(charset)))!r} outside the charset {charset!r}"
        elif label_length is not None and len(label) != label_length:
            reason = f"label {label!r} has {len(label)} characters, this model needs exactly {label_length}"
        if reason:
            skipped.append(Skipped(path.name, reason))
            continue
        seen[label] = path.name
        kept.append(path)
        labels.append(label)
    return kept, labels, skipped


def common_length(labels: list[str]) -> int:
    if not labels:
        raise DataError("expected at least one labelled image, got none")
    return Counter(len(l) for l in labels).most_common(1)[0][0]


def load_folder(
    folder: str | os.PathLike,
    spec: InputSpec,
    charset: str | None = None,
    label_length: int | None = None,
    names: list[str] | None = None,
) -> Dataset:
    """Read and preprocess every usable image of a folder (or only ``names``), reporting what was
    skipped: with ``names``, a name the folder lacks is skipped too."""
    files = list_images(folder)
    absent = []
    if names is not None:
        wanted = set(names)
        files = [p for p in files if p.name in wanted]
        present = {p.name for p in files}
        absent = [Skipped(n, NOT_IN_FOLDER) for n in names if n not in present]
    kept, labels, skipped = scan_labels(files, charset, label_length)
    skipped = absent + skipped
    rows, good_names, good_labels = [], [], []
    for path, label in zip(kept, labels):
        try:
            rows.append(prepare(images.load(path), spec))
        except CaptchaEdgeError as exc:
            skipped.append(Skipped(path.name, f"unreadable image: {exc}"))
            continue
        good_names.append(path.name)
        good_labels.append(label)
    pixels = np.stack(rows) if rows else np.zeros((0, spec.height, spec.width), np.uint8)
    return Dataset(good_names, good_labels, pixels, skipped)


def split_names(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Deterministic split: the same names, fraction and seed always give the same halves."""
    ordered = sorted(names)
    n_val = int(round(len(ordered) * val_fraction))
    if len(ordered) >= 2:
        n_val = min(max(n_val, 1), len(ordered) - 1)
    order = np.random.default_rng(seed).permutation(len(ordered))
    val = sorted(ordered[i] for i in order[:n_val])
    train = sorted(ordered[i] for i in order[n_val:])
    return train, val


def fold_names(names: list[str], folds: int, fold: int, seed: int) -> tuple[list[str], list[str]]:
    """k-fold split: the seeded order dealt into ``folds`` parts; part ``fold`` (1-based) validates.
    Over fold = 1..folds every name is validated exactly once."""
    if not 2 <= folds <= len(names):
        raise DataError(f"expected 2 to {len(names)} folds for {len(names)} images, got {folds}")
    if not 1 <= fold <= folds:
        raise DataError(f"expected a fold from 1 to {folds}, got {fold}")
    ordered = sorted(names)
    order = np.random.default_rng(seed).permutation(len(ordered))
    val_rows = set(order[fold - 1 :: folds].tolist())
    val = sorted(ordered[i] for i in val_rows)
    train = sorted(ordered[i] for i in range(len(ordered)) if i not in val_rows)
    return train, val


def write_json(path: str | os.PathLike, data) -> None:
    """Write JSON atomically: a killed process leaves the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
