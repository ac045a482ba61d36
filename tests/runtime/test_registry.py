"""Finding models by name or path, and the package's shipped files."""

import os

import pytest

from edge_runtime.errors import ModelError
from edge_runtime.registry import DEFAULT_MODEL, resolve, shipped_dir


def test_shipped_models_are_found_with_their_metrics(shipped):
    assert shipped_dir().is_dir()
    for name, path in shipped.items():
        assert path.suffix == ".tflite" and path.stem == name
        assert path.with_suffix(".json").is_file(), f"{name} ships without its metrics file"


@pytest.mark.parametrize("given", [None, "default", DEFAULT_MODEL])
def test_default_resolves_to_the_default_model(given, shipped):
    assert resolve(given) == shipped[DEFAULT_MODEL]


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
