"""captcha-train in-process (CliRunner): every fold in one command, defaults read from
RunConfig, and errors as one line with exit 1 (named errors) or 2 (usage)."""

import json
import subprocess
import sys
from dataclasses import fields

import pytest

from trainer.archs import ARCHS
from trainer.config import DEFAULTS, RunConfig
from trainer.runs import Run


def test_every_fold_in_one_command(train_cli, synth_data, tiny, tmp_path):
    out = train_cli("fit", "--data", synth_data, "--arch", "convctc-fast", "--out", tmp_path / "cv", "--epochs", 1,
                    "--folds", 2, "--select", "last", *tiny, "--max-steps", 1).stdout
    cv = Run(tmp_path / "cv")
    assert [f["fold"] for f in cv.cv["folds"]] == [1, 2] and sum(f["val_images"] for f in cv.cv["folds"]) == 48
    vals = [set(cv.fold(k).split["val"]) for k in (1, 2)]
    assert len(vals[0] | vals[1]) == 48 and not vals[0] & vals[1]
    assert "mean" in out and "fold 2/2" in out and cv.fold(2).command.startswith("captcha-train ")


def test_fit_options_take_their_defaults_and_choices_from_one_place():
    from trainer.cli import fit
    from trainer.models import BUILDERS

    options = {p.name: p for p in fit.params}
    for name in ("epochs", "patience", "val_fraction", "learning_rate", "seed", "select", "strokes", "width_mult"):
        assert options[name].default == DEFAULTS[name] == {f.name: f.default for f in fields(RunConfig)}[name]
    assert (DEFAULTS["epochs"], DEFAULTS["patience"], DEFAULTS["learning_rate"]) == (150, 25, 1e-3)
    assert list(options["arch"].type.choices) == list(ARCHS) and BUILDERS.keys() == ARCHS.keys()


def test_the_cli_imports_without_tensorflow():
    """--help must work on a device without the train extra: nothing at import pulls in Keras."""
    code = "import sys, trainer.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]


@pytest.mark.parametrize("args, message", [
    (["evaluate", "{tmp}"], "expected a run made by 'captcha-train fit' in {tmp}, found no config.json"),
    (["export", "{tmp}", "--out", "{tmp}/x.tflite"], "found no config.json"),
])
def test_named_errors_are_one_line_exit_1(train_cli, tmp_path, args, message):
    result = train_cli(*[a.format(tmp=tmp_path) for a in args], code=1)
    assert result.stderr.startswith("Error: expected ") and result.stderr.count("\n") == 1
    assert message.format(tmp=tmp_path) in result.stderr


def test_a_run_without_weights_says_so(train_cli, tmp_path):
    run = Run(tmp_path)
    run.config_file.write_text(json.dumps({"arch": "convctc-fast", "data_dir": str(tmp_path), "kind": "ctc",
                                           "charset": "abc", "label_length": None, "height": 32, "width": 128}))
    result = train_cli("evaluate", tmp_path, "--data", tmp_path, code=1)
    assert "found no split.json" in result.stderr or "expected images to evaluate" in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--input-size", "0x5"], "expected HEIGHTxWIDTH such as 50x200, got '0x5'"),
    (["--input-size", "fifty"], "expected HEIGHTxWIDTH"),
    (["--fold", "2"], "expected --fold 1..K with --folds K"),
    (["--arch", "resnet"], "'resnet' is not one of"),
])
def test_usage_errors_exit_2(train_cli, synth_data, tmp_path, args, fragment):
    result = train_cli("fit", "--data", synth_data, "--out", tmp_path / "run", *args, code=2)
    assert fragment in result.stderr and not (tmp_path / "run").exists()
