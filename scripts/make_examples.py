"""Render examples/: synthetic CAPTCHAs (a-z0-9, 5 characters) that the shipped synthetic model
reads correctly, for the README's quick start on a machine with no dataset. Needs the train
extra (the 'captcha' package).

    python scripts/make_examples.py [--model synth36-int8] [--count 12] [--seed 3]

Candidates are rendered with their own seed (never the training or test seeds) and read by the
model through edge_runtime; the first COUNT read correctly are kept. examples/README.md records
how many candidates were rendered and how many the model misread.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from edge_runtime.recognizer import Recognizer
from trainer.data import label_from_name
from trainer.synth import render

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="synth36-int8")
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--candidates", type=int, default=24)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    rec = Recognizer.from_file(args.model)
    charset = rec.contract.charset
    with tempfile.TemporaryDirectory() as tmp:
        render(tmp, args.candidates, charset, (5, 5), args.seed, (rec.contract.input.height, rec.contract.input.width),
               log=lambda m: None)
        candidates = sorted(Path(tmp).glob("*.png"))
        # synth names its files LABEL_SEED-INDEX.png; the examples are named <label>.png (stem = label).
        read = [(p, label_from_name(p), rec.recognize(p).text) for p in candidates]
        good = [(p, label) for p, label, text in read if text == label]
        OUT.mkdir(exist_ok=True)
        for old in OUT.glob("*.png"):
            old.unlink()
        for p, label in good[: args.count]:
            shutil.copy(p, OUT / f"{label}.png")
    misread = [f"{label} read as {text}" for _, label, text in read if text != label]
    (OUT / "README.md").write_text(
        "# Examples\n\n"
        f"{min(args.count, len(good))} synthetic CAPTCHAs rendered by the `captcha` package (charset a-z0-9, "
        f"5 characters, file stem = label) for the quick start:\n\n"
        f"    captcha-edge predict --model {args.model} examples/\n\n"
        f"Made by `python scripts/make_examples.py --model {args.model} --count {args.count} "
        f"--candidates {args.candidates} --seed {args.seed}`: {len(candidates)} candidates rendered with a seed "
        f"used neither for training nor for testing, the first {args.count} that `{args.model}` reads correctly "
        f"kept. It misread {len(misread)} of the {len(candidates)}"
        + (f" ({'; '.join(misread)})" if misread else "")
        + ". Its accuracy on 1000 unseen synthetic images is in [converted/README.md](../converted/README.md).\n")
    print(f"{min(args.count, len(good))} examples in {OUT}; misread {len(misread)}/{len(candidates)}")


if __name__ == "__main__":
    main()
