"""captcha-train synth: seeded images named LABEL_SEED-INDEX.png, reruns that rewrite instead of
adding, repeated labels kept as their own files, and bad options as one line with exit 2."""

import cv2
import pytest

from edge_runtime.contract import InputSpec
from trainer.data import label_from_name, load_folder


def test_synth_renders_seeded_labelled_images(train_cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        train_cli("synth", "--out", out, "--count", 12, "--charset", "abc123", "--length", "4-6", "--seed", 7)
    names = sorted(p.name for p in a.glob("*.png"))
    assert len(names) == 12 and names == sorted(p.name for p in b.glob("*.png"))
    for p in a.glob("*.png"):
        label = label_from_name(p)
        assert set(label) <= set("abc123") and 4 <= len(label) <= 6 and p.name.startswith(f"{label}_7-")
        assert (a / p.name).read_bytes() == (b / p.name).read_bytes()  # same seed, same pixels
        assert cv2.imread(str(p)).shape == (50, 200, 3)


def test_a_rerun_rewrites_instead_of_adding(train_cli, tmp_path):
    out = tmp_path / "s"
    train_cli("synth", "--out", out, "--count", 6, "--charset", "abc123", "--seed", 3)
    first = {p.name: p.read_bytes() for p in out.glob("*.png")}
    train_cli("synth", "--out", out, "--count", 6, "--charset", "abc123", "--seed", 3)
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == first
    # Same seed, other labels: the 6 slots are replaced, not doubled; another seed adds.
    log = train_cli("synth", "--out", out, "--count", 6, "--charset", "xyz", "--length", 3, "--seed", 3).stdout
    assert len(list(out.glob("*.png"))) == 6 and "replaced 6 images of seed 3" in log
    train_cli("synth", "--out", out, "--count", 2, "--charset", "xyz", "--seed", 4)
    assert len(list(out.glob("*.png"))) == 8


def test_repeated_labels_are_separate_images(train_cli, tmp_path):
    out = tmp_path / "tiny"
    train_cli("synth", "--out", out, "--count", 7, "--charset", "ab", "--length", 1, "--seed", 0, "--size", "20x40")
    ds = load_folder(out, InputSpec(20, 40))
    assert len(ds.names) == 7 and set(ds.labels) == {"a", "b"} and ds.skipped == []


@pytest.mark.parametrize("args, fragment", [
    (["--length", "0"], "expected a label length of 1 or more, got 0"),
    (["--length", "6-4"], "low to high (such as 4-6), got 6-4"),
    (["--length", "five"], "expected a label length such as 5 or a range such as 4-6, got 'five'"),
    (["--charset", "AB/C"], "got '/' in 'AB/C'"),
    (["--charset", "ab_c d"], "got ' _' in 'ab_c d'"),
    (["--size", "0x10"], "expected HEIGHTxWIDTH"),
])
def test_bad_options_are_one_line_exit_2(train_cli, tmp_path, args, fragment):
    result = train_cli("synth", "--out", tmp_path / "s", "--count", 2, *args, code=2)
    assert fragment in result.stderr and "Traceback" not in result.output and not (tmp_path / "s").exists()
