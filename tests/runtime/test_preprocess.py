"""The contract's resize policies and colours in edge_runtime.preprocess, on numpy arrays: the
one implementation that devices and the trainer share."""

import numpy as np
import pytest

from edge_runtime.contract import InputSpec
from edge_runtime.images import cv2 as _cv2
from edge_runtime.preprocess import PAD_VALUE, crop_box, fit, pad_box, prepare, text_box, to_rgb

cv2 = _cv2()


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


# ---- crop: the text's box ------------------------------------------------------------------------

def _page(h, w, paper=225, seed=0, dots=0, line=False):
    """A gray page with paper texture, ``dots`` dark specks and optionally a thin line across."""
    rng = np.random.default_rng(seed)
    page = (paper + rng.integers(-6, 7, (h, w))).clip(0, 255).astype(np.uint8)
    for _ in range(dots):
        cv2.circle(page, (int(rng.integers(w)), int(rng.integers(h))), 1, 60, -1)
    if line:
        cv2.line(page, (0, int(h * 0.8)), (w - 1, int(h * 0.9)), 120, 1, cv2.LINE_AA)
    return page


def _write(page, text, x, y, scale, ink):
    """``text`` drawn with its baseline at (x, y); returns the drawn pixels' box (top, left, bottom, right)."""
    mask = np.zeros_like(page)
    cv2.putText(mask, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 2, cv2.LINE_AA)
    page[mask > 127] = ink
    ys, xs = np.nonzero(mask > 127)
    return ys.min(), xs.min(), ys.max() + 1, xs.max() + 1


def _contains(box, drawn):
    top, left, h, w = box
    return top <= drawn[0] and left <= drawn[1] and top + h >= drawn[2] and left + w >= drawn[3]


@pytest.mark.parametrize("x, y", [(20, 40), (150, 30), (90, 85)])
def test_crop_box_holds_small_text_anywhere_and_little_else(x, y):
    page = _page(100, 300, dots=60, line=True)
    drawn = _write(page, "7kq4Z", x, y, 0.7, 30)
    box = text_box(page, 168 / 50)
    assert _contains(box, drawn)
    assert box[2] * box[3] < 0.4 * page.size  # the text, not the dots and the line: enlarged well over 1.5x
    assert abs(box[3] / box[2] - 168 / 50) < 0.05  # widened to the input's aspect ratio


def test_crop_box_leaves_out_specks_and_hatching_beside_the_text():
    # Single-pixel specks and hairlines crowded into a patch are as dense as the text over the
    # window; the patches sit on the text's rows, where the line would take them in.
    page = _page(100, 300, seed=4)
    drawn = _write(page, "7kq4Z", 110, 60, 0.7, 30)
    rng = np.random.default_rng(4)
    specks = rng.random((30, 30)) < 0.35
    page[35:65, 10:40][specks] = 50
    for x in range(250, 290, 2):
        cv2.line(page, (x, 35), (x + 6, 65), 50, 1, cv2.LINE_8)
    box = text_box(page, 168 / 50)
    assert _contains(box, drawn)
    assert box[1] > 40 and box[1] + box[3] < 250  # neither patch


def test_crop_box_of_text_drawn_in_hairlines():
    # Letters of one-pixel strokes (E, L, T, H, I) vanish in the opening that drops specks: then
    # the ink as it is finds them.
    page = _page(100, 300, seed=5)
    strokes = {"E": [(0, 0, 0, 14), (0, 0, 8, 0), (0, 7, 6, 7), (0, 14, 8, 14)], "L": [(0, 0, 0, 14), (0, 14, 8, 14)],
               "T": [(0, 0, 8, 0), (4, 0, 4, 14)], "H": [(0, 0, 0, 14), (8, 0, 8, 14), (0, 7, 8, 7)], "I": [(4, 0, 4, 14)]}
    for i, letter in enumerate("ELTHI"):
        for x0, y0, x1, y1 in strokes[letter]:
            cv2.line(page, (120 + 13 * i + x0, 40 + y0), (120 + 13 * i + x1, 40 + y1), 20, 1, cv2.LINE_8)
    assert not cv2.morphologyEx((page < 100).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).any()
    box = text_box(page, 168 / 50)
    assert _contains(box, (40, 120, 55, 120 + 13 * 4 + 9))
    assert box[2] * box[3] < 0.4 * page.size


def test_crop_box_of_light_text_on_dark_paper():
    page = _page(100, 300, paper=30, seed=1)
    drawn = _write(page, "0815", 120, 60, 0.8, 220)
    box = text_box(page, 4.0)
    assert _contains(box, drawn) and box[2] * box[3] < 0.4 * page.size


def test_crop_takes_a_page_the_text_fills_nearly_whole():
    page = _page(50, 200, seed=2)
    drawn = _write(page, "2b827", 4, 44, 2.1, 20)
    box = text_box(page, 4.0)
    assert _contains(box, drawn) and box[2] * box[3] > 0.8 * page.size


@pytest.mark.parametrize("page", [np.full((50, 200), 255, np.uint8), np.zeros((50, 200), np.uint8),
                                  np.random.default_rng(3).integers(0, 256, (37, 91), dtype=np.uint8)],
                         ids=["white", "black", "noise"])
def test_crop_box_stays_inside_any_image(page):
    top, left, h, w = text_box(page, 168 / 50)
    assert 0 <= top and 0 <= left and h >= 1 and w >= 1
    assert top + h <= page.shape[0] and left + w <= page.shape[1]


def test_crop_fits_gray_and_rgb_to_the_input():
    page = _page(100, 300, dots=20)
    _write(page, "ab12", 200, 50, 0.6, 40)
    gray = fit(page, InputSpec(50, 168, resize="crop"))
    rgb = fit(to_rgb(page), InputSpec(50, 168, channels=3, color="rgb", resize="crop"))
    assert gray.shape == (50, 168) and rgb.shape == (50, 168, 3)
    # The same box for both (found on the gray pixels). OpenCV's linear resize of three channels
    # may round differently from one channel's by a few units: it does on ARM (up to 3 here).
    spec = InputSpec(50, 168, resize="crop")
    assert crop_box(to_rgb(page), spec) == crop_box(page, spec)
    assert np.abs(rgb[:, :, 0].astype(int) - gray).max() <= 4
    # The text, enlarged: far more of the input is ink than in the stretched page.
    assert (gray < 128).mean() > 2 * (fit(page, InputSpec(50, 168)) < 128).mean()


def test_crop_finds_the_box_of_a_large_image_on_a_smaller_copy():
    page = _page(100, 300, dots=60, line=True)
    drawn = _write(page, "7kq4Z", 150, 30, 0.7, 30)
    spec = InputSpec(50, 168, resize="crop")
    big = cv2.resize(page, (1200, 400), interpolation=cv2.INTER_LINEAR)  # searched at 100x300
    box = crop_box(big, spec)
    assert _contains(box, tuple(4 * v for v in drawn))
    assert all(abs(b - 4 * a) <= 4 for a, b in zip(crop_box(page, spec), box))
    assert box[0] + box[2] <= 400 and box[1] + box[3] <= 1200
