"""Property-based checks of the parsing paths: any bytes give a result or a named error.
Modest example counts keep the fast tier fast; scripts/fuzz.py runs the long version."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime import images
from edge_runtime.contract import read_contract
from edge_runtime.errors import ImageError, ModelError
from edge_runtime.flatbuf import has_per_channel_fully_connected, operator_count, read_metadata
from edge_runtime.registry import default_model, shipped_models
from support import example_paths

MODEL = shipped_models()[default_model()].read_bytes()
PNG = example_paths()[0].read_bytes()  # a committed example


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_are_not_a_model(data):
    with pytest.raises(ModelError):
        read_contract(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=256))
def test_random_bytes_behind_a_tflite_identifier_fail_cleanly(tail):
    data = tail[:4].ljust(4, b"\x00") + b"TFL3" + tail[4:]
    try:
        read_metadata(data)
        has_per_channel_fully_connected(data)
        operator_count(data)
    except ModelError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_model_headers_fail_cleanly(flips):
    data = bytearray(MODEL)
    for pos, value in flips:
        data[pos] = value
    try:
        read_metadata(bytes(data))
        has_per_channel_fully_connected(bytes(data))
        read_contract(bytes(data))
    except ModelError:
        pass  # ContractError is a ModelError


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_are_not_an_image(data):
    try:
        image = images.decode(data)
    except ImageError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(image, np.ndarray) and image.size > 0


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 255))
def test_bit_flipped_png_never_crashes(pos, xor):
    data = bytearray(PNG)
    pos %= len(data)
    data[pos] ^= xor
    try:
        image = images.decode(bytes(data))
    except ImageError as exc:
        assert "\n" not in str(exc)
    else:
        assert image.size > 0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, len(PNG) - 1))
def test_truncated_png_is_refused(cut):
    with pytest.raises(ImageError):
        images.decode(PNG[:cut])
