from __future__ import annotations

import json

import pytest

from edge_runtime.registry import DEFAULT_MODEL, shipped_models


@pytest.fixture(scope="session")
def shipped():
    models = shipped_models()
    assert DEFAULT_MODEL in models, f"the default model {DEFAULT_MODEL} must be shipped in converted/, found {sorted(models)}"
    return models


@pytest.fixture(scope="session")
def default_report(shipped):
    """The metrics file shipped with the default model (it names the validation images)."""
    return json.loads(shipped[DEFAULT_MODEL].with_suffix(".json").read_text())
