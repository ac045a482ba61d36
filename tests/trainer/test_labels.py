"""Where labels come from (file names, LABEL_anything names, labels.csv/.tsv/.txt, --labels),
repeated texts, case, the report printed before training, and bad input as one clear line
before any training (exit 1)."""

import cv2
import numpy as np
import pytest

from trainer.data import (EMPTY, NOT_IN_FOLDER, NOT_LISTED, OUTSIDE, UNREADABLE, WHITESPACE, Skipped, find_labels,
                          fold_charset, infer_charset, label_folder, label_report, skipped_summary)
from trainer.errors import DataError

IMAGE = np.full((12, 40), 255, np.uint8)


def blank(folder, *names):
    """Tiny readable images at these paths under ``folder``."""
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), IMAGE)
    return folder


def pairs(labelled):
    return dict(zip(labelled.names, labelled.labels))


def test_file_names_give_the_stem_or_the_text_before_the_first_underscore(tmp_path):
    blank(tmp_path, "ab12.png", "ab12_2.png", "cd34_x_y.jpg", "_nolabel.png", "ab 12.png")
    found = label_folder(tmp_path)
    assert found.source == "file names"
    assert pairs(found) == {"ab12.png": "ab12", "ab12_2.png": "ab12", "cd34_x_y.jpg": "cd34"}
    assert {s.name: s.kind for s in found.skipped} == {"_nolabel.png": EMPTY, "ab 12.png": WHITESPACE}
    assert infer_charset(found.labels) == "1234abcd"  # no '_', no space


@pytest.mark.parametrize("file, text", [
    ("labels.csv", 'path,label\na.png,Ab1\n"sub/b c.png","x,y"\n'),
    ("labels.tsv", "a.png\tAb1\n\n# a comment\nsub/b c.png\t x,y \n"),
    ("labels.txt", "image label\na.png, Ab1\r\nsub/b c.png\tx,y\n"),
    ("labels.txt", "a.png Ab1\nsub\\b c.png\tx,y\n"),
])
def test_labels_files_in_the_folder(tmp_path, file, text):
    blank(tmp_path, "a.png", "sub/b c.png", "other_1.png")
    (tmp_path / file).write_text(text)
    found = label_folder(tmp_path)
    assert found.source == file and pairs(found) == {"a.png": "Ab1", "sub/b c.png": "x,y"}
    assert [(s.name, s.kind) for s in found.skipped] == [("other_1.png", NOT_LISTED)]


def test_precedence_labels_option_then_the_folder_file_then_names(tmp_path):
    data = blank(tmp_path / "data", "abc_1.png")
    assert find_labels(data) is None and label_folder(data).labels == ["abc"]
    (data / "labels.txt").write_text("abc_1.png\tXYZ\n")
    assert find_labels(data) == "labels.txt" and label_folder(data).labels == ["XYZ"]
    (tmp_path / "mine.csv").write_text("data/abc_1.png,QQ\n")
    mine = find_labels(data, tmp_path / "mine.csv")
    assert mine == (tmp_path / "mine.csv").as_posix() and label_folder(data, mine).labels == ["QQ"]
    assert label_folder(data, None).labels == ["abc"]  # None: file names, even with a labels file there
    (data / "labels.csv").write_text("abc_1.png,R\n")
    with pytest.raises(DataError, match="at most one labels file in .* found labels.csv and labels.txt; choose one"):
        find_labels(data)


def test_dddd_trainer_layout_labels_txt_beside_images(tmp_path):
    blank(tmp_path, "images/a_1.png", "images/b_2.png")
    (tmp_path / "labels.txt").write_text("a_1.png\tQ7\nb_2.png\tQ7\n")
    assert pairs(label_folder(tmp_path)) == {"images/a_1.png": "Q7", "images/b_2.png": "Q7"}


def test_the_same_text_on_different_images_is_kept_and_case_is_kept_unless_folded(tmp_path):
    blank(tmp_path, "1.png", "2.png", "3.png")
    (tmp_path / "labels.csv").write_text("1.png,Ab\n2.png,Ab\n3.png,aB\n")
    found = label_folder(tmp_path)
    assert found.labels == ["Ab", "Ab", "aB"]
    report = label_report(found.labels, infer_charset(found.labels))
    assert any(line.startswith("note: 2 letters occur in both cases (a/A, b/B)") for line in report)
    assert label_folder(tmp_path, ignore_case=True).labels == ["ab"] * 3
    assert label_folder(tmp_path, ignore_case=True, charset="AB").skipped == []
    assert fold_charset("AbBaC9") == "abc9"


def test_report_counts_every_character_and_warns_about_rare_ones():
    lines = label_report(["ab"] * 12 + ["abc"], "abcd", "labels.csv")
    assert lines[0] == "13 labelled images (labels from labels.csv); label lengths 2: 12, 3: 1"
    assert lines[1] == "charset 'abcd', 4 characters; count per character:"
    assert lines[2] == "  'a' 13  'b' 13  'c' 1  'd' 0"
    assert lines[3].startswith("warning: 2 rare characters, seen fewer than 10 times: 'c' 1, 'd' 0;")


def test_skipped_images_are_summarised_by_kind_not_listed_one_by_one():
    skipped = [Skipped(f"{i}.png", f"label 'x{i}' has characters 'x' outside the charset", OUTSIDE) for i in range(7)]
    skipped += [Skipped("u.png", "unreadable image: expected PNG data", UNREADABLE), Skipped("v.png", NOT_IN_FOLDER)]
    assert skipped_summary(skipped, where="skipped.json") == [
        "skipped 9 images (every one in skipped.json):",
        "  7 characters outside the charset: 0.png (label 'x0' has characters 'x' outside the charset), 1.png, 2.png, and 4 more",
        "  1 unreadable image: u.png (unreadable image: expected PNG data)",
        "  1 not in the folder: v.png",
    ]
    assert skipped_summary([]) == []


def test_bad_labels_files_fail_whole_with_line_numbers(tmp_path):
    blank(tmp_path, "a.png", "b.png")
    (tmp_path / "labels.tsv").write_text("a.png\tA\nb.png B\nc.txt\tC\n\nb.png\t\na.png\tA2\n")
    with pytest.raises(DataError) as bad:
        label_folder(tmp_path)
    message = str(bad.value)
    assert message.startswith(f"expected lines of PATH<TAB>LABEL in {tmp_path / 'labels.tsv'}, got 4 malformed: ")
    for fragment in ("line 2 'b.png B' (no separator)", "line 3 'c.txt\\tC' (not an image name)", "line 5 'b.png' (no label)",
                     "line 6 'a.png\\tA2' (a.png already listed on line 1)"):
        assert fragment in message
    (tmp_path / "labels.tsv").write_text("a.png\tA\ngone.png\tB\nsub/x.png\tC\n")
    with pytest.raises(DataError, match=r"lists in .*, got 2 missing: line 2 gone.png, line 3 sub/x.png$"):
        label_folder(tmp_path)
    # Reading only some names (a run's split), a missing image is skipped, not fatal.
    some = label_folder(tmp_path, names=["a.png", "gone.png"])
    assert some.names == ["a.png"] and [(s.name, s.kind) for s in some.skipped] == [("gone.png", NOT_IN_FOLDER)]
    (tmp_path / "labels.tsv").write_text("../a.png\tA\n")
    with pytest.raises(DataError, match=r"got 1 outside the data folder .*: line 1 \.\./a\.png"):
        label_folder(tmp_path)


@pytest.mark.parametrize("files, labels, args, fragment", [
    ({}, None, [], "expected labelled images (.bmp, "),
    ({"_a.png": 0, "_b.png": 0}, None, [], "found none: 2 empty label (e.g. _a.png)"),
    ({"x.png": 0}, ("labels.tsv", "x.png\tab\ny.png\tcd\n"), [], "got 1 missing: line 2 y.png"),
    ({"x.png": 0}, ("labels.txt", "x.png\n"), [], "PATH LABEL (tab, comma or space between) in "),
    ({"aaa.png": 0, "aa_2.png": 0}, None, [], "expected at least 2 different characters in the charset, got 1: 'a'"),
    ({"ab.png": 0}, None, ["--charset", "xy"], "found none: 1 characters outside the charset (e.g. ab.png)"),
    ({"ab.png": 0}, None, ["--charset", "bB", "--ignore-case"], "got 1: 'b'"),
])
def test_bad_input_is_one_line_before_training(train_cli, tiny, tmp_path, files, labels, args, fragment):
    data = blank(tmp_path / "data", *files)
    data.mkdir(exist_ok=True)
    if labels:
        (data / labels[0]).write_text(labels[1])
    result = train_cli("fit", "--data", data, "--out", tmp_path / "run", *tiny, *args, code=1)
    assert result.stderr.startswith("Error: expected ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr and not (tmp_path / "run").exists()


def test_evaluate_takes_labels_only_with_data(train_cli, tmp_path):
    (tmp_path / "labels.csv").write_text("a.png,ab\n")
    result = train_cli("evaluate", tmp_path, "--labels", tmp_path / "labels.csv", code=2)
    assert "expected --data DIR with --labels FILE" in result.stderr
