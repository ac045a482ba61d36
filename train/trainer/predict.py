"""A Keras model's texts: pixels to model inputs, batched prediction, and decoding with the
runtime's own decoder (``edge_runtime.decode.decoder_for``), so training, evaluation and the
export check read outputs exactly as a device does. No Keras import: models are duck-typed."""

from __future__ import annotations

import numpy as np

from edge_runtime.contract import Contract, InputSpec
from edge_runtime.decode import decoder_for
from edge_runtime.preprocess import normalise

#: Images per model.predict() call, for validation, evaluation and the export check.
PREDICT_BATCH = 64


def to_inputs(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(N, H, W) gray or (N, H, W, 3) RGB uint8 pixels -> (N, H, W, channels) float model inputs,
    normalised as the contract says."""
    values = normalise(pixels, spec)
    return values if values.ndim == 4 else values[..., None]


def predict_probs(model, inputs: np.ndarray) -> np.ndarray:
    """(N, steps, classes) probabilities of the model's primary output (a training-only side
    output, such as cnn-attn's CTC head, is ignored)."""
    probs = model.predict(inputs, batch_size=PREDICT_BATCH, verbose=0)
    return probs[0] if isinstance(probs, (list, tuple)) else probs


def decode_batch(probs: np.ndarray, contract: Contract) -> list[str]:
    """Texts of a batch of model outputs, read as the contract says."""
    decode = decoder_for(contract)
    return [decode(p).text for p in probs]


def predict_texts(model, contract: Contract, pixels: np.ndarray) -> list[str]:
    return decode_batch(predict_probs(model, to_inputs(pixels, contract.input)), contract)
