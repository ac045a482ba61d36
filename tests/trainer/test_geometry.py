"""Variable-length labels, the input size chosen from the data, the pad policy and RGB input,
end to end: a folder of mixed sizes, label lengths (4-6) and cases, labelled by a labels file,
fits, exports int8, and is read back by ``captcha-edge predict``, with ``info`` showing the
model's length range and resize policy."""

import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_runtime.cli import main as edge_main
from edge_runtime.contract import read_contract
from trainer import data as D
from trainer import defaults
from trainer.config import AUTO_HEIGHT, RunConfig
from trainer.synth import render
from trainer.train import check_time_steps

#: Both cases of some letters, so the labels keep them apart.
MIXED_CASE = "abcdABCD2345"
#: Quick settings without --input-size: the size is chosen from the images.
QUICK = ["--width-mult", "0.25", "--batch-size", "8", "--max-steps", "2", "--no-augment", "--seed", "1", "--epochs", "1",
         "--no-refit"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """36 images in a labels.csv folder: 40x120 and 60x240 images, labels of 4-6 characters in both
    cases, under hash-like names that say nothing about the label."""
    raw = tmp_path_factory.mktemp("raw")
    render(raw, 18, MIXED_CASE, (4, 6), 1, (40, 120), log=lambda m: None)
    render(raw, 18, MIXED_CASE, (4, 6), 2, (60, 240), log=lambda m: None)
    folder = tmp_path_factory.mktemp("mixed")
    lines = ["path,label"]
    for i, path in enumerate(sorted(raw.glob("*.png"))):
        path.rename(folder / f"img{i:03d}.png")
        lines.append(f"img{i:03d}.png,{D.label_from_name(path)}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_input_size_rule():
    sizes = Counter({(40, 120): 3, (60, 240): 2, (100, 400): 1})  # aspects 3, 3, 3, 4, 4, 4: median 3.5
    assert D.choose_input_size(sizes, 4) == (AUTO_HEIGHT, 176)     # 50 x 3.5 = 175 -> 176
    assert D.choose_input_size(sizes, 8) == (AUTO_HEIGHT, 176)
    assert D.choose_input_size(Counter({(50, 200): 9}), 8) == (50, 200)  # the real data keeps its size
    line = D.size_report(sizes, (50, 176), "RULE")[0]
    assert line.startswith("mixed image sizes: 3 different in 6 images read") and "input size 50x176 (chosen: RULE)" in line


def test_the_width_is_never_below_a_floor():
    sizes = Counter({(60, 160): 5})                                          # 50 x 2.67 = 133 -> 132
    assert D.choose_input_size(sizes, 4) == (AUTO_HEIGHT, 132)
    assert D.choose_input_size(sizes, 4, min_width=30.5 * 5.01) == (AUTO_HEIGHT, 152)   # 152.8 -> 152
    assert D.choose_input_size(sizes, 4, min_width=100.0) == (AUTO_HEIGHT, 132)         # a lower floor changes nothing
    assert D.mean_length(["abcd", "abcdef"]) == 5.0


def test_fine_tuning_gives_narrow_characters_the_base_scale(train_cli, tmp_path):
    """Six characters in 60x120 images: the aspect alone gives 50x100, 16.7 pixels a character.
    From the base (50x168, 3-8 characters: 30.5 pixels a character) the width is 6 x 30.5 = 183,
    rounded to 184; from scratch the aspect alone decides."""
    folder = tmp_path / "narrow"
    render(folder, 12, "abcdef0123", (6, 6), 3, (60, 120), log=lambda m: None)
    assert defaults.base_pixels_per_character() == pytest.approx(168 / 5.5)
    quick = ["--max-steps", "1", "--epochs", "1", "--no-augment"]
    out = train_cli("fit", "--data", folder, "--out", tmp_path / "base", *quick).output
    assert "input size 50x184 (chosen: height 50;" in out
    assert "at least 30.5 pixels per character of the mean label length (6.00), the pre-trained base's scale)" in out
    assert json.loads((tmp_path / "base" / "config.json").read_text())["width"] == 184
    out = train_cli("fit", "--data", folder, "--out", tmp_path / "scratch", "--init-from", "none", *quick).output
    assert "input size 50x100 (chosen: height 50;" in out and "pixels per character" not in out
    named = os.path.relpath(defaults.BASE_DIR)  # the base named with --init-from, as a user might write it
    out = train_cli("fit", "--data", folder, "--out", tmp_path / "named", "--init-from", named, *quick).output
    assert "input size 50x184 (chosen: height 50;" in out


def test_ctc_labels_too_long_for_the_time_steps_are_refused():
    config = RunConfig(arch="convctc", data_dir=".", kind="ctc", charset="ab", label_length=None, height=32, width=32)
    check_time_steps(config, 9, ["ab", "abaab"])  # 2*5-1 = 9 steps: enough
    with pytest.raises(D.DataError, match=r"at most 4 characters for the 8 time steps of convctc .* got 'abaab' with 5"):
        check_time_steps(config, 8, ["ab", "abaab"])


def test_multihead_takes_variable_lengths(mixed, train_cli, tmp_path):
    """Its heads are the longest label's; the end class is tested in test_variable_heads.py."""
    out = train_cli("fit", "--data", mixed, "--arch", "cnn", "--out", tmp_path / "run", *QUICK).output
    assert "cnn: 6 heads for labels of 4 to 6 characters; the heads after a shorter text learn an end class" in out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["label_length"], config["min_length"], config["max_length"]) == (6, 4, 6)


def test_mixed_folder_fits_exports_and_reads_back(mixed, train_cli, tmp_path):
    run = tmp_path / "run"
    log = train_cli("fit", "--data", mixed, "--arch", "convctc", "--out", run, "--resize", "pad", "--color", "rgb",
                    *QUICK).output
    assert re.search(r"mixed image sizes: 2 different in 36 images read.*input size 50x176 \(chosen: height 50", log)
    assert "label lengths 4: " in log and "letters occur in both cases" in log
    config = json.loads((run / "config.json").read_text())
    assert (config["height"], config["width"], config["resize"], config["color"]) == (50, 176, "pad", "rgb")
    assert (config["min_length"], config["max_length"]) == (4, 6)

    model = tmp_path / "mixed-int8.tflite"
    exported = train_cli("export", run, "--quantize", "int8", "--out", model, "--max-accuracy-drop", "1").output
    contract = read_contract(model.read_bytes())
    assert (contract.input.channels, contract.input.color, contract.input.resize) == (3, "rgb", "pad")
    assert contract.length_range == (4, 6) and set(contract.charset) == set(MIXED_CASE)
    # The 60x240 images padded into 50x176 have 3 white rows above and below: the margin rule must
    # allow the model's own inputs (the default allows 5 of 50).
    assert contract.max_flat_rows == 6 and "up to 6 flat rows above and below the text" in exported

    runner = CliRunner()
    info = runner.invoke(edge_main, ["info", "--model", str(model), "--format", "json"])
    assert info.exit_code == 0, info.output
    shown = json.loads(info.output)["contract"]
    assert (shown["min_length"], shown["max_length"], shown["input"]["resize"]) == (4, 6, "pad")
    images = sorted(str(p) for p in mixed.glob("*.png"))[:3]
    read = runner.invoke(edge_main, ["predict", "--model", str(model), "--format", "jsonl", *images])
    records = [json.loads(line) for line in read.output.splitlines() if line.startswith("{")]
    assert len(records) == 3 and all("text" in r and "error" not in r for r in records)
    # a few epochs teach little: predict may reject the reads (exit 1), but it must read every image
    assert read.exit_code == (1 if any(r.get("rejected") for r in records) else 0), read.output
    assert all(r.get("rejected") != "length" or not 4 <= len(r["text"]) <= 6 for r in records)  # the contract's range


def test_training_pixels_are_the_runtimes(mixed):
    """The trainer reads images through edge_runtime.preprocess: padded RGB pixels are a device's."""
    from edge_runtime import images
    from edge_runtime.contract import InputSpec
    from edge_runtime.preprocess import prepare

    spec = InputSpec(50, 176, channels=3, color="rgb", resize="pad")
    ds = D.load_folder(mixed, spec)
    assert ds.pixels.shape == (36, 50, 176, 3) and len(set(map(len, ds.labels))) == 3
    assert np.array_equal(ds.pixels[0], prepare(images.load(mixed / ds.names[0]), spec))
