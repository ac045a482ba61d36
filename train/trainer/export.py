"""TFLite export in the runtime's quantization modes (``edge_runtime.contract.QUANTIZATIONS``),
with the run's contract embedded in the file and a parity check of the exported model, run by
the edge runtime itself, against the Keras model on the validation split. A run's model and its
export graph are built once however many modes are exported. No Keras import at module level."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import math
import os
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np

from edge_runtime import _version as runtime_version
from edge_runtime import trust
from edge_runtime.contract import METADATA_NAME, QUANTIZATIONS, Contract, Quantization
from edge_runtime.decode import decoder_for
from edge_runtime.errors import UsageError
from edge_runtime.registry import is_shipped

from . import _version as trainer_version
from . import data as D
from .errors import ExportError
from .predict import decode_batch, predict_probs, to_inputs
from .runs import Run

#: Default largest share of the validation images that the int8 model may read correctly fewer
#: of than the Keras model. Beyond it the export fails: quantization broke the model. Judged on
#: accuracy lost, not on texts that differ: where Keras is often wrong (a hard style), int8 reads
#: some of those errors differently, which costs the user nothing.
MAX_INT8_ACCURACY_DROP = 0.02
#: Images lost always allowed, whatever the share: in the 30 validation images of a 200-label
#: folder, one near-tie read differently is 3 %, and no evidence of a broken model.
ALLOWED_IMAGES_LOST = 1
#: A loss beyond the share fails the export only if near-ties read differently at random would
#: give it less often than this: under that chance, each image only one of the two reads right is
#: equally likely to be Keras's or int8's (an exact one-sided sign test). Why: a 200-label fit
#: whose int8 file read 3 of its 30 validation images fewer than Keras (and none more) read 256 of
#: 300 unseen images against float32's 254; a broken quantization loses images one way only.
INT8_LOSS_CHANCE = 0.05
#: Float32 files must match Keras probabilities within this absolute tolerance.
FLOAT32_TOLERANCE = 1e-3
REPRESENTATIVE_SAMPLES = 200


def refuse_shipped(outs: Iterable[str | os.PathLike], overwrite: bool = False) -> None:
    """UsageError for an --out that is a shipped model (converted/), unless ``overwrite``:
    following an example that writes into the checkout must not replace the runtime's default."""
    for out in outs:
        if not overwrite and is_shipped(out):
            raise UsageError(f"expected an --out that is not a shipped model, got {out}, which the runtime ships; "
                             "write elsewhere, or pass --overwrite to replace it")


@contextlib.contextmanager
def quiet_converter():
    """Silence the converter's chatter, which would bury the one line an export prints: Keras
    prints a ~40-line "Saved artifact ..." signature to stdout, the quantizer writes
    "fully_quantize: ..." to fd 2, and TensorFlow warns through absl and ``warnings``. A failure
    still reaches the user, as the exception that convert() turns into an ExportError."""
    from absl import logging as absl_logging

    from edge_runtime import quiet

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), quiet.muted():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl_logging.set_verbosity(verbosity)


def convert(model, mode: str, representative: np.ndarray | None = None) -> bytes:
    """Keras model -> TFLite flatbuffer, builtin ops only (a Flex op fails the export)."""
    import tensorflow as tf

    if mode not in QUANTIZATIONS:
        raise ExportError(f"expected a quantization mode in {QUANTIZATIONS}, got {mode!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != Quantization.FLOAT32:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == Quantization.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
    elif mode == Quantization.DYNAMIC:
        # tflite-runtime 2.14 cannot run per-channel dynamic-range fully connected layers.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    elif mode == Quantization.INT8:
        if representative is None or not len(representative):
            raise ExportError("expected representative images for int8 calibration, got none")

        def samples():
            for i, x in enumerate(representative):
                x = x[None].astype(np.float32)
                if i == 0:
                    # Pin the calibrated input range to the full pixel range, so the input
                    # quantization is exactly scale 1/255, zero point 0 (raw pixels).
                    x[0, 0, 0, 0], x[0, -1, -1, 0] = 0.0, 1.0
                yield [x]

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # uint8 input with scale 1/255 and zero point 0 lets the device feed raw pixels.
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
        # Per-channel int8 Dense weights crash tflite-runtime 2.14 on ARM (gemmlowp) in invoke().
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    try:
        with quiet_converter():
            return bytes(converter.convert())
    except Exception as exc:  # ConverterError and friends
        text = str(exc)
        if "Flex" in text or "SELECT_TF_OPS" in text or "Select TF" in text:
            raise ExportError(
                "expected a model of TFLite builtin ops only, but it needs Flex (SELECT_TF_OPS) ops that no device "
                "interpreter runs; export recurrent layers unrolled (the trainer does this for its own archs)"
            ) from None
        reason = text.strip().splitlines()[-1] if text.strip() else repr(exc)
        raise ExportError(f"expected TensorFlow to convert the model to a {mode} TFLite file, got: {reason}") from None


def embed_contract(model_bytes: bytes, contract: Contract) -> bytes:
    """Store the contract as the flatbuffer metadata entry the runtime reads (replacing any old one)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    contract.validate()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(contract.to_json().encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _split_summary(split: dict) -> dict:
    val = sorted(split["val"])
    return {"data": Path(split["data_dir"]).name, "seed": split["seed"], "val_fraction": split["val_fraction"],
            "folds": split.get("folds"), "fold": split.get("fold"), "train_count": len(split["train"]),
            "val_count": len(val), "val_names_sha256": hashlib.sha256("\n".join(val).encode()).hexdigest(),
            "val_names": val}


def fit_chain(run_dir: str | os.PathLike) -> list[str]:
    """The fit commands that made a run, earliest first, following --init-from links."""
    chain, seen, current = [], set(), Path(run_dir).resolve()
    while current and current not in seen:
        seen.add(current)
        run = Run(current)
        chain.append(run.command or f"(no command.txt in {current})")
        nxt = run.config.init_from if run.config_file.exists() else None
        current = Path(nxt).resolve() if nxt else None
    return chain[::-1]


def parity(model_file: Path, keras_probs: np.ndarray, contract: Contract, pixels: np.ndarray, labels: list[str],
           calibrate_on: np.ndarray | None = None) -> dict:
    """The exported model, run by edge_runtime on the validation pixels, against the Keras model.
    Its confidence temperature is fitted on the file's own outputs, or on ``calibrate_on``: the
    probabilities of a model that never trained on these images (a refit's first fit)."""
    from edge_runtime.recognizer import Recognizer

    rec = Recognizer.from_file(model_file, threads=1)
    tfl_texts, tfl_probs, invoke_ms = [], [], []
    for p in pixels:  # the very pixels Keras read, prepared once
        pred = rec.recognize(p, prepared=True)
        tfl_texts.append(pred.text)
        invoke_ms.append(pred.timings.invoke_ms)
        tfl_probs.append(rec.probabilities(p, prepared=True))
    keras_texts = decode_batch(keras_probs, contract)
    tfl_probs = np.stack(tfl_probs)
    # Per image, read right or not: the accuracies, and the images only one of the two reads right.
    keras_right = [t == label for t, label in zip(keras_texts, labels)]
    file_right = [t == label for t, label in zip(tfl_texts, labels)]
    return {
        "images": len(labels),
        "accuracy": float(np.mean(file_right)),
        "keras_accuracy": float(np.mean(keras_right)),
        "agreement_with_keras": _share(tfl_texts, keras_texts),
        "images_lost": sum(k and not f for k, f in zip(keras_right, file_right)),
        "images_gained": sum(f and not k for k, f in zip(keras_right, file_right)),
        "max_abs_prob_diff": float(np.abs(tfl_probs - keras_probs).max()),
        "invoke_ms_p50": float(np.median(invoke_ms)),
        "interpreter": f"{rec.interpreter.distribution} {rec.interpreter.version}",
        **calibration(tfl_probs if calibrate_on is None else calibrate_on, contract, labels),
    }


def calibration(probs: np.ndarray, contract: Contract, labels: list[str]) -> dict:
    """The temperature fitted on the exported file's own validation outputs, and the expected
    calibration error of the full-string confidence a device reports, before (T = 1) and after it.
    The fit minimises the log-loss of that confidence against correctness over T in
    [1, trust.TEMPERATURE_MAX]: never below 1, because a validation split with few or no errors
    would call for sharpening, and sharpening makes junk reads more confident too."""
    decode = decoder_for(contract)
    texts = [decode(p).text for p in probs]
    correct = [t == label for t, label in zip(texts, labels)]

    def confidences(temperature: float) -> np.ndarray:
        return np.array([trust.reported_confidence(contract, text, trust.calibrated(decode, p, temperature).confidence)
                         for text, p in zip(texts, probs)])

    temperature = trust.fit_temperature(confidences, correct)
    return {"temperature": temperature,
            "val_ece": trust.expected_calibration_error(confidences(1.0), correct),
            "val_ece_calibrated": trust.expected_calibration_error(confidences(temperature), correct)}


def _share(texts: list[str], others: list[str]) -> float:
    return float(np.mean([a == b for a, b in zip(texts, others)]))


def export(run_dir: str | os.PathLike, mode: str, out: str | os.PathLike,
           max_accuracy_drop: float = MAX_INT8_ACCURACY_DROP, log=print, overwrite: bool = False) -> dict:
    """Export one mode; returns the report that is also written next to the file as JSON."""
    return export_modes(run_dir, {mode: out}, max_accuracy_drop, log, overwrite)[mode]


def export_modes(run_dir: str | os.PathLike, targets: dict[str, str | os.PathLike],
                 max_accuracy_drop: float = MAX_INT8_ACCURACY_DROP, log=print, overwrite: bool = False) -> dict[str, dict]:
    """Export each mode to its file (``{mode: path}``), building the model and its export graph
    (same weights, recurrent layers unrolled, no dropout) once; returns each mode's report.
    A shipped model is replaced only with ``overwrite``."""
    from .models import count_macs, exported_output, inference_graph

    refuse_shipped(targets.values(), overwrite)
    run = Run(run_dir)
    config, split, state = run.config, run.split, run.state
    fitted = exported_run(run)
    keras_model = fitted.load_keras()
    export_model = inference_graph(keras_model, config)
    val = run.images("val", log=log)
    if not val.names:
        raise ExportError(f"expected validation images to check the export against, none of {len(split['val'])} "
                          f"listed in {run.split_file} could be read")
    val_x = to_inputs(val.pixels, config.input_spec)
    keras_probs = predict_probs(keras_model, val_x)
    refitted, kept = fitted is not run, fitted.state
    calibrate_on = None
    if refitted:
        log(f"exporting the refit ({fitted.root}), which trained on the validation images too: its validation "
            f"figures below are of images it trained on; the first fit's reads of them set the confidence temperature")
        calibrate_on = predict_probs(run.load_keras(), val_x)
    run_metrics = {"params": int(keras_model.count_params()), "macs": count_macs(export_model),
                   "best_epoch": kept.get("best_epoch"), "epochs": kept.get("epoch"), "select": config.select,
                   # The first fit's, on images it never trained on: an estimate even for a refit.
                   "val_accuracy_keras": state.get("best_val_accuracy"),
                   "weights": fitted.kept_weights.relative_to(run.root).as_posix(),
                   "val_images": len(split["val"]),
                   "train_images": len(split["train"]) + (len(split["val"]) if refitted else 0),
                   "train_seconds": round(state.get("train_seconds", 0.0)
                                          + (kept.get("train_seconds", 0.0) if refitted else 0.0), 1),
                   **({"refit": True} if refitted else {})}
    context = {"split": _split_summary(split), "fit_command": run.command, "fit_chain": fit_chain(run_dir),
               "unread_val_images": [s.name for s in val.skipped]}
    reports = {}
    sample = _train_sample(run, log)
    # Training images with plain bands above and below (text on a plain band) must not be
    # rejected by the margin rule on the device: the contract records what they had.
    flat = trust.trained_flat_rows(sample.pixels, config.height)
    if flat is not None:
        log(f"training images have up to {flat} flat rows above and below the text: the margin rule allows that many")
    for mode, out in targets.items():
        representative = to_inputs(sample.pixels, config.input_spec) if mode == Quantization.INT8 else None
        t0 = time.monotonic()
        raw = convert(export_model, mode, representative)
        seconds = time.monotonic() - t0
        contract = dataclasses.replace(config.contract(mode, run_metrics), max_flat_rows=flat,
                                       output=exported_output(config.arch))
        report = _write_checked(raw, Path(out), contract, keras_probs, val, max_accuracy_drop, calibrate_on)
        report.update(context, convert_seconds=round(seconds, 1), arch=config.arch)
        D.write_json(Path(out).with_suffix(".json"), report)
        log(f"{out}: {report['bytes']} bytes, {mode}; validation accuracy {report['accuracy']:.4f} "
            f"(keras {report['keras_accuracy']:.4f}), agreement with keras {report['agreement_with_keras']:.4f}, "
            f"max |dp| {report['max_abs_prob_diff']:.2g}, invoke p50 {report['invoke_ms_p50']:.3f} ms; "
            f"confidence temperature {report['temperature']:.3g} (validation ECE {report['val_ece']:.3f} -> "
            f"{report['val_ece_calibrated']:.3f})")
        if report.get("accepted_loss"):
            log(report["accepted_loss"])
        reports[mode] = report
    return reports


def exported_run(run: Run) -> Run:
    """The run whose weights export writes: ``run``, or with --refit its refit, once finished."""
    if not run.config.refit:
        return run
    if not run.refit.state.get("done"):
        found = f"it stopped after epoch {run.refit.state['epoch']}" if run.refit.state else "none"
        raise ExportError(f"expected the refit of {run.root} (fit --refit) to have finished in {run.refit.root}, "
                          f"found {found}; run the same fit command again to finish it")
    return run.refit


def _train_sample(run: Run, log) -> D.Dataset:
    """About REPRESENTATIVE_SAMPLES training images, evenly spread: the int8 calibration inputs,
    and what the margin rule's allowance is measured on."""
    train = run.split["train"]
    names = train[:: max(1, len(train) // REPRESENTATIVE_SAMPLES)]
    return run.images("train", names=names, log=log)


def loss_chance(lost: int, gained: int) -> float:
    """How often near-ties read differently at random lose at least ``lost`` images of the
    ``lost + gained`` that only one of the two models reads right (each is a fair coin)."""
    n = lost + gained
    return sum(math.comb(n, k) for k in range(lost, n + 1)) / 2**n


def _accuracy_lost(report: dict, max_drop: float) -> tuple[list[str], str | None]:
    """The int8 rule: the file may read at most ``max_drop`` of the validation images (or one
    image) correctly fewer than Keras, or more when chance explains the loss
    (:data:`INT8_LOSS_CHANCE`). Returns the problems and, for a loss beyond the share that chance
    explains, a note saying so."""
    drop = report["keras_accuracy"] - report["accuracy"]
    lost = round(drop * report["images"])
    if drop <= max_drop or lost <= ALLOWED_IMAGES_LOST:
        return [], None
    only_keras, only_file = report["images_lost"], report["images_gained"]
    chance = loss_chance(only_keras, only_file)
    why = (f"{lost} fewer: {only_keras} read right by Keras alone, {only_file} by int8 alone, which near-ties read "
           f"differently at random give with chance {chance:.2g}")
    if chance >= INT8_LOSS_CHANCE:
        return [], (f"int8 reads {lost} of the {report['images']} validation images correctly fewer than Keras, more "
                    f"than --max-accuracy-drop {max_drop:g} ({why}, not below {INT8_LOSS_CHANCE:g}): accepted")
    return [f"expected the int8 model to read at most --max-accuracy-drop {max_drop:g} of the {report['images']} "
            f"validation images (or {ALLOWED_IMAGES_LOST}) correctly fewer than Keras, measured {report['accuracy']:.4f} "
            f"against Keras {report['keras_accuracy']:.4f} ({why}, below {INT8_LOSS_CHANCE:g}); pass a higher "
            f"--max-accuracy-drop to accept it"], None


def _write_checked(raw: bytes, out: Path, contract: Contract, keras_probs: np.ndarray, val: D.Dataset,
                   max_accuracy_drop: float, calibrate_on: np.ndarray | None = None) -> dict:
    """Write the file with its contract, once it has passed the parity check; its metrics then
    include the exported file's own accuracy and agreement with Keras (:func:`parity`, which
    fits the temperature, on ``calibrate_on`` if given)."""
    mode = contract.quantization
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(embed_contract(raw, contract))
    report = parity(tmp, keras_probs, contract, val.pixels, val.labels, calibrate_on)
    problems = []
    if mode == Quantization.INT8:
        problems, report["accepted_loss"] = _accuracy_lost(report, max_accuracy_drop)
    if mode == Quantization.FLOAT32 and report["max_abs_prob_diff"] > FLOAT32_TOLERANCE:
        problems.append(f"expected float32 probabilities within {FLOAT32_TOLERANCE:g} of Keras, got a difference of "
                        f"{report['max_abs_prob_diff']:.2g}")
    if problems:
        tmp.unlink(missing_ok=True)
        raise ExportError("; ".join(problems))
    metrics = {**contract.metrics, "val_accuracy_tflite": report["accuracy"],
               "agreement_with_keras": report["agreement_with_keras"],
               "val_ece": report["val_ece"], "val_ece_calibrated": report["val_ece_calibrated"]}
    final = embed_contract(raw, dataclasses.replace(contract, metrics=metrics, temperature=report["temperature"]))
    tmp.write_bytes(final)
    os.replace(tmp, out)
    report.update({
        "file": out.name, "bytes": len(final), "quantization": mode, "params": metrics["params"],
        "macs": metrics["macs"], "run": metrics,
        "export_command": shlex.join(["captcha-train", *sys.argv[1:]]) if Path(sys.argv[0]).name == "captcha-train" else None,
        "trainer_version": trainer_version.__version__, "runtime_version": runtime_version.__version__,
    })
    return report
