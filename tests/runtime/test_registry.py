"""Finding models by name or path, and the package's shipped files."""

import os

import pytest

from edge_runtime.errors import ModelError
from edge_runtime.registry import default_model, resolve, shipped_dir


def test_shipped_models_are_found_with_their_metrics(shipped):
    assert shipped_dir().is_dir()
    for name, path in shipped.items():
        assert path.suffix == ".tflite" and path.stem == name
        assert path.with_suffix(".json").is_file(), f"{name} ships without its metrics file"


@pytest.mark.parametrize("given", [None, "default", default_model()])
def test_default_resolves_to_the_default_model(given, shipped):
    assert resolve(given) == shipped[default_model()]


def test_names_and_paths(shipped, tmp_path, monkeypatch):
    assert resolve("synth36-int8") == shipped["synth36-int8"]
    path = shipped["synth36-int8"]
    assert resolve(path) == path and resolve(str(path)) == path
    (tmp_path / "mine.tflite").write_bytes(path.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert resolve("mine.tflite").resolve() == tmp_path / "mine.tflite"  # a relative file name works too


@pytest.mark.parametrize("given, fragment", [
    ("no-such-model", "shipped model name"),
    ("missing.tflite", "found nothing"),
    (os.path.join("some", "dir", "model"), "found nothing"),
])
def test_refusals(given, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=fragment):
        resolve(given)


def test_a_directory_is_not_a_model(tmp_path):
    (tmp_path / "m.tflite").mkdir()
    with pytest.raises(ModelError, match="a directory"):
        resolve(tmp_path / "m.tflite")


# ---- interpreter packages: named once, in INTERPRETERS ------------------------------------------


def test_a_missing_tflite_runtime_is_named_as_missing_with_the_readme_install_command(invoke, monkeypatch):
    """Not installed is said as such, even under numpy 2 (which used to be blamed instead)."""
    from edge_runtime import engine
    from edge_runtime.registry import INTERPRETERS
    from support import ROOT, example_paths

    monkeypatch.setattr(engine, "_installed", lambda module: module != "tflite_runtime")
    monkeypatch.setattr(engine.np, "__version__", "2.0.0")
    out = invoke("predict", "--model", "synth36-int8", "--interpreter", "tflite_runtime", example_paths()[0])
    package = INTERPRETERS["tflite_runtime"]
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr == ("captcha-edge: error: expected the tflite-runtime package for the tflite_runtime "
                          'interpreter, it is not installed: pip install ".[tflite]"\n')
    readme = (ROOT / "README.md").read_text()
    assert f"`{package.install}`" in readme and package.distribution in readme


def test_an_installed_tflite_runtime_under_numpy_2_is_told_numpy(monkeypatch):
    from edge_runtime import engine
    from edge_runtime.errors import InterpreterUnavailable

    monkeypatch.setattr(engine, "_installed", lambda module: True)
    monkeypatch.setattr(engine.np, "__version__", "2.1.0")
    with pytest.raises(InterpreterUnavailable, match=r'^expected numpy<2 for tflite-runtime, found numpy 2\.1\.0: '
                                                     r'pip install "\.\[tflite\]"$'):
        engine.interpreter_class("tflite_runtime")
