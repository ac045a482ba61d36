"""The real CLI, run in a subprocess, as a user would run it."""

import json
import os
import sys



def test_version_and_help(cli):
    from edge_runtime import __version__

    out = cli("--version")
    assert out.returncode == 0 and __version__ in out.stdout
    for cmd in ("predict", "info"):
        h = cli(cmd, "--help")
        assert h.returncode == 0 and "Usage" in h.stdout


def test_predict_file_and_directory_jsonl(cli, wilhelmy, tmp_path):
    files = sorted(wilhelmy.glob("*.png"))[:4]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for f in files[2:]:
        (folder / f.name).symlink_to(f)
    out = cli("predict", "--format", "jsonl", str(files[0]), str(files[1]), str(folder), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(records) == 4
    assert [os.path.basename(r["path"]) for r in records] == [f.name for f in files]
    for r in records:
        assert set(r) == {"path", "text", "confidence"}
        assert 0 <= r["confidence"] <= 1
    assert sum(r["text"] == os.path.basename(r["path"])[:-4] for r in records) >= 3


def test_predict_bad_inputs_exit_1_and_others_still_go_through(cli, wilhelmy, tmp_path):
    good = sorted(wilhelmy.glob("*.png"))[0]
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("no images here")
    args = ["predict", "--format", "jsonl", str(tmp_path / "zero.png"), str(good), str(tmp_path / "missing.png"),
            str(tmp_path / "text.png"), str(empty_dir)]
    out = cli(*args)
    assert out.returncode == 1
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(records) == 5
    assert [("error" in r) for r in records] == [True, False, True, True, True]
    assert "Traceback" not in out.stderr


def test_text_format_errors_go_to_stderr_one_line_each(cli, wilhelmy, tmp_path):
    good = sorted(wilhelmy.glob("*.png"))[0]
    (tmp_path / "zero.png").write_bytes(b"")
    out = cli("predict", str(good), str(tmp_path / "zero.png"))
    assert out.returncode == 1
    assert len(out.stdout.splitlines()) == 1 and out.stdout.startswith(str(good))
    assert out.stderr.strip().count("\n") == 0 and "0-byte" in out.stderr


def test_csv_format(cli, wilhelmy):
    good = sorted(wilhelmy.glob("*.png"))[0]
    out = cli("predict", "--format", "csv", str(good))
    assert out.returncode == 0
    assert out.stdout.splitlines()[0] == "path,text,confidence,error"


def test_model_problems_are_usage_errors(cli, tmp_path, wilhelmy):
    good = str(sorted(wilhelmy.glob("*.png"))[0])
    notmodel = tmp_path / "x.tflite"
    notmodel.write_bytes(b"garbage" * 10)
    for model in ("no-such-model", str(notmodel), str(tmp_path / "missing.tflite")):
        out = cli("predict", "--model", model, good)
        assert out.returncode == 2, (model, out.stderr)
        assert out.stderr.startswith("captcha-edge: error: expected") and "Traceback" not in out.stderr
    assert cli("predict").returncode == 2
    assert cli("predict", "--threads", "0", good).returncode == 2


def test_info_text_and_json(cli):
    out = cli("info", "--format", "json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["contract"]["charset"] and info["input_tensor"]["shape"][0] == 1
    assert info["interpreter"]["package"] in ("ai-edge-litert", "tflite-runtime")
    text = cli("info")
    assert "charset" in text.stdout and "quantization" in text.stdout
    listing = cli("info", "--list")
    assert "(default)" in listing.stdout


def test_console_script_works_from_another_directory(cli, tmp_path, wilhelmy):
    """The installed entry point finds the shipped models wherever it runs."""
    import shutil
    import subprocess

    exe = shutil.which("captcha-edge", path=os.path.dirname(sys.executable))
    assert exe, "captcha-edge console script is not installed next to this Python"
    good = sorted(wilhelmy.glob("*.png"))[0]
    out = subprocess.run([exe, "predict", str(good)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_trainer_cli_without_tensorflow_explains_itself(cli, tmp_path, wilhelmy):
    """One distribution: captcha-train is installed on a device too, and says what it needs."""
    from edge_runtime import __version__

    assert __version__ in cli("--version", module="trainer.cli").stdout
    assert "fit" in cli("--help", module="trainer.cli").stdout
    out = cli("fit", "--data", str(wilhelmy), "--out", str(tmp_path / "run"), module="trainer.cli")
    assert out.returncode == 1 and "pip install 'captcha-edge[train]'" in out.stderr and "Traceback" not in out.stderr


def test_quick_start_reads_the_committed_examples(cli, tmp_path):
    """The README's no-data quick start: the synthetic model reads every committed example."""
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent.parent / "examples"
    pngs = sorted(examples.glob("*.png"))
    assert len(pngs) >= 10
    out = cli("predict", "--model", "synth36-int8", "--format", "jsonl", str(examples), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [os.path.basename(r["path"]) for r in records] == [p.name for p in pngs]
    assert [r["text"] for r in records] == [p.stem for p in pngs]
