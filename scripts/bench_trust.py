"""Issue #15's trust benchmark: how well each shipped model's answers can be trusted.

    python scripts/make_junk.py --out data/junk --seed 0              # the junk corpus (once)
    python scripts/bench_trust.py [--model NAME ...] [--junk data/junk] [--data DIR] [--synth-data DIR] [--rules]

For every model (default: every shipped one) it prints, per junk category, the share of images
*flagged*: rejected by :func:`edge_runtime.trust.assess` or read with a confidence below 0.5. It
shows both today's plain ``confidence < 0.5`` and the ``trust`` rule. On the model's held-out images
it prints the share read correctly, the share read correctly and not flagged, and the expected
calibration error (ECE, 10 equal-width bins) of the full-string confidence against correctness.

Held-out images: the ``split.val_names`` of ``converted/<model>.json`` found in --data
(``$CAPTCHA_DATA``, default ../shared/data/wilhelmy). A model whose validation images are not
there (``synth36-int8``, trained on synthetic images) is measured on --synth-data instead
(default data/synth36-test, made by ``captcha-train synth --out data/synth36-test --count 300
--seed 2``, a seed its training never used); without it, its held-out figures are n/a.

The ``lost`` category (real CAPTCHAs in larger pages) is not junk: a correct read is acceptable
there too, so it is reported as correct / flagged / *confidently wrong* (the last must be 0).
For a model trained on the ``captcha`` package's style, a ``captcha_pkg`` image whose label it can
read (charset and length) is counted the same way, as in-style, and left out of its junk share.

--rules also measures candidate rejection rules (issue #15, "measure the options"): thresholds are
fitted on one half of the held-out images and tested on the other half, both ways (2-fold
cross-fitting, seeded split), so no held-out figure comes from the images a threshold was fitted
on. It also reads every held-out image under a mild perturbation (JPEG, contrast, brightness,
blur, noise, 2x upscale, a 4 px replicated border) to show what each rule costs on CAPTCHAs that
vary a little, and ends with a margin sweep (held-out images padded with their own background),
where trust.MAX_ASPECT_ERROR and trust.MAX_FLAT_ROWS come from. --show-unflagged lists the junk
that trust.assess lets through.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from _paths import ROOT, default_data

sys.path.insert(0, str(ROOT))

from edge_runtime import images, trust  # noqa: E402
from edge_runtime.contract import Kind  # noqa: E402
from edge_runtime.decode import decode  # noqa: E402
from edge_runtime.preprocess import prepare  # noqa: E402
from edge_runtime.recognizer import Recognizer  # noqa: E402
from edge_runtime.registry import shipped_models  # noqa: E402

FLAG = 0.5  # the issue's definition of "flagged": rejected, or confidence below 0.5
ACCEPT_IF_CORRECT = "lost"  # category where a correct read is as good as a flag


def label_of(path: Path) -> str:
    """The label a file name gives (as the trainer reads it): the stem before its first '_'."""
    return path.stem.split("_", 1)[0]


@dataclass
class Item:
    """One image read by one model, with every signal a rule may use."""

    group: str  # junk category, "heldout" or "perturbed"
    label: str
    path: str
    text: str
    conf: float
    char_confs: tuple[float, ...]
    probs: np.ndarray = field(repr=False)
    height: int = 0
    width: int = 0
    pixel_std: float = 0.0
    ink: float = 0.0
    edge: float = 0.0
    flat_rows: int = 0  # trust.flat_rows of the prepared pixels
    in_style: bool = False  # a lost CAPTCHA, or a captcha_pkg image the model could read

    @property
    def stats(self) -> trust.ImageStats:
        return trust.ImageStats(self.height, self.width, self.flat_rows)

    @property
    def correct(self) -> bool:
        return self.text == self.label


def read(rec: Recognizer, image: np.ndarray, group: str, label: str, path: str) -> Item:
    cv2 = images.cv2()
    probs = rec.probabilities(image)
    # the confidence the Recognizer reports: tempered by the contract's temperature (1.0: raw)
    d = trust.calibrated(lambda p: decode(p, rec.contract), probs, rec.contract.temperature)
    px = prepare(image, rec.contract.input)
    otsu = cv2.threshold(px, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0]
    edge = float(np.abs(cv2.Sobel(px, cv2.CV_32F, 1, 0)).mean() + np.abs(cv2.Sobel(px, cv2.CV_32F, 0, 1)).mean())
    return Item(group, label, path, d.text, d.confidence, d.char_confidences, probs, image.shape[0], image.shape[1],
                float(px.std()), float((px < otsu).mean()), edge, trust.flat_rows(px))


def perturb(image: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A mild, plausible variation of a CAPTCHA image (k picks which)."""
    cv2 = images.cv2()
    img = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    img = img[:, :, :3]
    f = img.astype(np.float32)
    kind = k % 7
    if kind == 0:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 40])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if kind == 1:
        out = f.mean() + 0.7 * (f - f.mean())
    elif kind == 2:
        out = f + rng.choice([-25.0, 25.0])
    elif kind == 3:
        out = cv2.GaussianBlur(f, (0, 0), 0.7)
    elif kind == 4:
        out = f + rng.normal(0, 6, f.shape)
    elif kind == 5:
        return cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
    else:
        return cv2.copyMakeBorder(img, 4, 4, 4, 4, cv2.BORDER_REPLICATE)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def heldout_paths(model_path: Path, data: Path, synth: Path) -> tuple[list[Path], str]:
    report = model_path.with_suffix(".json")
    names = json.loads(report.read_text()).get("split", {}).get("val_names", []) if report.is_file() else []
    found = [data / n for n in names if (data / n).is_file()]
    if names and len(found) == len(names):
        return found, f"{len(found)} validation images in {data}"
    if synth.is_dir():
        files = sorted(p for p in synth.iterdir() if images.is_image_name(p))
        return files, f"{len(files)} synthetic images in {synth} (validation images not found in {data})"
    return [], f"n/a (no validation images in {data}, no {synth})"


def collect(rec: Recognizer, junk: Path, heldout: list[Path], seed: int, captcha_style: bool,
            lengths: tuple[int, int] | None) -> list[Item]:
    """Every junk image and every held-out image (plain and perturbed) read by ``rec``.
    ``captcha_style``: the model was trained on the ``captcha`` package's images (then captcha_pkg
    images it could read are in its style, not junk)."""
    items = []
    charset = rec.contract.charset
    if (junk / "labels.csv").is_file():
        with open(junk / "labels.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                item = read(rec, images.load(str(junk / row["path"])), row["category"], row["label"], row["path"])
                own = row["category"] == "captcha_pkg" and captcha_style and set(row["label"]) <= set(charset) \
                    and lengths is not None and lengths[0] <= len(row["label"]) <= lengths[1]
                item.in_style = row["category"] == ACCEPT_IF_CORRECT or own
                items.append(item)
    rng = np.random.default_rng(seed)
    for k, p in enumerate(heldout):
        image = images.load(str(p))
        items.append(read(rec, image, "heldout", label_of(p), p.name))
        items.append(read(rec, perturb(image, k, rng), "perturbed", label_of(p), p.name))
    return items


# ---- measures ----------------------------------------------------------------------------------

def ece(conf: np.ndarray, correct: np.ndarray, bins: int = trust.RELIABILITY_BINS) -> float:
    return trust.expected_calibration_error(conf, correct, bins)


def pct(x: float) -> str:
    return "  n/a " if x != x else f"{100 * x:5.1f}%"


def share(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else float("nan")


def lost_outcome(items: list[Item], flagged) -> str:
    """correct / flagged / confidently wrong counts of in-style images (a correct read wins over a flag)."""
    ok = sum(1 for it in items if it.correct)
    fl = sum(1 for it in items if not it.correct and flagged(it))
    bad = len(items) - ok - fl
    return f"{ok}/{fl}/{bad}"


# ---- the candidate rules -------------------------------------------------------------------------

def frame_stats(it: Item, contract) -> dict[str, float]:
    p = np.clip(it.probs.astype(np.float64), 1e-9, 1.0)
    best = p.max(1)
    ent = -(p * np.log(p)).sum(1)
    blank = float((p.argmax(1) == contract.blank_index).mean()) if contract.kind == Kind.CTC else 0.0
    nonblank = best[p.argmax(1) != contract.blank_index] if contract.kind == Kind.CTC else best
    return {"blank_frac": blank, "mean_entropy": float(ent.mean()), "max_entropy": float(ent.max()),
            "min_char_frame": float(nonblank.min()) if len(nonblank) else 0.0}


def fit_low(values: np.ndarray) -> float:
    """A lower threshold that keeps about 99 % of in-distribution values (fitted on one half)."""
    return float(np.quantile(values, 0.01)) if len(values) else 0.0


def fit_range(values: np.ndarray) -> tuple[float, float]:
    """[min, max] of in-distribution values, widened by 10 % of its width on each side."""
    lo, hi = float(values.min()), float(values.max())
    pad = 0.1 * (hi - lo)
    return lo - pad, hi + pad


def fit_temperature(fit: list[Item], contract) -> float:
    """The temperature minimising the binary log-loss of the string confidence against correctness."""
    correct = np.array([it.correct for it in fit], float)
    best, best_loss = 1.0, math.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 41)):
        c = np.clip(np.array([decode(trust.temper(it.probs, t), contract).confidence for it in fit]), 1e-6, 1 - 1e-6)
        loss = -float(np.mean(correct * np.log(c) + (1 - correct) * np.log(1 - c)))
        if loss < best_loss - 1e-12:
            best, best_loss = float(t), loss
    return best


def rules(contract, fit: list[Item]):
    """name -> flagged(item) for every candidate, fitted on ``fit`` (correct held-out reads)."""
    good = [it for it in fit if it.correct] or fit
    fs = {id(it): frame_stats(it, contract) for it in good}
    arr = lambda key: np.array([fs[id(it)][key] for it in good])  # noqa: E731
    attr = lambda key: np.array([getattr(it, key) for it in good])  # noqa: E731
    t_conf = fit_low(attr("conf"))
    t_min = fit_low(np.array([min(it.char_confs) if it.char_confs else 0.0 for it in good]))
    lens = [len(it.label) for it in fit]
    lengths = (min(lens), max(lens))
    ranges = {k: fit_range(attr(k)) for k in ("pixel_std", "ink", "edge")}
    blank_rng = fit_range(arr("blank_frac"))
    t_ent = float(np.quantile(arr("mean_entropy"), 0.99)) * 1.1
    t_maxent = float(np.quantile(arr("max_entropy"), 0.99)) * 1.1
    t_frame = fit_low(arr("min_char_frame"))
    temp = fit_temperature(fit, contract)
    max_rows = int(attr("flat_rows").max()) + 1

    def stat(it, key):
        return frame_stats(it, contract)[key]

    def minchar(it):
        return min(it.char_confs) if it.char_confs else 0.0

    def length(it):
        return not lengths[0] <= len(it.text) <= lengths[1]

    def aspect(it, limit=trust.MAX_ASPECT_ERROR):
        return trust.aspect_error(contract, it.height, it.width) > limit

    def inputs(it):
        return any(not lo <= getattr(it, k) <= hi for k, (lo, hi) in ranges.items())

    def conf_t(it):
        return decode(trust.temper(it.probs, temp), contract).confidence < FLAG

    def margin(it):
        return it.flat_rows > trust.MAX_FLAT_ROWS * contract.input.height

    def recommended(it):
        return trust.assess(contract, it.text, it.conf, it.stats, lengths=lengths).rejected

    def recommended_t(it):
        conf = decode(trust.temper(it.probs, temp), contract).confidence
        return trust.assess(contract, it.text, conf, it.stats, lengths=lengths).rejected

    out = {
        "(a) conf<0.5": lambda it: it.conf < 0.5,
        "(a) conf<0.8": lambda it: it.conf < 0.8,
        "(a) conf<0.9": lambda it: it.conf < 0.9,
        f"(a) conf<fit ~{t_conf:.2f}": lambda it: it.conf < t_conf,
        "(b) min char<0.5": lambda it: minchar(it) < 0.5,
        f"(b) min char<fit ~{t_min:.2f}": lambda it: minchar(it) < t_min,
        f"(c) length∉{lengths[0]}..{lengths[1]} or empty": length,
        "(d) aspect off by >2x": lambda it: aspect(it, 1.0),
        "(d) aspect off by >1.5x": lambda it: aspect(it, math.log2(1.5)),
        f"(d) aspect off by >{2 ** trust.MAX_ASPECT_ERROR:.3g}x (trust)": aspect,
        "(d) pixel std/ink/edge range": inputs,
        f"(d) flat rows top+bottom>{max_rows} (fit)": lambda it: it.flat_rows > max_rows,
        f"(d) flat rows>{trust.MAX_FLAT_ROWS:.0%} of height (trust)": margin,
        "(e) blank fraction range": lambda it: not blank_rng[0] <= stat(it, "blank_frac") <= blank_rng[1],
        "(e) mean entropy>fit": lambda it: stat(it, "mean_entropy") > t_ent,
        "(e) max entropy>fit": lambda it: stat(it, "max_entropy") > t_maxent,
        "(e) min char-frame prob<fit": lambda it: stat(it, "min_char_frame") < t_frame,
        f"(f) temperature T~{temp:.2f}, conf<0.5": conf_t,
        "(c)+(a)0.5": lambda it: length(it) or it.conf < 0.5,
        "(c)+(d)aspect+(a)0.5": lambda it: length(it) or aspect(it) or it.conf < 0.5,
        "(c)+(d)aspect+(d)flat rows": lambda it: length(it) or aspect(it) or margin(it),
        "(c)+(d)aspect+(d)flat rows+(a)0.5 = trust.assess": recommended,
        "  same, aspect limit 2x": lambda it: length(it) or aspect(it, 1.0) or margin(it) or it.conf < 0.5,
        "  same, (a)0.8": lambda it: length(it) or aspect(it) or margin(it) or it.conf < 0.8,
        "  same, +(b)min char<0.5": lambda it: recommended(it) or minchar(it) < 0.5,
        "  same, (f)temperature-scaled conf": recommended_t,
        "  same, +(e)mean entropy": lambda it: recommended(it) or stat(it, "mean_entropy") > t_ent,
        "  same, +(d)pixel range": lambda it: recommended(it) or inputs(it),
    }
    if contract.kind != Kind.CTC:
        for k in [k for k in out if "blank" in k or "char-frame" in k]:
            del out[k]
    return out, temp


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def candidate_table(items: list[Item], contract, seed: int) -> None:
    held = [it for it in items if it.group == "heldout"]
    pert = [it for it in items if it.group == "perturbed"]
    junk = [it for it in items if it.group not in ("heldout", "perturbed") and not it.in_style]
    lost = [it for it in items if it.group == ACCEPT_IF_CORRECT]
    if len(held) < 4:
        print("  candidate rules: n/a (no held-out images to fit on)")
        return
    a, b = halves(len(held), seed)
    folds = []
    for fit_idx, test_idx in ((a, b), (b, a)):
        table, temp = rules(contract, [held[i] for i in fit_idx])
        folds.append((table, test_idx, temp))
    print(f"  candidate rules (2-fold cross-fit on the held-out halves {len(a)}/{len(b)}; junk and lost: mean of the folds;"
          f" 'fit' thresholds shown from fold 1):")
    print(f"  {'rule':<50} {'junk flagged':>12} {'held-out correct&kept':>22} {'perturbed correct&kept':>23}"
          f" {'lost ok/flag/WRONG':>19}")
    names1 = list(folds[0][0])
    for n, name in enumerate(names1):
        jf, kept, pk, lo = [], [], [], []
        for table, test_idx, _ in folds:
            rule = list(table.values())[n]
            jf.append(share(rule(it) for it in junk))
            kept += [held[i].correct and not rule(held[i]) for i in test_idx]
            pk += [pert[i].correct and not rule(pert[i]) for i in test_idx]
            lo.append(lost_outcome(lost, rule))
        print(f"  {name:<50} {pct(float(np.mean(jf))):>12} {pct(share(kept)):>22} {pct(share(pk)):>23} {lo[0]:>9}|{lo[1]:<9}")
    # calibration: does a fitted temperature improve ECE on the other half?
    e1, eT, temps = [], [], []
    for table, test_idx, temp in folds:
        test = [held[i] for i in test_idx]
        correct = np.array([it.correct for it in test], float)
        e1 += [(np.array([it.conf for it in test]), correct)]
        eT += [(np.array([decode(trust.temper(it.probs, temp), contract).confidence for it in test]), correct)]
        temps.append(temp)
    c1, k1 = np.concatenate([c for c, _ in e1]), np.concatenate([k for _, k in e1])
    cT = np.concatenate([c for c, _ in eT])
    print(f"  temperature fitted per fold: {', '.join(f'{t:.2f}' for t in temps)}; held-out ECE (test halves) "
          f"T=1: {ece(c1, k1):.4f}  fitted T: {ece(cT, k1):.4f}  (errors in held-out: {int(len(k1) - k1.sum())}/{len(k1)})")


def report(name: str, rec: Recognizer, items: list[Item], heldout_note: str, lengths: tuple[int, int] | None,
           lengths_note: str) -> None:
    c = rec.contract
    print(f"\n== {name}  ({c.kind}, charset {c.charset}, input {c.input.height}x{c.input.width}, "
          f"lengths {'%d..%d' % lengths if lengths else 'unknown'} {lengths_note})")
    print(f"  held-out: {heldout_note}")

    def flag_plain(it: Item) -> bool:
        return it.conf < FLAG

    def flag_trust(it: Item) -> bool:
        return trust.assess(c, it.text, it.conf, it.stats, lengths=lengths).rejected

    print(f"  {'junk category':<22} {'n':>4} {'flagged conf<0.5':>17} {'flagged trust':>14}")
    groups = sorted({it.group for it in items} - {"heldout", "perturbed"})
    for g in groups:
        rows = [it for it in items if it.group == g and not it.in_style]
        if rows:
            print(f"  {g:<22} {len(rows):>4} {pct(share(map(flag_plain, rows))):>17} {pct(share(map(flag_trust, rows))):>14}")
    junk = [it for it in items if it.group not in ("heldout", "perturbed") and not it.in_style]
    print(f"  {'all junk':<22} {len(junk):>4} {pct(share(map(flag_plain, junk))):>17} {pct(share(map(flag_trust, junk))):>14}")
    for g in groups:
        lost = [it for it in items if it.group == g and it.in_style]
        if lost:
            name = g if g == ACCEPT_IF_CORRECT else f"{g} (in style)"
            print(f"  {name:<22} {len(lost):>4} correct/flagged/CONFIDENTLY WRONG: "
                  f"conf<0.5 {lost_outcome(lost, flag_plain)}, trust {lost_outcome(lost, flag_trust)}")
    held = [it for it in items if it.group == "heldout"]
    if not held:
        print("  held-out: correct n/a, correct & not flagged n/a, ECE n/a")
        return
    conf = np.array([it.conf for it in held])
    correct = np.array([it.correct for it in held], float)
    print(f"  held-out {len(held)}: correct {pct(correct.mean())}, correct & not flagged: conf<0.5 "
          f"{pct(share(it.correct and not flag_plain(it) for it in held))}, trust "
          f"{pct(share(it.correct and not flag_trust(it) for it in held))}; ECE {ece(conf, correct):.4f} "
          f"(mean confidence {conf.mean():.3f})")
    both = held + junk
    verdicts = [trust.assess(c, it.text, it.conf, it.stats, lengths=lengths) for it in both]
    k = np.array([it.correct and not it.in_style and it.group == "heldout" for it in both], float)
    print(f"  ECE over held-out + junk ({len(both)}, junk counted wrong): raw confidence "
          f"{ece(np.array([it.conf for it in both]), k):.4f}, trust.Verdict.confidence "
          f"{ece(np.array([v.confidence for v in verdicts]), k):.4f}")
    pert = [it for it in items if it.group == "perturbed"]
    print(f"  perturbed held-out {len(pert)}: correct {pct(share(it.correct for it in pert))}, correct & not flagged: "
          f"conf<0.5 {pct(share(it.correct and not flag_plain(it) for it in pert))}, trust "
          f"{pct(share(it.correct and not flag_trust(it) for it in pert))}")


def show_unflagged(rec: Recognizer, items: list[Item], lengths) -> None:
    """Every junk image trust lets through, and every lost CAPTCHA it lets through misread."""
    for it in items:
        if it.group in ("heldout", "perturbed") or (it.in_style and it.correct):
            continue
        if not trust.assess(rec.contract, it.text, it.conf, it.stats, lengths=lengths).rejected:
            print(f"    not flagged: {it.path} {it.width}x{it.height} drawn {it.label!r} read {it.text!r} "
                  f"confidence {it.conf:.3f} chars {[round(x, 2) for x in it.char_confs]}")


def margin_sweep(rec: Recognizer, heldout: list[Path], lengths) -> None:
    """How the model reads held-out CAPTCHAs padded with their own background colour: where
    trust.MAX_ASPECT_ERROR and trust.MAX_FLAT_ROWS come from."""
    cv2 = images.cv2()
    c = rec.contract
    paths = heldout[:60]
    print(f"  margin sweep ({len(paths)} held-out images padded with their median colour):")
    print(f"    {'padding t/b, l/r':<17} {'size':>7} {'aspect':>6} {'flat rows':>9} {'correct':>7} "
          f"{'WRONG length+conf':>18} {'WRONG trust':>11} {'correct&kept trust':>18}")
    for t, l in ((0, 0), (2, 2), (5, 5), (10, 0), (15, 0), (25, 0), (0, 20), (0, 50), (0, 100), (10, 10), (20, 20)):
        ok = wrong_basic = wrong = kept = 0
        rows = []
        for p in paths:
            im = images.load(str(p))
            im = cv2.cvtColor(im, cv2.COLOR_GRAY2BGR) if im.ndim == 2 else im[:, :, :3]
            bg = tuple(int(x) for x in np.median(im.reshape(-1, 3), 0))
            padded = cv2.copyMakeBorder(im, t, t, l, l, cv2.BORDER_CONSTANT, value=bg)
            h, w = padded.shape[:2]
            pred = rec.recognize(padded)
            stats = trust.image_stats(padded.shape[0], padded.shape[1], prepare(padded, c.input))
            rows.append(stats.flat_rows)
            good = pred.text == label_of(p)
            v = trust.assess(c, pred.text, pred.confidence, stats, lengths=lengths)
            shaped = trust.ImageStats(c.input.height, c.input.width)  # as if aspect and margin were fine
            basic = trust.assess(c, pred.text, pred.confidence, shaped, lengths=lengths).rejected
            ok += good
            wrong_basic += not good and not basic
            wrong += not good and not v.rejected
            kept += good and not v.rejected
        n = len(paths)
        print(f"    {f'{t}px, {l}px':<17} {f'{w}x{h}':>7} {trust.aspect_error(c, h, w):6.2f} {int(np.median(rows)):>9} "
              f"{f'{ok}/{n}':>7} {f'{wrong_basic}/{n}':>18} {f'{wrong}/{n}':>11} {f'{kept}/{n}':>18}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="model name or file (repeatable; default: every shipped model)")
    ap.add_argument("--junk", default=str(ROOT / "data" / "junk"), help="the corpus of scripts/make_junk.py")
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--synth-data", default=str(ROOT / "data" / "synth36-test"))
    ap.add_argument("--rules", action="store_true", help="also measure the candidate rejection rules")
    ap.add_argument("--show-unflagged", action="store_true", help="list the junk that trust.assess lets through")
    ap.add_argument("--seed", type=int, default=0, help="seed of the held-out halves and the perturbations")
    args = ap.parse_args(argv)
    junk = Path(args.junk)
    if not (junk / "labels.csv").is_file():
        print(f"no junk corpus in {junk}: run python scripts/make_junk.py --out {junk}", file=sys.stderr)
        return 2
    models = args.model or list(shipped_models())
    for m in models:
        rec = Recognizer.from_file(m)
        held, note = heldout_paths(rec.model.path, Path(args.data), Path(args.synth_data))
        lengths, lengths_note = rec.contract.length_range, "(from the contract)"
        if lengths is None and held:
            n = [len(label_of(p)) for p in held]
            lengths, lengths_note = (min(n), max(n)), "(from the held-out labels: the contract does not say)"
        synthetic = bool(held) and Path(args.synth_data) in held[0].parents
        items = collect(rec, junk, held, args.seed, synthetic, lengths)
        report(m, rec, items, note, lengths, lengths_note)
        if args.show_unflagged:
            show_unflagged(rec, items, lengths)
        if args.rules:
            candidate_table(items, rec.contract, args.seed)
            if held and lengths:
                margin_sweep(rec, held, lengths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
