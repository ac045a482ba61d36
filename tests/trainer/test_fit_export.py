"""One tiny CTC model (crnn: convolutions and a BiLSTM) per module: fitted for a few steps, resumed,
evaluated, and exported in every mode, each file read back by the edge runtime and tf.lite."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import trust
from edge_runtime.contract import QUANTIZATIONS, Contract, read_contract
from edge_runtime.recognizer import Recognizer
from trainer.evaluate import evaluate
from trainer.export import ExportError, convert
from trainer.predict import predict_probs, predict_texts, to_inputs
from trainer.runs import Run

# Probability tolerance of each mode against Keras on the validation split (a tiny, barely trained model).
TOLERANCE = {"float32": 1e-3, "float16": 2e-2, "dynamic": 1e-1, "int8": 1e-1}


@pytest.fixture(scope="module")
def crnn_run(train_cli, synth_data, tiny, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "crnn"
    out = train_cli("fit", "--data", synth_data, "--arch", "crnn", "--out", run, "--epochs", 6, *tiny).stdout
    assert out.count("epoch ") >= 6
    return Run(run)


@pytest.fixture(scope="module")
def exported(train_cli, crnn_run, tmp_path_factory):
    """Every quantization mode of the run, in one export command (one model build)."""
    folder = tmp_path_factory.mktemp("exported")
    train_cli("export", crnn_run.root, "--quantize", "all", "--out", folder, "--max-accuracy-drop", 1)
    return {mode: folder / f"crnn-{mode}.tflite" for mode in QUANTIZATIONS}


def test_fit_writes_a_complete_run_and_loss_goes_down(crnn_run, synth_data):
    losses = [h["loss"] for h in crnn_run.state["history"]]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert len(crnn_run.split["val"]) == 7 and len(crnn_run.split["train"]) == 41
    config = crnn_run.config
    assert config.arch == "crnn" and config.kind == "ctc" and config.epochs == 6
    assert config.data_dir == str(synth_data)
    # --select last (the default) keeps the last weights; no best.weights.h5 duplicates them.
    assert crnn_run.last_weights.exists() and not crnn_run.best_weights.exists()
    assert crnn_run.command.startswith("captcha-train ") and json.loads(crnn_run.skipped_file.read_text()) == []


def test_fit_resumes_and_refuses_a_different_run(train_cli, crnn_run, synth_data, tiny):
    out = train_cli("fit", "--data", synth_data, "--arch", "crnn", "--out", crnn_run.root, "--epochs", 7, *tiny).stdout
    assert "resuming" in out and "epoch 7/7" in out and "epoch 1/" not in out
    assert crnn_run.state["epoch"] == 7
    other = train_cli("fit", "--data", synth_data, "--arch", "crnn-faithful", "--out", crnn_run.root, "--epochs", 2, *tiny, code=1)
    assert "different arch" in other.stderr and len(other.stderr.strip().splitlines()) == 1
    assert crnn_run.config.arch == "crnn"


def test_evaluate_writes_json_and_plots(train_cli, crnn_run):
    m = json.loads(train_cli("evaluate", crnn_run.root, "--format", "json").stdout)
    assert m["count"] == 7 and 0 <= m["full_string_accuracy"] <= 1 and len(m["per_position_accuracy"]) == 5
    assert m["unread"] == []
    for name in ("eval.json", "curves.png", "eval-confusion.png"):
        assert (crnn_run.root / name).stat().st_size > 0


def test_evaluate_says_which_validation_images_could_not_be_read(crnn_run, own_data, tmp_path):
    run = Run(shutil.copytree(crnn_run.root, tmp_path / "run"))
    split = run.split
    gone = split["val"][0]
    (own_data / gone).unlink()
    run.write_split({**split, "data_dir": str(own_data)})
    lines = []
    m = evaluate(run.root, plots=False, log=lines.append)
    assert m["count"] == 6 and m["unread"] == [{"name": gone, "reason": "not in the folder"}]
    assert f"1 validation images listed in {run.split_file} could not be read: {gone}" in lines


def test_every_mode_carries_the_run_contract(crnn_run, exported):
    layout = crnn_run.config.contract()
    assert layout == Contract.for_charset("ctc", crnn_run.config.charset, crnn_run.config.input_spec, arch="crnn",
                                          trainer_version=layout.trainer_version, min_length=5, max_length=5)
    for mode, path in exported.items():
        contract = read_contract(path.read_bytes())
        assert contract.quantization == mode and contract.kind == "ctc" and contract.arch == "crnn"
        assert contract.length_range == (5, 5) and contract.input.resize == "stretch"
        assert contract.output == "probabilities"  # a recurrent arch keeps its softmax (models.LOGIT_EXPORTS)
        assert (contract.charset, contract.blank_index, contract.class_chars(), contract.num_classes, contract.input) == \
            (layout.charset, layout.blank_index, layout.class_chars(), layout.num_classes, layout.input)
        assert contract.metrics["val_images"] == 7 and contract.metrics["params"] > 0
        report = json.loads(path.with_suffix(".json").read_text())
        assert report["max_abs_prob_diff"] <= TOLERANCE[mode], (mode, report["max_abs_prob_diff"])
        assert report["images"] == 7 and report["split"]["val_names"] == sorted(crnn_run.split["val"])


def test_float32_file_reads_what_keras_reads(crnn_run, exported):
    """From the image files, through edge_runtime, the float32 file gives Keras' probabilities
    and texts on the validation images."""
    val = crnn_run.images("val")
    model, contract = crnn_run.load_keras(), crnn_run.config.contract()
    rec = Recognizer.from_file(exported["float32"])
    paths = [Path(crnn_run.split["data_dir"]) / n for n in val.names]
    np.testing.assert_allclose(np.stack([rec.probabilities(p) for p in paths]),
                               predict_probs(model, to_inputs(val.pixels, contract.input)), atol=1e-3)
    assert [rec.recognize(p).text for p in paths] == predict_texts(model, contract, val.pixels)


def test_int8_takes_raw_pixels(exported):
    tensor = Recognizer.from_file(exported["int8"]).describe()["input_tensor"]
    assert tensor["dtype"] == "uint8" and tensor["zero_point"] == 0 and tensor["scale"] == pytest.approx(1 / 255, abs=1e-9)


@pytest.mark.parametrize("mode", QUANTIZATIONS)
def test_tf_lite_computes_what_litert_computes(exported, mode):
    """tf.lite loads the file with its metadata too, and computes the same output as edge_runtime."""
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(exported[mode]))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    pixels = np.random.default_rng(0).integers(0, 256, inp["shape"][1:3]).astype(np.uint8)
    x = pixels[None, ..., None]
    interp.set_tensor(inp["index"], x if inp["dtype"] == np.uint8 else (x / np.float32(255)).astype(np.float32))
    interp.invoke()
    expected = interp.get_tensor(out["index"])[0].astype(np.float32)
    scale, zero = out["quantization"]
    if out["dtype"] == np.uint8:
        expected = (expected - zero) * np.float32(scale)
    np.testing.assert_allclose(Recognizer.from_file(exported[mode]).probabilities(pixels), expected, atol=1e-5)


def test_flex_ops_fail_the_export():
    import keras

    inp = keras.Input((8, 4))
    model = keras.Model(inp, keras.layers.LSTM(4, return_sequences=True)(inp))  # not unrolled: a while loop
    with pytest.raises(ExportError, match="Flex"):
        convert(model, "float32")


# ---- confidence calibration (issue #15) ---------------------------------------------------------

def test_export_calibrates_confidence_never_sharpening(exported):
    """Every file carries the temperature fitted on its own validation outputs, at least 1, and
    the validation ECE before and after it (the fit minimises log-loss, so ECE need not fall)."""
    for mode, path in exported.items():
        contract = read_contract(path.read_bytes())
        report = json.loads(path.with_suffix(".json").read_text())
        assert 1.0 <= contract.temperature <= trust.TEMPERATURE_MAX and contract.temperature == report["temperature"]
        for key in ("val_ece", "val_ece_calibrated"):
            assert 0.0 <= contract.metrics[key] <= 1.0 and contract.metrics[key] == report[key]
        rec = Recognizer.from_file(path)
        assert rec.describe()["contract"]["temperature"] == contract.temperature


def test_evaluate_reports_ece_and_draws_a_reliability_plot(train_cli, crnn_run, exported, tmp_path):
    import cv2

    out = train_cli("evaluate", crnn_run.root, "--out", tmp_path).stdout
    assert "calibration error (ECE)" in out
    m = json.loads((tmp_path / "eval.json").read_text())
    assert 0.0 <= m["ece"] <= 1.0 and sum(m["reliability"]["count"]) == m["count"] == 7
    plot = cv2.imread(str(tmp_path / "eval-reliability.png"))
    assert plot is not None and plot.shape[2] == 3 and min(plot.shape[:2]) > 300
    # an exported file, through the runtime (its temperature applied), to a chosen path
    chosen = tmp_path / "plots" / "int8.png"
    m = json.loads(train_cli("evaluate", crnn_run.root, "--tflite", exported["int8"], "--out", tmp_path,
                             "--reliability-plot", chosen, "--format", "json").stdout)
    assert len(m["reliability"]["accuracy"]) == 10 and cv2.imread(str(chosen)) is not None
    both = train_cli("evaluate", crnn_run.root, "--no-plots", "--reliability-plot", chosen, code=2)
    assert "at most one of --no-plots and --reliability-plot" in both.output
