"""Hostile inputs through predict and watch: one one-line error each, the rest still read,
no crash, no hang. The corpus is generated from a committed example (hostile.py); nothing
hostile is committed."""

import json
import os
import subprocess
import sys

import pytest

from hostile import make_corpus
from support import EXAMPLES_MODEL, jsonl


@pytest.fixture()
def corpus(examples, tmp_path):
    good = examples[0]  # read with confidence 0.98 by synth36-int8, also as 16-bit and palette PNGs
    return tmp_path / "hostile", make_corpus(tmp_path / "hostile", good)


def check(records_by_name, expected):
    assert set(records_by_name) == set(expected)
    for name, want in expected.items():
        r = records_by_name[name]
        if want is None:
            assert "error" in r and r["error"] and "\n" not in r["error"], (name, r)
            assert r["error"].startswith("expected") or ": " in r["error"], (name, r)
        elif want == "either":
            assert ("error" in r) != ("text" in r)
        else:
            assert r.get("text") == want, (name, r)


def test_corpus_has_good_and_bad_files(corpus):
    _, expected = corpus
    assert sum(v is None for v in expected.values()) >= 15
    assert sum(isinstance(v, str) and v != "either" for v in expected.values()) >= 4


def test_predict_survives_the_corpus(invoke, corpus):
    folder, expected = corpus
    out = invoke("predict", "--model", EXAMPLES_MODEL, "--format", "jsonl", folder)
    assert out.exit_code == 1
    assert out.stderr == ""
    records = jsonl(out.stdout)
    assert len(records) == len(expected)
    check({os.path.basename(r["path"]): r for r in records}, expected)


def test_text_format_gives_exactly_one_stderr_line_per_failure(invoke, corpus):
    folder, expected = corpus
    out = invoke("predict", "--model", EXAMPLES_MODEL, folder)
    assert out.exit_code == 1
    errors = out.stderr.splitlines()
    bad = sum(v is None for v in expected.values())
    either = sum(v == "either" for v in expected.values())
    assert bad <= len(errors) <= bad + either
    assert all(": error: expected" in line for line in errors)
    assert len(out.stdout.splitlines()) + len(errors) == len(expected)
    texts = sorted(line.split("\t")[1] for line in out.stdout.splitlines() if not line.startswith(str(folder / "animated")))
    assert texts == sorted(v for v in expected.values() if v not in (None, "either"))


def test_the_python_api_survives_the_corpus(synth, corpus):
    folder, expected = corpus
    names = sorted(os.listdir(folder))
    results = {name: synth.result(folder / name) for name in names}
    check({n: ({"text": r.prediction.text} if r.ok else {"error": r.error}) for n, r in results.items()}, expected)


# ---- e2e: the real command in a subprocess ------------------------------------------------------


@pytest.mark.e2e
def test_predict_survives_the_corpus_in_a_subprocess(corpus):
    folder, expected = corpus
    out = subprocess.run([sys.executable, "-m", "edge_runtime", "predict", "--model", EXAMPLES_MODEL, "--format",
                          "jsonl", str(folder)], capture_output=True, text=True, timeout=120, errors="surrogateescape")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and out.stderr == ""  # native decoders print nothing either
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(records) == len(expected)
    check({os.path.basename(r["path"]): r for r in records}, expected)


@pytest.mark.e2e
def test_watch_survives_the_corpus_in_a_subprocess(corpus, tmp_path):
    folder, expected = corpus
    output = tmp_path / "out.jsonl"
    run = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--model", EXAMPLES_MODEL,
                          "--output", str(output), "--settle", "0.2", "--max-wait", "1", "--exit-when-idle", "1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # some files got error records
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == len(expected)  # exactly one each
    check({os.path.basename(r["path"]): r for r in records}, expected)
