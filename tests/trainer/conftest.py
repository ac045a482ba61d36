"""Trainer fixtures: labelled images rendered by trainer.synth into a temporary folder (no
../shared needed), the CLI run in-process through click's CliRunner, and the tiny settings that
keep every fit to a few seconds."""

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from trainer.cli import main  # noqa: E402
from trainer.synth import render  # noqa: E402

#: The real dataset's characters and length, so the synthetic folders look like it to the trainer.
CHARSET = "2345678bcdefgmnpwxy"
IMAGES = 48
#: A model small and short enough for a test: 32x128 input, a quarter of the width, 4 steps an epoch,
#: and one fit (the refit, on by default, would double each; tests/trainer/test_refit.py has it).
TINY = ["--input-size", "32x128", "--width-mult", "0.25", "--batch-size", "8", "--max-steps", "4",
        "--no-augment", "--learning-rate", "0.003", "--seed", "1", "--no-refit"]


def render_data(folder: Path, count: int = IMAGES, seed: int = 5) -> Path:
    render(folder, count, CHARSET, (5, 5), seed, log=lambda m: None)
    return folder


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """48 labelled 50x200 CAPTCHAs (5 characters of the real charset), made once per session."""
    return render_data(tmp_path_factory.mktemp("synth"))


@pytest.fixture()
def own_data(synth_data, tmp_path) -> Path:
    """A copy of synth_data that a test may change."""
    return Path(shutil.copytree(synth_data, tmp_path / "data"))


@pytest.fixture(scope="session")
def train_cli():
    """train_cli(*args, code=0) -> click Result of `captcha-train ARGS`, run in this process;
    fails the test unless it exits with ``code``."""
    runner = CliRunner()

    def invoke(*args, code: int = 0):
        result = runner.invoke(main, [str(a) for a in args])
        if result.exit_code != code:
            raise AssertionError(f"expected exit {code}, got {result.exit_code}: {result.output[-3000:]}") from result.exception
        return result

    return invoke


@pytest.fixture(scope="session")
def tiny() -> list[str]:
    return list(TINY)


@pytest.fixture(scope="session")
def charset() -> str:
    return CHARSET


@pytest.fixture(scope="session")
def small_data(wilhelmy, tmp_path_factory):
    """48 real images copied into a temporary folder (never into the project); e2e tests only."""
    folder = tmp_path_factory.mktemp("small")
    for path in sorted(wilhelmy.glob("*.png"))[:48]:
        shutil.copy(path, folder / path.name)
    return folder
