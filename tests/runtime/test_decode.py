import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge_runtime.decode import ctc_greedy, per_position

CHARS = ["a", "b", "c", ""]  # blank last, as the trainer exports


def onehot(indices, classes=4, p=0.9):
    probs = np.full((len(indices), classes), (1 - p) / (classes - 1), np.float32)
    probs[np.arange(len(indices)), indices] = p
    return probs


def test_ctc_collapses_repeats_and_drops_blanks():
    out = ctc_greedy(onehot([0, 0, 3, 0, 1, 1, 3, 3, 2]), CHARS)
    assert out.text == "aabc"
    assert len(out.char_confidences) == 4


def test_ctc_char_confidence_is_the_best_step_of_its_run():
    probs = onehot([1, 1, 3])
    probs[0, 1], probs[1, 1] = 0.6, 0.8
    out = ctc_greedy(probs, CHARS)
    assert out.text == "b" and abs(out.char_confidences[0] - 0.8) < 1e-6
    assert abs(out.confidence - 0.8) < 1e-6


def test_ctc_all_blank_is_empty_with_a_confidence():
    out = ctc_greedy(onehot([3, 3, 3], p=0.7), CHARS)
    assert out.text == "" and out.char_confidences == () and abs(out.confidence - 0.7) < 1e-6


def test_per_position_argmax():
    out = per_position(onehot([2, 0, 1], classes=3, p=0.5), "xyz")
    assert out.text == "zxy"
    assert abs(out.confidence - 0.125) < 1e-6


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 60), st.just(4)),
              elements=st.floats(-2, 2, width=32) | st.just(float("nan"))))
def test_ctc_any_tensor_decodes_to_charset_text(probs):
    out = ctc_greedy(probs, CHARS)
    assert set(out.text) <= {"a", "b", "c"}
    assert 0.0 <= out.confidence <= 1.0
    assert all(0.0 <= c <= 1.0 for c in out.char_confidences)
    assert len(out.char_confidences) == len(out.text)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 8), st.just(3)),
              elements=st.floats(-2, 2, width=32) | st.just(float("nan"))))
def test_per_position_any_tensor(probs):
    out = per_position(probs, "xyz")
    assert len(out.text) == len(probs) and set(out.text) <= set("xyz")
    assert 0.0 <= out.confidence <= 1.0
