"""cnn-attn on one cross-validation fold with --select last: trains with a CTC side output,
keeps the last epoch, and exports the heads only."""

import pytest

from edge_runtime.recognizer import Recognizer
from trainer.export import export
from trainer.runs import Run


@pytest.fixture(scope="module")
def attn(train_cli, synth_data, tiny, tmp_path_factory):
    run = tmp_path_factory.mktemp("attn") / "attn"
    train_cli("fit", "--data", synth_data, "--arch", "cnn-attn", "--out", run, "--epochs", 3, "--folds", 4, "--fold", 2,
              "--select", "last", "--patience", 1, *tiny)
    return Run(run)


def test_fold_run_keeps_the_last_epoch(attn):
    state = attn.state
    assert state["epoch"] == 3 and state["best_epoch"] == 3  # no early stop, no selection
    split = attn.split
    assert split["folds"] == 4 and split["fold"] == 2 and len(split["val"]) == 12 and len(split["train"]) == 36


def test_export_has_the_heads_only(attn, synth_data, tmp_path):
    target = tmp_path / "attn-int8.tflite"
    report = export(attn.root, "int8", target, max_accuracy_drop=1, log=lambda m: None)
    rec = Recognizer.from_file(target)
    assert rec.contract.kind == "multihead" and rec.contract.arch == "cnn-attn"
    first = sorted(synth_data.glob("*.png"))[0]
    assert len(rec.recognize(first).text) == 5
    # The CTC side output (charset + blank wide) is gone: one softmax over the charset per position.
    assert rec.probabilities(first).shape == (5, len(rec.contract.charset))
    assert report["images"] == 12 and report["run"]["select"] == "last"
