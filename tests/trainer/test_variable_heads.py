"""The multi-head family on labels of 3 to 5 characters: 5 heads, and an end class that the heads
after a shorter text learn (Contract.for_charset lays it out). A cnn-faithful run fits, exports
int8, and ``captcha-edge predict`` reads texts of different lengths; cnn-attn's training-only CTC
output learns the same labels without the end class; fixed-length targets are as they were."""

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_runtime.cli import main as edge_main
from edge_runtime.contract import read_contract
from trainer.config import RunConfig
from trainer.runs import Run
from trainer.train import CTC_PAD, encode_labels, output_targets

CHARS = "abc123"
LENGTHS = (3, 5)
#: Few epochs, but enough steps for the heads to learn where the text ends.
SHORT = ["--input-size", "32x128", "--batch-size", "8", "--max-steps", "8", "--no-augment", "--learning-rate", "0.003",
         "--seed", "1", "--no-refit"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    """64 clean 32x128 images, labelled by a labels.csv: 3 to 5 characters drawn left to right at
    fixed places, so that a few epochs teach a model where the text ends."""
    import cv2

    folder = tmp_path_factory.mktemp("plain")
    rng = random.Random(3)
    lines = ["path,label"]
    for i in range(64):
        label = "".join(rng.choice(CHARS) for _ in range(rng.randint(*LENGTHS)))
        image = np.full((32, 128, 3), 255, np.uint8)
        for k, ch in enumerate(label):
            cv2.putText(image, ch, (6 + 24 * k, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
        cv2.imwrite(str(folder / f"img{i:03d}.png"), image)
        lines.append(f"img{i:03d}.png,{label}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


def _config(kind="multihead", lengths=LENGTHS, arch="cnn"):
    lo, hi = lengths
    return RunConfig(arch=arch, data_dir=".", kind=kind, charset="abc", label_length=hi if kind == "multihead" else None,
                     height=32, width=128, min_length=lo, max_length=hi)


def test_heads_learn_the_end_class_and_the_ctc_side_output_never_sees_it():
    config = _config()
    end = config.contract().end_index
    assert end == 3 and config.lengths == (1, 5) and config.contract().num_classes == 4
    heads, ctc = output_targets(["ab", "cabca"], config, outputs=2)
    assert heads.tolist() == [[0, 1, end, end, end], [2, 0, 1, 2, 0]]
    assert ctc.tolist() == [[0, 1, CTC_PAD, CTC_PAD, CTC_PAD], [2, 0, 1, 2, 0]]
    assert config.ctc_layout().blank_index == end  # why the CTC targets must not hold the end class


def test_fixed_length_targets_are_as_before():
    config = _config(lengths=(3, 3))
    assert config.contract().end_index is None and config.lengths == (3, 3) and config.contract().num_classes == 3
    targets = output_targets(["abc", "cba"], config, outputs=2)
    assert all(t.tolist() == [[0, 1, 2], [2, 1, 0]] for t in targets)
    assert encode_labels(["ab", "abc"], _config(kind="ctc")).tolist() == [[0, 1, CTC_PAD], [0, 1, 2]]


@pytest.fixture(scope="module")
def faithful(plain, train_cli, tmp_path_factory):
    run = tmp_path_factory.mktemp("faithful") / "run"
    log = train_cli("fit", "--data", plain, "--arch", "cnn-faithful", "--out", run, "--epochs", 15, "--width-mult", 0.5,
                    *SHORT).output
    return Run(run), log


def test_a_multihead_run_takes_labels_of_3_to_5_characters(faithful):
    run, log = faithful
    assert "cnn-faithful: 5 heads for labels of 3 to 5 characters" in log
    config = run.config
    assert (config.label_length, config.min_length, config.max_length) == (5, 3, 5)
    assert config.contract().end_index == len(config.charset)


def test_it_exports_and_predict_reads_texts_of_different_lengths(faithful, plain, train_cli, tmp_path):
    run, _ = faithful
    model = tmp_path / "heads-int8.tflite"
    train_cli("export", run.root, "--quantize", "int8", "--out", model, "--max-accuracy-drop", "1")
    contract = read_contract(model.read_bytes())
    assert (contract.kind, contract.label_length, contract.length_range) == ("multihead", 5, LENGTHS)
    assert contract.end_index == len(contract.charset) and contract.num_classes == len(contract.charset) + 1

    runner = CliRunner()
    info = runner.invoke(edge_main, ["info", "--model", str(model), "--format", "json"])
    assert info.exit_code == 0, info.output
    shown = json.loads(info.output)
    assert shown["contract"]["end_index"] == len(contract.charset) and shown["output_tensor"]["shape"] == [1, 5, 7]
    images = sorted(str(p) for p in plain.glob("*.png"))[:16]
    read = runner.invoke(edge_main, ["predict", "--model", str(model), "--format", "jsonl", *images])
    texts = [json.loads(line)["text"] for line in read.output.splitlines() if line.startswith("{")]
    assert len(texts) == 16 and all(set(t) <= set(CHARS) and len(t) <= 5 for t in texts)
    lengths = Counter(map(len, texts))
    assert len(lengths) >= 2, f"expected texts of different lengths, got {texts}"


@pytest.mark.parametrize("arch", ["cnn", "cnn-attn"])
def test_other_multihead_archs_fit_mixed_lengths(arch, plain, train_cli, tmp_path):
    """cnn-attn has a CTC side output in training: with end-padded head targets and -1-padded
    CTC targets its loss stays finite."""
    run = tmp_path / "run"
    train_cli("fit", "--data", plain, "--arch", arch, "--out", run, "--epochs", 2, "--width-mult", 0.25, *SHORT)
    history = Run(run).state["history"]
    assert len(history) == 2 and all(np.isfinite([h["loss"], h["val_loss"]]).all() for h in history)
