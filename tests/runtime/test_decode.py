"""Decoding class probabilities into text: CTC greedy, CTC kept to the trained lengths, per
position, and the contract's choice."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge_runtime.contract import Contract, InputSpec, Kind
from edge_runtime.decode import ctc_best_path, ctc_decode, ctc_greedy, decode, decoder_for, per_position

CHARS = ["a", "b", "c", ""]  # blank last, as the trainer exports
SPEC = InputSpec(50, 200)


def onehot(indices, classes=4, p=0.9):
    probs = np.full((len(indices), classes), (1 - p) / (classes - 1), np.float32)
    probs[np.arange(len(indices)), indices] = p
    return probs


def test_ctc_collapses_repeats_and_drops_blanks():
    out = ctc_greedy(onehot([0, 0, 3, 0, 1, 1, 3, 3, 2]), CHARS)
    assert out.text == "aabc"
    assert out.char_confidences == pytest.approx((0.9,) * 4)
    assert out.confidence == pytest.approx(0.9**4)


def test_ctc_char_confidence_is_the_best_step_of_its_run():
    probs = onehot([1, 1, 3])
    probs[0, 1], probs[1, 1] = 0.6, 0.8
    out = ctc_greedy(probs, CHARS)
    assert out.text == "b" and abs(out.char_confidences[0] - 0.8) < 1e-6
    assert abs(out.confidence - 0.8) < 1e-6


def test_ctc_all_blank_is_empty_with_a_confidence():
    out = ctc_greedy(onehot([3, 3, 3], p=0.7), CHARS)
    assert out.text == "" and out.char_confidences == () and abs(out.confidence - 0.7) < 1e-6


def test_nan_never_becomes_text():
    probs = onehot([0, 3, 1])
    probs[1, :] = np.nan
    out = ctc_greedy(probs, CHARS)
    assert out.text == "ab"


@pytest.mark.parametrize("shape", [(0, 4), (3,), (1, 0), (2, 3, 4)])
def test_wrong_shapes_are_refused(shape):
    with pytest.raises(ValueError, match="steps, classes"):
        ctc_greedy(np.zeros(shape, np.float32), CHARS)


def test_per_position_argmax():
    out = per_position(onehot([2, 0, 1], classes=3, p=0.5), "xyz")
    assert out.text == "zxy"
    assert abs(out.confidence - 0.125) < 1e-6


def test_decoder_for_follows_the_contract_kind():
    ctc = Contract.for_charset(Kind.CTC, "abc", SPEC)
    head = Contract.for_charset(Kind.MULTIHEAD, "abcd", SPEC, label_length=3)
    probs = onehot([0, 0, 3, 2])
    assert decoder_for(ctc)(probs).text == "ac"
    assert decode(probs, ctc) == ctc_greedy(probs, ctc.class_chars())  # no recorded lengths: greedy
    ranged = Contract.for_charset(Kind.CTC, "abc", SPEC, min_length=3, max_length=3)
    assert decoder_for(ranged)(probs) == ctc_decode(probs, ranged.class_chars(), (3, 3))
    assert decode(probs[:3], head).text == "aad"  # every position read, class 3 is 'd', not a blank
    # A blank that is not the last class: the decoder uses the contract's layout.
    first = Contract(kind="ctc", charset="abc", input=SPEC, blank_index=0)
    assert decode(onehot([0, 1, 1, 0, 3]), first).text == "ac"


@settings(max_examples=60, deadline=None)
# No subnormals: tflite-runtime on aarch64 turns on flush-to-zero for the whole process, after
# which hypothesis cannot make them (and a subnormal probability decodes like a zero anyway).
@given(arrays(np.float32, st.tuples(st.integers(1, 60), st.just(4)),
              elements=st.floats(-2, 2, width=32, allow_subnormal=False) | st.just(float("nan"))))
def test_ctc_any_tensor_decodes_to_charset_text(probs):
    out = ctc_greedy(probs, CHARS)
    assert set(out.text) <= {"a", "b", "c"}
    assert 0.0 <= out.confidence <= 1.0
    assert all(0.0 <= c <= 1.0 for c in out.char_confidences)
    assert len(out.char_confidences) == len(out.text) <= len(probs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=40))
def test_ctc_greedy_matches_the_textbook_definition(path):
    """Collapse repeats, then drop blanks: the reference implementation in two lines."""
    collapsed = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    want = "".join(CHARS[c] for c in collapsed)
    assert ctc_greedy(onehot(path), CHARS).text == want


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 8), st.just(3)),
              elements=st.floats(-2, 2, width=32, allow_subnormal=False) | st.just(float("nan"))))
def test_per_position_any_tensor(probs):
    out = per_position(probs, "xyz")
    assert len(out.text) == len(probs) and set(out.text) <= set("xyz")
    assert 0.0 <= out.confidence <= 1.0


# A multihead model with an end class: 4 heads over "abc" plus the end, last (Contract.for_charset).
ENDED = Contract.for_charset(Kind.MULTIHEAD, "abc", SPEC, label_length=4, min_length=2, max_length=4)


def test_the_end_class_ends_the_text():
    assert ENDED.class_chars() == ["a", "b", "c", ""] and ENDED.num_classes == 4
    out = decode(onehot([1, 0, 3, 3]), ENDED)
    assert out.text == "ba" and out.char_confidences == pytest.approx((0.9, 0.9))
    assert out.confidence == pytest.approx(0.9**4)  # both ends count
    assert decode(onehot([2, 1, 0, 2]), ENDED).text == "cbac"  # no end: every head reads


def test_an_unsure_end_makes_the_read_unsure():
    sure, unsure = onehot([0, 1, 3, 3]), onehot([0, 1, 3, 3])
    unsure[3] = [0.1, 0.1, 0.35, 0.45]  # the end, barely
    assert decode(sure, ENDED).text == decode(unsure, ENDED).text == "ab"
    assert decode(unsure, ENDED).confidence == pytest.approx(0.9**3 * 0.45)


def test_what_follows_the_first_end_is_not_read_but_counts():
    probs = onehot([0, 3, 2, 3])  # a 'c' after the end: not text, and its end probability is low
    out = decode(probs, ENDED)
    assert out.text == "a" and len(out.char_confidences) == 1
    end_after = (1 - 0.9) / 3
    assert out.confidence == pytest.approx(0.9 * 0.9 * end_after * 0.9)


def test_an_end_at_the_first_head_is_an_empty_read():
    out = decode(onehot([3, 3, 3, 3], p=0.8), ENDED)
    assert out.text == "" and out.char_confidences == () and out.confidence == pytest.approx(0.8**4)


def test_an_end_class_elsewhere_is_read_from_the_contract():
    first = Contract(kind="multihead", charset="abc", input=SPEC, label_length=3, min_length=1, max_length=3,
                     end_index=0)
    assert decode(onehot([2, 3, 0]), first).text == "bc"


def test_fixed_length_multihead_has_no_end_class():
    fixed = Contract.for_charset(Kind.MULTIHEAD, "abc", SPEC, label_length=4, min_length=4, max_length=4)
    assert fixed.end_index is None and fixed.class_chars() == ["a", "b", "c"] and fixed.num_classes == 3
    probs = onehot([2, 0, 1, 1], classes=3, p=0.7)
    assert decode(probs, fixed) == per_position(probs, "abc")
    assert decode(probs, fixed).text == "cabb" and decode(probs, fixed).confidence == pytest.approx(0.7**4)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.just(4), st.just(4)),
              elements=st.floats(-2, 2, width=32, allow_subnormal=False) | st.just(float("nan"))))
def test_end_class_any_tensor(probs):
    out = decode(probs, ENDED)
    assert set(out.text) <= set("abc") and len(out.text) <= 4 and len(out.char_confidences) == len(out.text)
    assert 0.0 <= out.confidence <= 1.0


# CTC kept to the trained lengths (ctc_decode, ctc_best_path).
BLANK = CHARS.index("")


def merged_double():
    """'a', a weak blank, 'a' again: greedy reads one 'a' where the label has two."""
    probs = onehot([0, 0, 0])
    probs[1] = [0.55, 0.0, 0.0, 0.45]
    return probs


def test_a_merged_double_letter_is_read_at_the_trained_length():
    probs = merged_double()
    assert ctc_greedy(probs, CHARS).text == "a"
    out = ctc_decode(probs, CHARS, (2, 2))
    assert out.text == "aa" and out.char_confidences == pytest.approx((0.9, 0.9))
    # forced: the blank step (0.45) instead of that step's best (0.55)
    assert out.confidence == pytest.approx(0.9 * 0.9 * 0.45 / 0.55)


def test_a_split_letter_is_dropped_at_the_trained_length():
    probs = onehot([0, 3, 1, 3, 2])
    probs[2] = [0.0, 0.6, 0.0, 0.4]  # a 'b' that is only a little likelier than the blank
    assert ctc_greedy(probs, CHARS).text == "abc"
    out = ctc_decode(probs, CHARS, (2, 2))
    assert out.text == "ac"
    assert out.confidence == pytest.approx(0.9 * 0.9 * 0.4 / 0.6)


def test_a_read_of_a_trained_length_is_the_greedy_read():
    probs = merged_double()
    assert ctc_decode(probs, CHARS, (1, 3)) == ctc_greedy(probs, CHARS)
    assert ctc_decode(probs, CHARS, None) == ctc_greedy(probs, CHARS)


def test_an_empty_read_stays_empty():
    probs = onehot([3, 3, 3], p=0.7)
    assert ctc_decode(probs, CHARS, (2, 2)) == ctc_greedy(probs, CHARS)


def test_too_few_steps_for_the_length_keep_the_greedy_read():
    probs = onehot([0, 1])
    assert ctc_best_path(probs, BLANK, (5, 5)) is None
    assert ctc_decode(probs, CHARS, (5, 5)).text == "ab"  # trust.py then rejects it: "length"


def _text(path):
    return "".join(CHARS[c] for i, c in enumerate(path) if (i == 0 or c != path[i - 1]) and CHARS[c])


@settings(max_examples=80, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.just(4)), elements=st.floats(2**-10, 1, width=32)),
       st.integers(0, 4), st.integers(0, 2))
def test_the_best_path_is_the_most_probable_of_that_length(probs, shortest, extra):
    """Against every path of up to 6 steps: the Viterbi path is one of the most probable whose text
    has a length in range."""
    lengths = (shortest, shortest + extra)
    logp = np.log(probs.astype(np.float64))

    def logprob(path):
        return sum(logp[t, c] for t, c in enumerate(path))

    fits = [p for p in itertools.product(range(4), repeat=len(probs)) if shortest <= len(_text(p)) <= lengths[1]]
    path = ctc_best_path(probs, BLANK, lengths)
    if not fits:
        assert path is None
        return
    assert len(path) == len(probs) and lengths[0] <= len(_text(path)) <= lengths[1]
    assert logprob(path) == pytest.approx(max(logprob(p) for p in fits), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 40), st.just(4)),
              elements=st.floats(-2, 2, width=32, allow_subnormal=False) | st.just(float("nan"))),
       st.integers(1, 8))
def test_any_tensor_decodes_within_the_lengths_or_as_greedy(probs, length):
    out, greedy = ctc_decode(probs, CHARS, (length, length)), ctc_greedy(probs, CHARS)
    assert len(out.text) == length or out == greedy
    assert 0.0 <= out.confidence <= 1.0
    assert set(out.text) <= {"a", "b", "c"} and len(out.char_confidences) == len(out.text)
