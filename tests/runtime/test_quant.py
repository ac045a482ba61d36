"""Quantization in one place: pixels -> input tensor values, output tensor -> float probabilities."""

import numpy as np
import pytest

from edge_runtime.contract import InputSpec
from edge_runtime.errors import ModelError
from edge_runtime.quant import TensorInfo, dequantize, input_encoder, output_decoder

SPEC = InputSpec(2, 3)
PIXELS = np.array([[0, 1, 127], [128, 254, 255]], np.uint8)


def info(dtype, scale=0.0, zero=0, shape=(1, 2, 3, 1)):
    return TensorInfo(0, "t", shape, dtype, scale, zero)


def test_float_input_is_the_contract_normalisation():
    x = input_encoder(info(np.float32), SPEC)(PIXELS)
    assert x.shape == (1, 2, 3, 1) and x.dtype == np.float32
    assert np.allclose(x[0, :, :, 0], PIXELS / 255.0)
    shifted = input_encoder(info(np.float32), InputSpec(2, 3, scale=2 / 255, offset=-1.0))(PIXELS)
    assert shifted.min() == pytest.approx(-1.0) and shifted.max() == pytest.approx(1.0)


def test_uint8_input_with_the_identity_scale_takes_raw_pixels():
    x = input_encoder(info(np.uint8, 1 / 255, 0), SPEC)(PIXELS)
    assert x.dtype == np.uint8 and np.array_equal(x[0, :, :, 0], PIXELS)


def test_int8_input_is_rescaled_and_clipped():
    # value = pixel / 255 in [0, 1]; q = value / (1/255) - 128 -> pixel - 128, in int8.
    x = input_encoder(info(np.int8, 1 / 255, -128), SPEC)(PIXELS)
    assert x.dtype == np.int8
    assert np.array_equal(x[0, :, :, 0], PIXELS.astype(np.int16) - 128)
    # A tensor scale that makes the values overflow is clipped, not wrapped.
    clipped = input_encoder(info(np.int8, 0.5 / 255, 0), SPEC)(PIXELS)
    assert clipped.max() == 127 and clipped.min() == 0


def test_other_input_dtypes_are_refused():
    with pytest.raises(ModelError, match="float32, uint8 or int8"):
        input_encoder(info(np.int32), SPEC)


def test_dequantize():
    q = info(np.uint8, 1 / 256, 0)
    out = dequantize(np.array([[0, 128, 255]], np.uint8), q)
    assert out.dtype == np.float32 and np.allclose(out, [[0, 0.5, 255 / 256]])
    signed = dequantize(np.array([-128, 0, 127], np.int8), info(np.int8, 0.5, -128))
    assert np.allclose(signed, [0, 64, 127.5])
    floats = np.array([0.25], np.float32)
    assert dequantize(floats, info(np.float32)) is floats
    assert dequantize(np.array([1], np.float16), info(np.float16)).dtype == np.float32


def test_probabilities_are_dequantized_and_nothing_else():
    q = info(np.uint8, 1 / 256, 0, shape=(1, 2, 3))
    values = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    assert np.array_equal(output_decoder(q, "probabilities")(values), dequantize(values, q))


def test_logits_become_the_softmax_of_each_row():
    q = info(np.uint8, 0.25, 100, shape=(1, 2, 3))
    values = np.array([[100, 104, 108], [0, 255, 10]], np.uint8)  # logits 0, 1, 2 and -25, 38.75, -22.5
    probs = output_decoder(q, "logits")(values)
    logits = (values.astype(np.float64) - 100) * 0.25
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert probs.dtype == np.float32 and np.allclose(probs, expected, rtol=1e-5, atol=0)
    # A class the int8 softmax would have read as 0 (below 1/512) keeps its odds.
    assert 0 < probs[1, 0] < 1 / 512 and probs[1, 0] > probs[1, 2] * 0.01


def test_huge_float_logits_do_not_overflow():
    probs = output_decoder(info(np.float32, shape=(1, 1, 3)), "logits")(np.array([[1000.0, 999.0, -1000.0]], np.float32))
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1.0) and probs[0, 0] > probs[0, 1] > 0


def test_tensor_info_from_interpreter_details():
    t = TensorInfo.from_details({"index": 3, "name": "x", "shape": np.array([1, 50, 200, 1]), "dtype": np.uint8,
                                 "quantization": (0.0039, 0)})
    assert t.quantized and t.shape == (1, 50, 200, 1)
    assert t.to_dict() == {"name": "x", "shape": [1, 50, 200, 1], "dtype": "uint8", "scale": 0.0039, "zero_point": 0}
    assert not TensorInfo.from_details({"index": 0, "shape": [1], "dtype": np.uint8}).quantized  # no scale
