"""Multi-head models: a convctc base run, a cnn initialised from its trunk (--init-from) and
exported to int8; a leaking --init-from is refused before anything is built."""

import pytest

from edge_runtime.contract import read_contract
from edge_runtime.recognizer import Recognizer
from trainer.export import export
from trainer.runs import Run


@pytest.fixture(scope="module")
def base(train_cli, synth_data, tiny, tmp_path_factory):
    run = tmp_path_factory.mktemp("base") / "convctc"
    train_cli("fit", "--data", synth_data, "--arch", "convctc", "--out", run, "--epochs", 1, *tiny)
    return Run(run)


@pytest.fixture(scope="module")
def cnn(train_cli, synth_data, tiny, base, tmp_path_factory):
    run = tmp_path_factory.mktemp("cnn") / "cnn"
    out = train_cli("fit", "--data", synth_data, "--arch", "cnn", "--out", run, "--epochs", 1, "--init-from", base.root,
                    *tiny).stdout
    return Run(run), out


def test_init_from_copies_the_shared_trunk(cnn, base):
    run, out = cnn
    assert "initialised 12 layers" in out and "collapse_conv" in out
    assert run.config.init_from == str(base.root) and run.config.kind == "multihead" and run.config.label_length == 5


def test_init_from_refuses_a_run_that_trained_on_the_validation_images(train_cli, synth_data, tiny, base, tmp_path):
    other = ["2" if a == "1" else a for a in tiny]  # another seed splits differently
    leak = train_cli("fit", "--data", synth_data, "--arch", "cnn", "--out", tmp_path / "leak", "--epochs", 1,
                     "--init-from", base.root, *other, code=1)
    assert "trained on none of this run's validation images" in leak.stderr
    assert "Traceback" not in leak.output and not (tmp_path / "leak" / "state.json").exists()


def test_cnn_exports_int8_with_its_heads(cnn, base, synth_data, tmp_path):
    run, _ = cnn
    target = tmp_path / "cnn-int8.tflite"
    report = export(run.root, "int8", target, max_accuracy_drop=1, log=lambda m: None)
    contract = read_contract(target.read_bytes())
    layout = run.config.contract()
    assert (contract.kind, contract.label_length, contract.charset, contract.blank_index, contract.num_classes) == \
        ("multihead", 5, layout.charset, None, len(layout.charset))
    assert report["fit_chain"] == [base.command, run.command]
    rec = Recognizer.from_file(target)
    first = sorted(synth_data.glob("*.png"))[0]
    assert len(rec.recognize(first).text) == 5
    assert rec.probabilities(first).shape == (5, len(layout.charset))
