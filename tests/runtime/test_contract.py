"""The contract inside shipped model files, the flatbuffer reader that finds it, and refusal of
files that lack or break it. Fast: committed model files only."""

import json

import pytest

from edge_runtime.contract import (FORMAT_VERSION, METADATA_NAME, Contract, InputSpec, Kind, Quantization,
                                   read_contract)
from edge_runtime.errors import ContractError, ModelError
from edge_runtime.flatbuf import (has_per_channel_fully_connected, is_tflite, operator_codes, operator_count,
                                  read_metadata)
from edge_runtime.recognizer import Recognizer, load_model
from edge_runtime.registry import shipped_models
from support import BASE_MODEL

SHIPPED = sorted(shipped_models())


def base(**changes):
    fields = {"kind": "ctc", "charset": "abc", "input": InputSpec(32, 128), "blank_index": 3, **changes}
    return Contract(**fields)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_carries_a_valid_contract(name, shipped):
    data = shipped[name].read_bytes()
    c = read_contract(data)
    assert c.charset and c.input.height > 0 and c.input.width > 0
    assert name.endswith("-" + c.quantization)  # the file name says how it is stored
    assert c.kind in set(Kind) and c.quantization in set(Quantization)
    if c.kind == Kind.CTC:
        assert c.blank_index == len(c.charset) and c.num_classes == len(c.charset) + 1
    else:
        assert c.label_length >= 1 and c.num_classes == len(c.charset)
    # Every field of the JSON in the file is read, unchanged: the parsed JSON itself (not a
    # second read_contract) equals the contract written back out, metrics included.
    raw = json.loads(read_metadata(data)[METADATA_NAME])
    assert raw == c.to_dict()
    assert (raw["kind"], raw["charset"], raw["input"]["height"]) == (c.kind, c.charset, c.input.height)
    # The shipped metrics file describes this very file.
    report = json.loads(shipped[name].with_suffix(".json").read_text())
    assert (report["bytes"], report["quantization"], report["arch"]) == (len(data), c.quantization, c.arch)


@pytest.mark.parametrize("name", SHIPPED)
def test_contract_matches_the_tensors(name, shipped):
    rec = Recognizer.from_file(shipped[name])
    c = rec.contract
    d = rec.describe()
    assert d["input_tensor"]["shape"] == [1, c.input.height, c.input.width, 1]
    assert d["output_tensor"]["shape"][-1] == c.num_classes
    # info shows the temperature even where the file leaves it out (every shipped model: 1.0)
    assert d["bytes"] == shipped[name].stat().st_size and d["contract"] == {**c.to_dict(), "temperature": 1.0}
    if c.quantization == Quantization.INT8:
        assert d["input_tensor"]["dtype"] in ("uint8", "int8")  # int8 files take raw pixels
    else:
        assert d["input_tensor"]["dtype"] == "float32"


@pytest.mark.parametrize("name", SHIPPED)
def test_flatbuf_reader_on_the_shipped_files(name, shipped):
    data = shipped[name].read_bytes()
    assert is_tflite(data)
    codes = operator_codes(data)
    assert codes and all(code >= 0 and version >= 1 for code, version in codes)
    assert operator_count(data) >= len(codes) >= 1
    # captcha-train exports per-tensor Dense weights (tflite-runtime 2.14 on ARM crashes on per-channel ones).
    assert has_per_channel_fully_connected(data) is False


def test_the_operator_count_of_the_default_is_as_documented(shipped):
    assert operator_count(shipped["convctc-fast-int8"].read_bytes()) == 17  # README: "17 operators"


def test_contract_round_trips_through_json():
    c = base(arch="x", quantization="int8", metrics={"accuracy": 1.0})
    again = Contract.from_json(c.to_json())
    assert again == c and again.metrics == {"accuracy": 1.0}
    assert Contract.from_json(c.to_json().encode()) == c  # bytes, as read from the flatbuffer
    assert Contract.from_dict(json.loads(c.to_json())).to_dict() == c.to_dict()


@pytest.mark.parametrize("kind, charset, length", [(Kind.CTC, "0123456789", None), ("ctc", "ab", None),
                                                   (Kind.MULTIHEAD, "xyz", 5), ("multihead", "q", 1)])
def test_for_charset_builds_the_trainer_class_layout(kind, charset, length):
    c = Contract.for_charset(kind, charset, InputSpec(50, 200), label_length=length, arch="a", quantization="int8")
    assert c.kind == Kind(kind) and c.format_version == FORMAT_VERSION and c.arch == "a"
    if c.kind == Kind.CTC:
        assert c.blank_index == len(charset) and c.label_length is None
        assert c.class_chars() == list(charset) + [""]
        assert c.num_classes == len(charset) + 1
    else:
        assert c.blank_index is None and c.label_length == length
        assert c.class_chars() == list(charset) and c.num_classes == len(charset)
    assert Contract.from_json(c.to_json()) == c


@pytest.mark.parametrize("lengths, end", [((5, 5), None), ((3, 5), 4), ((None, None), None)])
def test_multihead_end_class_only_when_labels_are_shorter_than_the_heads(lengths, end):
    lo, hi = lengths
    c = Contract.for_charset(Kind.MULTIHEAD, "abcd", InputSpec(50, 200), label_length=5, min_length=lo, max_length=hi)
    assert c.end_index == end and c.num_classes == 4 + (end is not None)
    assert c.class_chars() == list("abcd") + ([""] if end is not None else [])
    assert ("end_index" in c.to_dict()) == (end is not None)  # a fixed-length contract's JSON is as before
    assert Contract.from_json(c.to_json()) == c and c.length_range == (lo or 5, hi or 5)


def test_for_charset_refuses_what_from_dict_refuses():
    with pytest.raises(ValueError):
        Contract.for_charset("beam", "ab", InputSpec(50, 200))
    with pytest.raises(ContractError, match="repeated"):
        Contract.for_charset(Kind.CTC, "aab", InputSpec(50, 200))
    with pytest.raises(ContractError, match="label_length"):
        Contract.for_charset(Kind.MULTIHEAD, "ab", InputSpec(50, 200))


def test_enums_are_their_strings():
    assert [k.value for k in Kind] == ["ctc", "multihead"]
    assert [q.value for q in Quantization] == ["float32", "float16", "dynamic", "int8"]
    assert Kind("ctc") == "ctc" and json.dumps({"q": Quantization.INT8}) == '{"q": "int8"}'


def test_blank_in_the_middle_moves_the_classes():
    c = base(blank_index=0)
    assert c.class_chars() == ["", "a", "b", "c"]


@pytest.mark.parametrize("change, fragment", [
    ({"kind": "beam"}, "kind"),
    ({"charset": "aa"}, "repeated"),
    ({"charset": ""}, "non-empty charset"),
    ({"charset": 7}, "non-empty charset"),
    ({"blank_index": 9}, "blank_index"),
    ({"blank_index": -1}, "blank_index"),
    ({"blank_index": None}, "blank_index"),
    ({"kind": "multihead", "label_length": 0}, "label_length"),
    ({"quantization": "int4"}, "quantization"),
    ({"output": "log-probabilities"}, "output in"),
    ({"format_version": 99}, "format_version"),
    ({"input": {"height": 0, "width": 10}}, "input.height"),
    ({"input": {"height": 10, "width": 2.5}}, "input.width"),
    ({"input": {"height": 10, "width": 10, "channels": 3}}, "1-channel gray or 3-channel rgb"),
    ({"input": {"height": 10, "width": 10, "color": "rgb"}}, "1-channel gray or 3-channel rgb"),
    ({"input": {"height": 10, "width": 10, "resize": "zoom"}}, "input.resize"),
    ({"min_length": 4}, "min_length and max_length"),
    ({"min_length": 6, "max_length": 4}, "min_length <= max_length"),
    ({"min_length": 0, "max_length": 4}, "min_length"),
    ({"kind": "multihead", "blank_index": None, "label_length": 5, "min_length": 4, "max_length": 6}, "at most the 5 heads"),
    ({"kind": "multihead", "blank_index": None, "label_length": 5, "min_length": 3, "max_length": 5}, "expected an end_index"),
    ({"kind": "multihead", "blank_index": None, "label_length": 5, "min_length": 3, "max_length": 5, "end_index": 4},
     "end_index in 0..3"),
    ({"end_index": 3}, "end_index only in a multihead model"),
    ({"input": {"height": 10, "width": 10, "layout": "NCHW"}}, "NHWC"),
    ({"input": {"height": 10, "width": 10, "scale": 0}}, "input.scale"),
    ({"input": {"height": 10}}, "contract fields"),
    ({"surprise": 1}, "contract fields"),
])
def test_invalid_contracts_are_refused(change, fragment):
    d = base().to_dict()
    d.update(change)
    with pytest.raises(ContractError, match=fragment) as err:
        Contract.from_dict(d)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["not json", b"\xff\xfe", "[1, 2]", "null"])
def test_unparsable_contract_json_is_refused(text):
    with pytest.raises(ContractError, match="expected"):
        Contract.from_json(text)


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="TFL3"):
        load_model(bad)


def test_truncated_model_is_refused(tmp_path, shipped):
    data = shipped["synth36-int8"].read_bytes()
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError) as err:
        Recognizer.from_file(bad)
    assert "\n" not in str(err.value)


def test_tflite_model_without_our_contract(tmp_path, shipped):
    data = shipped["synth36-int8"].read_bytes()
    other = METADATA_NAME.replace("contract", "contracX").encode()
    assert data.count(METADATA_NAME.encode()) == 1
    stripped = tmp_path / "plain.tflite"
    stripped.write_bytes(data.replace(METADATA_NAME.encode(), other))
    entries = read_metadata(stripped.read_bytes())
    assert METADATA_NAME not in entries and other.decode() in entries
    with pytest.raises(ContractError, match="captcha-train export"):
        load_model(stripped)


def test_broken_contract_json_inside_a_model_is_refused(tmp_path, shipped):
    data = shipped["synth36-int8"].read_bytes()
    # Same length, so the flatbuffer stays valid: only the contract's JSON changes.
    broken = data.replace(b'"kind": "ctc"', b'"kind": "xyz"')
    assert broken != data
    path = tmp_path / "broken.tflite"
    path.write_bytes(broken)
    with pytest.raises(ContractError, match="kind"):
        load_model(path)


def test_unknown_model_name():
    with pytest.raises(ModelError, match="shipped model name"):
        load_model("no-such-model")


def test_files_without_the_newer_fields_read_as_before():
    """Contracts written before the length range, resize policy and colour were recorded (every
    shipped model) mean: stretched gray input, no recorded range (a multihead's is its length)."""
    d = base().to_dict()
    for key in ("min_length", "max_length"):
        del d[key]
    for key in ("resize", "color", "channels"):
        del d["input"][key]
    c = Contract.from_dict(d)
    assert (c.input.resize, c.input.color, c.input.channels) == ("stretch", "gray", 1)
    assert c.min_length is None and c.max_length is None and c.length_range is None
    assert c.output == "probabilities" and "output" not in base().to_dict()  # the JSON older runtimes read
    head = Contract.for_charset("multihead", "abc", InputSpec(32, 128), 5)
    assert head.length_range == (5, 5)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_contracts_get_the_defaults(name, shipped):
    c = read_contract(shipped[name].read_bytes())
    assert (c.input.resize, c.input.color, c.input.channels) == ("stretch", "gray", 1)
    # the models trained on 5-character labels got the range after training (the trust rules
    # need it), nothing else changed; the pre-trained base read 3-8 characters of 0-9a-zA-Z
    assert c.length_range == ((3, 8) if name == BASE_MODEL else (5, 5))


def test_new_fields_round_trip_through_json():
    c = base(input=InputSpec(40, 160, channels=3, color="rgb", resize="pad"), min_length=4, max_length=6,
             output="logits")
    back = Contract.from_json(c.to_json())
    assert back == c and back.length_range == (4, 6) and back.input.resize == "pad" and back.output == "logits"
