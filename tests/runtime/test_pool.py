"""Reading with several Recognizers at once (pool.py: serve's pool and predict --workers). Fast:
in this process, on the committed examples with synth36-int8."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from edge_runtime import pool as pool_module
from edge_runtime.pool import CHUNK, ParallelReader, RecognizerPool
from support import EXAMPLES_MODEL, jsonl

M = ("--model", EXAMPLES_MODEL)


def inputs(examples, tmp_path) -> list:
    """More than a few chunks of examples, with unreadable inputs in the middle and at the end."""
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    many = [*examples, *examples, *examples]
    return [*many[:13], bad, *many[13:], tmp_path / "missing.png"]


def records(results) -> list[tuple]:
    return [(r.source, r.prediction.text if r.prediction else None,
             r.prediction.confidence if r.prediction else None, r.error) for r in results]


def test_pool_reads_in_input_order_with_the_same_records(synth, examples, tmp_path):
    sources = inputs(examples, tmp_path)
    assert len(sources) > 3 * CHUNK
    alone = records(synth.recognize_many(sources))
    together = records(RecognizerPool.like(synth, 3).recognize_many(sources))
    assert together == alone
    assert [r[3] is not None for r in alone].count(True) == 2


def test_pool_uses_every_recognizer_and_never_one_in_two_threads(synth, examples, monkeypatch):
    pool = RecognizerPool.like(synth, 2)
    users: dict[int, set] = {}
    busy: set[int] = set()
    overlap = []
    lock = threading.Lock()
    real = pool_module.Recognizer.result

    def watched(self, source, name=None):
        with lock:
            overlap.append(id(self) in busy)
            busy.add(id(self))
            users.setdefault(id(self), set()).add(threading.get_ident())
        try:
            return real(self, source, name)
        finally:
            with lock:
                busy.discard(id(self))

    monkeypatch.setattr(pool_module.Recognizer, "result", watched)
    list(pool.recognize_many(examples * 8))
    assert not any(overlap)
    assert len(users) == 2


def test_reader_makes_no_pool_for_a_few_images(synth, examples):
    reader = ParallelReader(synth, workers=4)
    list(reader.recognize_many(examples[:CHUNK]))
    assert reader._pool is None
    list(reader.recognize_many(examples))
    assert reader._pool is not None and reader._pool.size == 4


def pools_used(monkeypatch) -> list[int]:
    """The size of every pool that reads during the test (a pool made but never used is not one)."""
    sizes: list[int] = []
    real = RecognizerPool.recognize_many

    def spied(self, sources):
        sizes.append(self.size)
        return real(self, sources)

    monkeypatch.setattr(RecognizerPool, "recognize_many", spied)
    return sizes


def test_predict_workers_reads_separate_file_arguments_in_one_pool(invoke, examples, tmp_path, monkeypatch):
    """`predict --workers 3 a.png b.png ...` (a shell glob) used to read each argument alone, never in a pool."""
    empty = tmp_path / "empty"
    empty.mkdir()
    files = inputs(examples, tmp_path)
    # standard input and a directory without images keep their places among the files
    sources = [*files[:5], "-", *files[5:20], empty, *files[20:]]
    stdin = examples[3].read_bytes()
    pools = pools_used(monkeypatch)
    one = invoke("predict", *M, "--format", "jsonl", "--workers", "1", *sources, input=stdin)
    assert pools == []
    three = invoke("predict", *M, "--format", "jsonl", "--workers", "3", *sources, input=stdin)
    assert pools == [3]  # one pool, for every file argument together
    assert one.exit_code == three.exit_code == 1  # three inputs cannot be read; the others are
    records = jsonl(three.stdout)
    assert [r["path"] for r in records] == [str(s) for s in sources]
    failing = (files[13], empty, files[-1])  # broken.png, the empty directory, missing.png
    assert [r.get("text") for r in records] == [examples[3].stem if s == "-" else None if s in failing else Path(s).stem
                                                for s in sources]
    assert three.stdout == one.stdout and three.stderr == one.stderr == ""


def test_predict_workers_rejects_zero(invoke, examples):
    out = invoke("predict", *M, "--workers", "0", examples[0])
    assert out.exit_code == 2 and "--workers" in out.stderr


def test_bench_reports_images_per_second_per_worker_count():
    from edge_runtime.bench import format_text, run
    from edge_runtime.options import BenchOptions

    report = run(BenchOptions(models=(EXAMPLES_MODEL,), runs=20, warmup=2, workers=(1, 2)))
    rows = report["workers"]
    assert [r["workers"] for r in rows] == [1, 2]
    assert all(r["images_per_s"] > 0 for r in rows) and rows[0]["speedup"] == 1.0
    assert rows[1]["speedup"] == pytest.approx(rows[1]["images_per_s"] / rows[0]["images_per_s"])
    text = format_text(report)
    assert "  2 worker(s):" in text and report["default_choice"] is None


@pytest.mark.parametrize("given", ["0", "1,x", ",", "-2"])
def test_bench_workers_must_be_counts(invoke, given):
    out = invoke("bench", *M, "--runs", "1", "--warmup", "0", "--workers", given)
    assert out.exit_code == 2 and "--workers" in out.stderr and repr(given) in out.stderr


def test_bench_says_which_variant_default_named(invoke):
    import json

    from edge_runtime.registry import default_choice

    out = invoke("bench", "--runs", "2", "--warmup", "0", "--workers", "1", "--format", "json")
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["default_choice"] == {"model": default_choice().name, "reason": default_choice().reason}
    assert report["board"]["cpu"] and isinstance(report["board"]["flags"], list)
