"""What fit decides with no flag (trainer.defaults): the arch, fine-tuning from the shipped
pre-trained base, the training length in optimizer steps, and the convergence stop."""

import dataclasses

import keras
import numpy as np
import pytest

from edge_runtime.contract import InputSpec
from trainer import defaults, render
from trainer.data import text_zoom
from trainer.defaults import AUTO, BASE_DIR, CROP_FROM_ZOOM, CROP_SAMPLE, FINE_TUNE_MAX, NONE, choose, choose_resize
from trainer.runs import Run
from trainer.train import _Plateau, resolve_length


def test_the_base_ships_with_the_trainer_and_reads_0_9_a_z_A_Z():
    base = Run(BASE_DIR)
    assert defaults.base_available() and base.config.select == "last"
    assert sorted(base.config.charset) == sorted("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    # Weights only: small enough to ship, and they load into the base's own architecture.
    assert base.last_weights.stat().st_size < 1_000_000
    model = base.load_keras()
    assert model.count_params() < 100_000


@pytest.mark.parametrize("images, width, init, expect_base, fragment", [
    (200, 1.0, AUTO, True, "fine-tuned from the pre-trained base: 200 labelled images, at most"),
    (FINE_TUNE_MAX, 1.0, AUTO, True, "fine-tuned from the pre-trained base"),
    (FINE_TUNE_MAX + 1, 1.0, AUTO, False, "more than"),
    (200, 0.25, AUTO, False, "the pre-trained base is convctc-fast at width 1.0, this model is convctc-fast at width 0.25"),
    (200, 1.0, NONE, False, "from scratch (--init-from none)"),
])
def test_auto_fine_tunes_small_folders_from_the_base_and_says_why(images, width, init, expect_base, fragment):
    choice = choose(AUTO, init, images, width)
    assert choice.arch == Run(BASE_DIR).config.arch
    assert (choice.init_from == str(BASE_DIR)) is expect_base
    assert fragment in choice.reason and choice.reason.startswith("--arch auto: ")


def test_another_arch_or_run_is_respected(tmp_path):
    assert choose("crnn", AUTO, 100, 1.0).init_from is None  # the base's layers are convctc-fast's
    assert choose("crnn", str(tmp_path), 100, 1.0).init_from == str(tmp_path)


def test_training_length_is_a_step_budget_not_an_epoch_count(synth_data):
    from trainer.config import RunConfig

    config = RunConfig(arch="convctc-fast", data_dir=str(synth_data), kind="ctc", charset="abc", label_length=None,
                       height=50, width=200, batch_size=16)
    small, large = resolve_length(config, 170, log=lambda m: None), resolve_length(config, 1700, log=lambda m: None)
    steps = lambda c, n: c.epochs * defaults.steps_per_epoch(n, 16, None)  # noqa: E731
    assert small.epochs > large.epochs
    assert defaults.STEP_BUDGET <= steps(small, 170) < defaults.STEP_BUDGET + 11
    assert defaults.STEP_BUDGET <= steps(large, 1700) < defaults.STEP_BUDGET + 107
    assert resolve_length(dataclasses.replace(config, epochs=7, patience=2), 170).epochs == 7
    half = resolve_length(config, 170, log=lambda m: None, budget=defaults.STEP_BUDGET // 2)  # a self-trained student
    assert defaults.STEP_BUDGET // 2 <= steps(half, 170) < defaults.STEP_BUDGET // 2 + 11


@pytest.mark.parametrize("select, monitored, early", [
    ("last", "the training loss", ""),
    ("best", "the validation loss", "; early stop after 110 epochs without a better validation accuracy"),
])
def test_the_training_length_line_says_when_the_fit_stops(synth_data, select, monitored, early):
    from trainer.config import RunConfig
    from trainer.train import _lr_schedule

    config = RunConfig(arch="convctc-fast", data_dir=str(synth_data), kind="ctc", charset="abc", label_length=None,
                       height=50, width=200, batch_size=16, select=select)
    lines = []
    resolved = resolve_length(config, 170, log=lines.append)  # 11 steps an epoch: patience 110 epochs
    assert resolved.patience == 110 and _lr_schedule(resolved, None, lines.append, anneal=True).patience == 36
    assert lines == [f"training length: at most 546 epochs of 11 steps (about 6000 optimizer steps), ending sooner once "
                     f"{monitored} has not improved for 36 epochs at 1/16 of the starting learning rate; the rate "
                     f"halves after 36 epochs without improvement (a third of the patience, 110 epochs), and over the "
                     f"last 136 epochs falls step by step to that floor, where the last epoch trains{early}"]


def plateau(steps_per_epoch: int, lr: float = 0.01, epochs: int = 1000, anneal: bool = True):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
    model.optimizer.build(model.trainable_variables)
    lines = []
    cb = _Plateau({}, lines.append, "loss", factor=0.5, patience=3, min_lr=lr * defaults.MIN_LR_FRACTION, anneal=anneal)
    cb.set_model(model)
    cb.set_params({"steps": steps_per_epoch, "epochs": epochs})
    cb.on_train_begin()
    return model, cb, lines


def run_flat(model, cb, epochs: int, first: int = 0) -> int:
    """Epochs first.. of a flat training loss until the callback stops the fit (or ``epochs`` pass)."""
    for epoch in range(first, first + epochs):
        cb.on_epoch_end(epoch, {"loss": 5.0})
        if model.stop_training:
            return epoch + 1 - first
    return epochs


def test_a_flat_loss_halves_the_rate_down_to_its_floor_then_the_fit_has_converged():
    model, cb, lines = plateau(steps_per_epoch=1000)  # past the hold after one epoch
    stopped = run_flat(model, cb, 100)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01 * defaults.MIN_LR_FRACTION)
    # One epoch held; 4 halvings (3 flat epochs each: patience) to 1/16; then 3 more at the floor.
    assert stopped == 1 + 4 * 3 + 3 and lines and lines[-1].startswith("converged: the training loss has not improved")


def test_the_rate_is_held_while_a_new_style_may_sit_at_the_blank_plateau():
    model, cb, _ = plateau(steps_per_epoch=10)
    held = defaults.HOLD_STEPS // 10
    run_flat(model, cb, held)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01) and not model.stop_training
    run_flat(model, cb, 4, first=held)  # then the plateau counts as usual
    assert float(model.optimizer.learning_rate.numpy()) < 0.01


def test_an_improving_loss_never_stops():
    model, cb, _ = plateau(steps_per_epoch=1000)
    for epoch, loss in enumerate(np.linspace(10, 1, 60)):
        cb.on_epoch_end(epoch, {"loss": float(loss)})
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01) and not model.stop_training


@pytest.mark.parametrize("anneal", [True, False])
def test_a_budgeted_fit_that_runs_out_of_epochs_still_ends_at_the_lowest_rate(anneal):
    model, cb, _ = plateau(steps_per_epoch=1000, epochs=40, anneal=anneal)  # annealed: the last 10 epochs
    rates = []
    for epoch, loss in enumerate(np.linspace(10, 1, 40)):  # improving to the end: no plateau halves the rate
        rates.append(float(model.optimizer.learning_rate.numpy()))  # the rate epoch ``epoch`` trains at
        cb.on_epoch_end(epoch, {"loss": float(loss)})
    assert rates[:30] == [pytest.approx(0.01)] * 30 and not model.stop_training
    if anneal:
        assert all(a > b for a, b in zip(rates[29:], rates[30:]))  # falling every epoch of the last 10
        assert rates[-1] == pytest.approx(0.01 * defaults.MIN_LR_FRACTION)
    else:  # --epochs: the user's length, scheduled by the plateaus alone
        assert rates[30:] == [pytest.approx(0.01)] * 10


def test_epochs_the_user_sets_are_not_annealed(synth_data):
    from trainer.config import RunConfig

    config = RunConfig(arch="convctc-fast", data_dir=str(synth_data), kind="ctc", charset="abc", label_length=None,
                       height=50, width=200, batch_size=16, epochs=40)
    lines = []
    resolve_length(config, 170, log=lines.append)
    assert lines and "(--epochs)" in lines[0] and "falls step by step" not in lines[0]


def test_fit_with_no_flag_fine_tunes_from_the_base(train_cli, synth_data, tmp_path):
    out = train_cli("fit", "--data", synth_data, "--out", tmp_path / "run", "--max-steps", 1, "--epochs", 1).stdout
    run = Run(tmp_path / "run")
    assert "--arch auto: convctc-fast (the pre-trained base's), fine-tuned from the pre-trained base: 48" in out
    assert f"layers from {BASE_DIR}" in out and "ctc_probs class by class" in out
    assert "--resize auto: stretch; the text fills the images" in out and run.config.resize == "stretch"
    assert run.config.init_from == str(BASE_DIR) and run.config.arch == "convctc-fast" and run.state["done"]


def _style_folder(folder, style: str, count: int = 12):
    """``count`` images of a development style, named LABEL_INDEX.png."""
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        image, label = render.STYLES[style].sample(rng)
        cv2.imwrite(str(folder / f"{label}_{i}.png"), image)
    return folder


@pytest.mark.parametrize("style, policy", [("margin", "crop"), ("hollow", "stretch"), ("package", "stretch")])
def test_resize_auto_crops_small_text_and_stretches_text_that_fills_the_image(tmp_path, style, policy):
    zoom = text_zoom(sorted(_style_folder(tmp_path / style, style).iterdir()), InputSpec(50, 168), CROP_SAMPLE)
    assert (zoom >= CROP_FROM_ZOOM) == (policy == "crop")
    assert choose_resize(zoom)[0] == policy


def test_resize_auto_without_a_readable_image_stretches():
    assert choose_resize(None)[0] == "stretch"


def test_fit_crops_small_text_and_the_model_says_so(train_cli, tmp_path):
    data = _style_folder(tmp_path / "margin", "margin", count=24)
    out = train_cli("fit", "--data", data, "--out", tmp_path / "run", "--max-steps", 1, "--epochs", 1).stdout
    assert "--resize auto: crop to the text's box" in out
    assert Run(tmp_path / "run").config.contract().input.resize == "crop"


def test_an_rgb_model_starts_from_the_gray_base_computing_the_same(synth_data):
    """The first convolution, weighted by OpenCV's gray coefficients, gives on an RGB image what
    the base gives on its gray version: the same probabilities before any training."""
    import cv2

    from edge_runtime.preprocess import to_rgb
    from trainer.models import build
    from trainer.predict import to_inputs
    from trainer.train import GRAY_FROM_RGB, init_weights

    base = Run(BASE_DIR)
    rgb = dataclasses.replace(base.config, color="rgb")
    model, lines = build(rgb), []
    init_weights(model, base.load_keras(), "base", lines.append)
    assert "block0_conv from gray to rgb" in lines[0]
    image = cv2.resize(cv2.imread(str(next(synth_data.glob("*.png")))), (base.config.width, base.config.height))
    colour = to_inputs(to_rgb(image)[None], rgb.input_spec)
    # The gray image before OpenCV rounds it to 8 bits (the normalisation is affine, the weights sum to 1).
    gray = (colour * GRAY_FROM_RGB).sum(axis=-1, keepdims=True)
    expected = base.load_keras().predict(gray, verbose=0)
    np.testing.assert_allclose(model.predict(colour, verbose=0), expected, atol=2e-3)
    assert expected.max(axis=-1).mean() > 0.3  # not a model that says nothing
