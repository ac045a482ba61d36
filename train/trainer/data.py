"""Labelled image folders, charsets, the seeded train/validation split and folds, and atomic JSON
files.

Where labels come from, first match wins:

1. ``--labels FILE`` (``labels=`` here): a labels file, wherever it is.
2. Else a labels file in the folder itself: ``labels.csv``, ``labels.tsv`` or ``labels.txt``
   (two of them at once is an error: say which with ``--labels``).
3. Else the file names of the folder's images: the stem, or the text before the stem's first
   ``_`` (``LABEL_anything.png``, the convention of kerlomz's captcha_trainer and dddd_trainer).

A labels file has one image per line: its path, relative to the labels file's folder (an
absolute path is fine; a path that is not found there is looked for in the ``images/``
subfolder, dddd_trainer's layout; ``\\`` counts as ``/``), then its label.

- ``.csv``: comma-separated, with csv quoting (``"my, file.png","ab,c"``); exactly two fields.
- ``.tsv``: the path, one tab, the label.
- ``.txt`` (and any other name): split at the first tab if the line has one; otherwise at the
  first comma or whitespace, whichever comes first.

Blank lines and lines starting with ``#`` are ignored. A first line whose first field is one of
:data:`HEADER_WORDS` (``path``, ``file``, ``filename``, ``image``, ...) is a header. Labels are
stripped of surrounding whitespace. A line without both fields, with a path that is not an image
name, or naming an image already listed, is malformed; a listed image that is not there is
missing: either fails the whole file, with line numbers, before any image is read (reading only
some names, a run's split, a missing image is skipped instead). The images
must lie inside the data folder; the folder's own images that the file does not list are
skipped (reason: not in the labels file).

An image's *name*, the key of the split (``split.json``) and of every report, is its path
relative to the data folder (``sub/a.png``), so it is unique; in a plain folder it is the file
name, exactly as before labels files existed. Different images with the same label are all kept.
Case is kept as the labels have it (``A`` and ``a`` are two characters); ``ignore_case`` folds
labels and charset to lowercase.

No TensorFlow here: images are read and preprocessed by edge_runtime, exactly as on a device.
Nothing is dropped silently: every image left out is a :class:`Skipped` with its reason, and
:func:`skipped_summary` counts them by kind.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime import images
from edge_runtime.contract import InputSpec
from edge_runtime.errors import CaptchaEdgeError
from edge_runtime.preprocess import crop_box, prepare, to_gray

from .config import AUTO_HEIGHT
from .errors import DataError

#: Labels files found in a data folder without --labels, in this order of the docs (two at once is an error).
LABEL_FILES = ("labels.csv", "labels.tsv", "labels.txt")
#: ``labels=AUTO``: the folder's own labels file if it has one, else the file names.
AUTO = "auto"
#: A labels file's first line is a header when its first field (any case) is one of these.
HEADER_WORDS = frozenset({"path", "file", "filename", "file_name", "image", "image_path", "img", "name"})
#: A character seen fewer times than this in the labels is reported as rare before training.
RARE = 10
#: Examples named per kind in a summary; problem lines named in a labels-file error.
SHOWN = 3
SHOWN_LINES = 5

# Kinds of skipped image: a summary counts them by kind.
NOT_IN_FOLDER = "not in the folder"
NOT_LISTED = "not in the labels file"
EMPTY = "empty label"
WHITESPACE = "whitespace in a file-name label"
OUTSIDE = "characters outside the charset"
LENGTH = "other label length"
UNREADABLE = "unreadable image"


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str
    kind: str = ""  # what summaries count by; empty: the reason itself

    @property
    def group(self) -> str:
        return self.kind or self.reason


@dataclass
class Dataset:
    """Preprocessed images (N, H, W) gray or (N, H, W, 3) RGB uint8 with their labels, in name order."""

    names: list[str]
    labels: list[str]
    pixels: np.ndarray
    skipped: list[Skipped] = field(default_factory=list)

    def subset(self, names: list[str]) -> "Dataset":
        """The images of ``names``, in that order. A name this dataset lacks is in the result's
        ``skipped``, with the reason it was skipped when the folder was read."""
        index = {n: i for i, n in enumerate(self.names)}
        rows = [index[n] for n in names if n in index]
        why = {s.name: s for s in self.skipped}
        missing = [why.get(n, Skipped(n, NOT_IN_FOLDER, NOT_IN_FOLDER)) for n in names if n not in index]
        return Dataset([self.names[i] for i in rows], [self.labels[i] for i in rows], self.pixels[rows], missing)


def joined(first: Dataset, second: Dataset) -> Dataset:
    """Both datasets' images, ``first``'s then ``second``'s; what was skipped is ``first``'s."""
    return Dataset(first.names + second.names, first.labels + second.labels,
                   np.concatenate([first.pixels, second.pixels]), first.skipped)


@dataclass
class Labelled:
    """A folder's usable images with their labels (nothing read yet), in name order, and what
    was skipped; ``source`` says where the labels came from."""

    names: list[str]
    paths: list[Path]
    labels: list[str]
    skipped: list[Skipped]
    source: str


def missing_message(skipped: list[Skipped], what: str, shown: int = 10) -> str:
    """One line naming the images that could not be read, e.g. for a split's validation images."""
    names = ", ".join(s.name for s in skipped[:shown]) + (", ..." if len(skipped) > shown else "")
    return f"{len(skipped)} {what} could not be read: {names}"


def skipped_summary(skipped: list[Skipped], where: str | None = None, shown: int = SHOWN) -> list[str]:
    """Lines counting the skipped images by kind, with the first one's reason and a few names:
    never one line per file."""
    if not skipped:
        return []
    groups: dict[str, list[Skipped]] = {}
    for s in skipped:
        groups.setdefault(s.group, []).append(s)
    lines = [f"skipped {len(skipped)} images" + (f" (every one in {where})" if where else "") + ":"]
    for kind, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        first = items[0]
        example = first.name + (f" ({first.reason})" if first.reason != kind else "")
        others = [s.name for s in items[1:shown]]
        more = len(items) - 1 - len(others)
        lines.append(f"  {len(items)} {kind}: " + ", ".join([example, *others]) + (f", and {more} more" if more else ""))
    return lines


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"expected a folder of labelled images, got {'a file' if folder.exists() else 'nothing'} at {folder}")
    return sorted(p for p in folder.iterdir() if images.is_image_name(p) and not p.name.startswith("."))


def infer_charset(labels: list[str]) -> str:
    return "".join(sorted(set("".join(labels))))


def fold_case(text: str) -> str:
    """Lowercase, character by character (a character whose lowercase is longer stays as it is)."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def fold_charset(charset: str) -> str:
    """The charset for --ignore-case: lowercased, each character once, in its first position."""
    return "".join(dict.fromkeys(fold_case(charset)))


def check_charset(charset: str) -> None:
    """A model tells at least two characters apart."""
    if len(set(charset)) < 2:
        raise DataError(f"expected at least 2 different characters in the charset, got {len(set(charset))}: {charset!r} "
                        "(a model needs two classes to tell apart)")


def label_from_name(path: str | os.PathLike) -> str:
    """The label a file name gives: the text before the stem's first ``_``, or the whole stem."""
    return Path(path).stem.split("_", 1)[0]


def find_labels(folder: str | os.PathLike, labels: str | os.PathLike | None = None) -> str | None:
    """The labels setting of a run on ``folder``, as config.json keeps it: the labels file's path
    relative to the folder if it is inside it (else absolute), or None for file names. With
    ``labels`` None, the folder's own labels file if it has one."""
    folder = Path(folder)
    if labels is None:
        found = [name for name in LABEL_FILES if (folder / name).is_file()]
        if len(found) > 1:
            raise DataError(f"expected at most one labels file in {folder}, found {' and '.join(found)}; "
                            "choose one with --labels")
        return found[0] if found else None
    path = Path(os.path.abspath(labels))
    if not path.is_file():
        raise DataError(f"expected a labels file at {labels}, found {'a folder' if path.exists() else 'nothing'}")
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(folder))
    return path.as_posix() if _outside(rel) else Path(rel).as_posix()


def _labels_path(folder: Path, labels: str | os.PathLike | None) -> Path | None:
    if labels == AUTO:
        labels = find_labels(folder)
    return None if labels is None else folder / labels


def _fields(line: str, kind: str) -> list[str] | None:
    """The fields of one line of a labels file, by its kind ('csv', 'tsv', 'txt'); None: no separator."""
    if kind == "csv":
        return next(csv.reader([line]), [])
    if kind == "tsv" or "\t" in line:
        return line.split("\t", 1) if "\t" in line else None
    cut = next((i for i, c in enumerate(line) if c == "," or c.isspace()), None)
    return None if cut is None else [line[:cut], line[cut + 1 :]]


def read_labels_file(path: str | os.PathLike) -> list[tuple[int, str, str]]:
    """The (line number, image path as written, label) of every line of a labels file; a file
    with malformed lines fails whole, naming the first few with their line numbers."""
    path = Path(path)
    kind = {".csv": "csv", ".tsv": "tsv"}.get(path.suffix.lower(), "txt")
    separator = {"csv": "PATH,LABEL", "tsv": "PATH<TAB>LABEL", "txt": "PATH LABEL (tab, comma or space between)"}[kind]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"expected UTF-8 text in the labels file {path}, got a byte it cannot decode at offset {exc.start}") from None
    rows, bad, first = [], [], {}
    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _fields(line, kind)
        if not rows and not bad and fields and fields[0].strip().lower() in HEADER_WORDS:
            continue  # a header
        problem = None
        if fields is None:
            problem = "no separator"
        elif len(fields) != 2:
            problem = f"{len(fields)} fields"
        else:
            image, label = fields[0].strip().replace("\\", "/"), fields[1].strip()
            if not image or not label:
                problem = "no path" if not image else "no label"
            elif not images.is_image_name(image):
                problem = "not an image name"
            elif image in first:
                problem = f"{image} already listed on line {first[image]}"
        if problem:
            bad.append(f"line {number} {line.strip()[:40]!r} ({problem})")
            continue
        first[image] = number
        rows.append((number, image, label))
    if bad:
        raise DataError(f"expected lines of {separator} in {path}, got {len(bad)} malformed: "
                        + "; ".join(bad[:SHOWN_LINES]) + ("; ..." if len(bad) > SHOWN_LINES else ""))
    if not rows:
        raise DataError(f"expected lines of {separator} in {path}, found none")
    return rows


def _under(base: Path, image: str) -> Path:
    """``base/image`` normalised, with the folders' symlinks resolved (so that names are the same
    however the data folder is reached) but not the image file's own."""
    path = os.path.normpath(os.path.join(os.path.realpath(base), image))
    return Path(os.path.realpath(os.path.dirname(path))) / os.path.basename(path)


def _outside(rel: str) -> bool:
    return Path(rel).parts[:1] == ("..",)


def _listed(folder: Path, labels_file: Path, names: set[str] | None) -> tuple[dict[str, tuple[Path, str]], list[Skipped]]:
    """{name: (path, label)} of a labels file's images. Reading the whole folder (``names`` None),
    a listed image that is missing, or outside the folder, fails; reading only ``names``, a
    missing one is skipped."""
    base, root = labels_file.parent, os.path.realpath(folder)
    entries, missing, outside, twice, skipped, lines = {}, [], [], [], [], {}
    for number, image, label in read_labels_file(labels_file):
        path = _under(base, image)
        if not path.is_file() and (base / "images" / image).is_file():
            path = _under(base / "images", image)  # dddd_trainer's layout
        rel = os.path.relpath(path, root)
        if _outside(rel):
            outside.append(f"line {number} {image}")
            continue
        name = Path(rel).as_posix()
        if name in lines:
            twice.append(f"line {number} {image} (as line {lines[name]})")
            continue
        lines[name] = number
        if names is not None and name not in names:
            continue
        if not path.is_file():
            if names is None:
                missing.append(f"line {number} {image}")
            else:
                skipped.append(Skipped(name, f"not in the folder (listed on line {number} of {labels_file.name})", NOT_IN_FOLDER))
            continue
        entries[name] = (path, label)
    for problem, items in (("outside the data folder " + root, outside), ("listed twice", twice), ("missing", missing)):
        if items:
            raise DataError(f"expected every image that {labels_file} lists in {root}, got {len(items)} {problem}: "
                            + ", ".join(items[:SHOWN_LINES]) + (", ..." if len(items) > SHOWN_LINES else ""))
    return entries, skipped


def label_folder(
    folder: str | os.PathLike,
    labels: str | os.PathLike | None = AUTO,
    ignore_case: bool = False,
    charset: str | None = None,
    lengths: tuple[int, int] | None = None,
    names: list[str] | None = None,
) -> Labelled:
    """The folder's images and labels (or only ``names`` of them), without reading any image:
    ``labels`` is AUTO (the folder's labels file, else file names), None (file names), or a
    labels file (a relative path is relative to the folder, as config.json keeps it). An image
    whose label is empty, outside the charset or of a length outside ``lengths`` (shortest,
    longest: what the model reads, :attr:`trainer.config.RunConfig.lengths`) is skipped."""
    folder = Path(folder)
    labels_file = _labels_path(folder, labels)
    wanted = None if names is None else set(names)
    skipped: list[Skipped] = []
    if labels_file is None:
        source = "file names"
        found = {p.name: (p, label_from_name(p)) for p in list_images(folder) if wanted is None or p.name in wanted}
    else:
        source = labels_file.name
        list_images(folder)  # the folder must exist
        found, skipped = _listed(folder, labels_file, wanted)
        if wanted is None:
            skipped += [Skipped(p.name, f"not listed in {labels_file}", NOT_LISTED)
                        for p in list_images(folder) if p.name not in found]
    if wanted is not None:
        known = set(found) | {s.name for s in skipped}
        absent = (Skipped(n, NOT_IN_FOLDER, NOT_IN_FOLDER) if labels_file is None else
                  Skipped(n, f"not listed in {labels_file}", NOT_LISTED) for n in names if n not in known)
        skipped += list(absent)
    if charset is not None and ignore_case:
        charset = fold_charset(charset)
    kept = Labelled([], [], [], skipped, source)
    for name in sorted(found):
        path, label = found[name]
        if ignore_case:
            label = fold_case(label)
        problem = _label_problem(label, labels_file is None, charset, lengths)
        if problem:
            kept.skipped.append(Skipped(name, *problem))
            continue
        kept.names.append(name)
        kept.paths.append(path)
        kept.labels.append(label)
    return kept


def _label_problem(label: str, from_name: bool, charset: str | None,
                   lengths: tuple[int, int] | None) -> tuple[str, str] | None:
    """(reason, kind) of a label that cannot be used, or None."""
    if not label:
        return "empty label (the file name starts with '_')" if from_name else EMPTY, EMPTY
    if from_name and any(c.isspace() for c in label):
        return f"label {label!r} has whitespace: name the file LABEL_anything.png, or use a labels file", WHITESPACE
    if charset is not None and set(label) - set(charset):
        bad = "".join(sorted(set(label) - set(charset)))
        return f"label {label!r} has characters {bad!r} outside the charset {charset!r}", OUTSIDE
    if lengths is not None and not lengths[0] <= len(label) <= lengths[1]:
        lo, hi = lengths
        reads = f"exactly {hi}" if lo == hi else f"{lo} to {hi}"
        return f"label {label!r} has {len(label)} characters, this model reads {reads}", LENGTH
    return None


def require_labels(labelled: Labelled, folder: str | os.PathLike) -> None:
    """No usable image at all is one clear error, saying why, before anything is built."""
    if labelled.labels:
        return
    if not labelled.skipped:
        raise DataError(f"expected labelled images ({', '.join(sorted(images.IMAGE_EXTENSIONS))}) in {folder}, found none")
    counts = Counter(s.group for s in labelled.skipped)
    raise DataError(f"expected usable labelled images in {folder} (labels from {labelled.source}), found none: "
                    + ", ".join(f"{n} {kind} (e.g. {next(s.name for s in labelled.skipped if s.group == kind)})"
                                for kind, n in counts.most_common()))


def label_report(labels: list[str], charset: str, source: str | None = None, rare: int = RARE) -> list[str]:
    """Lines for before training: images, label lengths, the count of every charset character,
    rare characters, and letters that occur in both cases."""
    counts = Counter("".join(labels))
    lengths = Counter(len(l) for l in labels)
    lines = [f"{len(labels)} labelled images" + (f" (labels from {source})" if source else "") + "; label lengths "
             + ", ".join(f"{n}: {c}" for n, c in sorted(lengths.items()))]
    lines.append(f"charset {charset!r}, {len(charset)} characters; count per character:")
    cells = [f"{c!r} {counts[c]}" for c in charset]
    lines += ["  " + "  ".join(cells[i : i + 10]) for i in range(0, len(cells), 10)]
    few = [c for c in charset if counts[c] < rare]
    if few:
        lines.append(f"warning: {len(few)} rare characters, seen fewer than {rare} times: "
                     + ", ".join(f"{c!r} {counts[c]}" for c in few)
                     + "; the model will hardly learn them (add images with them, or leave them out with --charset)")
    both = sorted(c for c in set(charset) if c.islower() and c.upper() != c and c.upper() in charset)
    if both:
        lines.append(f"note: {len(both)} letters occur in both cases ({', '.join(f'{c}/{c.upper()}' for c in both[:8])}"
                     f"{', ...' if len(both) > 8 else ''}): they stay different characters; --ignore-case folds them to lowercase")
    return lines


#: Image sizes are read (from file headers) for at most this many images, evenly spread.
SIZE_SAMPLE = 500


def evenly(paths: list[Path], sample: int) -> list[Path]:
    """Up to ``sample`` of ``paths``, evenly spread from the first."""
    return paths[:: max(1, len(paths) // sample)][:sample]


def image_sizes(paths: list[Path], sample: int = SIZE_SAMPLE) -> Counter:
    """Counter of (height, width) over up to ``sample`` images, evenly spread, read from their
    headers (a file whose header says nothing is decoded; an unreadable one is left out)."""
    sizes: Counter = Counter()
    for path in evenly(paths, sample):
        try:
            wh = images.header_size(images.read_file(path))
            sizes[(wh[1], wh[0]) if wh else images.load(path).shape[:2]] += 1
        except CaptchaEdgeError:
            continue
    return sizes


def choose_input_size(sizes: Counter, stride: int, height: int = AUTO_HEIGHT,
                      min_width: float = 0.0) -> tuple[int, int]:
    """The input size of :data:`trainer.config.SIZE_RULE` for images of these sizes; the width is
    at least ``min_width`` (:data:`trainer.config.SIZE_SCALE_RULE`), rounded the same way."""
    if not sizes:
        raise DataError("expected readable images to choose an input size from, got none; pass --input-size HxW")
    aspects = np.repeat([w / h for h, w in sizes], list(sizes.values()))
    width = max(height * float(np.median(aspects)), min_width)
    return height, max(stride, int(round(width / stride)) * stride)


def text_zoom(paths: list[Path], spec: InputSpec, sample: int) -> float | None:
    """The median, over up to ``sample`` images (evenly spread), of how much the box that ``crop``
    cuts for ``spec`` (:func:`edge_runtime.preprocess.crop_box`) is enlarged to fill the image: the
    square root of image area over box area. None when no image could be read."""
    zooms = []
    for path in evenly(paths, sample):
        try:
            gray = to_gray(images.load(path))
        except CaptchaEdgeError:
            continue
        _, _, h, w = crop_box(gray, spec)
        zooms.append(math.sqrt(gray.size / (h * w)))
    return float(np.median(zooms)) if zooms else None


def mean_length(labels: list[str]) -> float:
    if not labels:
        raise DataError("expected at least one labelled image, got none")
    return float(np.mean([len(l) for l in labels]))


def size_report(sizes: Counter, size: tuple[int, int], rule: str | None) -> list[str]:
    """One line: the images' sizes (a mixed folder is reported, not refused) and the input size,
    with the rule that chose it (``rule`` None: given with --input-size)."""
    if not sizes:
        return []
    seen = sum(sizes.values())
    (h, w), n = sizes.most_common(1)[0]
    if len(sizes) == 1:
        found = f"images are {h}x{w}"
    else:
        heights, widths = [s[0] for s in sizes], [s[1] for s in sizes]
        found = (f"mixed image sizes: {len(sizes)} different in {seen} images read, {min(heights)}-{max(heights)} high "
                 f"and {min(widths)}-{max(widths)} wide (most common {h}x{w}, {n} images)")
    how = f"chosen: {rule}" if rule else "from --input-size"
    return [f"{found}; input size {size[0]}x{size[1]} ({how})"]


def length_range(labels: list[str]) -> tuple[int, int]:
    """(shortest, longest) label length."""
    if not labels:
        raise DataError("expected at least one labelled image, got none")
    lengths = [len(l) for l in labels]
    return min(lengths), max(lengths)


def load_folder(
    folder: str | os.PathLike,
    spec: InputSpec,
    charset: str | None = None,
    lengths: tuple[int, int] | None = None,
    names: list[str] | None = None,
    labels: str | os.PathLike | None = AUTO,
    ignore_case: bool = False,
) -> Dataset:
    """Read and preprocess every usable image of a folder (or only ``names``), reporting what was
    skipped: with ``names``, a name the folder lacks is skipped too. ``labels`` as in :func:`label_folder`."""
    found = label_folder(folder, labels, ignore_case, charset, lengths, names)
    skipped = list(found.skipped)
    rows, good_names, good_labels = [], [], []
    for name, path, label in zip(found.names, found.paths, found.labels):
        try:
            rows.append(prepare(images.load(path), spec))
        except CaptchaEdgeError as exc:
            skipped.append(Skipped(name, f"unreadable image: {exc}", UNREADABLE))
            continue
        good_names.append(name)
        good_labels.append(label)
    empty = (0, spec.height, spec.width) + ((spec.channels,) if spec.channels > 1 else ())
    pixels = np.stack(rows) if rows else np.zeros(empty, np.uint8)
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
