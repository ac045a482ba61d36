"""The captcha-edge CLI. Fast: in this process through click's CliRunner, on the committed
examples with synth36-int8 (which reads all of them). e2e: the real command in a subprocess,
the console script, and the real images against their reference texts."""

import csv
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest

from edge_runtime import __version__
from support import EXAMPLES_MODEL, REFERENCE, jsonl

M = ("--model", EXAMPLES_MODEL)
COMMANDS = ("predict", "info", "watch", "camera", "bench", "serve")


def test_version(invoke):
    out = invoke("--version")
    assert out.exit_code == 0 and __version__ in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(invoke, command):
    out = invoke(command, "--help")  # serve's too, without the serve extra: it is imported only to serve
    assert out.exit_code == 0 and out.stdout.startswith("Usage") and "--model" in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_says_what_it_does(command):
    import click

    from edge_runtime.cli import main

    silent = [p.opts for p in main.commands[command].params if isinstance(p, click.Option) and not p.help]
    assert silent == [], f"{command}: flags without help text"


def test_predict_file_and_directory_jsonl(invoke, examples, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for f in examples[2:5]:
        (folder / f.name).symlink_to(f)
    (folder / "notes.txt").write_text("not an image name: not an input")
    out = invoke("predict", *M, "--format", "jsonl", examples[0], examples[1], folder)
    assert out.exit_code == 0, out.stderr
    records = jsonl(out.stdout)
    assert [os.path.basename(r["path"]) for r in records] == [f.name for f in examples[:5]]
    assert [r["path"] for r in records[:2]] == [str(examples[0]), str(examples[1])]
    for r in records:
        assert set(r) == {"path", "text", "confidence"} and 0.5 < r["confidence"] <= 1
    assert [r["text"] for r in records] == [f.stem for f in examples[:5]]  # every one exactly right
    assert out.stderr == ""


def test_predict_the_whole_examples_folder_in_every_format(invoke, examples):
    folder = examples[0].parent
    records = jsonl(invoke("predict", *M, "--format", "jsonl", folder).stdout)
    assert [(Path(r["path"]).name, r["text"]) for r in records] == [(p.name, p.stem) for p in examples]
    text = invoke("predict", *M, folder)
    assert text.exit_code == 0
    rows = [line.split("\t") for line in text.stdout.splitlines()]
    assert [(r[0], r[1]) for r in rows] == [(str(p), p.stem) for p in examples]
    assert all(0.5 < float(r[2]) <= 1 and len(r[2]) == 6 for r in rows)  # four decimals
    table = list(csv.reader(io.StringIO(invoke("predict", *M, "--format", "csv", folder).stdout)))
    assert table[0] == ["path", "text", "confidence", "error", "rejected"]
    assert [(r[0], r[1], r[3], r[4]) for r in table[1:]] == [(str(p), p.stem, "", "") for p in examples]
    assert [r[2] for r in table[1:]] == [r[2] for r in rows]  # the same confidences


def test_predict_bad_inputs_exit_1_and_others_still_go_through(invoke, examples, tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("no images here")
    out = invoke("predict", *M, "--format", "jsonl", tmp_path / "zero.png", examples[0], tmp_path / "missing.png",
                 tmp_path / "text.png", empty_dir, examples[1])
    assert out.exit_code == 1
    records = jsonl(out.stdout)
    assert [("error" in r) for r in records] == [True, False, True, True, True, False]
    assert [r["text"] for r in records if "text" in r] == [examples[0].stem, examples[1].stem]
    errors = [r for r in records if "error" in r]
    assert all(set(r) == {"path", "error"} and "\n" not in r["error"] for r in errors)
    assert "0-byte" in errors[0]["error"] and "nothing" in errors[1]["error"] and "found none" in errors[3]["error"]
    assert out.stderr == ""


def test_text_format_errors_go_to_stderr_one_line_each(invoke, examples, tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "bad\nname.png").write_bytes(b"junk")
    out = invoke("predict", *M, examples[0], tmp_path / "zero.png", tmp_path / "bad\nname.png")
    assert out.exit_code == 1
    (line,) = out.stdout.splitlines()  # the one read, and no error line
    path, text, confidence = line.split("\t")
    assert (path, text) == (str(examples[0]), examples[0].stem)
    assert re.fullmatch(r"[01]\.\d{4}", confidence) and 0.5 < float(confidence) <= 1, confidence
    # errors on stderr only, one line each: control characters in a name are escaped
    assert out.stderr.splitlines() == [
        f"{tmp_path / 'zero.png'}: error: expected an image file, got an empty (0-byte) file",
        f"{tmp_path}/bad\\nname.png: error: expected PNG/JPEG/BMP/GIF/WebP/TIFF data, got 4 bytes OpenCV cannot decode"]


def test_csv_quotes_awkward_paths_and_carries_errors(invoke, examples, tmp_path):
    odd = tmp_path / 'a,"b".png'
    odd.write_bytes(examples[0].read_bytes())
    (tmp_path / "zero.png").write_bytes(b"")
    out = invoke("predict", *M, "--format", "csv", odd, tmp_path / "zero.png")
    assert out.exit_code == 1
    header, good, bad = csv.reader(io.StringIO(out.stdout))
    assert header == ["path", "text", "confidence", "error", "rejected"]
    assert good[:2] == [str(odd), examples[0].stem] and good[3] == ""
    assert bad[0] == str(tmp_path / "zero.png") and bad[1:3] == ["", ""] and "0-byte" in bad[3]


def test_predict_dash_reads_one_image_from_stdin(invoke, examples):
    data = examples[0].read_bytes()
    text = invoke("predict", *M, "-", input=data)
    assert text.exit_code == 0, text.stderr
    assert text.stdout.startswith(f"-\t{examples[0].stem}\t")
    out = invoke("predict", *M, "--format", "jsonl", examples[1], "-", input=data)
    assert out.exit_code == 0
    assert [(r["path"], r["text"]) for r in jsonl(out.stdout)] == [(str(examples[1]), examples[1].stem),
                                                                   ("-", examples[0].stem)]


def test_predict_dash_with_empty_or_bad_stdin_is_one_error_record_and_exit_1(invoke, examples, monkeypatch):
    empty = invoke("predict", *M, "--format", "jsonl", "-", examples[0], input=b"")
    assert empty.exit_code == 1 and empty.stderr == ""
    records = jsonl(empty.stdout)
    assert records[0] == {"path": "-", "error": "expected one image's bytes on standard input, got 0 bytes"}
    assert records[1]["text"] == examples[0].stem  # the other inputs still go through
    junk = invoke("predict", *M, "-", input=b"not an image")
    assert junk.exit_code == 1 and junk.stderr.splitlines() == [
        "-: error: expected PNG/JPEG/BMP/GIF/WebP/TIFF data, got 12 bytes OpenCV cannot decode"]
    monkeypatch.setenv("CAPTCHA_EDGE_MAX_FILE_BYTES", "100")
    big = invoke("predict", *M, "--format", "jsonl", "-", input=examples[0].read_bytes())
    assert big.exit_code == 1 and "at most 100 bytes" in jsonl(big.stdout)[0]["error"]


@pytest.mark.parametrize("model", ["no-such-model", "garbage.tflite", "missing.tflite", "a-directory"])
def test_model_problems_are_usage_errors(invoke, examples, tmp_path, model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage.tflite").write_bytes(b"garbage" * 10)
    (tmp_path / "a-directory").mkdir()
    out = invoke("predict", "--model", model if model != "a-directory" else "./a-directory", examples[0])
    assert out.exit_code == 2, (model, out.stderr)
    assert out.stderr.startswith("captcha-edge: error: expected") and out.stderr.count("\n") == 1
    assert out.stdout == ""


@pytest.mark.parametrize("args", [("predict",), ("predict", "--threads", "0", "x.png"), ("predict", "--format", "xml", "x.png"),
                                  ("predict", "--interpreter", "tensorflow", "x.png"), ("nosuchcommand",),
                                  ("info", "--format", "yaml"), ("bench", "--runs", "0"),
                                  ("watch", "/nonexistent/folder"), ("camera", "0", "--fps", "0")])
def test_bad_flags_are_usage_errors(invoke, args):
    out = invoke(*args)
    assert out.exit_code == 2 and "Usage" in out.stderr and out.stdout == ""


@pytest.mark.parametrize("var", ["CAPTCHA_EDGE_MAX_PIXELS", "CAPTCHA_EDGE_MAX_FILE_BYTES"])
@pytest.mark.parametrize("command", [("predict", *M, "EXAMPLE"), ("bench", *M, "--runs", "1", "--warmup", "0")])
def test_malformed_limit_is_one_line_and_exit_2(invoke, examples, monkeypatch, var, command):
    monkeypatch.setenv(var, "abc")
    out = invoke(*[str(examples[0]) if a == "EXAMPLE" else a for a in command])
    assert out.exit_code == 2, out.output
    assert out.stderr.startswith(f"captcha-edge: error: expected {var}") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.output and out.stdout == ""


def test_limits_set_in_the_environment_apply_to_predict(invoke, examples, monkeypatch):
    monkeypatch.setenv("CAPTCHA_EDGE_MAX_PIXELS", "5000")  # the examples are 200x50 = 10,000 pixels
    out = invoke("predict", *M, "--format", "jsonl", examples[0])
    assert out.exit_code == 1
    (record,) = jsonl(out.stdout)
    assert "at most 5000 pixels" in record["error"]
    monkeypatch.setenv("CAPTCHA_EDGE_MAX_FILE_BYTES", "100")
    monkeypatch.delenv("CAPTCHA_EDGE_MAX_PIXELS")
    (record,) = jsonl(invoke("predict", *M, "--format", "jsonl", examples[0]).stdout)
    assert "CAPTCHA_EDGE_MAX_FILE_BYTES" in record["error"]


def test_info_json(invoke, shipped):
    out = invoke("info", *M, "--format", "json")
    assert out.exit_code == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["file"] == str(shipped[EXAMPLES_MODEL]) and info["bytes"] == shipped[EXAMPLES_MODEL].stat().st_size
    assert info["contract"]["charset"] == "abcdefghijklmnopqrstuvwxyz0123456789"
    assert info["contract"]["quantization"] == "int8" and info["contract"]["kind"] == "ctc"
    assert info["input_tensor"]["shape"] == [1, 50, 200, 1] and info["output_tensor"]["shape"] == [1, 50, 37]
    assert info["interpreter"]["package"] in ("ai-edge-litert", "tflite-runtime")


def test_info_text_default_model(invoke):
    from edge_runtime.contract import read_contract
    from edge_runtime.registry import default_model, resolve

    out = invoke("info")
    assert out.exit_code == 0
    c = read_contract(resolve("default").read_bytes())
    assert f"  charset: {c.charset}" in out.stdout.splitlines()
    assert f"  quantization: {c.quantization}" in out.stdout.splitlines()
    lines = out.stdout.splitlines()
    assert lines[0] == "default:" and lines[1] == f"  model: {default_model()}"  # which variant, and why
    assert f"file: {resolve('default')}" in lines


def test_info_list(invoke, shipped):
    from edge_runtime.registry import default_model

    out = invoke("info", "--list")
    lines = out.stdout.splitlines()
    assert out.exit_code == 0 and len(lines) == len(shipped)
    assert [line.split("\t")[0] for line in lines].count(f"{default_model()} (default)") == 1
    listing = json.loads(invoke("info", "--list", "--format", "json").stdout)
    assert listing["default"] == default_model() and listing["models"] == {k: str(v) for k, v in shipped.items()}


# ---- e2e: the real command in a subprocess ------------------------------------------------------


@pytest.mark.e2e
def test_version_and_help_in_a_subprocess(cli):
    out = cli("--version")
    assert out.returncode == 0 and __version__ in out.stdout
    for cmd in COMMANDS:
        h = cli(cmd, "--help")
        assert h.returncode == 0 and "Usage" in h.stdout


@pytest.mark.e2e
def test_quick_start_reads_the_committed_examples(cli, examples, tmp_path):
    """The README's no-data quick start: the synthetic model reads every committed example."""
    out = cli("predict", *M, "--format", "jsonl", str(examples[0].parent), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    records = jsonl(out.stdout)
    assert [os.path.basename(r["path"]) for r in records] == [p.name for p in examples]
    assert [r["text"] for r in records] == [p.stem for p in examples]


@pytest.mark.e2e
def test_predict_real_images_gives_the_reference_texts(cli, wilhelmy, tmp_path):
    """The default model on real images, as files and through a folder: exactly the texts it
    reads on x86 (tests/runtime/reference_texts.json), not merely most of them."""
    ref = REFERENCE["models"]["convctc-fast-int8"]
    names, texts = ref["images"][:6], ref["texts"][:6]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in names[2:]:
        (folder / name).symlink_to(wilhelmy / name)
    out = cli("predict", "--format", "jsonl", str(wilhelmy / names[0]), str(wilhelmy / names[1]), str(folder),
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    records = jsonl(out.stdout)
    by_name = {os.path.basename(r["path"]): r for r in records}
    assert len(records) == 6 and set(by_name) == set(names)
    assert [by_name[n]["text"] for n in names] == texts


@pytest.mark.e2e
def test_predict_dash_reads_a_pipe_in_a_subprocess(examples):
    import subprocess

    with open(examples[0], "rb") as image:
        out = subprocess.run([sys.executable, "-m", "edge_runtime", "predict", *M, "--format", "jsonl", "-"],
                             stdin=image, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == ""
    assert jsonl(out.stdout)[0]["path"] == "-" and jsonl(out.stdout)[0]["text"] == examples[0].stem
    empty = subprocess.run([sys.executable, "-m", "edge_runtime", "predict", *M, "-"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and empty.stdout == ""
    assert empty.stderr.splitlines() == ["-: error: expected one image's bytes on standard input, got 0 bytes"]


@pytest.mark.e2e
def test_model_problems_are_usage_errors_in_a_subprocess(cli, examples):
    out = cli("predict", "--model", "no-such-model", str(examples[0]))
    assert out.returncode == 2 and out.stderr.startswith("captcha-edge: error: expected")
    assert "Traceback" not in out.stderr
    bad = cli("predict", str(examples[0]), env={**os.environ, "CAPTCHA_EDGE_MAX_PIXELS": "abc"})
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "CAPTCHA_EDGE_MAX_PIXELS" in bad.stderr


@pytest.mark.e2e
def test_console_script_works_from_another_directory(examples, tmp_path):
    """The installed entry point finds the shipped models wherever it runs."""
    import shutil
    import subprocess

    exe = shutil.which("captcha-edge", path=os.path.dirname(sys.executable))
    assert exe, "captcha-edge console script is not installed next to this Python"
    out = subprocess.run([exe, "predict", "--model", EXAMPLES_MODEL, str(examples[0])], capture_output=True,
                         text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\t")[1] == examples[0].stem
