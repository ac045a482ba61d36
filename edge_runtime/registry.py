"""Finding models (a path to a .tflite file, or the name of a model shipped in converted/) and
naming the interpreter packages that can run them."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import ModelError

#: The runtime's default model (a file stem in converted/).
DEFAULT_MODEL = "convctc-fast-int8"

#: Interpreter packages in order of preference: module name -> (module holding Interpreter,
#: distribution name to pip install).
INTERPRETERS = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite_runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
}


def shipped_dir() -> Path:
    """Where the shipped models are: the installed package edge_runtime.shipped, else the checkout's converted/."""
    spec = importlib.util.find_spec("edge_runtime.shipped")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location).is_dir():
                return Path(location)
    return Path(__file__).resolve().parent.parent / "converted"


def shipped_models() -> dict[str, Path]:
    folder = shipped_dir()
    return {p.stem: p for p in sorted(folder.glob("*.tflite"))} if folder.is_dir() else {}


def resolve(model: str | os.PathLike | None) -> Path:
    """Path of a model given as None/'default', a shipped name, or a file path."""
    if model is None or str(model) == "default":
        model = DEFAULT_MODEL
    text = os.fspath(model)
    models = shipped_models()
    if text in models:
        return models[text]
    path = Path(text)
    if path.exists() or path.suffix == ".tflite" or os.sep in text:
        if not path.is_file():
            raise ModelError(f"expected a model file, found {'a directory' if path.is_dir() else 'nothing'} at {text}")
        return path
    names = ", ".join(models) or "none installed"
    raise ModelError(f"expected a shipped model name ({names}) or a .tflite path, got {text!r}")
