"""A tiny model fitted for a few steps on real images, evaluated, resumed and exported in all modes."""

import json

import numpy as np
import pytest

from edge_runtime.contract import read_contract
from edge_runtime.recognizer import Recognizer

TINY = ["--input-size", "32x128", "--width-mult", "0.25", "--batch-size", "8", "--max-steps", "4",
        "--no-augment", "--learning-rate", "0.003", "--seed", "1"]
# Probability tolerance of each mode against Keras on the validation split (a tiny, barely trained model).
TOLERANCE = {"float32": 1e-3, "float16": 2e-2, "dynamic": 1e-1, "int8": 1e-1}


@pytest.fixture(scope="module")
def crnn_run(cli, small_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "crnn"
    out = cli("fit", "--data", str(small_data), "--arch", "crnn-faithful", "--out", str(run), "--epochs", "6", *TINY,
              module="trainer.cli")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("epoch ") >= 6
    return run


def test_fit_writes_a_complete_run_and_loss_goes_down(crnn_run):
    state = json.loads((crnn_run / "state.json").read_text())
    losses = [h["loss"] for h in state["history"]]
    assert len(losses) == 6 and losses[-1] < losses[0]
    split = json.loads((crnn_run / "split.json").read_text())
    assert len(split["val"]) == 7 and len(split["train"]) == 41
    config = json.loads((crnn_run / "config.json").read_text())
    assert config["arch"] == "crnn-faithful" and config["kind"] == "ctc"
    assert (crnn_run / "best.weights.h5").exists() and (crnn_run / "last.weights.h5").exists()


def test_fit_resumes_and_refuses_a_different_run(cli, crnn_run, small_data):
    out = cli("fit", "--data", str(small_data), "--arch", "crnn-faithful", "--out", str(crnn_run), "--epochs", "7", *TINY,
              module="trainer.cli")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "resuming" in out.stdout and "epoch 7/7" in out.stdout and "epoch 1/" not in out.stdout
    other = cli("fit", "--data", str(small_data), "--arch", "crnn", "--out", str(crnn_run), "--epochs", "2", *TINY,
                module="trainer.cli")
    assert other.returncode != 0 and "different" in other.stderr and "Traceback" not in other.stderr


def test_evaluate_writes_json_and_plots(cli, crnn_run):
    out = cli("evaluate", str(crnn_run), "--format", "json", module="trainer.cli")
    assert out.returncode == 0, out.stderr[-2000:]
    m = json.loads(out.stdout)
    assert m["count"] == 7 and 0 <= m["full_string_accuracy"] <= 1 and len(m["per_position_accuracy"]) == 5
    for name in ("eval.json", "curves.png", "eval-confusion.png"):
        assert (crnn_run / name).stat().st_size > 0


def test_export_all_modes_load_and_agree_with_keras(cli, crnn_run, tmp_path):
    out = cli("export", str(crnn_run), "--quantize", "all", "--out", str(tmp_path), "--min-agreement", "0",
              module="trainer.cli")
    assert out.returncode == 0, out.stderr[-3000:]
    for mode, tol in TOLERANCE.items():
        path = tmp_path / f"crnn-faithful-{mode}.tflite"
        report = json.loads(path.with_suffix(".json").read_text())
        assert report["max_abs_prob_diff"] <= tol, (mode, report["max_abs_prob_diff"])
        contract = read_contract(path.read_bytes())
        assert contract.quantization == mode and contract.kind == "ctc"
        assert contract.charset == json.loads((crnn_run / "config.json").read_text())["charset"]
        assert contract.metrics["val_images"] == 7
        rec = Recognizer.from_file(path)
        assert rec.recognize(np.full((32, 128), 255, np.uint8)).confidence <= 1.0
        assert_tf_lite_agrees(path, rec)
        if mode == "int8":
            assert rec.engine.input.dtype == np.uint8
            assert rec.engine.input.zero_point == 0 and abs(rec.engine.input.scale - 1 / 255) < 1e-6


def assert_tf_lite_agrees(path, rec):
    """tf.lite loads the file with its metadata too, and computes the same output as LiteRT."""
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(path))
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    x = np.random.default_rng(0).integers(0, 256, detail["shape"]).astype(detail["dtype"])
    if detail["dtype"] == np.float32:
        x = x / np.float32(255)
    interp.set_tensor(detail["index"], x)
    interp.invoke()
    ours = rec.engine
    ours._interp.set_tensor(ours.input.index, x)
    ours.invoke()
    expected = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(ours._interp.get_tensor(ours.output.index), expected, atol=1e-5)


def test_multihead_cnn_fits_and_exports_int8(cli, small_data, tmp_path):
    run = tmp_path / "cnn"
    out = cli("fit", "--data", str(small_data), "--arch", "cnn", "--out", str(run), "--epochs", "2", *TINY,
              module="trainer.cli")
    assert out.returncode == 0, out.stderr[-3000:]
    target = tmp_path / "cnn-int8.tflite"
    out = cli("export", str(run), "--quantize", "int8", "--out", str(target), "--min-agreement", "0", module="trainer.cli")
    assert out.returncode == 0, out.stderr[-3000:]
    contract = read_contract(target.read_bytes())
    assert contract.kind == "multihead" and contract.label_length == 5
    pred = Recognizer.from_file(target).recognize(sorted(small_data.glob("*.png"))[0])
    assert len(pred.text) == 5


def test_cnn_attn_fold_run_keeps_the_last_epoch_and_exports_heads_only(cli, small_data, tmp_path):
    run = tmp_path / "attn"
    out = cli("fit", "--data", str(small_data), "--arch", "cnn-attn", "--out", str(run), "--epochs", "3",
              "--folds", "4", "--fold", "2", "--select", "last", "--patience", "1", *TINY, module="trainer.cli")
    assert out.returncode == 0, out.stderr[-3000:]
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 3 and state["best_epoch"] == 3  # no early stop, no selection
    split = json.loads((run / "split.json").read_text())
    assert split["folds"] == 4 and split["fold"] == 2 and len(split["val"]) == 12 and len(split["train"]) == 36
    target = tmp_path / "attn-int8.tflite"
    out = cli("export", str(run), "--quantize", "int8", "--out", str(target), "--min-agreement", "0", module="trainer.cli")
    assert out.returncode == 0, out.stderr[-3000:]
    rec = Recognizer.from_file(target)
    assert rec.contract.kind == "multihead" and rec.contract.arch == "cnn-attn"
    assert len(rec.recognize(sorted(small_data.glob("*.png"))[0]).text) == 5
    # Only the heads were exported: the CTC side output (charset + blank wide) is gone.
    assert rec.engine.output_probs().shape == (5, len(rec.contract.charset))
    bad = cli("fit", "--data", str(small_data), "--arch", "cnn-attn", "--out", str(tmp_path / "x"), "--fold", "2",
              module="trainer.cli")
    assert bad.returncode == 2 and "--folds" in bad.stderr


def test_every_fold_in_one_command(cli, small_data, tmp_path):
    out = cli("fit", "--data", str(small_data), "--arch", "convctc-fast", "--out", str(tmp_path / "cv"), "--epochs", "1",
              "--folds", "3", "--select", "last", *TINY, module="trainer.cli")
    assert out.returncode == 0, out.stderr[-3000:]
    cv = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert [f["fold"] for f in cv["folds"]] == [1, 2, 3] and sum(f["val_images"] for f in cv["folds"]) == 48
    vals = [set(json.loads((tmp_path / "cv" / f"fold-{k}" / "split.json").read_text())["val"]) for k in (1, 2, 3)]
    assert len(vals[0] | vals[1] | vals[2]) == 48
    assert "mean" in out.stdout and "fold 3/3" in out.stdout


def test_flex_ops_fail_the_export():
    import keras

    from trainer.export import ExportError, convert

    inp = keras.Input((8, 4))
    model = keras.Model(inp, keras.layers.LSTM(4, return_sequences=True)(inp))  # not unrolled: a while loop
    with pytest.raises(ExportError, match="Flex"):
        convert(model, "float32")


def test_init_from_copies_the_shared_trunk_and_refuses_leaks(cli, small_data, tmp_path):
    base = tmp_path / "convctc"
    out = cli("fit", "--data", str(small_data), "--arch", "convctc", "--out", str(base), "--epochs", "1", *TINY,
              module="trainer.cli")
    assert out.returncode == 0, out.stderr[-2000:]
    ok = cli("fit", "--data", str(small_data), "--arch", "cnn", "--out", str(tmp_path / "cnn"), "--epochs", "1",
             "--init-from", str(base), *TINY, module="trainer.cli")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "initialised 12 layers" in ok.stdout and "collapse_conv" in ok.stdout
    # Another seed splits differently: the base run trained on some of this run's validation images.
    other = [a if a != "1" else "2" for a in TINY]
    leak = cli("fit", "--data", str(small_data), "--arch", "cnn", "--out", str(tmp_path / "leak"), "--epochs", "1",
               "--init-from", str(base), *other, module="trainer.cli")
    assert leak.returncode != 0 and "trained on none of this run's validation images" in leak.stderr
