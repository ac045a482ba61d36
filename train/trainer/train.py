"""Fitting: seeded, and restartable. By default (--select last) the last epoch's weights are kept
and validation steers nothing; --select best keeps the epoch best on validation full-string
accuracy and stops early. Either way the fit ends once the monitored loss has stopped improving
at the lowest learning rate (converged). The state and the last weights are written atomically
at least every CHECKPOINT_SECONDS (30 s) and when the fit ends, so a killed run resumes from
there, repeating at most those seconds of epochs.
:func:`fit` fits one run (a split or one fold), :func:`fit_folds` every fold of a cross-validation,
:func:`refit` the second fit of --refit (every labelled image).
The run directory is a :class:`trainer.runs.Run`; the class layout comes from the run's contract."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from edge_runtime.contract import Kind

from . import data as D
from . import defaults
from .config import SELECT_LAST, RunConfig
from .errors import DataError, RunError
from .predict import PREDICT_BATCH, decode_batch, to_inputs
from .runs import Run


#: What CTC targets are padded with: the loss counts a label's classes >= 0 as its length.
CTC_PAD = -1


def encode_labels(labels: list[str], config: RunConfig, pad: int | None = None) -> np.ndarray:
    """Class indices per label, padded to a multi-head model's heads (else to the longest label)
    with ``pad``; by default the model's own padding: the end class of a multi-head model that has
    one (its heads after the text learn to predict it), else CTC_PAD."""
    if pad is None:
        end = config.contract().end_index
        pad = CTC_PAD if end is None else end
    index = {c: i for i, c in enumerate(config.charset)}
    length = config.label_length or max(len(l) for l in labels)
    out = np.full((len(labels), length), pad, np.int32)
    for row, label in enumerate(labels):
        out[row, : len(label)] = [index[c] for c in label]
    return out


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


def check_time_steps(config: RunConfig, steps: int, labels: list[str]) -> None:
    """A CTC output reads L characters only from at least 2L-1 time steps (in the worst case every
    character repeats, and repeats need a blank between them): refuse longer labels up front."""
    if not labels:
        return
    longest = max(labels, key=len)
    if 2 * len(longest) - 1 > steps:
        raise DataError(f"expected labels of at most {(steps + 1) // 2} characters for the {steps} time steps of "
                        f"{config.arch} at input width {config.width} (CTC needs 2L-1 steps for L characters), got "
                        f"{longest!r} with {len(longest)}; pass a wider --input-size or shorten the labels")


AUX_CTC_WEIGHT = 0.5  # weight of a multi-head model's training-only CTC output


def compile_model(model, config: RunConfig):
    blank = config.ctc_layout().blank_index
    if config.kind == Kind.CTC:
        loss, weights = ctc_loss_fn(blank), None
    else:
        loss, weights = keras.losses.SparseCategoricalCrossentropy(), None
        if len(model.outputs) == 2:
            loss, weights = [loss, ctc_loss_fn(blank)], [1.0, AUX_CTC_WEIGHT]
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss, loss_weights=weights)
    return model


def output_targets(labels: list[str], config: RunConfig, outputs: int = 1):
    """One target array per model output: the model's own (:func:`encode_labels`), and for a
    multi-head model's training-only CTC output the same labels padded with CTC_PAD, never with
    the end class (whose index is the CTC blank's)."""
    own = encode_labels(labels, config)
    if outputs == 1:
        return own
    return own, *(encode_labels(labels, config, pad=CTC_PAD) for _ in range(outputs - 1))


def _rows(targets, rows: np.ndarray | slice):
    """The targets of some images: rows of one array, or of each output's array."""
    return tuple(t[rows] for t in targets) if isinstance(targets, tuple) else targets[rows]


def epoch_batches(config: RunConfig, pixels: np.ndarray, targets, epoch: int):
    """Epoch ``epoch``'s (0-based) seeded batches of (inputs, targets), ``targets`` as
    :func:`output_targets` gives them. Its order and augmentation depend on (seed, epoch) only, so a
    resumed run sees what an uninterrupted one would."""
    from .augment import augment

    steps = defaults.steps_per_epoch(len(pixels), config.batch_size, config.max_steps)
    order = np.random.default_rng((config.seed, epoch)).permutation(len(pixels))
    for i in range(steps):
        rows = order[i * config.batch_size : (i + 1) * config.batch_size]
        batch = pixels[rows]
        if config.augment:
            # epoch + 1: the streams of earlier trainers, whose batches counted epochs from 1.
            rng = np.random.default_rng((config.seed, epoch + 1, i))
            batch = np.stack([augment(p, rng, config.strokes) for p in batch])
        yield to_inputs(batch, config.input_spec), _rows(targets, rows)


def split_for_run(config: RunConfig, run: Run, log=print, report: bool = True) -> tuple[D.Dataset, D.Dataset]:
    """The run's training and validation images; the split is made once and kept in split.json.
    With ``report``, logs the labels (count per character, rare characters, case) and what was
    skipped, by reason (every skipped image is in skipped.json)."""
    dataset = D.load_folder(config.data_dir, config.input_spec, config.charset, config.lengths,
                            labels=config.labels, ignore_case=config.ignore_case)
    source = config.labels or "file names"
    if not dataset.names:
        D.require_labels(D.Labelled([], [], [], dataset.skipped, source), config.data_dir)
    if report:
        for line in D.label_report(dataset.labels, config.charset, source) + \
                D.skipped_summary(dataset.skipped, where=str(run.skipped_file)):
            log(line)
    run.write_skipped(dataset.skipped)
    if run.split_file.exists():
        split = run.split
    else:
        split = new_split(config, dataset.names)
        run.write_split(split)
    overlap = set(split["train"]) & set(split["val"])
    if overlap:
        raise RunError(f"expected disjoint train/validation splits in {run.split_file}, {len(overlap)} names are in both")
    train, val = dataset.subset(split["train"]), dataset.subset(split["val"])
    run.report_missing("train", train, log)
    run.report_missing("val", val, log)
    return train, val


def new_split(config: RunConfig, names: list[str]) -> dict:
    if config.folds:
        train, val = D.fold_names(names, config.folds, config.fold, config.seed)
    else:
        train, val = D.split_names(names, config.val_fraction, config.seed)
    return {"data_dir": str(Path(config.data_dir).resolve()), "seed": config.seed,
            "val_fraction": config.val_fraction, "folds": config.folds, "fold": config.fold,
            "train": train, "val": val}


def fit(config: RunConfig, out: str | os.PathLike, overwrite: bool = False, log=print, command: str | None = None,
        report: bool = True, extra: D.Dataset | None = None, budget: int = defaults.STEP_BUDGET,
        train_on_val: bool = False) -> dict:
    """Train (or resume) a run; returns the final state dict. ``command`` is recorded in command.txt.
    Before training it logs the labels and what was skipped (``report``). ``extra``: more training
    images (self-training's teacher-labelled ones, :mod:`trainer.selftrain`), never validated on.
    ``budget``: the optimizer steps that set the length when --epochs is not given.
    ``train_on_val``: the validation images train too (:func:`refit`)."""
    from .models import build

    D.check_charset(config.charset)
    run = Run(out)
    config = run.start(config, overwrite)
    train, val = split_for_run(config, run, log, report)
    if len(train.names) == 0 or len(val.names) == 0:
        raise DataError(f"expected images in both splits, got {len(train.names)} train and {len(val.names)} validation")
    log(f"{config.arch}: {len(train.names)} train / {len(val.names)} validation images, charset {config.charset!r}")
    if train_on_val:
        train = D.joined(train, val)
        log(f"and the {len(val.names)} validation images: {len(train.names)} training images; the validation "
            f"figures below are of images it trains on (progress only, not an estimate)")
    if extra is not None:
        train = D.joined(train, extra)
        log(f"and {len(extra.names)} images of {config.unlabelled} labelled by the teacher: {len(train.names)} "
            f"training images")
    budgeted = config.epochs is None  # the step budget sets the length: its last epochs anneal
    config = resolve_length(config, len(train.names), log, budget)
    resuming = run.has_trained
    initialise = config.init_from and not resuming
    if initialise:
        check_no_leak(config, val.names)  # before the (slow) build: a leak fails at once

    keras.utils.set_random_seed(config.seed)
    model = build(config)
    if config.kind == Kind.CTC or len(model.outputs) > 1:
        # The CTC output: a CTC model's own, or a multi-head model's training-only side output (last).
        check_time_steps(config, model.outputs[-1].shape[1], train.labels + val.labels)
    model = compile_model(model, config)
    if initialise:
        # Loaded after the seeded build, as always: the random draws of a run stay the same.
        base = Run(config.init_from)
        init_weights(model, base.load_keras(), config.init_from, log,
                     classes=(base.config.contract().class_chars(), config.contract().class_chars()))
    state = {"epoch": 0, "best_epoch": 0, "best_val_accuracy": -1.0, "best_val_loss": None,
             "history": [], "params": int(model.count_params()), "train_seconds": 0.0, "done": False}
    if resuming:
        state = run.state
        load_checkpoint(model, run.last_weights, log)
        log(f"resuming {run.root} after epoch {state['epoch']} ({run.kept_summary(state)})")
    if state.get("done") and (state.get("stopped_early") or state["epoch"] >= config.epochs):
        log("run already finished; nothing to do")
    else:
        _fit_epochs(model, config, run, state, train, val, log, anneal=budgeted)
    if command:
        run.write_command(command)
    return state


def refit(out: str | os.PathLike, log=print, command: str | None = None) -> dict:
    """--refit: after the fit in ``out``, fit once more into OUT/refit on every labelled image, its
    validation images too, from the start the fit kept (the base or scratch, as two starts chose),
    with the same seed, recipe and length rule; resumable like any fit. Returns its state.

    Why: with --select last validation steers nothing of a fit; it measures. So the images it
    holds out (--val-fraction, 30 of 200) teach nothing, and at 200 labels a fit on all of them
    read about one test image in 100 more (docs/training-log.md). ``export`` writes this fit's
    weights, and judges them with the first fit's validation: the int8 check on its images, the
    confidence temperature on its reads (the first fit never trained on them)."""
    first = Run(out)
    if not first.state.get("done"):
        raise RunError(f"expected a finished fit in {first.root} before its refit, found none; run the fit first")
    config = dataclasses.replace(first.config, refit=False)
    target = first.refit
    target.root.mkdir(parents=True, exist_ok=True)
    if not target.split_file.exists():
        target.write_split(first.split)  # the same images, so the validation ones are known to be trained on
    start = "the pre-trained base" if defaults.is_base(config.init_from) else (config.init_from or "scratch")
    log(f"refit: the same fit on every labelled image, validation images included, from {start}, in {target.root}")
    return fit(config, target.root, log=log, command=command, report=False, train_on_val=True)


def discard_refit(out: str | os.PathLike) -> None:
    """--overwrite: a refit made after an earlier fit in ``out`` is not this fit's."""
    shutil.rmtree(Run(out).refit.root, ignore_errors=True)


def resolve_length(config: RunConfig, train_images: int, log=print, budget: int = defaults.STEP_BUDGET) -> RunConfig:
    """The config with --epochs and --patience filled in when they were left to fit (None): from
    optimizer steps (trainer.defaults), so a small folder trains as long as a large one."""
    if config.epochs is not None and config.patience is not None:
        return config
    steps = defaults.steps_per_epoch(train_images, config.batch_size, config.max_steps)
    epochs = config.epochs or defaults.epochs_for(steps, budget)
    patience = config.patience or defaults.patience_for(steps)
    flat = defaults.plateau_epochs(patience)
    monitored = "training" if config.select == SELECT_LAST else "validation"
    anneal = ("" if config.epochs else f", and over the last {defaults.anneal_epochs(epochs)} epochs falls step by "
              f"step to that floor, where the last epoch trains")
    early = ("" if config.select == SELECT_LAST
             else f"; early stop after {patience} epochs without a better validation accuracy")
    log(f"training length: at most {epochs} epochs of {steps} steps (about {budget} optimizer steps)"
        f"{', ' if config.epochs is None else ' (--epochs), '}ending sooner once the {monitored} loss has not improved "
        f"for {flat} epochs at 1/{round(1 / defaults.MIN_LR_FRACTION)} of the starting learning rate; the rate halves "
        f"after {flat} epochs without improvement (a third of the patience, {patience} epochs)"
        f"{anneal}{early}")
    return dataclasses.replace(config, epochs=epochs, patience=patience)


def load_checkpoint(model, weights: Path, log=print) -> None:
    """The model's weights and its optimizer's state (step count, learning rate, Adam moments), as
    the checkpoint saved them. Keras creates optimizer variables only on the first training step
    and skips a saved state that does not match them, so they are built first."""
    import warnings

    model.optimizer.build(model.trainable_variables)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(weights)
    for w in caught:
        if "Skipping variable loading for optimizer" in str(w.message):
            log(f"the optimizer state in {weights} does not fit this model; training goes on with a fresh optimizer")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _fit_epochs(model, config: RunConfig, run: Run, state: dict, train: D.Dataset, val: D.Dataset, log,
                anneal: bool) -> None:
    """The epochs left, step by step with ``train_on_batch``: Keras' ``fit`` fed by a Python
    dataset (tf.data's from_generator) took twice as long a step on 2 cores. The callbacks are
    driven as ``fit`` drives them. ``anneal``: the last epochs' learning rate falls to its floor
    (defaults.lr_ceiling); a length the user set (--epochs) is theirs to schedule."""
    outputs = len(model.outputs)
    targets = output_targets(train.labels, config, outputs)
    val_x = to_inputs(val.pixels, config.input_spec)
    val_y = output_targets(val.labels, config, outputs)
    steps = defaults.steps_per_epoch(len(train.pixels), config.batch_size, config.max_steps)
    contract = config.contract()
    callbacks = keras.callbacks.CallbackList(
        [_Tracker(config, run, state, log), _lr_schedule(config, state, log, anneal)],
        model=model, epochs=config.epochs, steps=steps, verbose=0)
    model.stop_training = False
    callbacks.on_train_begin()
    saved = time.monotonic()
    for epoch in range(state["epoch"], config.epochs):
        callbacks.on_epoch_begin(epoch)
        logs = {"loss": _train_epoch(model, epoch_batches(config, train.pixels, targets, epoch), callbacks)}
        logs["val_loss"], logs["val_accuracy"] = _validate(model, contract, val_x, val_y, val.labels)
        callbacks.on_epoch_end(epoch, logs)
        last = model.stop_training or epoch + 1 == config.epochs
        # A checkpoint every epoch cost a small folder's fit (hundreds of 1 s epochs) minutes; a
        # killed fit now repeats at most CHECKPOINT_SECONDS of epochs, on the same batches.
        new_best = state["best_epoch"] == epoch + 1 and config.select != SELECT_LAST
        if last or new_best or time.monotonic() - saved >= CHECKPOINT_SECONDS:
            _save_weights(model, run.last_weights)
            run.write_state(state)
            saved = time.monotonic()
        if last:
            break
    callbacks.on_train_end()
    state["done"] = True
    run.write_state(state)
    log(f"{run.kept_summary(state)}; {state['train_seconds']:.0f} s of training; weights in {run.kept_weights}")


def _validate(model, contract, val_x, val_y, val_labels: list[str], batch: int = PREDICT_BATCH) -> tuple[float, float]:
    """The validation loss (``evaluate``'s: the mean over images) and full-string accuracy (by the
    runtime's decoders). Batch by batch through the compiled test and predict steps: ``evaluate``
    and ``predict`` set up a dataset each call, which on a small folder took a third of an epoch."""
    total, probs = 0.0, []
    for start in range(0, len(val_x), batch):
        rows = slice(start, start + batch)
        x = val_x[rows]
        total += float(model.test_on_batch(x, _rows(val_y, rows), return_dict=True)["loss"]) * len(x)
        outputs = model.predict_on_batch(x)
        probs.append(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)  # the primary output
    texts = decode_batch(np.concatenate(probs), contract)
    return total / len(val_x), float(np.mean([t == label for t, label in zip(texts, val_labels)]))


def _train_epoch(model, batches, callbacks) -> float:
    """One epoch's optimizer steps; returns its loss as ``fit`` reports it (the mean over images)."""
    total = images = 0.0
    for step, (x, y) in enumerate(batches):
        callbacks.on_train_batch_begin(step)
        loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
        total, images = total + loss * len(x), images + len(x)
        callbacks.on_train_batch_end(step, {"loss": total / images})
    return total / images


def fit_folds(config: RunConfig, out: str | os.PathLike, overwrite: bool = False, log=print,
              command: str | None = None) -> dict:
    """Fit fold 1..K into OUT/fold-k (each resumable on its own), then summarise in OUT/cv.json."""
    cv = Run(out)
    folds = []
    for k in range(1, config.folds + 1):
        log(f"== fold {k}/{config.folds}")
        run = cv.fold(k)
        state = fit(dataclasses.replace(config, fold=k), run.root, overwrite, log, command, report=k == 1)
        folds.append({"fold": k, "run": str(run.root), "val_images": len(run.split["val"]),
                      "val_accuracy": state["best_val_accuracy"], "epoch": state["best_epoch"]})
    mean = sum(f["val_accuracy"] for f in folds) / len(folds)
    summary = {"select": config.select, "folds": folds, "mean_val_accuracy": mean}
    cv.write_cv(summary)
    log(" ".join(f"fold {f['fold']}: {f['val_accuracy']:.4f}" for f in folds) + f"; mean {mean:.4f} "
        f"(Keras, {'last epoch' if config.select == SELECT_LAST else 'best epoch: an optimistic estimate'}); {cv.cv_file}")
    return summary


def _lr_schedule(config: RunConfig, state: dict | None, log, anneal: bool):
    # With --select last, validation must steer nothing, the learning rate included.
    monitor = "loss" if config.select == SELECT_LAST else "val_loss"
    return _Plateau(state, log, monitor, factor=0.5, patience=defaults.plateau_epochs(config.patience),
                    min_lr=config.learning_rate * defaults.MIN_LR_FRACTION, anneal=anneal)


class _Plateau(keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau whose counters (best value, epochs waited, cooldown) live in the run's
    state, so a resumed run lowers the learning rate when an uninterrupted one would. It holds the
    rate for the first HOLD_STEPS steps (a new style's loss may sit flat before it falls), and
    ends the fit once the monitored loss has not improved for its own patience
    (defaults.plateau_epochs: a third of --patience) at the lowest rate: converged. Over the
    last epochs of a budgeted fit (``anneal``) the rate is capped by defaults.lr_ceiling, so a fit
    that never converges still ends at the lowest rate."""

    def __init__(self, state: dict | None, log, *args, anneal: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.state, self.log, self.anneal = state, log, anneal

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        saved = (self.state or {}).get("plateau")
        if saved:
            self.best = saved["best"] if saved["best"] is not None else self.best
            self.wait, self.cooldown_counter = int(saved["wait"]), int(saved["cooldown_counter"])

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        held = (epoch + 1) * (self.params.get("steps") or 1) <= defaults.HOLD_STEPS
        if held:
            if self.monitor_op is None:
                self._set_monitor_op()
            if current is not None and self._is_improvement(current, self.best):
                self.best = current
            self.wait = 0
        else:
            super().on_epoch_end(epoch, logs)
        lr = self._cap(epoch + 1)
        if not held and lr <= self.min_lr * (1 + 1e-6) and self.wait >= self.patience:
            self.log(f"converged: the {'training' if self.monitor == 'loss' else 'validation'} loss has not improved "
                     f"for {self.wait} epochs at the lowest learning rate, {lr:.2g}")
            self.model.stop_training = True
            if self.state is not None:
                self.state["stopped_early"] = True
        if self.state is not None:
            best = None if self.best is None or not np.isfinite(self.best) else float(self.best)
            self.state["plateau"] = {"best": best, "wait": int(self.wait), "cooldown_counter": int(self.cooldown_counter)}

    def _cap(self, next_epoch: int) -> float:
        """Holds the learning rate to its ceiling for ``next_epoch`` (defaults.lr_ceiling, which
        depends on the epoch alone, so a resumed fit follows the same path); returns the rate."""
        lr = float(self.model.optimizer.learning_rate.numpy())
        if not self.anneal:
            return lr
        ceiling = defaults.lr_ceiling(next_epoch, self.params["epochs"], self.min_lr / defaults.MIN_LR_FRACTION)
        if lr > ceiling:
            self.model.optimizer.learning_rate.assign(ceiling)
        return min(lr, ceiling)


def check_no_leak(config: RunConfig, val_names: list[str]) -> None:
    """The --init-from run must not have trained on any of this run's validation images. A run
    without a split (the shipped pre-trained base: synthetic images only) trained on none."""
    source = Run(config.init_from)
    if not source.split_file.exists():
        return
    leaked = set(source.split["train"]) & set(val_names)
    if leaked:
        raise RunError(f"expected --init-from {config.init_from} to have trained on none of this run's validation "
                       f"images, it trained on {len(leaked)} of them; use the same --seed and data")


def init_weights(model, source, source_name: str, log=print,
                 classes: tuple[list[str], list[str]] | None = None) -> None:
    """Copy the weights of every same-named, same-shaped layer of ``source`` into ``model``.

    With ``classes`` (the source's and this model's characters per class index, as
    ``Contract.class_chars`` gives them), a same-named output layer whose class axis differs is
    copied class by class: each of this model's characters gets the source's weights for the same
    character (the blank, the blank's), and a character the source never learned keeps its fresh
    initialisation. A base that reads 0-9a-zA-Z so starts a model of any subset already reading.
    A gray model's first convolution starts an RGB model's (:func:`gray_to_rgb`)."""
    by_name = {layer.name: layer for layer in source.layers}
    copied, mapped, coloured = [], [], []
    for layer in model.layers:
        src = by_name.get(layer.name)
        if src is None or not layer.weights:
            continue
        if [tuple(w.shape) for w in layer.weights] == [tuple(w.shape) for w in src.weights]:
            layer.set_weights(src.get_weights())
            copied.append(layer.name)
        elif classes and (weights := map_classes(src.get_weights(), layer.get_weights(), *classes)) is not None:
            layer.set_weights(weights)
            mapped.append(layer.name)
        elif (weights := gray_to_rgb(src.get_weights(), layer.get_weights())) is not None:
            layer.set_weights(weights)
            coloured.append(layer.name)
    if not copied:
        raise RunError(f"expected layers in common with {source_name}, found none")
    log(f"initialised {len(copied)} layers from {source_name}: {', '.join(copied)}"
        + (f"; {', '.join(mapped)} class by class" if mapped else "")
        + (f"; {', '.join(coloured)} from gray to rgb" if coloured else ""))


#: The weights of R, G and B in OpenCV's gray (the runtime's to_gray): a gray model's first
#: convolution, so weighted per channel, computes on an RGB input what it computed on gray.
GRAY_FROM_RGB = np.array([0.299, 0.587, 0.114], np.float32)


def gray_to_rgb(source: list[np.ndarray], target: list[np.ndarray]) -> list[np.ndarray] | None:
    """A gray-input convolution's weights (kernel H x W x 1 x N, bias) for an RGB input (H x W x 3 x
    N), or None unless that is what ``source`` and ``target`` are."""
    if len(source) != len(target) or not source or source[0].ndim != 4:
        return None
    kernel, new = source[0], target[0]
    if kernel.shape[2] != 1 or new.shape != (*kernel.shape[:2], 3, kernel.shape[3]):
        return None
    if any(s.shape != t.shape for s, t in zip(source[1:], target[1:])):
        return None
    return [kernel * GRAY_FROM_RGB.reshape(1, 1, 3, 1), *source[1:]]


def map_classes(source: list[np.ndarray], target: list[np.ndarray], source_chars: list[str],
                target_chars: list[str]) -> list[np.ndarray] | None:
    """``target``'s arrays with the class columns (last axis) of the characters both know taken
    from ``source``; None unless every array is a class axis of those lengths over equal shapes."""
    if len(source) != len(target):
        return None
    for s, t in zip(source, target):
        if s.shape[-1] != len(source_chars) or t.shape[-1] != len(target_chars) or s.shape[:-1] != t.shape[:-1]:
            return None
    index = {ch: i for i, ch in enumerate(source_chars)}
    out = []
    for s, t in zip(source, target):
        t = np.array(t, copy=True)
        for j, ch in enumerate(target_chars):
            if ch in index:
                t[..., j] = s[..., index[ch]]
        out.append(t)
    return out


def _save_weights(model, path: Path) -> None:
    tmp = path.with_name("tmp-" + path.name)
    model.save_weights(tmp)
    os.replace(tmp, path)


#: Within an epoch, a progress line at most this often.
PROGRESS_SECONDS = 30.0
#: The last weights and the state are saved at least this often (and at the end, and with each
#: new best weights); an epoch's progress line comes every epoch.
CHECKPOINT_SECONDS = 30.0


class _Tracker(keras.callbacks.Callback):
    """Per-epoch progress line, the best weights (--select best), the state's record of the epoch
    and of the validation the loop measured, early stopping. The fit's loop saves the
    state and last weights."""

    def __init__(self, config: RunConfig, run: Run, state: dict, log):
        super().__init__()
        self.config, self.run, self.state, self.log = config, run, state, log
        self.t0 = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = self.shown = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        # An epoch of a large folder (the pre-training corpus) takes minutes: say how it goes.
        now = time.monotonic()
        if now - self.shown >= PROGRESS_SECONDS:
            self.shown = now
            steps = self.params.get("steps") or "?"
            loss = (logs or {}).get("loss", float("nan"))
            self.log(f"  epoch {self.state['epoch'] + 1}: step {batch + 1}/{steps}  loss {loss:.4f}  {now - self.t0:.0f}s")

    def on_epoch_end(self, epoch, logs=None):
        # The fit's loop gives every epoch its loss, validation loss and validation accuracy.
        loss, val_loss, acc = (float(logs[k]) for k in ("loss", "val_loss", "val_accuracy"))
        seconds = time.monotonic() - self.t0
        s = self.state
        if self.config.select == SELECT_LAST:
            # Validation only reports: the kept model is the last one, so its score is not a selected maximum.
            improved = True
        else:
            improved = acc > s["best_val_accuracy"] or (
                acc == s["best_val_accuracy"] and s["best_val_loss"] is not None and val_loss < s["best_val_loss"])
        if improved:
            if self.config.select != SELECT_LAST:  # with --select last the kept weights are the last ones
                _save_weights(self.model, self.run.best_weights)
            s.update(best_epoch=epoch + 1, best_val_accuracy=acc, best_val_loss=val_loss)
        lr = float(self.model.optimizer.learning_rate.numpy())
        s["history"].append({"epoch": epoch + 1, "loss": loss, "val_loss": val_loss,
                             "val_accuracy": acc, "lr": lr, "seconds": seconds})
        s["epoch"] = epoch + 1
        s["train_seconds"] = s.get("train_seconds", 0.0) + seconds
        # With --select last the kept model is the last one: a "best" would only repeat this epoch.
        best = "" if self.config.select == SELECT_LAST else f"  best {s['best_val_accuracy']:.4f}@{s['best_epoch']}"
        self.log(f"epoch {epoch + 1}/{self.config.epochs}  loss {loss:.4f}  val_loss {val_loss:.4f}  "
                 f"val_acc {acc:.4f}{best}  lr {lr:.2g}  {seconds:.1f}s")
        if self.config.select != SELECT_LAST and epoch + 1 - s["best_epoch"] >= self.config.patience:
            self.log(f"early stop: no improvement for {self.config.patience} epochs")
            s["stopped_early"] = True
            self.model.stop_training = True
