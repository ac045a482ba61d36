"""captcha-edge camera. Fast: the CameraRunner loop in this process, fed by a fake source that
serves frames built from the committed examples (rate limiting, changes-only, ROI, reconnects);
and the command through CliRunner on a small video written here. e2e: the command in a subprocess
on a real video file and on sources that fail."""

import json
import time
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge_runtime.camera import CameraRunner, is_live
from edge_runtime.errors import ImageError, SourceError, UsageError
from edge_runtime.images import crop, parse_roi
from edge_runtime.options import CameraOptions
from support import EXAMPLES_MODEL, jsonl

FPS = 8
ROI = (60, 30, 200, 50)


def frame_with(example) -> np.ndarray:
    frame = np.full((120, 320, 3), 255, np.uint8)
    frame[30:80, 60:260] = cv2.imread(str(example), cv2.IMREAD_COLOR)
    return frame


class FakeSource:
    """What open_source returns: .read() -> (frame, video_ms), (None, None) at the end; .close()."""

    def __init__(self, frames, video=True):
        self.frames, self.video, self.i, self.closed = list(frames), video, 0, False

    def read(self):
        if self.i >= len(self.frames):
            return None, None
        self.i += 1
        return self.frames[self.i - 1], ((self.i - 1) * 1000.0 / FPS if self.video else None)

    def close(self):
        self.closed = True


class Opener:
    """A fake open_source: fails `fail` times (SourceError), then serves each batch of frames in turn."""

    def __init__(self, *batches, fail=0, video=True):
        self.batches, self.fail, self.video = list(batches), fail, video
        self.calls, self.opened = [], []

    def __call__(self, source):
        self.calls.append(source)
        if self.fail > 0 or not self.batches:
            self.fail -= 1
            raise SourceError(f"expected a stream OpenCV can open, could not open {source!r}")
        src = FakeSource(self.batches.pop(0), self.video)
        self.opened.append(src)
        return src


@pytest.fixture(scope="module")
def clip(examples):
    """Three CAPTCHAs, one second (8 frames) each: the frames of a 3-second video."""
    picks = examples[:3]
    return [frame_with(p) for p in picks for _ in range(FPS)], [p.stem for p in picks]


def camera_run(rec, opener, tmp_path, **options):
    logs = []
    out = tmp_path / "out.jsonl"
    sleep = options.pop("sleep", None)  # a fake sleep for the backoff: records the delays, waits for nothing
    clock = options.pop("clock", time.monotonic)
    runner = CameraRunner(rec, CameraOptions(options.pop("source", "clip.avi"), output=out, **options),
                          log=logs.append, open_source=opener, clock=clock, sleep=sleep)
    code = runner.run()
    runner.close()
    return code, jsonl(out.read_text()) if out.exists() else [], logs, runner


def test_changes_only_reads_each_captcha_once(synth, clip, tmp_path):
    frames, labels = clip
    opener = Opener(frames)
    code, lines, logs, runner = camera_run(synth, opener, tmp_path, roi=ROI, changes_only=True)
    assert code == 0 and opener.opened[0].closed
    assert [l["text"] for l in lines] == labels
    assert [l["frame"] for l in lines] == [1, FPS + 1, 2 * FPS + 1]
    assert [l["video_ms"] for l in lines] == [0.0, 1000.0, 2000.0]
    assert all(l["time"].endswith("+00:00") for l in lines)  # UTC
    assert runner.frames == 3 * FPS and runner.recognised == 3 * FPS
    assert logs[-1] == f"end of clip.avi: {3 * FPS} frames read, {3 * FPS} recognised"


@pytest.mark.parametrize("fps, count", [(2, 6), (1, 3), (4, 12), (100, 24)])
def test_fps_samples_by_video_time(synth, clip, tmp_path, fps, count):
    frames, labels = clip
    code, lines, _, runner = camera_run(synth, Opener(frames), tmp_path, roi=ROI, fps=fps)
    assert code == 0 and len(lines) == count  # 3 s of video at `fps` recognitions per second
    assert runner.frames == 3 * FPS  # every frame is read; only the sampled ones are recognised
    assert [l["text"] for l in lines] == [labels[int(l["video_ms"] // 1000)] for l in lines]


def test_max_frames_and_whole_frame_without_roi(synth, clip, tmp_path):
    frames, labels = clip
    code, lines, _, runner = camera_run(synth, Opener(frames), tmp_path, max_frames=2)
    assert code == 0 and len(lines) == 2 and runner.frames == 2
    assert all(set(l) == {"frame", "text", "confidence", "time", "video_ms", "rejected"} for l in lines)
    # the whole 320x120 frame is not shaped like the model's 200x50 input: never a trusted read
    assert all(l["rejected"] in ("length", "aspect") for l in lines)


def test_roi_outside_the_frame_is_an_error(synth, clip, tmp_path):
    frames, _ = clip
    code, lines, logs, _ = camera_run(synth, Opener(frames), tmp_path, roi=(300, 100, 200, 50))
    assert code == 1 and lines == []
    assert logs == ["expected --roi inside the 320x120 frame, got 300,100,200,50"]


def test_unreadable_frames_get_error_records_and_the_loop_goes_on(synth, examples, tmp_path):
    frames = [cv2.imread(str(examples[0])), np.zeros((2, 2, 3), np.uint8), cv2.imread(str(examples[1]))]
    code, lines, _, _ = camera_run(synth, Opener(frames), tmp_path, roi=None)
    assert code == 0
    assert [l.get("text") for l in lines] == [examples[0].stem, None, examples[1].stem]
    assert lines[1]["frame"] == 2 and lines[1]["error"].startswith("expected") and "\n" not in lines[1]["error"]


def test_a_video_file_that_cannot_open_is_one_line_and_exit_1(synth, tmp_path):
    opener = Opener(fail=5)
    code, lines, logs, _ = camera_run(synth, opener, tmp_path)
    assert code == 1 and lines == [] and len(opener.calls) == 1  # files are not retried
    assert logs == ["expected a stream OpenCV can open, could not open 'clip.avi'"]


def test_live_source_reconnects_with_backoff_then_gives_up(synth, examples, tmp_path):
    sleeps = []
    opener = Opener([frame_with(examples[0])] * 2, [frame_with(examples[1])], fail=3, video=False)
    code, lines, logs, _ = camera_run(synth, opener, tmp_path, source="rtsp://cam/1", roi=ROI, retries=4,
                                      backoff_max=8.0, sleep=sleeps.append)
    # 3 failed opens (1, 2, 4 s); a session that drops (a good open resets the delay: 1 s); another
    # that drops (1 s); then failures from where the backoff stands (2, 4, 8, 8: capped), 4 retries.
    assert code == 1
    assert sleeps == [1.0, 2.0, 4.0, 1.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert [l["text"] for l in lines] == [examples[0].stem] * 2 + [examples[1].stem]
    assert all("video_ms" not in l for l in lines)  # live: wall-clock time only
    assert "giving up after 4 retries" in logs[-1] and sum("stopped delivering" in m for m in logs) == 2
    assert all(src.closed for src in opener.opened)


def test_stop_flag_ends_a_live_source(synth, tmp_path):
    sleeps = []
    opener = Opener(fail=10**9)
    runner = CameraRunner(synth, CameraOptions("0", output=tmp_path / "o.jsonl"), open_source=opener,
                          sleep=lambda s: (sleeps.append(s), runner.stop_flag.set() if len(sleeps) == 3 else None))
    assert runner.run() == 0  # stopped by the flag (SIGTERM), not a failure
    runner.close()
    assert len(opener.calls) == 3 and sleeps == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("text, roi", [("1,2,3,4", (1, 2, 3, 4)), ("0,0,200,50", (0, 0, 200, 50)), (" 5, 6 ,7,8", (5, 6, 7, 8))])
def test_parse_roi(text, roi):
    assert parse_roi(text) == roi


@pytest.mark.parametrize("text", ["1,2,3", "1,2,3,4,5", "a,b,c,d", "-1,0,5,5", "0,0,0,5", ""])
def test_parse_roi_refusals(text):
    with pytest.raises(UsageError, match="expected"):
        parse_roi(text)


def test_crop_and_liveness():
    frame = np.arange(120 * 320).reshape(120, 320)
    assert np.array_equal(crop(frame, (60, 30, 200, 50)), frame[30:80, 60:260])
    assert crop(frame, None) is frame
    assert crop(frame, (0, 0, 320, 120)).shape == (120, 320)
    with pytest.raises(ImageError, match="inside the 320x120 image"):
        crop(frame, (0, 0, 321, 120))
    assert is_live("0") and is_live("rtsp://x/y") and is_live("http://x") and is_live("picamera2:0")
    assert not is_live("clip.avi") and not is_live("/videos/0.mp4")


@pytest.fixture(scope="module")
def video(examples, tmp_path_factory):
    """A real 3-second MJPEG video file: three committed examples, one second each."""
    path = tmp_path_factory.mktemp("video") / "captchas.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 120))
    assert writer.isOpened()
    for src in examples[:3]:
        frame = frame_with(src)
        for _ in range(FPS):
            writer.write(frame)
    writer.release()
    return path, [p.stem for p in examples[:3]]


def test_camera_command_on_a_video_file_in_process(invoke, video):
    path, labels = video
    out = invoke("camera", path, "--model", EXAMPLES_MODEL, "--roi", "60,30,200,50", "--changes-only")
    assert out.exit_code == 0, out.stderr
    lines = jsonl(out.stdout)
    assert [l["text"] for l in lines] == labels and [l["frame"] for l in lines] == [1, FPS + 1, 2 * FPS + 1]
    assert "end of" in out.stderr
    two = invoke("camera", path, "--model", EXAMPLES_MODEL, "--roi", "60,30,200,50", "--fps", "2")
    assert two.exit_code == 0 and len(jsonl(two.stdout)) == 6


def test_camera_command_bad_sources_in_process(invoke, video, tmp_path):
    path, _ = video
    missing = invoke("camera", tmp_path / "none.mp4", "--model", EXAMPLES_MODEL)
    assert missing.exit_code == 1 and "no file" in missing.stderr and missing.stderr.count("\n") == 1
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    bad = invoke("camera", junk, "--model", EXAMPLES_MODEL)
    assert bad.exit_code == 1 and "could not open" in bad.stderr
    roi = invoke("camera", path, "--model", EXAMPLES_MODEL, "--roi", "300,100,200,50")
    assert roi.exit_code == 1 and "inside the 320x120 frame" in roi.stderr
    usage = invoke("camera", path, "--roi", "1,2,3")
    assert usage.exit_code == 2 and usage.stderr.startswith("captcha-edge: error: expected --roi")
    empty = invoke("camera", path, "--roi", "")  # refused as predict refuses it, not taken for "whole frames"
    assert (empty.exit_code, empty.stdout) == (2, "")
    assert empty.stderr == "captcha-edge: error: expected --roi x,y,w,h as four integers, got ''\n"
    pi = invoke("camera", "picamera2:0", "--model", EXAMPLES_MODEL, "--retries", "0")
    assert pi.exit_code == 1 and "picamera2" in pi.stderr


IMAGE_SOURCE = "expected a camera index, a video file or a stream URL, got an image"


def test_a_still_image_is_a_usage_error_in_process(invoke, examples, tmp_path):
    """camera x.png used to read the PNG as a one-frame video and exit 0."""
    out = invoke("camera", examples[0], "--model", EXAMPLES_MODEL)
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr == f"captcha-edge: error: {IMAGE_SOURCE}, {str(examples[0])!r}: use 'captcha-edge predict' to read images\n"
    renamed = tmp_path / "frame.dat"  # known by its first bytes, whatever its name
    renamed.write_bytes(examples[0].read_bytes())
    out = invoke("camera", renamed, "--model", EXAMPLES_MODEL)
    assert out.exit_code == 2 and IMAGE_SOURCE in out.stderr and out.stderr.count("\n") == 1


def test_open_source_refuses_a_still_image(examples, video):
    from edge_runtime.camera import check_source, open_source

    with pytest.raises(UsageError, match=IMAGE_SOURCE):
        open_source(str(examples[0]))
    for source in ("0", "rtsp://host/x", str(video[0])):
        check_source(source)  # not refused


# ---- e2e: the real command in a subprocess ------------------------------------------------------


def camera(*args):
    return subprocess.run([sys.executable, "-m", "edge_runtime", "camera", "--model", EXAMPLES_MODEL, *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
def test_changes_only_reads_each_captcha_once_in_a_subprocess(video):
    path, labels = video
    out = camera(str(path), "--roi", "60,30,200,50", "--changes-only")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    assert [l["text"] for l in lines] == labels
    assert [l["frame"] for l in lines] == [1, FPS + 1, 2 * FPS + 1]
    assert all("time" in l and "video_ms" in l for l in lines)
    assert "end of" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.e2e
def test_fps_and_whole_frame_in_a_subprocess(video):
    path, _ = video
    out = camera(str(path), "--roi", "60,30,200,50", "--fps", "2")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 6  # 3 s of video at 2 recognitions per second
    whole = camera(str(path), "--max-frames", "2")
    assert whole.returncode == 0 and len(whole.stdout.splitlines()) == 2


@pytest.mark.e2e
def test_bad_sources_get_one_clear_line_in_a_subprocess(video, tmp_path):
    path, _ = video
    missing = camera(str(tmp_path / "none.mp4"))
    assert missing.returncode == 1 and "no file" in missing.stderr and "Traceback" not in missing.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    bad = camera(str(junk))
    assert bad.returncode == 1 and "could not open" in bad.stderr
    roi = camera(str(path), "--roi", "300,100,200,50")
    assert roi.returncode == 1 and "inside the 320x120 frame" in roi.stderr
    assert camera(str(path), "--roi", "1,2,3").returncode == 2
    stream = camera("rtsp://127.0.0.1:9/none", "--retries", "1")
    assert stream.returncode == 1 and "giving up" in stream.stderr and "Traceback" not in stream.stderr


@pytest.mark.e2e
def test_a_still_image_or_a_broken_video_gets_one_line_and_no_opencv_noise(examples, tmp_path):
    """OpenCV's ffmpeg backend writes to fd 2 ("[png @ 0x...] ...", "moov atom not found"),
    which only a subprocess sees."""
    image = camera(str(examples[0]))
    assert image.returncode == 2 and image.stdout == ""
    assert image.stderr.splitlines() == [f"captcha-edge: error: {IMAGE_SOURCE}, {str(examples[0])!r}: "
                                         "use 'captcha-edge predict' to read images"]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    bad = camera(str(junk))
    assert bad.returncode == 1 and bad.stderr.splitlines() == [
        f"captcha-edge camera: expected a video file OpenCV can open, could not open {str(junk)!r}"]


@pytest.mark.e2e
def test_picamera2_source_without_the_package_is_explained():
    out = camera("picamera2:0", "--retries", "0")
    assert out.returncode == 1 and "picamera2" in out.stderr and "Traceback" not in out.stderr


def test_live_source_is_rate_limited_by_the_clock(synth, examples, tmp_path):
    """A live source is sampled by wall-clock time: with a clock that moves 0.1 s per frame,
    --fps 2 recognises every fifth frame."""
    ticks = iter(range(1000))
    frames = [frame_with(examples[0])] * 20
    code, lines, _, _ = camera_run(synth, Opener(frames, video=False), tmp_path, source="0", fps=2, roi=ROI,
                                   max_frames=4, clock=lambda: next(ticks) / 10, sleep=lambda s: None)
    assert code == 0
    assert [l["frame"] for l in lines] == [1, 6, 11, 16]
    assert {l["text"] for l in lines} == {examples[0].stem}
