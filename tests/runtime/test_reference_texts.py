"""Every shipped model reads exactly the texts it read on x86 with ai-edge-litert, on this
platform and interpreter (CI runs this on emulated aarch64, with both interpreters).

The model whose reference images are the committed examples runs in the fast tier; the models
whose reference images are real Wilhelmy images need the dataset, so they are e2e."""

import pytest

from edge_runtime.recognizer import Recognizer
from support import EXAMPLES, REFERENCE


def cases():
    for name, ref in sorted(REFERENCE["models"].items()):
        marks = [pytest.mark.e2e] if ref["folder"] != "examples" else []
        yield pytest.param(name, marks=marks, id=name)


def test_reference_covers_every_shipped_model(shipped):
    assert sorted(REFERENCE["models"]) == sorted(shipped)
    assert all(ref["folder"] in ("wilhelmy", "examples") for ref in REFERENCE["models"].values())


def test_at_least_one_reference_needs_no_dataset():
    assert any(ref["folder"] == "examples" for ref in REFERENCE["models"].values())


@pytest.mark.parametrize("name", list(cases()))
def test_same_texts_as_on_x86(name, shipped, request):
    ref = REFERENCE["models"][name]
    folder = EXAMPLES if ref["folder"] == "examples" else request.getfixturevalue("wilhelmy")
    rec = Recognizer.from_file(shipped[name])
    got = [rec.recognize(folder / image).text for image in ref["images"]]
    info = rec.interpreter
    assert len(got) >= 8 and got == ref["texts"], f"{name} on {info.distribution} {info.version}"
