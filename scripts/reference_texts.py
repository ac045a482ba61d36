"""Write tests/runtime/reference_texts.json: what every shipped model reads on a fixed set of real
images (the default model's first 40 validation images), made on x86 with ai-edge-litert.
The runtime suite asserts the same texts on every platform and interpreter (ARM64 in CI).

    python scripts/reference_texts.py [--data DIR]
"""

import argparse
import json
import os
from pathlib import Path

from edge_runtime.recognizer import Recognizer
from edge_runtime.registry import DEFAULT_MODEL, shipped_models

OUT = Path(__file__).resolve().parent.parent / "tests" / "runtime" / "reference_texts.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("CAPTCHA_DATA", "../shared/data/wilhelmy"))
    args = ap.parse_args()
    models = shipped_models()
    names = json.loads(models[DEFAULT_MODEL].with_suffix(".json").read_text())["split"]["val_names"][:40]
    result = {"images": names, "models": {}}
    for name, path in models.items():
        rec = Recognizer.from_file(path)
        result["models"][name] = [rec.recognize(Path(args.data) / n).text for n in names]
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}: {len(models)} models x {len(names)} images")


if __name__ == "__main__":
    main()
