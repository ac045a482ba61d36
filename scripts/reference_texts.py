"""Write tests/runtime/reference_texts.json: what every shipped model reads on a fixed set of
images, made on x86 with ai-edge-litert: for models trained on the real data, the first 40 of the
default model's validation images (12 for float32 and float16 files); for a model trained on
synthetic data, examples/. Only images the model reads with a clear lead at every time step are
kept (make_fixture_model.MIN_MARGIN): the check is that platforms agree, and a near-tie may fall
either way on any of them (tflite-runtime 2.14 on aarch64 moves int8 probabilities by up to 16/256).
The runtime suite asserts the same texts on every platform and interpreter (ARM64 in CI).

    python scripts/reference_texts.py [--data DIR]
"""

import argparse
import json
from pathlib import Path

from edge_runtime.recognizer import Recognizer
from edge_runtime.registry import default_model, shipped_models
from make_fixture_model import MIN_MARGIN, margin
from _paths import ROOT, default_data

OUT = ROOT / "tests" / "runtime" / "reference_texts.json"
REAL_IMAGES = 40
#: Float files have no int8 arithmetic, where the interpreters' and CPUs' kernels differ (near-ties,
#: BATCH_MATMUL), and the float CRNNs take 2.7 s an image under aarch64 emulation in CI.
FLOAT_IMAGES = 12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data())
    args = ap.parse_args()
    models = shipped_models()
    real = json.loads(models[default_model()].with_suffix(".json").read_text())["split"]["val_names"]
    examples = sorted(p.name for p in (ROOT / "examples").glob("*.png"))
    result = {"models": {}}
    for name, path in models.items():
        own = json.loads(path.with_suffix(".json").read_text())["split"]["val_names"]
        folder, names = ("wilhelmy", real) if (Path(args.data) / own[0]).exists() else ("examples", examples)
        base = Path(args.data) if folder == "wilhelmy" else ROOT / "examples"
        rec = Recognizer.from_file(path)
        count = FLOAT_IMAGES if rec.contract.quantization in ("float32", "float16") else REAL_IMAGES
        names = [n for n in names if margin(rec.probabilities(base / n)) >= MIN_MARGIN][:count]
        result["models"][name] = {"folder": folder, "images": names,
                                  "texts": [rec.recognize(base / n).text for n in names]}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}: " + ", ".join(f"{name} {len(r['images'])}" for name, r in result["models"].items()))


if __name__ == "__main__":
    main()
