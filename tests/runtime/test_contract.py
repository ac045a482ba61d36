"""The contract inside shipped model files, and refusal of files that lack or break it."""

import pytest

from edge_runtime.contract import METADATA_NAME, Contract, InputSpec, read_contract
from edge_runtime.errors import ContractError, ModelError
from edge_runtime.flatbuf import read_metadata
from edge_runtime.recognizer import Recognizer, load_model


def test_every_shipped_model_carries_a_valid_contract(shipped):
    for name, path in shipped.items():
        c = read_contract(path.read_bytes())
        assert c.charset and c.input.height > 0 and c.input.width > 0, name
        assert c.quantization in name, name
        assert c.kind in ("ctc", "multihead")
        if c.kind == "ctc":
            assert c.blank_index == len(c.charset)


def test_contract_matches_the_tensors(shipped):
    for path in shipped.values():
        rec = Recognizer.from_file(path)
        c = rec.contract
        assert rec.engine.input.shape == (1, c.input.height, c.input.width, 1)
        assert rec.engine.output.shape[-1] == c.num_classes


def test_contract_round_trips_through_json():
    c = Contract(kind="ctc", charset="abc", input=InputSpec(32, 128), blank_index=3, arch="x", quantization="int8",
                 metrics={"accuracy": 1.0})
    assert Contract.from_json(c.to_json()) == c


@pytest.mark.parametrize("change, fragment", [
    ({"kind": "beam"}, "kind"),
    ({"charset": "aa"}, "repeated"),
    ({"blank_index": 9}, "blank_index"),
    ({"quantization": "int4"}, "quantization"),
    ({"format_version": 99}, "format_version"),
    ({"input": {"height": 0, "width": 10}}, "input.height"),
])
def test_invalid_contracts_are_refused(change, fragment):
    d = Contract(kind="ctc", charset="abc", input=InputSpec(32, 128), blank_index=3).to_dict()
    d.update(change)
    with pytest.raises(ContractError, match=fragment):
        Contract.from_dict(d)


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="TFL3"):
        load_model(bad)


def test_truncated_model_is_refused(tmp_path, shipped):
    data = next(iter(shipped.values())).read_bytes()
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError):
        Recognizer.from_file(bad)


def test_tflite_model_without_our_contract(tmp_path, shipped):
    data = next(iter(shipped.values())).read_bytes()
    other = METADATA_NAME.replace("contract", "contracX").encode()
    assert data.count(METADATA_NAME.encode()) == 1
    stripped = tmp_path / "plain.tflite"
    stripped.write_bytes(data.replace(METADATA_NAME.encode(), other))
    assert METADATA_NAME not in read_metadata(stripped.read_bytes())
    with pytest.raises(ContractError, match="captcha-train export"):
        load_model(stripped)


def test_unknown_model_name():
    with pytest.raises(ModelError, match="shipped model name"):
        load_model("no-such-model")
