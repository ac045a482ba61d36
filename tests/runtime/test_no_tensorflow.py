"""A device has no TensorFlow: the runtime must work without it, and never import it."""

import importlib.metadata
import importlib.util
import json
import sys

import pytest

from support import EXAMPLES_MODEL

FORBIDDEN = ("tensorflow", "keras", "tf_keras", "trainer")


def test_tensorflow_is_not_installed_here():
    # The runtime suite runs in an environment made by 'pip install .', which has no TensorFlow.
    assert importlib.util.find_spec("tensorflow") is None
    assert importlib.util.find_spec("keras") is None


def test_runtime_modules_import_nothing_from_the_trainer_or_tensorflow(invoke, examples):
    """Everything the CLI and the library touch, in this process: no TensorFlow, no trainer."""
    import edge_runtime

    def forbidden():
        return {m for m in sys.modules if m.split(".")[0] in FORBIDDEN}

    before = forbidden()  # empty in the runtime suite's environment; robust if run with other suites
    for name in ("bench", "camera", "cli", "contract", "decode", "engine", "errors", "flatbuf", "images",
                 "preprocess", "quant", "recognizer", "registry", "service", "watch"):
        importlib.import_module(f"edge_runtime.{name}")
    assert invoke("predict", "--model", EXAMPLES_MODEL, examples[0]).exit_code == 0
    assert invoke("info").exit_code == 0
    leaked = sorted(forbidden() - before)
    assert leaked == [], leaked
    assert edge_runtime.__all__ and all(getattr(edge_runtime, n) for n in edge_runtime.__all__)


@pytest.mark.e2e
def test_cli_works_with_tensorflow_import_blocked(examples, without_tensorflow):
    out = without_tensorflow("edge_runtime", "predict", "--model", EXAMPLES_MODEL, "--format", "jsonl", examples[0])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[0])["text"] == examples[0].stem
    assert "LEAKED []" in out.stderr
    info = without_tensorflow("edge_runtime", "info")
    assert info.returncode == 0 and "LEAKED []" in info.stderr, info.stderr


@pytest.mark.e2e
def test_the_device_install_carries_neither_the_trainer_nor_its_base():
    """pip install . is the runtime alone: the trainer and the pre-trained base's weights are
    the distribution in train/ (the base's int8 file, which devices read, is in converted/)."""
    dist = importlib.metadata.distribution("captcha-edge")
    assert dist.read_text("top_level.txt").split() == ["edge_runtime"]
    assert not [f for f in dist.files or () if f.suffix == ".h5" or f.parts[0] == "trainer"]
    assert "captcha-train" not in {e.name for e in dist.entry_points}
    assert importlib.util.find_spec("trainer") is None
