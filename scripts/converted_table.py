"""Measure every shipped model on this machine (one process, round-robin, 1 thread, real
validation images) and write converted/README.md plus a "latency" section in each metrics file.

    python scripts/converted_table.py [--data DIR] [--runs 500]
"""

import argparse
import json
import os
from datetime import date
from pathlib import Path

from edge_runtime.bench import BenchOptions, run
from edge_runtime.registry import default_model, shipped_dir, shipped_models

from _paths import default_data

HEADER = """# Shipped models

Models we trained with `captcha-train` and exported with the contract embedded: all but one on
our split of the 863 Wilhelmy & Rosas images, and `synth36-int8` (a-z0-9) on synthetic CAPTCHAs
from `captcha-train synth`. Each `.json` file beside a model has its validation accuracy, its
agreement with the Keras model, its size, the exact `fit` and `export` commands, the split (seed
and validation file names), and the latency below. `captcha-edge info --model NAME` shows the
embedded contract. The runtime's default is the `convctc-fast` network in the precision that is
fastest on the CPU: here **`{default}`** (int8 on ARM and x86 with VNNI, float32 on x86 without).

Validation: for the Wilhelmy models, {val} images that training never saw (seed 0, 15 %).
"kept epoch" says which weights were exported: `last` (validation steered nothing, so the score
is an unbiased estimate) or `best` (the epoch best on validation: an optimistic estimate).
Latency: `{cmd}` on {board},
{threads} thread, the median of {runs} recognitions of real validation images, one model at a time
(interleaving six interpreters in one process thrashes the caches; for fair ratios between two
models, use `captcha-edge bench --compare`). End-to-end covers reading the file to returning the
text. Measured {day}.

| model | arch | quantization | bytes | params | trained on | kept epoch | validation accuracy | agreement with Keras | end-to-end p50 ms | invoke p50 ms |
|---|---|---|---:|---:|---|---|---|---:|---:|---:|
"""


# Figures measured outside the export (commands given), kept with the table they explain.
NOTES = {
    "synth36-int8": "trained on 12,000 images from `captcha-train synth --out data/synth36 --count 12000 --seed 1` "
                    "(a-z0-9, 5 characters), validated on 5 % of them. On 1000 unseen images "
                    "(`captcha-train synth --out data/synth36-test --count 1000 --seed 2`) it reads 985/1000 "
                    "(98.5 %; per character 99.7 %): `captcha-train evaluate runs/synth36 --data data/synth36-test "
                    "--tflite converted/synth36-int8.tflite`. Its latency above is on the Wilhelmy images (same input size).",
    "convctc-fast-int8": "5-fold cross-validation of the same recipe (`fit ... --folds 5`), int8 through edge_runtime: "
                         "171/173, 172/173, 171/173, 170/172, 172/172, mean 99.19 % (`python scripts/bench_models.py`).",
    "convctc-fast-float32": "the same trained weights as `convctc-fast-int8` (one run, `runs/fs`), exported as float32: "
                            "`--model default` names it on x86 CPUs without VNNI, where it is about twice as fast as int8 "
                            "(see the README, \"Which model is the default\"). Both read the reference images identically.",
    "cnn-attn-int8": "5-fold cross-validation of the same recipe, int8 through edge_runtime: 169/173, 170/173, "
                     "169/173, 168/172, 172/172, mean 98.26 % (`python scripts/bench_models.py`).",
}


def trained_on(report: dict) -> str:
    data = report["split"].get("data", "wilhelmy")
    return "wilhelmy" if data == "wilhelmy" else "synthetic"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--runs", type=int, default=500)
    args = ap.parse_args()
    models = shipped_models()
    reports = {name: json.loads(path.with_suffix(".json").read_text()) for name, path in models.items()}
    # Real validation images of the default model's split, shared by every model (same split).
    names = reports[default_model()]["split"]["val_names"]
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / "captcha-edge-val-links"
    folder.mkdir(exist_ok=True)
    for n in names:
        link = folder / n
        if not link.exists():
            link.symlink_to(Path(args.data).resolve() / n)
    order = [default_model()] + [m for m in models if m != default_model()]
    results = [run(BenchOptions((name,), threads=1, runs=args.runs, warmup=50, images=folder)) for name in order]
    b = results[0]["board"]
    board = f"{b['cpu']} ({b['machine']}, {b['cores']} cores), Python {b['python']}"
    lines = [HEADER.rstrip("\n").format(default=default_model(), val=len(names), board=board, threads=1, runs=args.runs,
                           day=date.today().isoformat(), cmd="python scripts/converted_table.py")]
    for r in (res["results"][0] for res in results):
        name = r["model"]
        rep = reports[name]
        rep["latency"] = {"end_to_end_ms_p50": r["end_to_end_ms"]["p50"], "invoke_ms_p50": r["invoke_ms"]["p50"],
                          "board": board, "threads": 1, "date": date.today().isoformat(),
                          "interpreter": r["interpreter"], "command": "python scripts/converted_table.py"}
        (shipped_dir() / f"{name}.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False) + "\n")
        n_ok = round(rep["accuracy"] * rep["images"])
        run_info = rep.get("run", {})
        kept = f"{run_info.get('select', 'best')} ({run_info.get('best_epoch')})"
        lines.append(f"| `{name}`{' (default)' if name == default_model() else ''} | {rep['arch']} | {rep['quantization']} | "
                     f"{rep['bytes']:,} | {rep['params']:,} | {trained_on(rep)} | {kept} | "
                     f"{rep['accuracy']:.4f} ({n_ok}/{rep['images']}) | "
                     f"{rep['agreement_with_keras']:.4f} | {r['end_to_end_ms']['p50']:.3f} | {r['invoke_ms']['p50']:.3f} |")
    notes = [f"- `{name}`: {text}" for name, text in NOTES.items() if name in reports]
    if notes:
        lines.append("\nNotes:\n")
        lines += notes
    chained = {n: r["fit_chain"] for n, r in reports.items() if len(r.get("fit_chain", [])) > 1}
    if chained:
        lines.append("\nModels trained in several steps (`fit --init-from`), earliest first:\n")
        for name, chain in chained.items():
            lines.append(f"- `{name}`: " + " → ".join(f"`{c}`" for c in chain))
    (shipped_dir() / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
