"""Two starts (trainer.starts): with --init-from auto, fit has the shipped base read a sample of
the folder zero-shot; when it misreads more than half the characters, fit trains from the base
and from scratch and keeps the lower validation loss in OUT."""

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.recognizer import Recognizer

from trainer import defaults
from trainer.runs import Run
from trainer.starts import FROM_BASE, FROM_SCRATCH, STARTS_FILE, ZeroShot, cer, zero_shot
from trainer import data as D

from .conftest import CHARSET

#: The base's arch and width at the synthetic images' own size, so auto fine-tunes from the base;
#: one fit (test_refit has two starts with a refit).
AS_BASE = ["--input-size", "50x200", "--epochs", 1, "--max-steps", 2, "--batch-size", 8, "--no-augment", "--no-refit"]


def _labelled(folder: Path) -> D.Labelled:
    return D.label_folder(folder, D.find_labels(folder, None), False, None)


@pytest.fixture(scope="module")
def noise_data(tmp_path_factory) -> Path:
    """24 labelled 50x200 images of grey noise: no text at all, so the base reads none of it."""
    folder, rng, draw = tmp_path_factory.mktemp("noise"), np.random.default_rng(3), random.Random(3)
    for i in range(24):
        label = "".join(draw.choice(CHARSET) for _ in range(5))
        cv2.imwrite(str(folder / f"{label}_{i:02d}.png"), rng.integers(0, 256, (50, 200), dtype=np.uint8))
    return folder


def test_cer_folds_case_and_counts_edits_over_truth_characters():
    assert cer(["AbC5"], ["abc5"]) == 0.0
    assert cer(["abcd", "ef"], ["", "ef"]) == pytest.approx(4 / 6)
    assert cer(["abc"], ["abxc"]) == pytest.approx(1 / 3)


def test_two_starts_only_above_the_threshold():
    at = defaults.TWO_STARTS_ABOVE_CER
    assert not ZeroShot(images=10, cer=at, right=0).two_starts
    assert ZeroShot(images=10, cer=at + 0.01, right=0).two_starts


def test_zero_shot_reads_a_seeded_sample_through_the_shipped_base(synth_data):
    folder = _labelled(synth_data)
    read = zero_shot(folder.paths, folder.labels, seed=0, resize="stretch", sample=12)
    assert read.images == 12 and read == zero_shot(folder.paths, folder.labels, seed=0, resize="stretch", sample=12)
    # The same reads as the runtime's own, over the whole folder.
    whole = zero_shot(folder.paths, folder.labels, seed=0, resize="stretch")
    base = Recognizer.from_file(defaults.BASE_MODEL, min_confidence=0)
    texts = [base.recognize(p).text for p in folder.paths]
    assert whole.images == len(folder.paths)
    assert whole.right == sum(t.casefold() == label.casefold() for t, label in zip(texts, folder.labels))
    assert whole.cer == pytest.approx(cer(folder.labels, texts))
    assert not whole.two_starts  # the base was trained on such images


def test_zero_shot_of_noise_asks_for_two_starts(noise_data):
    folder = _labelled(noise_data)
    assert zero_shot(folder.paths, folder.labels, seed=0, resize="stretch").two_starts


def test_zero_shot_judges_the_base_on_the_fits_pixels(tmp_path):
    """A fit that crops small text has the base read the crops: it reads them better than the
    whole canvas, where the text is a third of the input's height."""
    import cv2
    import numpy as np

    from trainer import render

    rng = np.random.default_rng(1)
    for i in range(16):
        image, label = render.STYLES["margin"].sample(rng)
        cv2.imwrite(str(tmp_path / f"{label}_{i}.png"), image)
    folder = _labelled(tmp_path)
    whole, cropped = (zero_shot(folder.paths, folder.labels, seed=0, resize=r) for r in ("stretch", "crop"))
    assert cropped.cer < whole.cer


def test_a_style_the_base_reads_gets_one_fit_from_it(train_cli, synth_data, tmp_path):
    out = tmp_path / "run"
    log = train_cli("fit", "--data", synth_data, "--out", out, *AS_BASE).output
    assert "one fit, from the base" in log and "two starts" not in log
    assert not (out / FROM_BASE).exists() and not (out / FROM_SCRATCH).exists()
    recorded = json.loads((out / STARTS_FILE).read_text())
    assert recorded["zero_shot"]["cer"] <= defaults.TWO_STARTS_ABOVE_CER and "chosen" not in recorded
    assert Run(out).config.init_from == str(defaults.BASE_DIR)


def test_a_style_the_base_cannot_read_fits_both_starts_and_keeps_the_lower_validation_loss(train_cli, noise_data, tmp_path):
    out = tmp_path / "run"
    args = ["fit", "--data", noise_data, "--out", out, *AS_BASE]
    log = train_cli(*args).output
    assert "two starts, 1 of 2: from the pre-trained base" in log and "two starts, 2 of 2: from scratch" in log
    base, scratch, run = Run(out / FROM_BASE), Run(out / FROM_SCRATCH), Run(out)
    assert base.config.init_from == str(defaults.BASE_DIR) and scratch.config.init_from is None
    assert base.split == scratch.split == run.split  # the same validation images decide
    recorded = json.loads((out / STARTS_FILE).read_text())
    losses = {name: Run(out / name).state["best_val_loss"] for name in (FROM_BASE, FROM_SCRATCH)}
    chosen = min(losses, key=losses.get)
    assert recorded["chosen"] == chosen
    assert {name: s["val_loss"] for name, s in recorded["starts"].items()} == losses
    # OUT is a copy of the chosen fit: its weights, state and config.
    assert run.last_weights.read_bytes() == Run(out / chosen).last_weights.read_bytes()
    assert run.state == Run(out / chosen).state and run.config == Run(out / chosen).config
    train_cli("export", out, "--out", tmp_path / "m.tflite", "--max-accuracy-drop", 1)
    assert (tmp_path / "m.tflite").stat().st_size > 0

    again = train_cli(*args).output  # resumed: the plan recorded at the start holds, nothing trains again
    assert f"(read when {out} started)" in again and again.count("run already finished") == 2
    assert json.loads((out / STARTS_FILE).read_text())["chosen"] == chosen


def test_overwrite_discards_both_starts(train_cli, noise_data, tmp_path):
    out = tmp_path / "run"
    args = ["fit", "--data", noise_data, "--out", out, *AS_BASE]
    train_cli(*args)
    stale = out / FROM_SCRATCH / "stale.txt"
    stale.write_text("from the first fit")
    log = train_cli(*args, "--overwrite").output
    assert "run already finished" not in log and not stale.exists()
    assert json.loads((out / STARTS_FILE).read_text())["chosen"] in (FROM_BASE, FROM_SCRATCH)


@pytest.mark.parametrize("flag", [["--init-from", "none"], ["--init-from", str(defaults.BASE_DIR)]])
def test_a_start_the_user_names_is_the_only_one(train_cli, noise_data, tmp_path, flag):
    out = tmp_path / "run"
    log = train_cli("fit", "--data", noise_data, "--out", out, *AS_BASE, *flag).output
    assert "two starts" not in log and not (out / STARTS_FILE).exists()


def test_a_run_started_before_starts_json_resumes_as_one_fit(train_cli, noise_data, tmp_path):
    out = tmp_path / "run"
    args = ["fit", "--data", noise_data, "--out", out, *AS_BASE]
    train_cli(*args, "--init-from", defaults.BASE_DIR)  # one fit from the base, as fit made them before
    log = train_cli(*args).output
    assert "reading" not in log and "two starts" not in log and "run already finished" in log
    assert not (out / FROM_BASE).exists() and not (out / STARTS_FILE).exists()


def test_a_two_start_fit_killed_in_its_second_start_resumes_only_that_one(train_cli, noise_data, tmp_path):
    out = tmp_path / "run"
    args = ["fit", "--data", noise_data, "--out", out, *AS_BASE]
    train_cli(*args)
    scratch = Run(out / FROM_SCRATCH)
    for path in (scratch.state_file, scratch.last_weights, Run(out).state_file):  # killed before its first save
        path.unlink()
    log = train_cli(*args).output
    assert log.count("run already finished") == 1 and "from-scratch: validation loss" in log
    chosen = json.loads((out / STARTS_FILE).read_text())["chosen"]
    assert Run(out).state["done"] and Run(out).state == Run(out / chosen).state  # copied again
    assert Run(out).last_weights.read_bytes() == Run(out / chosen).last_weights.read_bytes()
