"""Shared fixtures: the committed examples, the real dataset (by path, never copied), the CLI.

The fast tier (``pytest -m "not e2e"``, which collects ``tests/runtime``) needs only what is committed: ``examples/`` and the
shipped models. The real dataset (``wilhelmy``) is for e2e tests only; it skips outside CI when
the data is missing, and fails in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"  # synthetic CAPTCHAs, committed: the quick start's images; stem = label


def data_dir() -> Path | None:
    path = Path(os.environ.get("CAPTCHA_DATA", ROOT.parent / "shared" / "data" / "wilhelmy"))
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def examples() -> list[Path]:
    """The committed example images, sorted; each file's stem is its label."""
    paths = sorted(EXAMPLES.glob("*.png"))
    assert len(paths) >= 10, f"expected the committed examples in {EXAMPLES}"
    return paths


@pytest.fixture(scope="session")
def wilhelmy() -> Path:
    """The real dataset, for e2e tests only (the fast tier must never ask for it)."""
    path = data_dir()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have the dataset: set CAPTCHA_DATA or put ../shared beside the checkout")
        pytest.skip("dataset not found: set CAPTCHA_DATA to the captcha-version-2-images folder")
    return path


@pytest.fixture(scope="session")
def held_out(wilhelmy):
    """held_out(report) -> (folder, names): a shipped model's own held-out images. The real
    dataset for models trained on it; else (a model trained on synthetic data) the committed
    examples, which that model must read."""

    def images(report: dict) -> tuple[Path, list[str]]:
        names = report["split"]["val_names"]
        if all((wilhelmy / n).exists() for n in names[:50]):
            return wilhelmy, names
        return EXAMPLES, sorted(p.name for p in EXAMPLES.glob("*.png"))

    return images


def run_cli(*args: str, module: str = "edge_runtime", cwd: str | os.PathLike | None = None, env=None, timeout=300):
    """Run the real CLI in a subprocess, as a user would (e2e tests only)."""
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


@pytest.fixture(scope="session")
def cli():
    return run_cli


#: Python with TensorFlow made unimportable (as on a device, or where the trainer was installed
#: with --no-deps), then the CLI of the package named first; stderr ends with what leaked.
WITHOUT_TENSORFLOW = r"""
import importlib, importlib.abc, sys
BLOCKED = ('tensorflow', 'keras', 'tf_keras')
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError('blocked by test: ' + name)
sys.meta_path.insert(0, Block())
try:
    importlib.import_module(sys.argv[1] + '.cli').main(sys.argv[2:])
finally:
    print('LEAKED', sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED), file=sys.stderr)
"""


@pytest.fixture(scope="session")
def without_tensorflow():
    """Run ``package``'s CLI in a subprocess where importing TensorFlow or Keras fails (e2e tests only)."""

    def run(package: str, *args, timeout: float = 120):
        return subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, package, *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)

    return run


def pytest_collection_modifyitems(config, items):
    """The fast tier needs no dataset: a test that reads the real data must be marked e2e."""
    unmarked = [item.nodeid for item in items
                if {"wilhelmy", "held_out", "small_data"} & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("e2e") is None]
    if unmarked:
        raise pytest.UsageError(f"expected tests that read the real dataset to be marked e2e, these are not: {unmarked}")
