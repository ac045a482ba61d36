"""fit --refit (the default where validation only measures): after the fit, a second fit on every
labelled image, validation images included (OUT/refit), from the same start; export writes its
weights, checks them on the first fit's validation images and fits the confidence temperature on the
first fit's reads of them."""

import json

import numpy as np
import pytest

from edge_runtime.recognizer import Recognizer
from trainer.export import calibration, parity
from trainer.predict import predict_probs, to_inputs
from trainer.runs import Run

from .conftest import IMAGES, render_data
from .test_starts import AS_BASE, noise_data  # noqa: F401 (a fixture)


def _fit(train_cli, data, out, tiny, *more, code=0):
    return train_cli("fit", "--data", data, "--out", out, "--epochs", 3, *tiny, *more, code=code)


def _default(tiny: list[str]) -> list[str]:
    """The tiny settings without their --no-refit: fit's default."""
    return [a for a in tiny if a != "--no-refit"]


@pytest.fixture(scope="module")
def refitted(train_cli, synth_data, tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("refit") / "run"
    log = _fit(train_cli, synth_data, out, _default(tiny)).output
    return Run(out), log


def test_by_default_the_refit_trains_on_every_labelled_image_from_the_same_start(refitted):
    run, log = refitted
    refit = run.refit
    assert "then a refit on every labelled image" in log and "--no-refit" in log
    assert run.config.refit and not refit.config.refit
    assert refit.split == run.split  # the validation images it trains on are the first fit's
    assert refit.config.init_from == run.config.init_from and refit.config.seed == run.config.seed
    train, val = len(run.split["train"]), len(run.split["val"])
    assert train + val == IMAGES and f"{train} train / {val} validation images" in log
    assert f"and the {val} validation images: {IMAGES} training images" in log
    assert run.state["done"] and refit.state["done"] and refit.command == run.command
    assert refit.last_weights.read_bytes() != run.last_weights.read_bytes()


def test_export_writes_the_refit_with_the_first_fits_temperature(train_cli, refitted, tmp_path):
    run, _ = refitted
    out = tmp_path / "m.tflite"
    log = train_cli("export", run.root, "--quantize", "float32", "--out", out).output
    assert "exporting the refit" in log
    val = run.images("val")
    x = to_inputs(val.pixels, run.config.input_spec)
    rec = Recognizer.from_file(out)
    probs = np.stack([rec.probabilities(p, prepared=True) for p in val.pixels])
    first, refit = predict_probs(run.load_keras(), x), predict_probs(run.refit.load_keras(), x)
    assert np.abs(probs - refit).max() < 1e-6 and np.abs(probs - first).max() > 1e-4
    contract = rec.contract
    assert contract.temperature == pytest.approx(calibration(first, contract, val.labels)["temperature"])
    metrics = contract.metrics
    assert metrics["refit"] is True and metrics["train_images"] == IMAGES
    assert metrics["weights"] == "refit/last.weights.h5" and metrics["epochs"] == run.refit.state["epoch"]
    # The first fit's validation accuracy: it never trained on those images.
    assert metrics["val_accuracy_keras"] == run.state["best_val_accuracy"]


def test_evaluate_says_the_refit_trained_on_the_validation_images(train_cli, refitted, tmp_path):
    run, _ = refitted
    log = train_cli("evaluate", run.root, "--out", tmp_path, "--no-plots").output
    assert "has a refit" in log and "--data DIR" in log
    other = train_cli("evaluate", run.root, "--data", run.config.data_dir, "--out", tmp_path, "--no-plots").output
    assert "has a refit" not in other


def test_parity_fits_the_temperature_on_the_reads_it_is_given(refitted, train_cli, tmp_path):
    """A refit's own reads of its validation images are those of images it trained on; the
    temperature comes from the reads passed as ``calibrate_on`` (the first fit's)."""
    run, _ = refitted
    out = tmp_path / "m.tflite"
    train_cli("export", run.root, "--quantize", "float32", "--out", out)
    val = run.images("val")
    contract = Recognizer.from_file(out).contract
    refit = predict_probs(run.refit.load_keras(), to_inputs(val.pixels, run.config.input_spec))
    # Reads that are sure and wrong: the charset's first character five times, blanks between.
    sure = np.full_like(refit, 0.01 / (refit.shape[-1] - 1))
    sure[:, :, contract.blank_index] = 0.99
    sure[:, 0:10:2, :] = 0.01 / (refit.shape[-1] - 1)
    sure[:, 0:10:2, 0] = 0.99
    assert not any(label == contract.charset[0] * 5 for label in val.labels)
    given = parity(out, refit, contract, val.pixels, val.labels, calibrate_on=sure)
    own = parity(out, refit, contract, val.pixels, val.labels)
    assert given["temperature"] == pytest.approx(calibration(sure, contract, val.labels)["temperature"])
    assert given["temperature"] > own["temperature"]
    assert given["accuracy"] == own["accuracy"] and given["agreement_with_keras"] == own["agreement_with_keras"]


def test_a_finished_refit_resumes_as_done_and_with_no_refit_export_takes_the_first_fit(
        train_cli, refitted, synth_data, tiny, tmp_path):
    run, _ = refitted
    weights = run.refit.last_weights.read_bytes()
    again = _fit(train_cli, synth_data, run.root, tiny, "--refit").output
    assert again.count("run already finished") == 2 and run.refit.last_weights.read_bytes() == weights
    plain = _fit(train_cli, synth_data, run.root, tiny).output  # tiny says --no-refit
    assert "--no-refit" in tiny and plain.count("run already finished") == 1
    assert "refit:" not in plain and not run.config.refit
    log = train_cli("export", run.root, "--quantize", "float32", "--out", tmp_path / "m.tflite").output
    assert "exporting the refit" not in log and json.loads((tmp_path / "m.json").read_text())["run"]["weights"] == "last.weights.h5"
    _fit(train_cli, synth_data, run.root, tiny, "--refit")  # the refit kept on disk is this fit's again
    assert run.config.refit and run.refit.last_weights.read_bytes() == weights


def test_refit_added_to_a_finished_fit_fits_only_the_refit(train_cli, synth_data, tiny, tmp_path):
    out = tmp_path / "run"
    _fit(train_cli, synth_data, out, tiny)
    first = Run(out).last_weights.read_bytes()
    log = _fit(train_cli, synth_data, out, tiny, "--refit").output
    assert log.count("run already finished") == 1 and "epoch 3/3" in log
    assert Run(out).last_weights.read_bytes() == first and Run(out).refit.state["done"]


def test_export_refuses_an_unfinished_refit_until_the_fit_finishes_it(train_cli, synth_data, tiny, tmp_path):
    out = tmp_path / "run"
    _fit(train_cli, synth_data, out, tiny, "--refit")
    # Killed before the refit's first checkpoint: the first fit is done, the refit has no state.
    Run(out).refit.state_file.unlink()
    Run(out).refit.last_weights.unlink()
    refused = train_cli("export", out, "--quantize", "float32", "--out", tmp_path / "m.tflite", code=1)
    assert "expected the refit" in refused.stderr and "found none" in refused.stderr
    assert not (tmp_path / "m.tflite").exists()
    log = _fit(train_cli, synth_data, out, tiny, "--refit").output
    assert log.count("run already finished") == 1 and "epoch 1/3" in log and Run(out).refit.state["done"]
    train_cli("export", out, "--quantize", "float32", "--out", tmp_path / "m.tflite")


def test_overwrite_discards_the_refit(train_cli, synth_data, tiny, tmp_path):
    out = tmp_path / "run"
    _fit(train_cli, synth_data, out, tiny, "--refit")
    _fit(train_cli, synth_data, out, tiny, "--overwrite")
    assert not Run(out).refit.root.exists() and not Run(out).config.refit
    log = train_cli("export", out, "--quantize", "float32", "--out", tmp_path / "m.tflite").output
    assert "exporting the refit" not in log
    assert json.loads((tmp_path / "m.json").read_text())["run"]["weights"] == "last.weights.h5"


@pytest.mark.parametrize("flags", [["--folds", "3"], ["--select", "best"], ["--unlabelled", "DATA"]])
def test_refit_is_refused_where_validation_measures(train_cli, synth_data, tiny, tmp_path, flags):
    flags = [str(synth_data) if f == "DATA" else f for f in flags]
    result = _fit(train_cli, synth_data, tmp_path / "run", tiny, "--refit", *flags, code=2)
    assert "expected --refit with --select last" in result.output and not (tmp_path / "run").exists()


def test_a_run_from_before_the_refit_exports_its_fit_until_fit_runs_again(train_cli, synth_data, tiny, tmp_path):
    out = tmp_path / "run"
    _fit(train_cli, synth_data, out, tiny)
    config = json.loads((out / "config.json").read_text())
    del config["refit"]  # as written before the refit was kept
    (out / "config.json").write_text(json.dumps(config))
    assert not Run(out).config.refit
    log = train_cli("export", out, "--quantize", "float32", "--out", tmp_path / "m.tflite").output
    assert "exporting the refit" not in log
    log = _fit(train_cli, synth_data, out, _default(tiny)).output  # today's default adds the refit
    assert log.count("run already finished") == 1 and Run(out).config.refit and Run(out).refit.state["done"]


@pytest.mark.parametrize("flags", [["--folds", "3", "--fold", "1"], ["--select", "best"], ["--unlabelled", "DATA"]])
def test_by_default_no_refit_where_validation_measures(train_cli, synth_data, tiny, tmp_path, flags):
    if "DATA" in flags:
        flags = [str(render_data(tmp_path / "unlabelled", count=4, seed=9)) if f == "DATA" else f for f in flags]
    out = tmp_path / "run"
    log = train_cli("fit", "--data", synth_data, "--out", out, "--epochs", 1, *_default(tiny), *flags).output
    assert "then a refit" not in log and not Run(out).config.refit and not Run(out).refit.root.exists()


def test_a_two_start_refit_starts_where_the_kept_fit_started(train_cli, noise_data, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    log = train_cli("fit", "--data", noise_data, "--out", out, *AS_BASE, "--refit").output
    assert "two starts, 2 of 2" in log
    run = Run(out)
    kept = json.loads((out / "starts.json").read_text())["chosen"]
    assert run.refit.config.init_from == Run(out / kept).config.init_from
    start = "the pre-trained base" if run.refit.config.init_from else "scratch"
    assert f"refit: the same fit on every labelled image, validation images included, from {start}" in log
