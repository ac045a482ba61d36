"""Our own renderer (trainer.render): seeded development styles that keep their charset, lengths
and size; the mixed pre-training corpus through `captcha-train synth --style`; the make_styles
script's disjoint train/test seeds; and what fine-tuning takes from a base (class by class
output weights)."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer import render

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import holdout_styles  # noqa: E402  (a script's module, as make_styles.py imports it)
from trainer.data import label_from_name
from trainer.train import map_classes

ROOT = Path(__file__).resolve().parents[2]


def test_fonts_are_text_fonts():
    fonts = render.fonts()
    assert fonts and all(Path(f).suffix.lower() in (".ttf", ".otf") for f in fonts)
    assert not any(part in Path(f).name.lower() for f in fonts for part in render.NOT_TEXT)


@pytest.mark.parametrize("name", sorted(render.STYLES))
def test_every_style_is_seeded_and_keeps_its_charset_lengths_and_size(name):
    style = render.STYLES[name]
    a = [style.sample(np.random.default_rng(3)) for _ in range(1)] + [style.sample(np.random.default_rng(4))]
    b = [style.sample(np.random.default_rng(3))]
    assert np.array_equal(a[0][0], b[0][0]) and a[0][1] == b[0][1]  # same seed, same picture and label
    assert not np.array_equal(a[0][0], a[1][0])
    look = style.looks(np.random.default_rng(0))
    for image, label in a:
        assert image.dtype == np.uint8 and image.shape == (look.height, look.width, 3)
        assert set(label) <= set(style.charset) and style.lengths[0] <= len(label) <= style.lengths[1]
        assert image.std() > 10  # something is drawn


def test_draw_puts_ink_where_the_text_is():
    look = render.Look(height=50, width=200, rotation=0, paper=(255, 255, 255), ink_colour=(0, 0, 0))
    blank = render.draw(look, " ", np.random.default_rng(0))
    text = render.draw(look, "W8W8", np.random.default_rng(0))
    assert blank.min() == 255 and (text < 128).mean() > 0.05


def test_synth_mixed_and_style_folders(train_cli, tmp_path):
    out = tmp_path / "mixed"
    train_cli("synth", "--out", out, "--count", 6, "--style", "mixed", "--charset", render.ALNUM, "--length", "3-8",
              "--seed", 2)
    files = sorted(out.glob("*.png"))
    assert len(files) == 6 and len({cv2.imread(str(p)).shape for p in files}) > 1  # random sizes
    assert all(set(label_from_name(p)) <= set(render.ALNUM) for p in files)
    tiles = tmp_path / "tiles"
    train_cli("synth", "--out", tiles, "--count", 3, "--style", "tiles", "--charset", "ABC", "--length", 4)
    assert {cv2.imread(str(p)).shape for p in tiles.glob("*.png")} == {(50, 160, 3)}
    package = tmp_path / "package"  # a style drawn by the captcha package keeps that renderer
    train_cli("synth", "--out", package, "--count", 2, "--style", "package", "--charset", "abc", "--length", 4)
    assert {cv2.imread(str(p)).shape for p in package.glob("*.png")} == {(60, 160, 3)}
    bad = train_cli("synth", "--out", tmp_path / "x", "--style", "nope", code=2)
    assert "nope" in bad.output


def test_make_styles_train_and_test_come_from_different_seeds(tmp_path):
    cmd = [sys.executable, str(ROOT / "scripts" / "make_styles.py"), "--out", str(tmp_path), "--styles", "inverse",
           "--train", "5", "--test", "5"]
    subprocess.run(cmd, check=True, capture_output=True)
    train = {p.read_bytes() for p in (tmp_path / "inverse" / "train").glob("*.png")}
    test = {p.read_bytes() for p in (tmp_path / "inverse" / "test").glob("*.png")}
    assert len(train) == 5 and len(test) == 5 and not train & test
    again = subprocess.run(cmd, check=True, capture_output=True, text=True).stderr
    assert "already there" in again


@pytest.mark.parametrize("name", sorted(holdout_styles.STYLES))
def test_every_held_out_style_is_seeded_and_draws_its_label(name):
    style = holdout_styles.STYLES[name]
    (image, label), (again, same) = (style.sample(np.random.default_rng(s)) for s in (3, 3))
    other, _ = style.sample(np.random.default_rng(4))
    assert np.array_equal(image, again) and label == same and not np.array_equal(image, other)
    assert image.dtype == np.uint8 and image.shape == (style.height, style.width, 3)
    assert set(label) <= set(style.charset) and style.lengths[0] <= len(label) <= style.lengths[1]
    assert image.std() > 10  # something is drawn


def test_held_out_glyphs_put_ink_where_the_text_is():
    rng = np.random.default_rng(0)
    w = holdout_styles.glyph("W", holdout_styles.FACES[0], 30, 2, 0.0)
    assert w.shape[0] >= 25 and (w > 128).mean() > 0.1  # cropped to its ink, about 30 pixels high
    assert holdout_styles.glyph(" ", holdout_styles.FACES[0], 30, 2, 0.0).max() == 0
    mask = holdout_styles.place([w, w, w], 50, 170, 0.2, rng)
    assert mask.shape == (50, 170) and (mask > 128).sum() >= 3 * (w > 128).sum() * 0.5


def test_every_seven_segment_character_lights_its_own_segments():
    lit = {char: frozenset(segments) for char, segments in holdout_styles.SEGMENTS.items()}
    assert len(set(lit.values())) == len(lit)  # no two characters look alike on the display
    assert set().union(*lit.values()) == set(holdout_styles.SEGMENT_ENDS)
    assert set(holdout_styles.STYLES["segments"].charset) == set(lit)


def test_make_styles_holdout_writes_the_held_out_set(tmp_path):
    cmd = [sys.executable, str(ROOT / "scripts" / "make_styles.py"), "--holdout", "--out", str(tmp_path),
           "--train", "3", "--test", "3"]
    subprocess.run(cmd, check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(holdout_styles.STYLES)
    train = {p.read_bytes() for p in (tmp_path / "smudge" / "train").glob("*.png")}
    test = {p.read_bytes() for p in (tmp_path / "smudge" / "test").glob("*.png")}
    assert len(train) == 3 and len(test) == 3 and not train & test
    wrong = subprocess.run(cmd + ["--styles", "ripple"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "hershey" in wrong.stderr  # the development styles are not held out
    bench = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_styles.py"), "--holdout", "--styles-dir",
                            str(tmp_path / "none"), "--wilhelmy", "none"], capture_output=True, text=True)
    assert bench.returncode == 2  # bench_styles --holdout takes every held-out style and says how to make them
    assert ", ".join(holdout_styles.STYLES) in bench.stderr and "make_styles.py --holdout" in bench.stderr


def test_map_classes_copies_the_shared_characters():
    source_chars, target_chars = ["a", "b", "c", ""], ["c", "x", "a", ""]
    kernel = np.arange(2 * 4, dtype=np.float32).reshape(2, 4)
    bias = np.array([10, 11, 12, 13], np.float32)
    fresh = [np.full((2, 4), -1, np.float32), np.full(4, -1, np.float32)]
    k, b = map_classes([kernel, bias], fresh, source_chars, target_chars)
    assert b.tolist() == [12, -1, 10, 13]  # c, x (new: kept), a, blank
    assert k[:, 0].tolist() == kernel[:, 2].tolist() and k[:, 1].tolist() == [-1, -1]
    assert map_classes([kernel], [np.zeros((3, 4))], source_chars, target_chars) is None  # other shapes
