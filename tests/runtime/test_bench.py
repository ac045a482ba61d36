"""captcha-edge bench: the JSON people paste into issues, and side-by-side comparison.
Fast: bench.run() in this process with tiny runs; e2e: the command in a subprocess on real data."""

import json

import pytest

from edge_runtime import bench
from edge_runtime.bench import BenchOptions, format_text, run, stats
from edge_runtime.errors import CaptchaEdgeError
from support import EXAMPLES_MODEL

STAT_KEYS = ("min", "p50", "p90", "p99", "max", "mean", "std")


def check_result(r):
    for key in ("invoke_ms", "end_to_end_ms"):
        s = r[key]
        assert list(s) == list(STAT_KEYS)
        assert 0 < s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"] and s["std"] >= 0
        assert s["min"] <= s["mean"] <= s["max"]
    assert r["end_to_end_ms"]["p50"] >= r["invoke_ms"]["p50"] > 0
    assert r["bytes"] > 0 and r["throughput_per_s"] > 0 and r["operators"] > 0
    assert min(r["load_ms"], r["init_ms"], r["first_inference_ms"]) > 0


def test_stats_of_known_values():
    s = stats([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s == {"min": 1.0, "p50": 3.0, "p90": 5.0, "p99": 5.0, "max": 5.0, "mean": 3.0, "std": pytest.approx(2**0.5)}
    assert stats([7.0])["p99"] == 7.0 and stats([7.0])["std"] == 0


def test_run_on_the_examples_is_complete(examples, shipped):
    report = run(BenchOptions(models=(EXAMPLES_MODEL,), runs=8, warmup=1, images=examples[0].parent))
    assert report["schema"] == "captcha-edge-bench/1"
    assert {"cpu", "machine", "cores", "os", "python", "numpy", "opencv"} <= set(report["board"])
    assert report["options"] == {"threads": 1, "runs": 8, "warmup": 1, "images": str(examples[0].parent),
                                 "skipped_images": []}
    (r,) = report["results"]
    check_result(r)
    assert r["model"] == EXAMPLES_MODEL and r["file"] == str(shipped[EXAMPLES_MODEL])
    assert r["arch"] == "convctc-fast" and r["quantization"] == "int8"
    assert r["macs"] == 17352000 and r["pi4_estimate_ms"] == pytest.approx(17352000 / bench.PI4_INT8_MACS_PER_S * 1e3)
    assert r["end_to_end_p50_ratio_to_first"] == 1.0
    assert report["peak_rss_mb"] > 0
    json.loads(json.dumps(report))  # the --format json output is plain data


def test_compare_in_one_process_on_synthetic_inputs():
    calls = []
    report = run(BenchOptions(models=(EXAMPLES_MODEL, "convctc-fast-int8"), runs=5, warmup=2, seed=3),
                 progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 7) for i in range(1, 8)]  # one round = every model once
    assert [r["model"] for r in report["results"]] == [EXAMPLES_MODEL, "convctc-fast-int8"]
    assert report["options"]["images"] == "synthetic (seed 3)"
    for r in report["results"]:
        check_result(r)
    second = report["results"][1]
    assert second["end_to_end_p50_ratio_to_first"] == pytest.approx(
        second["end_to_end_ms"]["p50"] / report["results"][0]["end_to_end_ms"]["p50"])
    text = format_text(report)
    assert sum(line.startswith("  end-to-end ") for line in text.splitlines()) == 2
    assert "x the first model" in text and "peak RSS" in text and "GMAC/s" in text


def test_synthetic_inputs_are_seeded_pngs():
    a = bench.synthetic_inputs(50, 200, 3, seed=1)
    assert a == bench.synthetic_inputs(50, 200, 3, seed=1) and a != bench.synthetic_inputs(50, 200, 3, seed=2)
    assert all(x.startswith(b"\x89PNG") for x in a)


def test_bad_model_and_empty_image_folder_are_refused(tmp_path):
    with pytest.raises(CaptchaEdgeError, match="shipped model name"):
        run(BenchOptions(models=("nope",), runs=1, warmup=0))
    with pytest.raises(CaptchaEdgeError, match="expected images"):
        run(BenchOptions(models=(EXAMPLES_MODEL,), runs=1, warmup=0, images=tmp_path))


def test_bench_command_json_in_process(invoke, examples):
    out = invoke("bench", "--model", EXAMPLES_MODEL, "--runs", "3", "--warmup", "0", "--images", examples[0].parent,
                 "--format", "json")
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["schema"] == "captcha-edge-bench/1" and report["options"]["runs"] == 3
    assert len(report["results"][0]["end_to_end_ms"]) == len(STAT_KEYS)


def test_bad_image_files_are_skipped_by_name_and_the_rest_benched(invoke, examples, tmp_path):
    """One bad file used to abort the whole run without naming it."""
    for p in examples[:2]:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "0-broken.png").write_bytes(b"not a png")
    (tmp_path / "0-empty.jpg").write_bytes(b"")
    out = invoke("bench", "--model", EXAMPLES_MODEL, "--runs", "6", "--warmup", "0", "--images", tmp_path,
                 "--format", "json")
    assert out.exit_code == 0, out.stderr
    assert out.stderr.splitlines() == [
        f"captcha-edge bench: skipping {tmp_path / '0-broken.png'}: expected PNG/JPEG/BMP/GIF/WebP/TIFF data, "
        "got 9 bytes OpenCV cannot decode",
        f"captcha-edge bench: skipping {tmp_path / '0-empty.jpg'}: expected an image file, got an empty (0-byte) file"]
    report = json.loads(out.stdout)
    assert [s["path"] for s in report["options"]["skipped_images"]] == [str(tmp_path / "0-broken.png"),
                                                                       str(tmp_path / "0-empty.jpg")]
    assert report["results"][0]["end_to_end_ms"]["max"] > 0


def test_a_folder_of_only_bad_images_is_one_clear_line(invoke, tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    out = invoke("bench", "--model", EXAMPLES_MODEL, "--runs", "1", "--warmup", "0", "--images", tmp_path)
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr.splitlines()[-1] == (f"captcha-edge: error: expected images (.png, .jpg, ...) in {tmp_path}, "
                                           "found none usable (1 could not be read)")
    assert len(out.stderr.splitlines()) == 2  # the skipped file's line, then the error


@pytest.mark.parametrize("args", [("--model", "nope"), ("--images", "EMPTY")])
def test_bench_command_usage_errors(invoke, tmp_path, args):
    args = [str(tmp_path) if a == "EMPTY" else a for a in args]
    out = invoke("bench", "--runs", "1", "--warmup", "0", *args)
    assert out.exit_code == 2 and out.stderr.startswith("captcha-edge: error: expected")
    assert out.stderr.count("\n") == 1


# ---- e2e ------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_bench_json_on_real_images_in_a_subprocess(cli, wilhelmy):
    out = cli("bench", "--runs", "20", "--warmup", "2", "--images", str(wilhelmy), "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["schema"] == "captcha-edge-bench/1"
    (r,) = report["results"]
    check_result(r)
    assert report["peak_rss_mb"] > 0


@pytest.mark.e2e
def test_bench_compare_in_a_subprocess(cli, shipped):
    names = sorted(shipped)[:2]
    out = cli("bench", "--model", names[0], "--compare", names[-1], "--runs", "10", "--warmup", "1")
    assert out.returncode == 0, out.stderr
    assert sum(line.startswith("  end-to-end ") for line in out.stdout.splitlines()) == 2
    assert "x the first model" in out.stdout and "peak RSS" in out.stdout
    bad = cli("bench", "--model", "nope")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
