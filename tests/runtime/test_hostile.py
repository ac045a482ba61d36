"""Hostile inputs through predict and watch: one one-line error each, the rest still read,
no crash, no hang."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile import make_corpus  # noqa: E402


@pytest.fixture()
def corpus(wilhelmy, tmp_path):
    good = sorted(wilhelmy.glob("*.png"))[3]
    return tmp_path / "hostile", make_corpus(tmp_path / "hostile", good)


def check(records_by_name, expected):
    assert set(records_by_name) == set(expected)
    for name, want in expected.items():
        r = records_by_name[name]
        if want is None:
            assert "error" in r and r["error"] and "\n" not in r["error"], (name, r)
        elif want == "either":
            assert ("error" in r) != ("text" in r)
        else:
            assert r.get("text") == want, (name, r)


def test_predict_survives_the_corpus(corpus):
    folder, expected = corpus
    out = subprocess.run([sys.executable, "-m", "edge_runtime", "predict", "--format", "jsonl", str(folder)],
                         capture_output=True, text=True, timeout=120, errors="surrogateescape")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and out.stderr == ""
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(records) == len(expected)
    check({os.path.basename(r["path"]): r for r in records}, expected)


def test_text_format_gives_exactly_one_stderr_line_per_failure(corpus):
    folder, expected = corpus
    out = subprocess.run([sys.executable, "-m", "edge_runtime", "predict", str(folder)],
                         capture_output=True, text=True, timeout=120, errors="surrogateescape")
    errors = out.stderr.splitlines()
    either = sum(v == "either" for v in expected.values())
    assert sum(v is None for v in expected.values()) <= len(errors) <= sum(v is None for v in expected.values()) + either
    assert all(": error: expected" in line for line in errors)
    assert len(out.stdout.splitlines()) + len(errors) == len(expected)


def test_watch_survives_the_corpus(corpus, tmp_path):
    folder, expected = corpus
    output = tmp_path / "out.jsonl"
    run = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--output", str(output),
                          "--settle", "0.2", "--max-wait", "1", "--exit-when-idle", "1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == len(expected)  # exactly one each
    check({os.path.basename(r["path"]): r for r in records}, expected)
