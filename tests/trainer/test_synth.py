import cv2


def test_synth_renders_seeded_labelled_images(train_cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        train_cli("synth", "--out", out, "--count", 12, "--charset", "abc123", "--length", "4-6", "--seed", 7)
    names = sorted(p.name for p in a.glob("*.png"))
    assert len(names) == 12 and names == sorted(p.name for p in b.glob("*.png"))
    for p in a.glob("*.png"):
        assert set(p.stem) <= set("abc123") and 4 <= len(p.stem) <= 6
        assert (a / p.name).read_bytes() == (b / p.name).read_bytes()  # same seed, same pixels
        assert cv2.imread(str(p)).shape == (50, 200, 3)
