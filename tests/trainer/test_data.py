"""Labelled folders, skipped and missing images, the seeded split and folds (labels files and
file-name conventions: test_labels.py)."""

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.contract import InputSpec
from trainer.data import (NOT_IN_FOLDER, Skipped, evenly, fold_names, infer_charset, label_from_name, load_folder,
                          missing_message, split_names)
from trainer.errors import DataError, TrainerError

SPEC = InputSpec(50, 200)


def test_loads_images_in_name_order(synth_data):
    ds = load_folder(synth_data, SPEC)
    assert len(ds.names) == 48 and ds.names == sorted(ds.names)
    assert ds.pixels.shape == (48, 50, 200) and ds.pixels.dtype == np.uint8
    assert ds.labels == [label_from_name(n) for n in ds.names] and all(len(l) == 5 for l in ds.labels)
    assert ds.skipped == []


def test_edge_cases_are_reported_and_skipped(synth_data, tmp_path):
    src = sorted(synth_data.glob("*.png"))
    for p in src[:3]:
        shutil.copy(p, tmp_path / p.name)
    gray = cv2.imread(str(src[0]), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / (src[0].stem + ".tif")), gray)            # same label, another image: kept
    cv2.imwrite(str(tmp_path / "zz9!q.bmp"), gray)                      # outside the charset
    cv2.imwrite(str(tmp_path / "bcd.png"), cv2.resize(gray, (60, 20)))   # short label, other size
    (tmp_path / "xxxxx.png").write_bytes(b"not an image")               # unreadable
    (tmp_path / "notes.txt").write_text("ignored: not an image name")
    charset = infer_charset([label_from_name(p) for p in src])
    ds = load_folder(tmp_path, SPEC, charset=charset, lengths=(5, 5))
    assert ds.names == sorted([p.name for p in src[:3]] + [src[0].stem + ".tif"])
    assert ds.labels.count(label_from_name(src[0])) == 2
    reasons = {s.name: s.reason for s in ds.skipped}
    assert "outside the charset" in reasons["zz9!q.bmp"]
    assert "exactly 5" in reasons["bcd.png"]
    assert "outside the charset" in reasons["xxxxx.png"] or "unreadable" in reasons["xxxxx.png"]
    # Variable length (CTC) keeps the short label and resizes its image.
    ds2 = load_folder(tmp_path, SPEC, charset=charset + "x")
    assert "bcd" in ds2.labels and ds2.pixels.shape[1:] == (50, 200)
    assert "unreadable" in {s.name: s.reason for s in ds2.skipped}["xxxxx.png"]


def test_split_is_seeded_disjoint_and_complete():
    names = [f"{i:05d}.png" for i in range(863)]
    train, val = split_names(names, 0.15, seed=0)
    assert len(val) == 129 and len(train) == 734
    assert not set(train) & set(val) and set(train) | set(val) == set(names)
    assert split_names(list(reversed(names)), 0.15, seed=0) == (train, val)
    assert split_names(names, 0.15, seed=1)[1] != val


def test_folds_validate_every_name_exactly_once():
    names = [f"{i:05d}.png" for i in range(863)]
    vals = [fold_names(names, 5, k, seed=0)[1] for k in range(1, 6)]
    assert sorted(n for v in vals for n in v) == names
    assert sorted(len(v) for v in vals) == [172, 172, 173, 173, 173]
    train, val = fold_names(names, 5, 3, seed=0)
    assert not set(train) & set(val) and len(train) + len(val) == 863
    assert fold_names(names, 5, 3, seed=1)[1] != val
    with pytest.raises(DataError, match="fold from 1 to 5"):
        fold_names(names, 5, 6, seed=0)


def test_missing_folder():
    with pytest.raises(DataError, match="expected a folder"):
        load_folder("/no/such/folder", SPEC)
    assert issubclass(DataError, TrainerError)


def test_names_that_cannot_be_read_are_reported_not_dropped(own_data):
    names = sorted(p.name for p in own_data.glob("*.png"))
    (own_data / names[0]).unlink()
    (own_data / names[1]).write_bytes(b"not an image")
    wanted = names[:4] + ["zzzzz.png"]
    ds = load_folder(own_data, SPEC, names=wanted)
    assert ds.names == names[2:4]
    reasons = {s.name: s.reason for s in ds.skipped}
    assert reasons[names[0]] == NOT_IN_FOLDER and reasons["zzzzz.png"] == NOT_IN_FOLDER
    assert reasons[names[1]].startswith("unreadable image")
    # A subset of a whole folder says the same, with the reason the folder gave.
    sub = load_folder(own_data, SPEC).subset(wanted)
    assert sub.names == names[2:4] and {s.name: s.reason for s in sub.skipped} == reasons
    line = missing_message(sub.skipped, "validation images listed in split.json")
    assert line.startswith("3 validation images listed in split.json could not be read: ") and "zzzzz.png" in line
    assert missing_message([Skipped(f"{i}.png", "x") for i in range(12)], "images").endswith("9.png, ...")


@pytest.mark.e2e
def test_the_real_folder_splits_as_documented(wilhelmy):
    ds = load_folder(wilhelmy, SPEC)
    assert len(ds.names) == 863 and ds.skipped == []
    train, val = split_names(ds.names, 0.15, seed=0)
    assert (len(train), len(val)) == (734, 129)


#: The split of a plain folder of 863 stem-labelled images (stem_folder below), pinned from the
#: trainer before labels files and LABEL_anything names existed: the names, and so the split,
#: must not change (shipped models record their split's val_names_sha256).
PINNED_VAL_SHA256 = "4cc9c8c64edc9499800936d28e565fe324a5169dcf9fbb950b23615465fcaea4"
PINNED_FOLD3_SHA256 = "9edded8bd0b69c7c43d03b9c713527441b7d47699ddb0de39ac3c2549a055467"


def stem_folder(folder, count=863, seed=13):
    """``count`` tiny images named <label>.png: 5 characters of the real charset, as the Wilhelmy folder."""
    rng = np.random.default_rng(seed)
    labels = set()
    while len(labels) < count:
        labels.add("".join(rng.choice(list("2345678bcdefgmnpwxy"), 5)))
    img = np.full((8, 32), 255, np.uint8)
    folder.mkdir()
    for label in sorted(labels):
        cv2.imwrite(str(folder / f"{label}.png"), img)
    return folder


def _sha(names):
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def test_a_plain_stem_folder_splits_exactly_as_before(tmp_path):
    from trainer.config import RunConfig
    from trainer.data import find_labels
    from trainer.runs import Run
    from trainer.train import split_for_run

    data = stem_folder(tmp_path / "data")
    config = RunConfig(arch="convctc-fast", data_dir=str(data), kind="ctc", charset="2345678bcdefgmnpwxy",
                       label_length=None, height=50, width=200, seed=0, labels=find_labels(data))
    assert config.labels is None  # no labels file: file names
    run = Run(tmp_path / "run")
    run.start(config)
    train, val = split_for_run(config, run, log=lambda m: None)
    split = run.split
    assert (len(train.names), len(val.names)) == (734, 129) and split["val"] == val.names
    assert all("/" not in n and n.endswith(".png") for n in split["val"])  # names are still file names
    assert _sha(split["val"]) == PINNED_VAL_SHA256
    assert _sha(fold_names(train.names + val.names, 5, 3, seed=0)[1]) == PINNED_FOLD3_SHA256


@pytest.mark.e2e
def test_the_real_split_is_the_one_the_shipped_models_record(wilhelmy):
    from pathlib import Path

    shipped = json.loads((Path(__file__).parents[2] / "converted" / "convctc-fast-int8.json").read_text())["split"]
    ds = load_folder(wilhelmy, SPEC)
    assert _sha(split_names(ds.names, 0.15, seed=0)[1]) == shipped["val_names_sha256"]


@pytest.mark.parametrize("count, sample, taken", [(1000, 200, 200), (399, 200, 200), (563, 500, 500), (50, 200, 50)])
def test_evenly_takes_up_to_the_sample_spread_over_the_folder(count, sample, taken):
    paths = [Path(f"{i:05d}.png") for i in range(count)]
    chosen = evenly(paths, sample)
    assert len(chosen) == taken and chosen[0] == paths[0]
    assert len(set(chosen)) == taken and chosen == sorted(chosen)

