"""Self-training (fit --unlabelled): a teacher fits on the labelled images, reads the unlabelled
ones through the runtime, and the reads the runtime trusts join the training images of the run."""

import os
import re
from pathlib import Path

from edge_runtime.recognizer import Prediction, Recognizer, Result, Timings

from trainer.runs import Run
from trainer.selftrain import TEACHER_MODEL, trusted, unlabelled_images

from .conftest import render_data

NO_TIME = Timings(0.0, 0.0, 0.0, 0.0)


def _read(text: str, confidence: float, rejected: str | None = None) -> Prediction:
    return Prediction(text, confidence, tuple(confidence for _ in text), NO_TIME, rejected)


def test_only_reads_the_runtime_trusts_at_the_confidence_join():
    results = [
        Result("a.png", _read("abc", 0.95)),
        Result("b.png", _read("abd", 0.90)),  # at the threshold: kept
        Result("c.png", _read("abe", 0.89)),
        Result("d.png", _read("abf", 0.99, rejected="aspect")),
        Result("e.png", _read("", 0.99)),
        Result("f.png", error="not an image"),
    ]
    assert trusted(results, 0.9) == [("a.png", "abc"), ("b.png", "abd")]
    assert trusted(results, 0.0) == [("a.png", "abc"), ("b.png", "abd"), ("c.png", "abe")]


def test_labelled_images_are_left_out_of_the_unlabelled_ones(synth_data, tmp_path):
    unlabelled = render_data(tmp_path / "unlabelled", count=3, seed=9)
    labelled = sorted(synth_data.glob("*.png"))[0]
    (unlabelled / "again.png").symlink_to(labelled)  # a validation image under another name
    kept, overlap = unlabelled_images(unlabelled, sorted(synth_data.glob("*.png")))
    assert overlap == 1 and len(kept) == 3
    assert all(p.resolve().parent == unlabelled.resolve() for p in kept)


def _count(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found, f"expected {pattern!r} in the log:\n{text[-2000:]}"
    return int(found.group(1))


def test_fit_unlabelled_trains_on_the_teachers_trusted_reads_and_resumes(train_cli, synth_data, tmp_path):
    unlabelled = render_data(tmp_path / "unlabelled", count=24, seed=11)
    run = Run(tmp_path / "run")
    # The base's width and input, so the teacher starts from the base and reads from its first step.
    args = ["fit", "--data", synth_data, "--unlabelled", unlabelled, "--out", run.root, "--input-size", "50x200",
            "--epochs", 1, "--max-steps", 2, "--batch-size", 8, "--no-augment", "--pseudo-confidence", 0]
    out = train_cli(*args).output
    assert "fine-tuned from the pre-trained base" in out
    assert run.teacher.config.unlabelled is None and run.config.unlabelled == str(unlabelled)
    assert run.config.pseudo_confidence == 0 and run.teacher.split == run.split  # the same validation images
    assert run.config.init_from == str(run.teacher.root)  # the student starts from its teacher
    assert re.search(rf"initialised \d+ layers from {re.escape(str(run.teacher.root))}: ", out)

    # The file holds what the teacher's exported file reads, not what the names say.
    rows = [line.split("\t") for line in run.pseudo_file.read_text().splitlines()]
    assert rows and len(rows) == _count(r"(\d+) of 24 unlabelled images read", out)
    teacher = Recognizer.from_file(run.teacher.root / TEACHER_MODEL, min_confidence=0)
    for path, text in rows:
        assert Path(path).parent == unlabelled
        read = teacher.recognize(path)
        assert read.rejected is None and read.text == text

    labelled = len(run.split["train"])
    assert _count(r"labelled by the teacher: (\d+) training images", out) == labelled + len(rows)

    again = train_cli(*args).output  # resumed: nothing is trained or read again
    assert again.count("run already finished") == 2 and f"kept from before: {run.pseudo_file}" in again
    assert os.path.getmtime(run.pseudo_file) <= os.path.getmtime(run.state_file)


def test_unlabelled_and_folds_are_refused_together(train_cli, synth_data, tmp_path):
    out = train_cli("fit", "--data", synth_data, "--unlabelled", synth_data, "--folds", 3, "--out", tmp_path / "r",
                    code=2).output
    assert "at most one of --unlabelled and --folds" in out


def test_a_small_fit_without_unlabelled_images_says_self_training_may_help(train_cli, synth_data, tiny, tmp_path):
    out = train_cli("fit", "--data", synth_data, "--out", tmp_path / "r", "--epochs", 1, *tiny).output
    assert f"{len(list(synth_data.glob('*.png')))} labelled images: if you have unlabelled images" in out
    assert "--unlabelled DIR" in out
