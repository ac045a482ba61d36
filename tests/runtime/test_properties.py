"""Property-based checks of the parsing paths: any bytes give a result or a named error."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime import images
from edge_runtime.contract import InputSpec, read_contract
from edge_runtime.engine import Engine
from edge_runtime.errors import ImageError, ModelError
from edge_runtime.flatbuf import has_per_channel_fully_connected, read_metadata
from edge_runtime.registry import DEFAULT_MODEL, shipped_models

MODEL = shipped_models()[DEFAULT_MODEL].read_bytes()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_are_not_a_model(data):
    with pytest.raises(ModelError):
        read_contract(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_are_not_an_image(data):
    try:
        image = images.decode(data)
    except ImageError:
        return
    assert isinstance(image, np.ndarray) and image.size > 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 255))
def test_bit_flipped_png_never_crashes(_png, pos, xor):
    data = bytearray(PNG)
    pos %= len(data)
    data[pos] ^= xor
    try:
        images.decode(bytes(data))
    except ImageError:
        pass


def test_contract_that_does_not_fit_the_model_is_refused():
    contract = read_contract(MODEL)
    for wrong in (replace(contract, charset=contract.charset[:-1]),
                  replace(contract, charset=contract.charset + "z"),
                  replace(contract, input=InputSpec(32, 128)),
                  replace(contract, kind="multihead", label_length=5, blank_index=None)):
        with pytest.raises(ModelError, match="expected"):
            Engine(MODEL, wrong)


PNG = b""


@pytest.fixture(scope="module")
def _png(wilhelmy):
    global PNG
    PNG = sorted(wilhelmy.glob("*.png"))[0].read_bytes()
