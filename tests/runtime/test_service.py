"""The service layer every long-running command shares: one record shape, one JSON-lines sink,
one stop flag for SIGTERM/SIGINT, one writer per predict format; and the option defaults that
the CLI and the library share."""

import dataclasses
import io
import json
import os
import signal

import pytest

from edge_runtime import options as opts
from edge_runtime.recognizer import Prediction, Result, Timings
from edge_runtime.service import JsonlSink, StopFlag, answer, outcome, printable, result_writer

PRED = Prediction("ab12c", 0.98765432, (0.99,) * 5, Timings(0.1, 0.1, 0.1, 0.1))
GOOD = Result("/in/ab12c.png", prediction=PRED)
BAD = Result("/in/bad.png", error="expected an image file, got an empty (0-byte) file")


def test_outcome_is_text_and_confidence_or_error():
    assert outcome(GOOD) == {"text": "ab12c", "confidence": 0.987654}
    assert outcome(BAD) == {"error": BAD.error}


def test_serve_answer_is_the_outcome_plus_details():
    assert answer(GOOD, "m") == {"text": "ab12c", "confidence": 0.987654, "char_confidences": [0.99] * 5, "model": "m",
                                 "timings": {"read_ms": 0.1, "preprocess_ms": 0.1, "invoke_ms": 0.1, "decode_ms": 0.1,
                                             "total_ms": 0.4}}
    assert answer(BAD, "m") == {"error": BAD.error}


def test_serve_answer_has_rejected_exactly_when_predict_does(synth, examples):
    """serve's /ocr once said "rejected": null for every trusted read, where predict, watch and
    camera leave the key out: both now come from outcome()."""
    from edge_runtime.recognizer import Recognizer

    strict = Recognizer(synth.model, min_confidence=0.999)
    for recognizer, rejected in ((synth, None), (strict, "low-confidence")):
        result = recognizer.result(examples[0])
        body, record = answer(result, "synth36-int8"), outcome(result)
        assert ("rejected" in body, body.get("rejected")) == (rejected is not None, rejected)
        assert {key: body[key] for key in record} == record
        assert set(body) - set(record) == {"char_confidences", "model", "timings"}
        assert body["text"] == examples[0].stem and len(body["char_confidences"]) == len(examples[0].stem)


def test_sink_to_a_file_appends_whole_lines_and_fsyncs(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"old": 1}\n')
    sink = JsonlSink(path, fsync=True)
    sink.write({"path": "a", "text": "x"})
    assert len(synced) == 1
    assert path.read_text() == '{"old": 1}\n{"path": "a", "text": "x"}\n'  # on disk before write() returns
    sink.write({"path": "b\nc", "error": "e"})
    sink.close()
    sink.close()  # twice is harmless
    assert [json.loads(line) for line in path.read_text().splitlines()][2] == {"path": "b\nc", "error": "e"}
    assert len(synced) == 2


def test_sink_without_fsync_does_not_sync(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("fsync without fsync=True"))
    with JsonlSink(tmp_path / "out.jsonl") as sink:
        sink.write({"n": 1})
    assert (tmp_path / "out.jsonl").read_text() == '{"n": 1}\n'


def test_sink_to_stdout_is_the_stdout_at_creation(capsys, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("stdout is never fsynced"))
    sink = JsonlSink(fsync=True)
    sink.write({"frame": 1, "text": "abc"})
    sink.close()  # does not close stdout
    print("still open")
    assert capsys.readouterr().out == '{"frame": 1, "text": "abc"}\nstill open\n'


def test_stop_flag_set_by_hand():
    flag = StopFlag()
    assert not flag and not flag.is_set
    flag.set()
    assert flag and flag.is_set


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_flag_is_set_by_signals(signum):  # conftest restores the handlers
    flag = StopFlag()
    flag.install()
    os.kill(os.getpid(), signum)  # delivered to the main thread before kill() returns to Python code
    assert flag.is_set


@pytest.mark.parametrize("fmt", ["text", "jsonl", "csv"])
def test_result_writer_formats(fmt):
    out, errors = io.StringIO(), []
    write = result_writer(fmt, stream=out, errors=errors.append)
    write(GOOD)
    write(BAD)
    lines = out.getvalue().splitlines()
    if fmt == "jsonl":
        assert [json.loads(line) for line in lines] == [
            {"path": GOOD.source, "text": "ab12c", "confidence": 0.987654}, {"path": BAD.source, "error": BAD.error}]
    elif fmt == "csv":
        assert lines == ["path,text,confidence,error,rejected", f"{GOOD.source},ab12c,0.9877,,", f'{BAD.source},,,"{BAD.error}",']
    else:
        assert lines == [f"{GOOD.source}\tab12c\t0.9877"]
        assert errors == [f"{BAD.source}: error: {BAD.error}"]
    assert fmt == "text" or errors == []


def test_result_writer_refuses_unknown_formats():
    with pytest.raises(ValueError, match="format"):
        result_writer("xml", stream=io.StringIO())


@pytest.mark.parametrize("path, shown", [("a/b.png", "a/b.png"), ("a\nb.png", "a\\nb.png"), ("tab\there", "tab\\there"),
                                         (os.fsdecode(b"x\xff.png"), "x\\udcff.png")])
def test_printable_paths_are_one_line(path, shown):
    assert printable(path) == shown and "\n" not in printable(path)


COMMANDS = {"predict": opts.PredictOptions, "watch": opts.WatchOptions, "camera": opts.CameraOptions,
            "bench": opts.BenchOptions, "serve": opts.ServeOptions}
ALIASES = {"fmt": "format"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_defaults_are_the_option_defaults(command):
    """Every default is stated once: the CLI's flag defaults come from the options dataclasses."""
    import click

    from edge_runtime.cli import main

    cmd = main.commands[command]
    ctx = click.Context(cmd)
    fields = {f.name: f for f in dataclasses.fields(COMMANDS[command])}
    shared = {f.name: f for f in dataclasses.fields(opts.RecognizerOptions)}
    checked = 0
    for param in cmd.params:
        name = ALIASES.get(param.name, param.name)
        field = fields.get(name) or shared.get(name)
        if field is None or field.default is dataclasses.MISSING or param.multiple:
            continue
        assert param.get_default(ctx) == field.default, (command, name, param.get_default(ctx), field.default)
        checked += 1
    assert checked >= 2, command
