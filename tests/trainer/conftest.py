import os
import shutil

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def small_data(wilhelmy, tmp_path_factory):
    """48 real images copied into a temporary folder (never into the project)."""
    folder = tmp_path_factory.mktemp("small")
    for path in sorted(wilhelmy.glob("*.png"))[:48]:
        shutil.copy(path, folder / path.name)
    return folder
