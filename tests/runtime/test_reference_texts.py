"""Every shipped model reads exactly the texts it read on x86 with ai-edge-litert, on this
platform and interpreter (CI runs this on emulated aarch64, with both interpreters)."""

import json
from pathlib import Path

from edge_runtime.recognizer import Recognizer

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"

REFERENCE = json.loads((Path(__file__).parent / "reference_texts.json").read_text())


def test_reference_covers_every_shipped_model(shipped):
    assert sorted(REFERENCE["models"]) == sorted(shipped)


def test_same_texts_as_on_x86(wilhelmy, shipped):
    for name, ref in REFERENCE["models"].items():
        folder = wilhelmy if ref["folder"] == "wilhelmy" else EXAMPLES
        rec = Recognizer.from_file(shipped[name])
        got = [rec.recognize(folder / image).text for image in ref["images"]]
        assert len(got) >= 10 and got == ref["texts"], f"{name} on {rec.engine.info.distribution} {rec.engine.info.version}"
