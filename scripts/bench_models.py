"""Issue #8's table, measured in one process: for each int8 model, its bytes and params, its
accuracy through edge_runtime on the held-out split and on every cross-validation fold, its
end-to-end (file -> text) and invoke latency, and ratios against the float CRNN under ONNX
Runtime and under Keras (tf.function), run in this same process. Needs the train extra plus
onnxruntime and tf2onnx.

    python scripts/bench_models.py converted/convctc-fast-int8.tflite=runs/fast:runs/fast-f \\
        converted/crnn-int8.tflite=runs/crnn --reference runs/crnn

TFLITE=RUN_DIR[:FOLD_PREFIX]: FOLD_PREFIX1..FOLD_PREFIXk are the run's cross-validation runs
(``captcha-train fit --folds k --fold i``); each is exported to int8 once (FOLD_RUN/int8.tflite,
parity-checked like any export) and read through edge_runtime on its own validation fold.

Single thread everywhere. Latency medians over every held-out image, repeated; ratios are same-run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def median_ms(fn, inputs, repeats):
    times = []
    for _ in range(repeats):
        for x in inputs:
            t0 = time.perf_counter()
            fn(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def val_paths(run_dir):
    from trainer.runs import Run

    split = Run(run_dir).split
    return [os.path.join(split["data_dir"], n) for n in split["val"]]


def runtime_accuracy(tflite, run_dir):
    """(correct, total) of an exported model, through edge_runtime, on its run's validation images."""
    from edge_runtime.recognizer import Recognizer

    rec = Recognizer.from_file(tflite, threads=1)
    paths = val_paths(run_dir)
    correct = sum(rec.recognize(p).text == os.path.basename(p).rsplit(".", 1)[0] for p in paths)
    return correct, len(paths)


def fold_runs(prefix):
    runs = [p for p in glob.glob(prefix + "*") if os.path.isdir(p) and p[len(prefix):].isdigit()]
    return sorted(runs, key=lambda p: int(p[len(prefix):]))


def fold_accuracies(prefix, log):
    from trainer.export import export

    out = []
    for run in fold_runs(prefix):
        tflite = os.path.join(run, "int8.tflite")
        if not os.path.exists(tflite):
            log(f"exporting {run} to {tflite}")
            export(run, "int8", tflite, log=log)
        out.append((run, *runtime_accuracy(tflite, run)))
    return out


def float_references(run_dir, repeats):
    """The run's float Keras model under ONNX Runtime and as a Keras tf.function, 1 thread each."""
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    from trainer.predict import to_inputs
    from trainer.runs import Run

    run = Run(run_dir)
    config, model = run.config, run.load_keras()
    floats = [to_inputs(p[None], config.input_spec) for p in run.images("val").pixels]
    spec = (tf.TensorSpec((1, config.height, config.width, 1), tf.float32, name="image"),)
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for x in floats[:20]:
        sess.run(None, {name: x})
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    for x in floats[:20]:
        fn(x)
    return {"params": int(model.count_params()),
            "onnx_ms": median_ms(lambda x: sess.run(None, {name: x}), floats, repeats),
            "keras_ms": median_ms(lambda x: fn(x).numpy(), floats, repeats)}


def measure(tflite, run_dir, repeats):
    """End-to-end (path -> text) and invoke-only p50 ms on the run's held-out images."""
    from edge_runtime import images
    from edge_runtime.preprocess import prepare
    from edge_runtime.recognizer import Recognizer

    rec = Recognizer.from_file(tflite, threads=1)
    paths = val_paths(run_dir)
    for p in paths[:20]:
        rec.recognize(p)
    e2e = median_ms(rec.recognize, paths, repeats)
    pixels = [prepare(images.load(p), rec.contract.input) for p in paths]
    invoke = median_ms(rec.invoke_only, pixels, repeats)
    return e2e, invoke


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", metavar="TFLITE=RUN_DIR[:FOLD_PREFIX]")
    ap.add_argument("--reference", default="runs/crnn", metavar="RUN_DIR",
                    help="The float CRNN run timed under ONNX Runtime and Keras (default: runs/crnn).")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="Also write the rows here.")
    args = ap.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    log = lambda m: print(m, flush=True)  # noqa: E731

    rows = []
    for item in args.models:
        tflite, _, rest = item.partition("=")
        run_dir, _, prefix = rest.partition(":")
        held = runtime_accuracy(tflite, run_dir)
        folds = fold_accuracies(prefix, log) if prefix else []
        own = float_references(run_dir, args.repeats)
        rows.append({"model": os.path.basename(tflite), "file": tflite, "run": run_dir, "bytes": os.path.getsize(tflite),
                     "params": own["params"], "held_out": held,
                     "folds": [{"run": r, "correct": c, "images": n} for r, c, n in folds],
                     "own_float_onnx_ms": own["onnx_ms"], "own_float_keras_ms": own["keras_ms"]})
    ref = float_references(args.reference, args.repeats)
    # Timings last and interleaved model by model, so that every row sees the same machine state.
    for row in rows:
        row["e2e_p50_ms"], row["invoke_p50_ms"] = measure(row["file"], row["run"], args.repeats)
    ref_again = float_references(args.reference, args.repeats)
    onnx_ms = statistics.mean([ref["onnx_ms"], ref_again["onnx_ms"]])
    keras_ms = statistics.mean([ref["keras_ms"], ref_again["keras_ms"]])
    for row in rows:
        row["reference_run"] = args.reference
        row["reference_onnx_ms"], row["reference_keras_ms"] = onnx_ms, keras_ms
        row["onnx_over_e2e"], row["keras_over_e2e"] = onnx_ms / row["e2e_p50_ms"], keras_ms / row["e2e_p50_ms"]
        accs = [f["correct"] / f["images"] for f in row["folds"]]
        row["cv_mean"] = statistics.mean(accs) if accs else None
        row["cv_pooled"] = [sum(f["correct"] for f in row["folds"]), sum(f["images"] for f in row["folds"])] if accs else None
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    print(f"reference: float CRNN ({args.reference}) under ONNX Runtime {onnx_ms:.3f} ms, Keras tf.function "
          f"{keras_ms:.3f} ms (p50, mean of a run before and after the int8 timings: "
          f"{ref['onnx_ms']:.3f}/{ref_again['onnx_ms']:.3f} and {ref['keras_ms']:.3f}/{ref_again['keras_ms']:.3f})")
    print(f"{'model':22} {'bytes':>8} {'params':>7} {'held-out':>14} {'CV folds':>28} {'CV mean':>8} "
          f"{'e2e p50':>8} {'invoke':>7} {'ORT/e2e':>8} {'Keras/e2e':>9}")
    for r in rows:
        c, n = r["held_out"]
        held = f"{c / n:.2%} {c}/{n}"
        folds = " ".join(f"{f['correct']}/{f['images']}" for f in r["folds"]) or "-"
        mean = f"{r['cv_mean']:.2%}" if r["cv_mean"] is not None else "-"
        print(f"{r['model']:22} {r['bytes']:>8} {r['params']:>7} {held:>14} {folds:>28} {mean:>8} "
              f"{r['e2e_p50_ms']:>8.3f} {r['invoke_p50_ms']:>7.3f} {r['onnx_over_e2e']:>7.1f}x {r['keras_over_e2e']:>8.1f}x")


if __name__ == "__main__":
    main()
