"""captcha-edge watch on a real folder: slow writers, bursts, kills and restarts."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path



def start(folder, output, *extra):
    return subprocess.Popen([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--output", str(output),
                             "--settle", "0.5", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def records(output):
    if not Path(output).exists():
        return []
    return [json.loads(line) for line in Path(output).read_text().splitlines()]


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def drop(src: Path, folder: Path):
    """Copy like a careful writer: to a hidden temporary name, then rename into place."""
    tmp = folder / f".{src.name}.part"
    shutil.copy(src, tmp)
    os.replace(tmp, folder / src.name)


def test_existing_files_slow_writer_and_sigterm(wilhelmy, tmp_path):
    images = sorted(wilhelmy.glob("*.png"))[:4]
    folder, out = tmp_path / "in", tmp_path / "out.jsonl"
    folder.mkdir()
    shutil.copy(images[0], folder / images[0].name)  # present before the service starts
    proc = start(folder, out)
    try:
        assert wait_for(lambda: len(records(out)) == 1)
        # A writer that takes ~2 s, in place, with pauses longer than --settle.
        data = images[1].read_bytes()
        with open(folder / images[1].name, "wb") as f:
            for i in range(0, len(data), len(data) // 4 + 1):
                f.write(data[i : i + len(data) // 4 + 1])
                f.flush()
                time.sleep(0.6)
        (folder / "notes.png").write_text("not an image")
        assert wait_for(lambda: len(records(out)) == 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    by_name = {Path(r["path"]).name: r for r in records(out)}
    assert by_name[images[0].name]["text"] == images[0].stem
    assert by_name[images[1].name]["text"] == images[1].stem  # read only once complete
    assert "error" in by_name["notes.png"] and "\n" not in by_name["notes.png"]["error"]


def test_bursts_with_sigkill_and_restarts_give_exactly_one_result_each(wilhelmy, tmp_path):
    images = sorted(wilhelmy.glob("*.png"))[:240]
    folder, out = tmp_path / "in", tmp_path / "out.jsonl"
    folder.mkdir()
    bursts = [images[i : i + 60] for i in range(0, len(images), 60)]
    kills_mid_burst = 0
    for burst in bursts:
        before = len(records(out))
        proc = start(folder, out)
        for src in burst:
            drop(src, folder)
        # Kill it hard once it has started on this burst, while it is still working through it.
        assert wait_for(lambda: len(records(out)) > before, timeout=30)
        proc.kill()
        proc.wait(timeout=30)
        kills_mid_burst += len(records(out)) < before + len(burst)
    assert kills_mid_burst >= 1  # at least one kill really interrupted work in progress
    final = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--output", str(out),
                            "--exit-when-idle", "1.5"], capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    got = records(out)
    names = [Path(r["path"]).name for r in got]
    assert sorted(names) == sorted(p.name for p in images)  # none skipped, none twice
    accuracy = sum(r.get("text") == Path(r["path"]).stem for r in got) / len(got)
    assert accuracy > 0.95


def test_torn_last_line_is_repaired_and_the_file_redone(wilhelmy, tmp_path):
    src = sorted(wilhelmy.glob("*.png"))[0]
    folder, out = tmp_path / "in", tmp_path / "out.jsonl"
    folder.mkdir()
    shutil.copy(src, folder / src.name)
    out.write_text('{"path": "' + str(folder.resolve() / src.name) + '", "text": "2')  # killed mid-write
    run = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--output", str(out),
                          "--exit-when-idle", "0.5"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = records(out)
    assert len(got) == 1 and got[0]["text"] == src.stem


def test_move_done_and_the_crash_window_before_the_move(wilhelmy, tmp_path):
    a, b = sorted(wilhelmy.glob("*.png"))[:2]
    folder, done, out = tmp_path / "in", tmp_path / "done", tmp_path / "out.jsonl"
    folder.mkdir()
    for src in (a, b):
        shutil.copy(src, folder / src.name)
    # As if the service died after recording b but before moving it.
    st = (folder / b.name).stat()
    out.write_text(json.dumps({"path": str(folder.resolve() / b.name), "text": b.stem, "confidence": 1.0,
                               "size": st.st_size, "mtime_ns": st.st_mtime_ns}) + "\n")
    run = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--output", str(out),
                          "--move-done", str(done), "--exit-when-idle", "0.5"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in done.iterdir()) == sorted([a.name, b.name])
    assert list(folder.iterdir()) == []
    assert [Path(r["path"]).name for r in records(out)] == [b.name, a.name]


def test_symlinks_out_of_the_folder_are_refused(wilhelmy, tmp_path):
    src = sorted(wilhelmy.glob("*.png"))[0]
    folder, out = tmp_path / "in", tmp_path / "out.jsonl"
    folder.mkdir()
    (folder / "outside.png").symlink_to(src)
    (folder / "broken.png").symlink_to(tmp_path / "nothing.png")
    run = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--output", str(out),
                          "--settle", "0.1", "--exit-when-idle", "0.5"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    by_name = {Path(r["path"]).name: r for r in records(out)}
    assert "outside" in by_name["outside.png"]["error"]
    assert "symlink" in by_name["broken.png"]["error"]


def test_skip_existing_and_usage_errors(wilhelmy, tmp_path):
    a, b = sorted(wilhelmy.glob("*.png"))[:2]
    folder, out = tmp_path / "in", tmp_path / "out.jsonl"
    folder.mkdir()
    shutil.copy(a, folder / a.name)
    proc = start(folder, out, "--skip-existing")
    try:
        time.sleep(1.0)
        drop(b, folder)
        assert wait_for(lambda: len(records(out)) == 1)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert Path(records(out)[0]["path"]).name == b.name
    both = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--move-done", str(tmp_path / "d"),
                           "--delete-done"], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "at most one" in both.stderr
