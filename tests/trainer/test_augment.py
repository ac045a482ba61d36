"""Augmentation on CAPTCHA pixels: seeded, shape-preserving, and the extra stroke really draws one."""

import numpy as np

from edge_runtime import images
from edge_runtime.contract import InputSpec
from edge_runtime.preprocess import prepare
from trainer.augment import augment, stroke


def test_augment_is_seeded_and_keeps_the_shape(synth_data):
    px = prepare(images.load(sorted(synth_data.glob("*.png"))[0]), InputSpec(height=50, width=200))
    a = augment(px, np.random.default_rng(7), strokes=0.5)
    b = augment(px, np.random.default_rng(7), strokes=0.5)
    assert a.shape == px.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, px)


def test_stroke_draws_a_dark_curve_across_most_of_the_width():
    blank = np.full((50, 200), 255, np.uint8)
    stroke(blank, np.random.default_rng(0))
    dark_columns = np.flatnonzero((blank < 128).any(axis=0))
    assert dark_columns.size and dark_columns[-1] - dark_columns[0] >= 0.4 * 200

