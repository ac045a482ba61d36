"""Paths the scripts share. A script run as ``python scripts/NAME.py`` has this folder first on
``sys.path``, so ``from _paths import ROOT, default_data`` works from any working directory."""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout.
ROOT = Path(__file__).resolve().parent.parent


def default_data() -> Path:
    """The Wilhelmy images: $CAPTCHA_DATA, else ../shared/data/wilhelmy beside the checkout (as
    tests/conftest.py and tests/run.sh find it), whatever the working directory."""
    return Path(os.environ.get("CAPTCHA_DATA") or ROOT.parent / "shared" / "data" / "wilhelmy")
