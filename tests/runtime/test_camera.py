"""captcha-edge camera on a real video file written by OpenCV, and on sources that fail."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

FPS = 8


@pytest.fixture(scope="module")
def video(wilhelmy, tmp_path_factory):
    """A 3-second MJPEG video: three CAPTCHAs, one second each, on a larger frame."""
    picks = sorted(wilhelmy.glob("*.png"))[10:13]
    path = tmp_path_factory.mktemp("video") / "captchas.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 120))
    assert writer.isOpened()
    for src in picks:
        frame = np.full((120, 320, 3), 255, np.uint8)
        frame[30:80, 60:260] = cv2.imread(str(src), cv2.IMREAD_COLOR)
        for _ in range(FPS):
            writer.write(frame)
    writer.release()
    return path, [p.stem for p in picks]


def camera(*args):
    return subprocess.run([sys.executable, "-m", "edge_runtime", "camera", *args], capture_output=True, text=True, timeout=120)


def test_changes_only_reads_each_captcha_once(video):
    path, labels = video
    out = camera(str(path), "--roi", "60,30,200,50", "--changes-only")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    assert [l["text"] for l in lines] == labels
    assert [l["frame"] for l in lines] == [1, FPS + 1, 2 * FPS + 1]
    assert all("time" in l and "video_ms" in l for l in lines)
    assert "end of" in out.stderr and "Traceback" not in out.stderr


def test_fps_samples_by_video_time(video):
    path, _ = video
    out = camera(str(path), "--roi", "60,30,200,50", "--fps", "2")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 6  # 3 s of video at 2 recognitions per second


def test_whole_frame_is_resized_when_no_roi(video):
    path, _ = video
    out = camera(str(path), "--max-frames", "2")
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 2


def test_bad_sources_get_one_clear_line(video, tmp_path):
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


def test_picamera2_source_without_the_package_is_explained():
    out = camera("picamera2:0", "--retries", "0")
    assert out.returncode == 1 and "picamera2" in out.stderr and "Traceback" not in out.stderr
