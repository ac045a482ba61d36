"""The fit's one validation pass per epoch gives what Keras' ``evaluate`` (the loss) and a read by
the runtime's decoders (the accuracy) give, for a CTC model and for a multi-head model whose CTC
side output adds to the loss."""

import numpy as np
import pytest

from edge_runtime.contract import Kind

from trainer.models import build
from trainer.predict import PREDICT_BATCH, predict_texts, to_inputs
from trainer.runs import Run
from trainer.train import _validate, compile_model, load_checkpoint, output_targets, split_for_run


@pytest.fixture(scope="module", params=["convctc-fast", "cnn-attn"])
def run(request, train_cli, synth_data, tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("validate") / request.param
    train_cli("fit", "--data", synth_data, "--arch", request.param, "--out", out, "--epochs", 2,
              "--val-fraction", 0.5, *tiny)
    return Run(out)


def test_one_pass_gives_evaluates_loss_and_the_decoders_accuracy(run):
    config, contract = run.config, run.config.contract()
    _, val = split_for_run(config, run, log=lambda m: None, report=False)
    model = compile_model(build(config), config)
    load_checkpoint(model, run.last_weights)
    val_x = to_inputs(val.pixels, config.input_spec)
    outputs = len(model.outputs)
    assert 20 < len(val.labels) < 30  # a batch of 20 and a shorter one: the loss is a mean over images

    # A tiny model reads few images right after 2 epochs; every other label is replaced by the
    # model's own read (by the exported model's path), so the accuracy is at least a half.
    texts = predict_texts(run.load_keras(run.last_weights), contract, val.pixels)
    labels = [t if i % 2 == 0 else label for i, (t, label) in enumerate(zip(texts, val.labels))]
    loss, accuracy = _validate(model, contract, val_x, output_targets(val.labels, config, outputs), labels, batch=20)
    assert accuracy == pytest.approx(np.mean([t == label for t, label in zip(texts, labels)])) and accuracy >= 0.5
    # The loop recorded the same pass for its last epoch.
    assert run.state["history"][-1]["val_loss"] == pytest.approx(loss, rel=1e-4)

    # CTC targets of unequal length give images unequal losses, so a mean of the batches' means
    # would differ from evaluate's mean over images (a multi-head model reads 5 characters only).
    short = [label[:2] if i % 3 == 0 else label for i, label in enumerate(val.labels)]
    for targets in (val.labels, short) if config.kind == Kind.CTC else (val.labels,):
        val_y = output_targets(targets, config, outputs)
        expected = model.evaluate(val_x, val_y, batch_size=PREDICT_BATCH, verbose=0, return_dict=True)["loss"]
        assert _validate(model, contract, val_x, val_y, labels, batch=20)[0] == pytest.approx(expected, rel=1e-4)
