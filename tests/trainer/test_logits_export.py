"""A convolutional CTC model's export graph ends at its logits, and the runtime takes their softmax:
the file says so, and the float32 file reads Keras' probabilities. (That the int8 file keeps the
odds of unlikely classes is checked on the runtime's fixture model, trained long enough to have
them: tests/runtime/test_fixture_model.py.)"""

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import read_contract
from edge_runtime.flatbuf import operator_codes
from edge_runtime.recognizer import Recognizer
from trainer.predict import predict_probs, to_inputs
from trainer.runs import Run


@pytest.fixture(scope="module")
def convctc_run(train_cli, synth_data, tiny, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "convctc"
    train_cli("fit", "--data", synth_data, "--arch", "convctc-fast", "--init-from", "none", "--out", run,
              "--epochs", 4, *tiny)
    return Run(run)


@pytest.fixture(scope="module")
def files(train_cli, convctc_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported")
    for mode in ("float32", "int8"):
        train_cli("export", convctc_run.root, "--quantize", mode, "--out", folder / f"{mode}.tflite",
                  "--max-accuracy-drop", 1)
    return {mode: folder / f"{mode}.tflite" for mode in ("float32", "int8")}


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_the_file_holds_logits_and_says_so(files, mode):
    from tensorflow.lite.python.schema_py_generated import BuiltinOperator

    data = files[mode].read_bytes()
    assert read_contract(data).output == "logits"
    ops = {code for code, _ in operator_codes(data)}
    assert BuiltinOperator.SOFTMAX not in ops and BuiltinOperator.CONV_2D in ops


def test_the_runtime_softmax_gives_keras_probabilities(convctc_run, files):
    val = convctc_run.images("val")
    keras_probs = predict_probs(convctc_run.load_keras(), to_inputs(val.pixels, convctc_run.config.input_spec))
    rec = Recognizer.from_file(files["float32"])
    paths = [Path(convctc_run.split["data_dir"]) / n for n in val.names]
    np.testing.assert_allclose(np.stack([rec.probabilities(p) for p in paths]), keras_probs, atol=1e-4)

