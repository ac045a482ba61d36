"""Finding models (a path to a .tflite file, or the name of a model shipped in converted/) and
naming the interpreter packages that can run them."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .cpu import Cpu, choose_precision, this_cpu
from .errors import ModelError

#: The runtime's default network, shipped once per precision that is the fastest on some CPU
#: (converted/convctc-fast-int8.tflite, ...): "default" names the one for the running CPU.
DEFAULT_NETWORK = "convctc-fast"
DEFAULT_PRECISIONS = ("int8", "float32")


class InterpreterPackage(NamedTuple):
    module: str  # the module holding Interpreter
    distribution: str  # the package name as pip and the README spell it
    install: str  # the README's install command for it


#: Interpreter packages in order of preference, by top-level module name: the one place that
#: names them. tflite-runtime is installed through the .[tflite] extra, which also pins the
#: numpy<2 and OpenCV it needs.
INTERPRETERS = {
    "ai_edge_litert": InterpreterPackage("ai_edge_litert.interpreter", "ai-edge-litert", "pip install ai-edge-litert"),
    "tflite_runtime": InterpreterPackage("tflite_runtime.interpreter", "tflite-runtime", 'pip install ".[tflite]"'),
}


#: The checkout's folder of shipped models (installed as the package edge_runtime.shipped).
CHECKOUT_MODELS = Path(__file__).resolve().parent.parent / "converted"


def shipped_dir() -> Path:
    """Where the shipped models are: the installed package edge_runtime.shipped, else the checkout's converted/."""
    spec = importlib.util.find_spec("edge_runtime.shipped")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location).is_dir():
                return Path(location)
    return CHECKOUT_MODELS


def is_shipped(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an existing shipped model file (in the checkout's converted/ or the
    installed edge_runtime.shipped): what an export must not replace by accident."""
    p = Path(path).resolve()
    return p.is_file() and p.suffix == ".tflite" and p.parent in {shipped_dir().resolve(), CHECKOUT_MODELS}


def shipped_models() -> dict[str, Path]:
    folder = shipped_dir()
    return {p.stem: p for p in sorted(folder.glob("*.tflite"))} if folder.is_dir() else {}


@dataclass(frozen=True)
class DefaultChoice:
    name: str  # a shipped model name
    reason: str  # why this variant, in one line (info and bench show it)


def default_variants() -> dict[str, str]:
    """precision -> shipped name of the default network's variants that are installed."""
    models = shipped_models()
    return {p: f"{DEFAULT_NETWORK}-{p}" for p in DEFAULT_PRECISIONS if f"{DEFAULT_NETWORK}-{p}" in models}


def default_choice(cpu: Cpu | None = None) -> DefaultChoice:
    """The variant of the default network that "default" names on ``cpu`` (the running one)."""
    choice = choose_precision(cpu or this_cpu())
    variants = default_variants()
    if choice.precision in variants:
        return DefaultChoice(variants[choice.precision], choice.reason)
    fallback = next(iter(variants.values()), f"{DEFAULT_NETWORK}-{DEFAULT_PRECISIONS[0]}")
    return DefaultChoice(fallback, f"the {choice.precision} variant is not installed")


def default_model() -> str:
    """The shipped name "default" stands for on this CPU."""
    return default_choice().name


def resolve(model: str | os.PathLike | None) -> Path:
    """Path of a model given as None/'default', a shipped name, or a file path."""
    if model is None or str(model) == "default":
        model = default_model()
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
