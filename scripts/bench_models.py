"""Shipped models side by side, measured in one process: bytes, params, validation accuracy,
edge_runtime end-to-end and invoke latency, and the same run's float model under ONNX Runtime
and Keras (tf.function). Needs the train extra plus onnxruntime and tf2onnx.

    python scripts/bench_models.py converted/crnn-int8.tflite=runs/crnn [FILE=RUN_DIR ...] [--repeats 3]

Single thread everywhere. Medians over every validation image, repeated; ratios are same-run.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", metavar="TFLITE=RUN_DIR")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from edge_runtime.recognizer import Recognizer
    from trainer import data as D
    from trainer.evaluate import load_keras
    from trainer.train import RunFiles, to_inputs

    rows = []
    for pair in args.pairs:
        tflite, run_dir = pair.split("=", 1)
        config, model = load_keras(run_dir)
        split = D.read_json(RunFiles(run_dir).split)
        folder = split["data_dir"]
        paths = [os.path.join(folder, n) for n in split["val"]]
        val = D.load_folder(folder, config.input_spec, config.charset, config.label_length, names=split["val"])
        floats = [to_inputs(p[None], config.input_spec) for p in val.pixels]

        rec = Recognizer.from_file(tflite, threads=1)
        for p in paths[:20]:
            rec.recognize(p)
        texts = [rec.recognize(p).text for p in paths]
        accuracy = float(np.mean([t == os.path.basename(p).rsplit(".", 1)[0] for t, p in zip(texts, paths)]))
        e2e = median_ms(rec.recognize, paths, args.repeats)
        engine = rec.engine
        invoke = median_ms(lambda px: (engine.set_input(px), engine.invoke()), list(val.pixels), args.repeats)

        spec = (tf.TensorSpec((1, config.height, config.width, 1), tf.float32, name="image"),)
        onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        sess = ort.InferenceSession(onnx_model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        for x in floats[:20]:
            sess.run(None, {name: x})
        onnx_ms = median_ms(lambda x: sess.run(None, {name: x}), floats, args.repeats)

        fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
        for x in floats[:20]:
            fn(x)
        keras_ms = median_ms(lambda x: fn(x).numpy(), floats, args.repeats)
        rows.append({
            "model": os.path.basename(tflite), "bytes": os.path.getsize(tflite), "params": int(model.count_params()),
            "val_images": len(paths), "val_accuracy": accuracy, "e2e_p50_ms": e2e, "invoke_p50_ms": invoke,
            "onnxruntime_float_p50_ms": onnx_ms, "keras_tf_function_p50_ms": keras_ms,
            "onnx_over_e2e": onnx_ms / e2e, "keras_over_e2e": keras_ms / e2e,
        })
    print(json.dumps(rows, indent=2))
    header = f"{'model':24} {'bytes':>9} {'params':>8} {'val acc':>12} {'e2e p50':>8} {'invoke':>7} {'ORT':>7} {'Keras':>7} {'ORT/e2e':>7}"
    print(header)
    for r in rows:
        acc = f"{r['val_accuracy']:.4f} ({round(r['val_accuracy'] * r['val_images'])}/{r['val_images']})"
        print(f"{r['model']:24} {r['bytes']:>9} {r['params']:>8} {acc:>12} {r['e2e_p50_ms']:>8.3f} {r['invoke_p50_ms']:>7.3f} "
              f"{r['onnxruntime_float_p50_ms']:>7.3f} {r['keras_tf_function_p50_ms']:>7.3f} {r['onnx_over_e2e']:>6.1f}x")


if __name__ == "__main__":
    main()
