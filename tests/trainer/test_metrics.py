import pytest

from trainer.metrics import DELETED, align, format_table, text_metrics


def test_known_answers():
    truths = ["abcde", "abcde", "abcde", "aaaaa"]
    preds = ["abcde", "abxde", "abde", "aaaaa"]
    m = text_metrics(truths, preds)
    assert m["full_string_accuracy"] == 0.5 and m["correct"] == 2
    assert m["char_accuracy"] == pytest.approx(18 / 20)
    assert m["cer"] == pytest.approx(2 / 20)
    assert m["per_position_accuracy"] == [1.0, 1.0, 0.5, 0.75, 0.75]
    confusions = {(c["truth"], c["predicted"]): c["count"] for c in m["top_confusions"]}
    assert confusions == {("c", "x"): 1, ("c", DELETED): 1}
    assert "0.5000" in format_table(m)


def test_alignment_insertions():
    assert [op for op, _, _ in align("ab", "axb")] == ["=", "I", "="]
    m = text_metrics(["ab"], ["axb"])
    assert m["cer"] == 0.5 and m["char_accuracy"] == 1.0


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        text_metrics(["a"], [])
