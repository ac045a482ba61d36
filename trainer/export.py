"""TFLite export in four quantization modes, with the contract embedded in the file and a parity
check of the exported model (run by the edge runtime itself) against the Keras model."""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from edge_runtime._version import __version__
from edge_runtime.contract import METADATA_NAME, Contract, InputSpec

from . import data as D
from .train import RunConfig, RunFiles, decode_batch, load_config, to_inputs

MODES = ("float32", "float16", "dynamic", "int8")
#: Default minimum share of validation images on which the int8 model must read the same
#: text as the Keras model. Below it the export fails: quantization broke the model.
MIN_INT8_AGREEMENT = 0.98
#: Float32 files must match Keras probabilities within this absolute tolerance.
FLOAT32_TOLERANCE = 1e-3
REPRESENTATIVE_SAMPLES = 200


class ExportError(RuntimeError):
    """The model cannot be exported as asked; the message says why."""


def convert(model, mode: str, representative: np.ndarray | None = None) -> bytes:
    """Keras model -> TFLite flatbuffer, builtin ops only (a Flex op fails the export)."""
    import tensorflow as tf

    if mode not in MODES:
        raise ExportError(f"expected a quantization mode in {MODES}, got {mode!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        # tflite-runtime 2.14 cannot run per-channel dynamic-range fully connected layers.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    elif mode == "int8":
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
        return bytes(converter.convert())
    except Exception as exc:  # ConverterError and friends
        text = str(exc)
        if "Flex" in text or "SELECT_TF_OPS" in text or "Select TF" in text:
            raise ExportError(
                "expected a model of TFLite builtin ops only, but it needs Flex (SELECT_TF_OPS) ops that no device "
                "interpreter runs; export recurrent layers unrolled (the trainer does this for its own archs)"
            ) from None
        raise ExportError(f"TFLite conversion failed ({mode}): {text.strip().splitlines()[-1] if text.strip() else exc}") from None


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


def make_contract(config: RunConfig, mode: str, metrics: dict) -> Contract:
    return Contract(
        kind=config.kind,
        charset=config.charset,
        input=InputSpec(height=config.height, width=config.width),
        blank_index=config.blank_index,
        label_length=config.label_length,
        arch=config.arch,
        quantization=mode,
        trainer_version=__version__,
        metrics=metrics,
    )


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
        command = current / "command.txt"
        chain.append(command.read_text().strip() if command.exists() else f"(no command.txt in {current})")
        config = current / "config.json"
        nxt = D.read_json(config).get("init_from") if config.exists() else None
        current = Path(nxt).resolve() if nxt else None
    return chain[::-1]


def parity(model_file: Path, keras_probs: np.ndarray, config: RunConfig, pixels: np.ndarray, labels: list[str]) -> dict:
    """The exported model, run by edge_runtime on the validation pixels, against the Keras model."""
    from edge_runtime.recognizer import Recognizer

    rec = Recognizer.from_file(model_file, threads=1)
    tfl_texts, tfl_probs, invoke_ms = [], [], []
    for p in pixels:
        pred = rec.recognize(p)
        tfl_texts.append(pred.text)
        tfl_probs.append(rec.engine.output_probs())
        invoke_ms.append(pred.timings.invoke_ms)
    keras_texts = decode_batch(keras_probs, config)
    tfl_probs = np.stack(tfl_probs)
    return {
        "images": len(labels),
        "accuracy": float(np.mean([t == l for t, l in zip(tfl_texts, labels)])),
        "keras_accuracy": float(np.mean([t == l for t, l in zip(keras_texts, labels)])),
        "agreement_with_keras": float(np.mean([a == b for a, b in zip(tfl_texts, keras_texts)])),
        "max_abs_prob_diff": float(np.abs(tfl_probs - keras_probs).max()),
        "invoke_ms_p50": float(np.median(invoke_ms)),
        "interpreter": f"{rec.engine.info.distribution} {rec.engine.info.version}",
    }


def export(run_dir: str | os.PathLike, mode: str, out: str | os.PathLike,
           min_agreement: float = MIN_INT8_AGREEMENT, log=print) -> dict:
    """Export one mode; returns the report that is also written next to the file as JSON."""
    from .evaluate import load_keras

    config = load_config(run_dir)
    files = RunFiles(run_dir)
    split = D.read_json(files.split)
    state = D.read_json(files.state) if files.state.exists() else {}
    _, keras_model = load_keras(run_dir)
    # The export graph: same weights, recurrent layers unrolled and without dropout.
    _, export_model = load_keras(run_dir, inference=True)
    val = D.load_folder(split["data_dir"], config.input_spec, config.charset, config.label_length, names=split["val"])
    representative = None
    if mode == "int8":
        train = D.load_folder(split["data_dir"], config.input_spec, config.charset, config.label_length,
                              names=split["train"][:: max(1, len(split["train"]) // REPRESENTATIVE_SAMPLES)])
        representative = to_inputs(train.pixels, config.input_spec)
    t0 = time.monotonic()
    raw = convert(export_model, mode, representative)
    seconds = time.monotonic() - t0
    from .models import count_macs

    run_metrics = {"params": int(keras_model.count_params()), "macs": count_macs(export_model),
                   "best_epoch": state.get("best_epoch"), "epochs": state.get("epoch"), "select": config.select,
                   "val_accuracy_keras": state.get("best_val_accuracy"), "val_images": len(split["val"]),
                   "train_images": len(split["train"]), "train_seconds": round(state.get("train_seconds", 0.0), 1)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(embed_contract(raw, make_contract(config, mode, run_metrics)))
    keras_probs = keras_model.predict(to_inputs(val.pixels, config.input_spec), batch_size=64, verbose=0)
    report = parity(tmp, keras_probs, config, val.pixels, val.labels)
    problems = []
    if mode == "int8" and report["agreement_with_keras"] < min_agreement:
        problems.append(f"int8 agreement with Keras {report['agreement_with_keras']:.4f} is below the required {min_agreement}")
    if mode == "float32" and report["max_abs_prob_diff"] > FLOAT32_TOLERANCE:
        problems.append(f"float32 probabilities differ from Keras by {report['max_abs_prob_diff']:.2g} > {FLOAT32_TOLERANCE}")
    if problems:
        tmp.unlink(missing_ok=True)
        raise ExportError("; ".join(problems))
    run_metrics.update(val_accuracy_tflite=report["accuracy"], agreement_with_keras=report["agreement_with_keras"])
    final = embed_contract(raw, make_contract(config, mode, run_metrics))
    tmp.write_bytes(final)
    os.replace(tmp, out)
    report.update({
        "file": out.name, "bytes": len(final), "quantization": mode, "arch": config.arch, "params": run_metrics["params"],
        "macs": run_metrics["macs"],
        "convert_seconds": round(seconds, 1), "run": run_metrics, "split": _split_summary(split),
        "fit_command": (files.root / "command.txt").read_text().strip() if (files.root / "command.txt").exists() else None,
        "fit_chain": fit_chain(run_dir),
        "export_command": shlex.join(["captcha-train", *sys.argv[1:]]) if Path(sys.argv[0]).name == "captcha-train" else None,
        "trainer_version": __version__,
    })
    D.write_json(out.with_suffix(".json"), report)
    log(f"{out}: {len(final)} bytes, {mode}; validation accuracy {report['accuracy']:.4f} "
        f"(keras {report['keras_accuracy']:.4f}), agreement with keras {report['agreement_with_keras']:.4f}, "
        f"max |dp| {report['max_abs_prob_diff']:.2g}, invoke p50 {report['invoke_ms_p50']:.3f} ms")
    return report
