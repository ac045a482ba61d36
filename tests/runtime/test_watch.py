"""captcha-edge watch. Fast: the Watcher in this process on a temporary folder (examples,
synth36-int8). e2e: the real command in a subprocess with slow writers, bursts, kills and restarts."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_runtime.options import WatchOptions
from edge_runtime.watch import Watcher, looks_complete, read_ledger
from support import EXAMPLES_MODEL, encode

FAST = dict(interval=0.01, settle=0.0, max_wait=0.0)


def watcher(rec, folder, output=None, log=None, **kw):
    return Watcher(rec, WatchOptions(folder, output, **{**FAST, **kw}), log=log or (lambda m: None))


def copy_in(src: Path, folder: Path, name: str | None = None) -> Path:
    dest = folder / (name or src.name)
    shutil.copy(src, dest)
    return dest


def names(records):
    return [Path(r["path"]).name for r in records]


@pytest.fixture()
def inbox(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


def test_existing_files_are_read_once_into_the_ledger(synth, examples, inbox, tmp_path):
    for src in examples[:3]:
        copy_in(src, inbox)
    (inbox / "notes.txt").write_text("not an image name")
    (inbox / ".hidden.png").write_bytes(examples[3].read_bytes())
    out = tmp_path / "out.jsonl"
    w = watcher(synth, inbox, out)
    assert w.scan_once() is True
    assert w.scan_once() is False  # nothing new
    w.close()
    got = records(out)
    assert names(got) == [p.name for p in examples[:3]]
    assert [r["text"] for r in got] == [p.stem for p in examples[:3]]
    for r, src in zip(got, examples[:3]):
        st = (inbox / src.name).stat()
        assert set(r) == {"path", "text", "confidence", "size", "mtime_ns"}
        assert (r["size"], r["mtime_ns"]) == (st.st_size, st.st_mtime_ns)
    assert read_ledger(out) == {(r["path"], r["size"], r["mtime_ns"]) for r in got}


def test_run_returns_0_when_all_read_and_1_when_some_failed(synth, examples, inbox, tmp_path):
    copy_in(examples[0], inbox)
    w = watcher(synth, inbox, tmp_path / "a.jsonl")
    assert w.run(until_idle=0.05) == 0
    w.close()
    (inbox / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10 + b"IEND\xaeB`\x82")
    w = watcher(synth, inbox, tmp_path / "a.jsonl")  # restarted: only the new file is read
    assert w.run(until_idle=0.05) == 1
    w.close()
    got = records(tmp_path / "a.jsonl")
    assert names(got) == [examples[0].name, "broken.png"]
    assert "error" in got[1] and "\n" not in got[1]["error"] and "text" not in got[1]
    w = watcher(synth, inbox, tmp_path / "a.jsonl")  # a run that reads nothing new failed nothing
    assert w.run(until_idle=0.05) == 0
    w.close()


def test_records_go_to_stdout_without_an_output(synth, examples, inbox, capsys):
    copy_in(examples[0], inbox)
    w = watcher(synth, inbox)
    assert w.scan_once()
    w.close()
    (r,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert r["text"] == examples[0].stem and r["path"] == str(inbox.resolve() / examples[0].name)


def test_restart_never_repeats_and_a_changed_file_is_a_new_version(synth, examples, inbox, tmp_path):
    out = tmp_path / "out.jsonl"
    target = copy_in(examples[0], inbox, "upload.png")
    w = watcher(synth, inbox, out)
    w.scan_once()
    w.close()
    w = watcher(synth, inbox, out)
    assert w.scan_once() is False  # the ledger says it is done
    shutil.copy(examples[1], target)  # the same name, new content
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert w.scan_once() is True
    w.close()
    assert [r["text"] for r in records(out)] == [examples[0].stem, examples[1].stem]


def test_torn_last_line_is_cut_and_the_file_redone(synth, examples, inbox, tmp_path):
    src = copy_in(examples[0], inbox)
    out = tmp_path / "out.jsonl"
    foreign = json.dumps({"note": "not ours"})
    out.write_text(foreign + "\n" + '{"path": "' + str(src.resolve()) + '", "text": "2')  # killed mid-write
    assert read_ledger(out) == set()
    assert out.read_text() == foreign + "\n"  # the torn line is gone, the foreign line kept
    w = watcher(synth, inbox, out)
    w.run(until_idle=0.05)
    w.close()
    got = records(out)
    assert got[0] == {"note": "not ours"} and len(got) == 2 and got[1]["text"] == examples[0].stem


def test_move_done_and_the_crash_window_before_the_move(synth, examples, inbox, tmp_path):
    a, b = examples[:2]
    done, out = tmp_path / "done", tmp_path / "out.jsonl"
    sub = inbox / "sub"
    sub.mkdir()
    for src in (a, b):
        copy_in(src, inbox)
    copy_in(examples[2], sub)
    st = (inbox / b.name).stat()  # as if the service died after recording b but before moving it
    out.write_text(json.dumps({"path": str(inbox.resolve() / b.name), "text": b.stem, "confidence": 1.0,
                               "size": st.st_size, "mtime_ns": st.st_mtime_ns}) + "\n")
    w = watcher(synth, inbox, out, move_done=done, recursive=True)
    assert w.run(until_idle=0.05) == 0
    w.close()
    assert sorted(p.name for p in done.iterdir()) == sorted([a.name, b.name, "sub"])
    assert [p.name for p in (done / "sub").iterdir()] == [examples[2].name]  # the tree is kept
    assert [p.name for p in inbox.iterdir()] == ["sub"] and list(sub.iterdir()) == []
    assert names(records(out)) == [b.name, a.name, examples[2].name]  # b was not read again


def test_delete_done(synth, examples, inbox, tmp_path):
    copy_in(examples[0], inbox)
    w = watcher(synth, inbox, tmp_path / "out.jsonl", delete_done=True)
    w.run(until_idle=0.05)
    w.close()
    assert list(inbox.iterdir()) == [] and records(tmp_path / "out.jsonl")[0]["text"] == examples[0].stem


def test_skip_existing_reads_only_new_files(synth, examples, inbox, tmp_path):
    copy_in(examples[0], inbox)
    w = watcher(synth, inbox, tmp_path / "out.jsonl", skip_existing=True)
    assert w.run(until_idle=0.05) == 0
    assert records(tmp_path / "out.jsonl") == []
    copy_in(examples[1], inbox)  # appears while the service runs
    assert w.scan_once() is True
    w.close()
    assert names(records(tmp_path / "out.jsonl")) == [examples[1].name]


def test_symlinks_out_of_the_folder_are_refused_unless_followed(synth, examples, inbox, tmp_path):
    (inbox / "outside.png").symlink_to(examples[0])
    (inbox / "broken.png").symlink_to(tmp_path / "nothing.png")
    (inbox / "inside.png").symlink_to(copy_in(examples[1], inbox, ".real.png"))
    w = watcher(synth, inbox, tmp_path / "a.jsonl")
    assert w.run(until_idle=0.05) == 1
    w.close()
    by_name = {Path(r["path"]).name: r for r in records(tmp_path / "a.jsonl")}
    assert "outside" in by_name["outside.png"]["error"] and "--follow-symlinks" in by_name["outside.png"]["error"]
    assert "symlink" in by_name["broken.png"]["error"]
    assert by_name["inside.png"]["text"] == examples[1].stem
    w = watcher(synth, inbox, tmp_path / "b.jsonl", follow_symlinks=True)
    w.run(until_idle=0.05)
    w.close()
    assert {Path(r["path"]).name: r.get("text") for r in records(tmp_path / "b.jsonl")}["outside.png"] == examples[0].stem


def test_a_png_is_not_read_until_it_is_complete(synth, examples, inbox, tmp_path):
    data = examples[0].read_bytes()
    target = inbox / examples[0].name
    target.write_bytes(data[: len(data) // 2])  # a writer half-way through
    w = watcher(synth, inbox, tmp_path / "out.jsonl", max_wait=60.0)
    assert w.scan_once() is False and w.pending == 1
    with open(target, "ab") as f:
        f.write(data[len(data) // 2 :])
    assert w.scan_once() is True and w.pending == 0
    w.close()
    assert records(tmp_path / "out.jsonl")[0]["text"] == examples[0].stem


def test_other_formats_wait_until_settled(synth, examples, inbox, tmp_path):
    import cv2

    bmp = inbox / "a.bmp"
    bmp.write_bytes(encode(cv2.imread(str(examples[0])), ".bmp"))
    w = watcher(synth, inbox, tmp_path / "out.jsonl", settle=0.3)
    assert w.scan_once() is False and w.pending == 1  # just seen: not settled yet
    time.sleep(0.35)
    assert w.scan_once() is True
    w.close()
    assert records(tmp_path / "out.jsonl")[0]["text"] == examples[0].stem


def test_stop_flag_ends_run(synth, examples, inbox, tmp_path):
    copy_in(examples[0], inbox)
    w = watcher(synth, inbox, tmp_path / "out.jsonl")
    w.stop_flag.set()
    t0 = time.monotonic()
    assert w.run() == 0  # no until_idle: only the flag can end it
    assert time.monotonic() - t0 < 1.0
    w.close()
    assert records(tmp_path / "out.jsonl") == []  # stopped before it started on a file


def test_the_hostile_corpus_in_process(synth, examples, tmp_path):
    from hostile import make_corpus

    folder = tmp_path / "hostile"
    expected = make_corpus(folder, examples[0])
    w = watcher(synth, folder, tmp_path / "out.jsonl")
    assert w.run(until_idle=0.1) == 1
    w.close()
    got = {os.path.basename(r["path"]): r for r in records(tmp_path / "out.jsonl")}
    assert set(got) == set(expected)  # exactly one record each
    for name, want in expected.items():
        if want is None:
            assert got[name].get("error") and "\n" not in got[name]["error"], name
        elif want != "either":
            assert got[name].get("text") == want, (name, got[name])


def test_watch_command_in_process(invoke, examples, inbox, tmp_path):
    copy_in(examples[0], inbox)
    out = tmp_path / "out.jsonl"
    run = invoke("watch", inbox, "--model", EXAMPLES_MODEL, "--output", out, "--settle", "0", "--interval", "0.01",
                 "--exit-when-idle", "0.1")
    assert run.exit_code == 0, run.stderr
    assert [r["text"] for r in records(out)] == [examples[0].stem]
    assert run.stderr.splitlines()[-1] == "captcha-edge watch: 1 files, 0 errors"
    (inbox / "bad.png").write_bytes(b"junk")
    again = invoke("watch", inbox, "--model", EXAMPLES_MODEL, "--output", out, "--settle", "0", "--interval", "0.01",
                   "--exit-when-idle", "0.1")
    assert again.exit_code == 1 and names(records(out)) == [examples[0].name, "bad.png"]
    assert again.stderr.splitlines()[-1] == "captcha-edge watch: 1 files, 1 errors"
    both = invoke("watch", inbox, "--move-done", tmp_path / "d", "--delete-done")
    assert both.exit_code == 2 and "at most one" in both.stderr


def test_stray_files_image_names_get_an_error_record_other_names_are_left_alone(invoke, examples, inbox, tmp_path):
    """The rule the README and --help state: a non-image under an image name gets an error
    record; notes.txt and a writer's temporary x.png.part get none and are not deleted."""
    copy_in(examples[0], inbox)
    (inbox / "notes.txt").write_text("the user's own file")
    (inbox / "scan.PNG").write_text("not an image, under an image name")
    (inbox / "next.png.part").write_bytes(examples[1].read_bytes()[:100])  # still being written
    out = tmp_path / "out.jsonl"
    run = invoke("watch", inbox, "--model", EXAMPLES_MODEL, "--output", out, "--delete-done", "--settle", "0",
                 "--interval", "0.01", "--exit-when-idle", "0.1")
    assert run.exit_code == 1
    got = records(out)
    assert names(got) == [examples[0].name, "scan.PNG"]
    assert got[1]["error"].startswith("expected") and "text" not in got[1]
    assert sorted(p.name for p in inbox.iterdir()) == ["next.png.part", "notes.txt"]  # left alone, not deleted


def test_watch_help_and_readme_state_which_files_are_read(invoke):
    from edge_runtime.images import IMAGE_EXTENSIONS
    from support import ROOT

    help_text = " ".join(invoke("watch", "--help").stdout.split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "notes.txt" in help_text and "no record" in help_text and "gets an error record" in help_text
    assert "notes.txt" in readme and "no record, never moved or deleted" in readme
    for ext in IMAGE_EXTENSIONS:  # the lists in the help and the README stay the code's
        assert ext in help_text and f"{ext} " in readme.replace("`", " ")


PNG_END = b"IEND\xaeB`\x82"


@pytest.mark.parametrize("head, tail, want", [
    (b"\x89PNG\r\n\x1a\n", b"xxxx" + PNG_END, True),
    (b"\x89PNG\r\n\x1a\n", b"IDATxxxxxxxx", False),
    (b"\xff\xd8\xff\xe0", b"data\xff\xd9", True),
    (b"\xff\xd8\xff\xe0", b"data\xff\xd9\x00\r\n", True),  # padding after EOI
    (b"\xff\xd8\xff\xe0", b"data\xff\xd8", False),
    (b"BM\x00\x00", b"anything", None),
    (b"", b"", None),
])
def test_looks_complete(head, tail, want):
    assert looks_complete(head, tail) is want


def test_looks_complete_on_real_encodings(examples):
    import cv2

    data = examples[0].read_bytes()
    assert looks_complete(data[:8], data[-16:]) is True
    jpg = encode(cv2.imread(str(examples[0])), ".jpg")
    assert looks_complete(jpg[:8], jpg[-16:]) is True and looks_complete(jpg[:8], jpg[-40:-20]) is False


# ---- e2e: the real command in a subprocess ------------------------------------------------------


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


@pytest.mark.e2e
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
    assert proc.returncode == 1, err  # stopped cleanly by SIGTERM; 1 because notes.png got an error record
    assert "Traceback" not in err
    by_name = {Path(r["path"]).name: r for r in records(out)}
    assert by_name[images[0].name]["text"] == images[0].stem
    assert by_name[images[1].name]["text"] == images[1].stem  # read only once complete
    assert "error" in by_name["notes.png"] and "\n" not in by_name["notes.png"]["error"]


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_torn_last_line_is_repaired_and_the_file_redone_in_a_subprocess(wilhelmy, tmp_path):
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


@pytest.mark.e2e
def test_move_done_and_the_crash_window_before_the_move_in_a_subprocess(wilhelmy, tmp_path):
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


@pytest.mark.e2e
def test_symlinks_out_of_the_folder_are_refused_in_a_subprocess(wilhelmy, tmp_path):
    src = sorted(wilhelmy.glob("*.png"))[0]
    folder, out = tmp_path / "in", tmp_path / "out.jsonl"
    folder.mkdir()
    (folder / "outside.png").symlink_to(src)
    (folder / "broken.png").symlink_to(tmp_path / "nothing.png")
    run = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--output", str(out),
                          "--settle", "0.1", "--exit-when-idle", "0.5"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1  # both got error records
    by_name = {Path(r["path"]).name: r for r in records(out)}
    assert "outside" in by_name["outside.png"]["error"]
    assert "symlink" in by_name["broken.png"]["error"]


@pytest.mark.e2e
def test_skip_existing_and_usage_errors(wilhelmy, tmp_path):
    a, b = sorted(wilhelmy.glob("*.png"))[:2]
    folder, out = tmp_path / "in", tmp_path / "out.jsonl"
    folder.mkdir()
    shutil.copy(a, folder / a.name)
    err = tmp_path / "watch.err"
    with open(err, "w") as sink:  # a file, not a pipe: read while the watcher runs
        proc = subprocess.Popen([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--output", str(out),
                                 "--settle", "0.5", "--skip-existing"], stdout=subprocess.PIPE, stderr=sink, text=True)
    try:
        # Drop b only once the existing files are set aside; earlier, b would count as existing.
        assert wait_for(lambda: "--skip-existing: 1 file(s) already in" in err.read_text()), err.read_text()
        drop(b, folder)
        assert wait_for(lambda: len(records(out)) == 1)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert Path(records(out)[0]["path"]).name == b.name
    both = subprocess.run([sys.executable, "-m", "edge_runtime", "watch", str(folder), "--move-done", str(tmp_path / "d"),
                           "--delete-done"], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "at most one" in both.stderr
