"""Runtime fixtures: the shipped models, one Recognizer per session for the examples, and the
in-process CLI (click's CliRunner), which the fast tier uses instead of subprocesses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edge_runtime.registry import default_model, shipped_models

# Test modules import their helpers (support.py, hostile.py) by name from this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import EXAMPLES_MODEL  # noqa: E402


@pytest.fixture(scope="session")
def shipped():
    models = shipped_models()
    assert default_model() in models, f"the default model {default_model()} must be shipped in converted/, found {sorted(models)}"
    assert EXAMPLES_MODEL in models, f"the examples' model {EXAMPLES_MODEL} must be shipped in converted/"
    return models


@pytest.fixture(scope="session")
def default_report(shipped):
    """The metrics file shipped with the default model (it names the validation images)."""
    return json.loads(shipped[default_model()].with_suffix(".json").read_text())


@pytest.fixture(scope="session")
def synth():
    """A Recognizer for the committed examples (synth36-int8 reads all of them correctly)."""
    from edge_runtime.recognizer import Recognizer

    return Recognizer.from_file(EXAMPLES_MODEL)


class Invoke:
    """invoke(*args) -> click Result of ``captcha-edge ARGS`` run in this process.

    ``.exit_code`` is what the shell would see; ``.stdout`` and ``.stderr`` are separate (click 8.2+)."""

    def __init__(self):
        from click.testing import CliRunner

        from edge_runtime.cli import main

        self.runner = CliRunner()
        self.main = main

    def __call__(self, *args, **kwargs):
        return self.runner.invoke(self.main, [str(a) for a in args], catch_exceptions=False, **kwargs)


@pytest.fixture()
def invoke():
    return Invoke()


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    """watch and camera install SIGTERM/SIGINT handlers (StopFlag.install); in-process tests must
    leave pytest's own handlers as they found them."""
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)
