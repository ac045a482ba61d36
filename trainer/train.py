"""Fitting: seeded, early-stopped on validation full-string accuracy, best weights kept, and
restartable: every epoch's state is written atomically, so a killed run resumes where it was."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import keras
import numpy as np

from edge_runtime._version import __version__
from edge_runtime.contract import InputSpec
from edge_runtime.decode import ctc_greedy, per_position
from edge_runtime.preprocess import normalise

from . import data as D


@dataclass(frozen=True)
class RunConfig:
    arch: str
    data_dir: str
    kind: str
    charset: str
    label_length: int | None
    height: int
    width: int
    seed: int = 0
    epochs: int = 100
    batch_size: int = 16
    val_fraction: float = 0.15
    learning_rate: float = 1e-3
    patience: int = 20
    augment: bool = True
    strokes: float = 0.0  # with augment: chance of an extra curve drawn across the text
    width_mult: float = 1.0
    max_steps: int | None = None  # per epoch; for smoke tests
    init_from: str | None = None  # a run whose same-named layers initialise this model
    folds: int | None = None  # k-fold cross-validation: validate on fold ``fold`` (1..folds) of the seeded order
    fold: int | None = None
    select: str = "best"  # "best": keep the epoch best on validation; "last": keep the last (unbiased estimate)
    trainer_version: str = __version__

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(height=self.height, width=self.width)

    @property
    def num_classes(self) -> int:
        return len(self.charset) + (1 if self.kind == "ctc" else 0)

    @property
    def blank_index(self) -> int | None:
        return len(self.charset) if self.kind == "ctc" else None

    def class_chars(self) -> list[str]:
        return list(self.charset) + ([""] if self.kind == "ctc" else [])


@dataclass
class RunFiles:
    root: Path
    config: Path = field(init=False)
    split: Path = field(init=False)
    state: Path = field(init=False)
    best: Path = field(init=False)
    last: Path = field(init=False)
    skipped: Path = field(init=False)

    def __post_init__(self):
        self.root = Path(self.root)
        self.config = self.root / "config.json"
        self.split = self.root / "split.json"
        self.state = self.root / "state.json"
        self.best = self.root / "best.weights.h5"
        self.last = self.root / "last.weights.h5"
        self.skipped = self.root / "skipped.json"


def load_config(run_dir: str | os.PathLike) -> RunConfig:
    return RunConfig(**D.read_json(RunFiles(run_dir).config))


def encode_labels(labels: list[str], config: RunConfig) -> np.ndarray:
    """Class indices per label; CTC labels are padded with -1 to the longest label."""
    index = {c: i for i, c in enumerate(config.charset)}
    length = config.label_length or max(len(l) for l in labels)
    out = np.full((len(labels), length), -1, np.int32)
    for row, label in enumerate(labels):
        out[row, : len(label)] = [index[c] for c in label]
    return out


def decode_batch(probs: np.ndarray, config: RunConfig) -> list[str]:
    """Texts of a batch of model outputs, decoded by the runtime's own decoders."""
    if config.kind == "ctc":
        chars = config.class_chars()
        return [ctc_greedy(p, chars).text for p in probs]
    return [per_position(p, config.charset).text for p in probs]


def to_inputs(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    return normalise(pixels, spec)[..., None]


def ctc_loss_fn(blank_index: int):
    import tensorflow as tf

    def ctc_loss(y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        label_length = tf.reduce_sum(tf.cast(y_true >= 0, tf.int32), axis=1)
        labels = tf.where(y_true >= 0, y_true, tf.zeros_like(y_true))
        steps = tf.fill([tf.shape(y_pred)[0]], tf.shape(y_pred)[1])
        # The model emits probabilities; their log is a valid set of logits for CTC.
        logits = tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0))
        return tf.nn.ctc_loss(labels, logits, label_length, steps, logits_time_major=False, blank_index=blank_index)

    return ctc_loss


AUX_CTC_WEIGHT = 0.5  # weight of a multi-head model's training-only CTC output


def compile_model(model, config: RunConfig):
    if config.kind == "ctc":
        loss, weights = ctc_loss_fn(config.blank_index), None
    else:
        loss, weights = keras.losses.SparseCategoricalCrossentropy(), None
        if len(model.outputs) == 2:  # the CTC output's blank follows the charset
            loss, weights = [loss, ctc_loss_fn(len(config.charset))], [1.0, AUX_CTC_WEIGHT]
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss, loss_weights=weights)
    return model


def _targets(targets: np.ndarray, outputs: int):
    """One target per model output: an auxiliary CTC output learns the same labels."""
    return tuple(targets for _ in range(outputs)) if outputs > 1 else targets


def make_batches(config: RunConfig, pixels: np.ndarray, targets: np.ndarray, outputs: int = 1):
    from .augment import augment

    spec = config.input_spec

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = np.arange(len(pixels))
            self.on_epoch_end()

        def __len__(self):
            n = int(np.ceil(len(pixels) / config.batch_size))
            return min(n, config.max_steps) if config.max_steps else n

        def __getitem__(self, i):
            rows = self.order[i * config.batch_size : (i + 1) * config.batch_size]
            batch = pixels[rows]
            if config.augment:
                rng = np.random.default_rng((config.seed, self.epoch, i))
                batch = np.stack([augment(p, rng, config.strokes) for p in batch])
            return to_inputs(batch, spec), _targets(targets[rows], outputs)

        def on_epoch_end(self):
            self.order = np.random.default_rng((config.seed, self.epoch)).permutation(len(pixels))
            self.epoch += 1

    return Batches()


def prepare_run(config: RunConfig, out: str | os.PathLike, overwrite: bool = False) -> RunFiles:
    """Create RUN_DIR, or check that an existing one holds the same run (then it is resumed)."""
    files = RunFiles(out)
    files.root.mkdir(parents=True, exist_ok=True)
    if files.config.exists() and not overwrite:
        existing = D.read_json(files.config)
        mine = asdict(config)
        # A key the run's config lacks was added to the trainer later: the run used its default.
        defaults = {f.name: f.default for f in fields(RunConfig)}
        changed = {k for k in mine if k not in ("epochs", "patience") and existing.get(k, defaults[k]) != mine[k]}
        if changed:
            raise ValueError(
                f"expected {files.root} to be empty or to hold the same run, it holds a run with different "
                f"{', '.join(sorted(changed))}; choose another --out or pass --overwrite"
            )
    if overwrite:
        for p in (files.state, files.best, files.last, files.split):
            p.unlink(missing_ok=True)
    D.write_json(files.config, asdict(config))
    return files


def split_for_run(config: RunConfig, files: RunFiles, log=print) -> tuple[D.Dataset, D.Dataset]:
    dataset = D.load_folder(config.data_dir, config.input_spec, config.charset, config.label_length)
    for s in dataset.skipped:
        log(f"skipped {s.name}: {s.reason}")
    D.write_json(files.skipped, [asdict(s) for s in dataset.skipped])
    if files.split.exists():
        split = D.read_json(files.split)
    else:
        if config.folds:
            train, val = D.fold_names(dataset.names, config.folds, config.fold, config.seed)
        else:
            train, val = D.split_names(dataset.names, config.val_fraction, config.seed)
        split = {"data_dir": str(Path(config.data_dir).resolve()), "seed": config.seed,
                 "val_fraction": config.val_fraction, "folds": config.folds, "fold": config.fold,
                 "train": train, "val": val}
        D.write_json(files.split, split)
    overlap = set(split["train"]) & set(split["val"])
    if overlap:
        raise ValueError(f"expected disjoint train/validation splits, {len(overlap)} names are in both")
    return dataset.subset(split["train"]), dataset.subset(split["val"])


def fit(config: RunConfig, out: str | os.PathLike, overwrite: bool = False, log=print) -> dict:
    """Train (or resume) a run; returns the final state dict."""
    from .models import build

    files = prepare_run(config, out, overwrite)
    train, val = split_for_run(config, files, log)
    if len(train.names) == 0 or len(val.names) == 0:
        raise ValueError(f"expected images in both splits, got {len(train.names)} train and {len(val.names)} validation")
    log(f"{config.arch}: {len(train.names)} train / {len(val.names)} validation images, charset {config.charset!r}")

    keras.utils.set_random_seed(config.seed)
    model = compile_model(build(config.arch, config.height, config.width, config.num_classes,
                                config.label_length, config.width_mult), config)
    if config.init_from and not (files.state.exists() and files.last.exists()):
        init_weights(model, config, train_names=train.names, val_names=val.names, log=log)
    state = {"epoch": 0, "best_epoch": 0, "best_val_accuracy": -1.0, "best_val_loss": None,
             "history": [], "params": int(model.count_params()), "train_seconds": 0.0, "done": False}
    if files.state.exists() and files.last.exists():
        state = D.read_json(files.state)
        model.load_weights(files.last)
        log(f"resuming {files.root} after epoch {state['epoch']} (best {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']})")
    if state.get("done") and (state.get("stopped_early") or state["epoch"] >= config.epochs):
        log("run already finished; nothing to do")
        return state

    batches = make_batches(config, train.pixels, encode_labels(train.labels, config), outputs=len(model.outputs))
    val_x = to_inputs(val.pixels, config.input_spec)
    val_y = _targets(encode_labels(val.labels, config), len(model.outputs))
    tracker = _Tracker(config, files, state, val_x, val_y, val.labels, log)
    model.fit(batches, epochs=config.epochs, initial_epoch=state["epoch"], verbose=0,
              callbacks=[tracker, _lr_schedule(config)],
              validation_data=(val_x, val_y), validation_batch_size=64)
    state["done"] = True
    D.write_json(files.state, state)
    log(f"best validation accuracy {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']}; "
        f"{state['train_seconds']:.0f} s of training; weights in {files.best}")
    return state


def _lr_schedule(config: RunConfig):
    # With --select last, validation must steer nothing, the learning rate included.
    monitor = "loss" if config.select == "last" else "val_loss"
    return keras.callbacks.ReduceLROnPlateau(monitor, factor=0.5, patience=max(3, config.patience // 3))


def init_weights(model, config: RunConfig, train_names, val_names, log=print) -> None:
    """Copy the weights of every same-named, same-shaped layer from another run's best model.
    That run must not have trained on any of this run's validation images."""
    from .evaluate import load_keras

    other = RunFiles(config.init_from)
    other_split = D.read_json(other.split)
    leaked = set(other_split["train"]) & set(val_names)
    if leaked:
        raise ValueError(f"expected --init-from {config.init_from} to have trained on none of this run's validation "
                         f"images, it trained on {len(leaked)} of them; use the same --seed and data")
    _, source = load_keras(config.init_from)
    by_name = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in model.layers:
        src = by_name.get(layer.name)
        if src is None or not layer.weights:
            continue
        if [tuple(w.shape) for w in layer.weights] == [tuple(w.shape) for w in src.weights]:
            layer.set_weights(src.get_weights())
            copied.append(layer.name)
    if not copied:
        raise ValueError(f"expected layers in common with {config.init_from}, found none")
    log(f"initialised {len(copied)} layers from {config.init_from}: {', '.join(copied)}")


def _save_weights(model, path: Path) -> None:
    tmp = path.with_name("tmp-" + path.name)
    model.save_weights(tmp)
    os.replace(tmp, path)


class _Tracker(keras.callbacks.Callback):
    """Per-epoch progress line, validation accuracy by the runtime's decoders, best/last
    checkpoints and state written atomically, early stopping."""

    def __init__(self, config, files, state, val_x, val_y, val_labels, log):
        super().__init__()
        self.config, self.files, self.state, self.log = config, files, state, log
        self.val_x, self.val_labels = val_x, val_labels
        self.t0 = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        probs = self.model.predict(self.val_x, batch_size=64, verbose=0)
        if isinstance(probs, (list, tuple)):
            probs = probs[0]
        texts = decode_batch(probs, self.config)
        acc = float(np.mean([t == l for t, l in zip(texts, self.val_labels)]))
        logs["val_accuracy"] = acc
        seconds = time.monotonic() - self.t0
        s = self.state
        val_loss = float(logs.get("val_loss", np.nan))
        if self.config.select == "last":
            # Validation only reports: the kept model is the last one, so its score is not a selected maximum.
            improved = True
        else:
            improved = acc > s["best_val_accuracy"] or (
                acc == s["best_val_accuracy"] and s["best_val_loss"] is not None and val_loss < s["best_val_loss"])
        if improved:
            _save_weights(self.model, self.files.best)
            s.update(best_epoch=epoch + 1, best_val_accuracy=acc, best_val_loss=val_loss)
        _save_weights(self.model, self.files.last)
        lr = float(self.model.optimizer.learning_rate.numpy())
        s["history"].append({"epoch": epoch + 1, "loss": float(logs.get("loss", np.nan)), "val_loss": val_loss,
                             "val_accuracy": acc, "lr": lr, "seconds": seconds})
        s["epoch"] = epoch + 1
        s["train_seconds"] = s.get("train_seconds", 0.0) + seconds
        D.write_json(self.files.state, s)
        self.log(f"epoch {epoch + 1}/{self.config.epochs}  loss {logs.get('loss', np.nan):.4f}  val_loss {val_loss:.4f}  "
                 f"val_acc {acc:.4f}  best {s['best_val_accuracy']:.4f}@{s['best_epoch']}  lr {lr:.2g}  {seconds:.1f}s")
        if self.config.select != "last" and epoch + 1 - s["best_epoch"] >= self.config.patience:
            self.log(f"early stop: no improvement for {self.config.patience} epochs")
            s["stopped_early"] = True
            D.write_json(self.files.state, s)
            self.model.stop_training = True
