"""captcha-edge bench: the JSON people paste into issues, and side-by-side comparison."""

import json


def test_bench_json_is_complete(cli, wilhelmy):
    out = cli("bench", "--runs", "20", "--warmup", "2", "--images", str(wilhelmy), "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["schema"] == "captcha-edge-bench/1"
    assert {"cpu", "machine", "cores", "os", "python", "numpy", "opencv"} <= set(report["board"])
    (r,) = report["results"]
    for key in ("invoke_ms", "end_to_end_ms"):
        s = r[key]
        assert s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"] and s["std"] >= 0
    assert r["end_to_end_ms"]["p50"] >= r["invoke_ms"]["p50"] > 0
    assert r["bytes"] > 0 and r["throughput_per_s"] > 0 and report["peak_rss_mb"] > 0


def test_bench_compare_in_one_process(cli, shipped):
    names = sorted(shipped)[:2]
    out = cli("bench", "--model", names[0], "--compare", names[-1], "--runs", "10", "--warmup", "1")
    assert out.returncode == 0, out.stderr
    assert sum(line.startswith("  end-to-end ") for line in out.stdout.splitlines()) == 2
    assert "x the first model" in out.stdout and "peak RSS" in out.stdout


def test_bench_bad_model_is_a_usage_error(cli):
    out = cli("bench", "--model", "nope")
    assert out.returncode == 2 and "Traceback" not in out.stderr
