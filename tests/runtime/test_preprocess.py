"""The contract's resize policies and colours in edge_runtime.preprocess, on numpy arrays: the
one implementation that devices and the trainer share."""

import numpy as np
import pytest

from edge_runtime.contract import InputSpec
from edge_runtime.preprocess import PAD_VALUE, fit, pad_box, prepare, to_rgb


def test_stretch_is_the_default_and_fills_the_input():
    image = np.zeros((30, 100), np.uint8)
    out = prepare(image, InputSpec(50, 200))
    assert out.shape == (50, 200) and out.max() == 0


@pytest.mark.parametrize("h, w, box", [
    (25, 50, (0, 50, 50, 100)),     # 2:1 in a 4:1 input: scaled x2, centred with 50 white columns each side
    (100, 100, (0, 75, 50, 50)),    # square: 50x50, centred horizontally
    (100, 800, (12, 0, 25, 200)),   # 8:1: 25 rows, centred vertically, the odd white row below
    (50, 200, (0, 0, 50, 200)),     # same aspect: nothing to pad
    (1000, 1, (0, 99, 50, 1)),      # never narrower than 1 pixel
])
def test_pad_box_keeps_the_aspect_ratio_centred(h, w, box):
    assert pad_box(h, w, 50, 200) == box


def test_pad_centres_the_image_on_white():
    image = np.zeros((100, 100), np.uint8)  # a black square
    out = prepare(image, InputSpec(50, 200, resize="pad"))
    assert out.shape == (50, 200)
    assert (out[:, 75:125] == 0).all()
    assert (out[:, :75] == PAD_VALUE).all() and (out[:, 125:] == PAD_VALUE).all()


def test_pad_equals_stretch_when_the_aspect_ratio_matches():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (100, 400), dtype=np.uint8)
    assert np.array_equal(fit(image, InputSpec(50, 200, resize="pad")), fit(image, InputSpec(50, 200)))


def test_rgb_swaps_opencv_bgr_to_rgb():
    bgr = np.zeros((10, 20, 3), np.uint8)
    bgr[..., 0] = 200  # blue, as OpenCV stores it first
    out = prepare(bgr, InputSpec(10, 20, channels=3, color="rgb"))
    assert out.shape == (10, 20, 3)
    assert (out[..., 2] == 200).all() and (out[..., :2] == 0).all()


def test_rgb_from_gray_and_transparent_bgra():
    gray = np.full((4, 6), 7, np.uint8)
    assert (to_rgb(gray) == 7).all() and to_rgb(gray).shape == (4, 6, 3)
    bgra = np.zeros((4, 6, 4), np.uint8)  # fully transparent black reads as white paper
    assert (to_rgb(bgra) == 255).all()


def test_rgb_pad_fills_every_channel_white():
    bgr = np.zeros((100, 100, 3), np.uint8)
    out = prepare(bgr, InputSpec(50, 200, channels=3, color="rgb", resize="pad"))
    assert out.shape == (50, 200, 3)
    assert (out[:, :75] == PAD_VALUE).all() and (out[:, 75:125] == 0).all()


def test_gray_model_still_takes_colour_images_as_gray():
    bgr = np.full((30, 90, 3), 128, np.uint8)
    out = prepare(bgr, InputSpec(30, 90))
    assert out.shape == (30, 90) and (out == 128).all()
