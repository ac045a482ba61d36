"""A run directory as one object. ``Run(root)`` knows every file a fit writes there and reads
them: the config, the split, the state, the best/last weights, the skipped images, the fit
command, the cross-validation summary, and the Keras model rebuilt from them (:meth:`Run.load_keras`).

    RUN_DIR/config.json     RunConfig (its field names are the keys)
    RUN_DIR/split.json      data_dir, seed, val_fraction, folds, fold, train and val file names
    RUN_DIR/state.json      epoch, best epoch and accuracy, per-epoch history, done
    RUN_DIR/last.weights.h5, best.weights.h5 (--select best), skipped.json, command.txt
    RUN_DIR/cv.json, RUN_DIR/fold-K/   with --folds K and no --fold: the summary, and one run per fold
    RUN_DIR/teacher/, pseudo-labels.tsv  with --unlabelled: the run on the labelled images alone, and its trusted reads
    RUN_DIR/starts.json, from-base/, from-scratch/  fit from the base chosen by --init-from auto: the base's
                            zero-shot read; with two starts, the two fits (RUN_DIR holds a copy of the kept one)
    RUN_DIR/refit/          with --refit: the second fit, on every labelled image, whose weights export writes

Keras is imported only by :meth:`Run.load_keras`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from . import data as D
from .config import DEFAULTS, SELECT_LAST, RunConfig
from .errors import RunError

#: Settings that may change when a run is resumed: it just trains longer or stops later; the label
#: lengths only describe the data (runs made before they were recorded lack them); --refit adds a
#: second fit after this one (or leaves it out of the export), and changes nothing of this one.
RESUMABLE = ("epochs", "patience", "min_length", "max_length", "refit")
#: Settings read only when a run starts; a run that has trained keeps its own, whatever the resume
#: says (--init-from auto names the installed base, whose path moves with a reinstall).
STARTING = ("init_from",)
PARTS = {"train": "training", "val": "validation"}


#: Every file of a run, by the Run attribute that holds its path.
FILES = {"config_file": "config.json", "split_file": "split.json", "state_file": "state.json",
         "best_weights": "best.weights.h5", "last_weights": "last.weights.h5", "skipped_file": "skipped.json",
         "command_file": "command.txt", "cv_file": "cv.json", "pseudo_file": "pseudo-labels.tsv"}
#: With --unlabelled: the run fitted on the labelled images alone, which reads the unlabelled ones.
TEACHER = "teacher"
#: With --refit: the fit on every labelled image, validation images included.
REFIT = "refit"


@dataclass(frozen=True)
class Run:
    """RUN_DIR and its files; reading a property reads the file (RunError if it is missing)."""

    root: Path
    config_file: Path = field(init=False, repr=False)
    split_file: Path = field(init=False, repr=False)
    state_file: Path = field(init=False, repr=False)
    best_weights: Path = field(init=False, repr=False)
    last_weights: Path = field(init=False, repr=False)
    skipped_file: Path = field(init=False, repr=False)
    command_file: Path = field(init=False, repr=False)
    cv_file: Path = field(init=False, repr=False)
    pseudo_file: Path = field(init=False, repr=False)

    def __post_init__(self):
        # Frozen: the paths are set once here, from the root.
        object.__setattr__(self, "root", Path(self.root))
        for attribute, name in FILES.items():
            object.__setattr__(self, attribute, self.root / name)

    @property
    def teacher(self) -> "Run":
        """With --unlabelled: the run on the labelled images alone, whose trusted reads of the
        unlabelled images (:attr:`pseudo_file`) join this run's training images."""
        return Run(self.root / TEACHER)

    @property
    def refit(self) -> "Run":
        """With --refit: the fit on every labelled image (this run's validation images too), from
        this run's start; export writes its weights."""
        return Run(self.root / REFIT)

    def fold(self, k: int) -> "Run":
        """The run of fold k (1-based) of a cross-validation run."""
        return Run(self.root / f"fold-{k}")

    # What they hold.
    @property
    def config(self) -> RunConfig:
        return RunConfig(**self._read(self.config_file, "a run made by 'captcha-train fit'"))

    @property
    def split(self) -> dict:
        return self._read(self.split_file, "the run's split")

    @property
    def state(self) -> dict:
        """The training state; empty before the first epoch ends."""
        return D.read_json(self.state_file) if self.state_file.exists() else {}

    @property
    def command(self) -> str | None:
        """The fit command that made the run, if it was recorded."""
        return self.command_file.read_text().strip() if self.command_file.exists() else None

    @property
    def cv(self) -> dict | None:
        return D.read_json(self.cv_file) if self.cv_file.exists() else None

    # What the run keeps, as --select chose it.
    @property
    def kept_weights(self) -> Path:
        """The weights the run keeps: the last epoch's with --select last, else the best epoch's."""
        return self.last_weights if self.config.select == SELECT_LAST else self.best_weights

    def kept_summary(self, state: dict) -> str:
        """The kept epoch and its validation accuracy, in the words --select calls for: a
        --select last run chose nothing by validation, so it reports no "best"."""
        if self.config.select == SELECT_LAST:
            history = state.get("history") or [{}]
            accuracy = history[-1].get("val_accuracy", state.get("best_val_accuracy", float("nan")))
            return f"validation accuracy {accuracy:.4f} at the last epoch, {state.get('epoch')}"
        return f"best validation accuracy {state.get('best_val_accuracy', float('nan')):.4f} at epoch {state.get('best_epoch')}"

    def _read(self, path: Path, what: str):
        if not path.exists():
            raise RunError(f"expected {what} in {self.root}, found no {path.name}")
        return D.read_json(path)

    # Writing.
    def start(self, config: RunConfig, overwrite: bool = False) -> RunConfig:
        """Create the directory, or check that it holds this same run (then it is resumed).
        Returns the run's config: ``config``, with what a run that has trained keeps of its own."""
        self.root.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for p in (self.state_file, self.best_weights, self.last_weights, self.split_file):
                p.unlink(missing_ok=True)
        elif self.config_file.exists():
            existing = D.read_json(self.config_file)
            if self.has_trained:
                config = replace(config, **{k: existing.get(k, DEFAULTS.get(k)) for k in STARTING})
            changed = self._changed(existing, config)
            if changed:
                raise RunError(
                    f"expected {self.root} to be empty or to hold the same run, it holds a run with different "
                    f"{', '.join(sorted(changed))}; choose another --out or pass --overwrite")
        D.write_json(self.config_file, asdict(config))
        return config

    @property
    def has_trained(self) -> bool:
        """Whether a fit has saved weights and state here: resuming it continues from them."""
        return self.state_file.exists() and self.last_weights.exists()

    @staticmethod
    def _changed(existing: dict, config: RunConfig) -> set[str]:
        mine = asdict(config)
        # A key the run's config lacks was added to the trainer later: the run used its default.
        return {k for k in mine if k not in RESUMABLE and existing.get(k, DEFAULTS.get(k)) != mine[k]}

    def write_split(self, split: dict) -> None:
        D.write_json(self.split_file, split)

    def write_state(self, state: dict) -> None:
        D.write_json(self.state_file, state)

    def write_skipped(self, skipped: list[D.Skipped]) -> None:
        D.write_json(self.skipped_file, [asdict(s) for s in skipped])

    def write_command(self, command: str) -> None:
        self.command_file.write_text(command + "\n")

    def write_cv(self, summary: dict) -> None:
        D.write_json(self.cv_file, summary)

    # Images and model.
    def images(self, part: str, names: list[str] | None = None, log: Callable[[str], None] = print) -> D.Dataset:
        """The run's training or validation images ("train" or "val"), or only ``names`` of them,
        read from the split's folder. Images the split lists that cannot be read are logged,
        and kept in the result's ``skipped``."""
        config, split = self.config, self.split
        dataset = D.load_folder(split["data_dir"], config.input_spec, config.charset, config.lengths,
                                names=split[part] if names is None else names, labels=config.labels,
                                ignore_case=config.ignore_case)
        self.report_missing(part, dataset, log)
        return dataset

    def report_missing(self, part: str, dataset: D.Dataset, log: Callable[[str], None]) -> None:
        """Log, in one line, the images of the split's ``part`` that ``dataset`` lacks."""
        if dataset.skipped:
            log(D.missing_message(dataset.skipped, f"{PARTS[part]} images listed in {self.split_file}"))

    def load_keras(self, weights: Path | None = None):
        """The run's model with its kept weights (or ``weights``), rebuilt from its config, without
        training-only outputs."""
        from .models import build, primary

        config, weights = self.config, weights or self.kept_weights
        if not weights.exists():
            raise RunError(f"expected trained weights at {weights}, found none: run 'captcha-train fit' first")
        model = build(config)
        try:
            model.load_weights(weights)
        except ValueError:
            raise RunError(
                f"expected the weights in {weights} to fit the current '{config.arch}' architecture, they do not: "
                f"the run was made by trainer {config.trainer_version} with an older design of '{config.arch}'; retrain it"
            ) from None
        return primary(model)
