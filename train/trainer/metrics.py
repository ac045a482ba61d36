"""Text recognition metrics on (truth, prediction) pairs. Pure Python, so they are easy to check."""

from __future__ import annotations

from collections import Counter

DELETED = "∅"  # a truth character the prediction left out


def align(truth: str, pred: str) -> list[tuple[str, str, str]]:
    """Levenshtein alignment as (op, truth_char, pred_char) with op in =, S, D, I."""
    n, m = len(truth), len(pred)
    dist = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        dist[i][0] = i
    for j in range(m + 1):
        dist[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = 0 if truth[i - 1] == pred[j - 1] else 1
            dist[i][j] = min(dist[i - 1][j - 1] + cost, dist[i - 1][j] + 1, dist[i][j - 1] + 1)
    ops, i, j = [], n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and dist[i][j] == dist[i - 1][j - 1] + (truth[i - 1] != pred[j - 1]):
            ops.append(("=" if truth[i - 1] == pred[j - 1] else "S", truth[i - 1], pred[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and dist[i][j] == dist[i - 1][j] + 1:
            ops.append(("D", truth[i - 1], ""))
            i -= 1
        else:
            ops.append(("I", "", pred[j - 1]))
            j -= 1
    return ops[::-1]


def text_metrics(truths: list[str], preds: list[str], top: int = 10) -> dict:
    """Full-string accuracy, per-character accuracy, CER, per-position accuracy and confusions."""
    if len(truths) != len(preds):
        raise ValueError(f"expected as many predictions as truths, got {len(preds)} and {len(truths)}")
    n = len(truths)
    chars = correct_chars = edits = 0
    confusions: Counter = Counter()
    pos_total: Counter = Counter()
    pos_right: Counter = Counter()
    mistakes = []
    for truth, pred in zip(truths, preds):
        ops = align(truth, pred)
        chars += len(truth)
        correct_chars += sum(op == "=" for op, _, _ in ops)
        edits += sum(op != "=" for op, _, _ in ops)
        for op, t, p in ops:
            if op == "S":
                confusions[(t, p)] += 1
            elif op == "D":
                confusions[(t, DELETED)] += 1
        for i, t in enumerate(truth):
            pos_total[i] += 1
            pos_right[i] += i < len(pred) and pred[i] == t
        if truth != pred:
            mistakes.append({"truth": truth, "predicted": pred})
    exact = sum(t == p for t, p in zip(truths, preds))
    return {
        "count": n,
        "correct": exact,
        "full_string_accuracy": exact / n if n else 0.0,
        "char_accuracy": correct_chars / chars if chars else 0.0,
        "cer": edits / chars if chars else 0.0,
        "per_position_accuracy": [pos_right[i] / pos_total[i] for i in sorted(pos_total)],
        "top_confusions": [{"truth": t, "predicted": p, "count": c} for (t, p), c in confusions.most_common(top)],
        "confusion_counts": {f"{t}>{p}": c for (t, p), c in sorted(confusions.items())},
        "mistakes": mistakes,
    }


def format_table(m: dict) -> str:
    lines = [
        f"images                 {m['count']}",
        f"full-string accuracy   {m['full_string_accuracy']:.4f}  ({m['correct']}/{m['count']})",
        f"per-character accuracy {m['char_accuracy']:.4f}",
        f"character error rate   {m['cer']:.4f}",
        "per-position accuracy  " + "  ".join(f"{i + 1}:{a:.3f}" for i, a in enumerate(m["per_position_accuracy"])),
    ]
    if "ece" in m:  # evaluate's: the full-string confidence against correctness
        lines.append(f"calibration error (ECE) {m['ece']:.4f}  ({m['reliability']['bins']} equal-width confidence bins)")
    if m["top_confusions"]:
        lines.append("most confused (truth -> predicted: count)")
        lines += [f"  {c['truth']} -> {c['predicted']}: {c['count']}" for c in m["top_confusions"]]
    return "\n".join(lines)
