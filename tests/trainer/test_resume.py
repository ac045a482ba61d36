"""A folder labelled by a labels file (images in a subfolder, names that say nothing) fits, with
the charset and the skipped images reported before training; resuming restores the optimizer
(step count, Adam moments, learning-rate schedule) instead of starting it afresh."""

import re
import shutil
import warnings

import h5py
import pytest

from trainer.runs import Run


@pytest.fixture(scope="module")
def labelled_data(synth_data, tmp_path_factory):
    """synth_data's images as imgs/img000.png... labelled by labels.csv, one listed image that
    cannot be read, and one image the file does not list."""
    data = tmp_path_factory.mktemp("labelled")
    (data / "imgs").mkdir()
    lines = ["file,label"]
    for i, path in enumerate(sorted(synth_data.glob("*.png"))):
        shutil.copy(path, data / "imgs" / f"img{i:03d}.png")
        lines.append(f"imgs/img{i:03d}.png,{path.stem.split('_')[0]}")
        if i == 0:
            shutil.copy(path, data / "stray_1.png")
    (data / "imgs" / "broken.png").write_bytes(b"not a png")
    lines.append("imgs/broken.png,bcdef")
    (data / "labels.csv").write_text("\n".join(lines) + "\n")
    return data


def _iterations(weights) -> int:
    with h5py.File(weights, "r") as f:
        return int(f["optimizer"]["vars"]["0"][()])


def test_a_labels_file_folder_fits_and_resumes_with_its_optimizer(train_cli, labelled_data, charset, tiny, tmp_path):
    run = Run(tmp_path / "run")
    args = ["fit", "--data", labelled_data, "--arch", "convctc-fast", "--out", run.root, *tiny]
    out = train_cli(*args, "--epochs", 2).stdout
    assert "48 labelled images (labels from labels.csv); label lengths 5: 48" in out
    assert f"charset {charset!r}, 19 characters; count per character:" in out
    assert "skipped 2 images" in out and "1 unreadable image: imgs/broken.png" in out
    assert "1 not in the labels file: stray_1.png" in out
    assert out.index("count per character") < out.index("epoch 1/2")
    rates = re.findall(r"^epoch \d/2 .* lr (\S+) ", out, re.M)
    assert len(rates) == 2 and rates[0] == rates[1]  # --epochs: not annealed, the last epoch at the start's rate
    config, split = run.config, run.split
    assert config.labels == "labels.csv" and not config.ignore_case
    assert len(split["val"]) == 7 and all(n.startswith("imgs/img") for n in split["train"] + split["val"])
    val = run.images("val")
    assert val.names == split["val"] and len(val.labels) == 7 and val.skipped == []
    steps = 4  # --max-steps 4 batches an epoch (41 training images in batches of 8 would be 6)
    assert _iterations(run.last_weights) == 2 * steps and "plateau" in run.state

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = train_cli(*args, "--epochs", 3).stdout
    assert "resuming" in out and "epoch 3/3" in out and "fresh optimizer" not in out
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert _iterations(run.last_weights) == 3 * steps  # the optimizer went on counting; a fresh one would be at 4


class Killed(Exception):
    """Stands for a kill: raised once an epoch is recorded, before the fit's loop may save it."""


@pytest.mark.parametrize("every", [0.0, 1e9])
def test_a_killed_fit_resumes_from_its_last_checkpoint(train_cli, synth_data, tiny, tmp_path, monkeypatch, every):
    """The weights and state are saved together when CHECKPOINT_SECONDS have passed (every epoch
    at 0 s) and after the last epoch; a fit killed in its third epoch goes on from the last save."""
    import trainer.train as T

    record = T._Tracker.on_epoch_end

    def killed_in_epoch_3(self, epoch, logs=None):
        record(self, epoch, logs)
        if epoch == 2:
            raise Killed()

    monkeypatch.setattr(T, "CHECKPOINT_SECONDS", every)
    monkeypatch.setattr(T._Tracker, "on_epoch_end", killed_in_epoch_3)
    run = Run(tmp_path / "run")
    args = ["fit", "--data", synth_data, "--arch", "convctc-fast", "--out", run.root, "--epochs", 5, *tiny]
    assert isinstance(train_cli(*args, code=1).exception, Killed)
    steps = 4
    if every == 0.0:
        assert run.state["epoch"] == 2 and _iterations(run.last_weights) == 2 * steps
    else:
        assert not run.has_trained  # nothing was due: the first save would have come after epoch 5

    monkeypatch.setattr(T._Tracker, "on_epoch_end", record)
    out = train_cli(*args).stdout
    assert ("resuming" in out and "epoch 3/5" in out and "epoch 2/5" not in out) if every == 0.0 else "epoch 1/5" in out
    assert run.state["epoch"] == 5 and run.state["done"] and len(run.state["history"]) == 5
    assert _iterations(run.last_weights) == 5 * steps
