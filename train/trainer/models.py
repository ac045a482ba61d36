"""Keras model families: one builder per name of :mod:`trainer.archs`. Every builder returns a
model from (N, H, W, channels) float inputs (1: gray, 3: RGB) to (N, steps, classes) probabilities: per-position softmax
heads (multihead) or per-time-step softmax over charset + blank (CTC); :func:`build` takes the
number of classes from the run's contract.

``inference=True`` rebuilds the same weights as an export graph: recurrent layers unrolled and
without dropout, because TFLite's builtin ops cannot run a while-loop LSTM without Flex ops; the
convolutional CTC archs end at their logits (:func:`exported_output`).
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from edge_runtime.contract import Output

from .config import RunConfig


def _f(filters: int, mult: float) -> int:
    return max(4, int(round(filters * mult)))


def _heads(x, num_classes: int, label_length: int, hidden: int | None, dropout: float):
    """One softmax head per character position, stacked to (N, label_length, num_classes)."""
    outs = []
    for i in range(label_length):
        h = x
        if hidden:
            h = layers.Dense(hidden, activation="relu", name=f"head{i}_dense")(h)
        h = layers.Dropout(dropout, name=f"head{i}_dropout")(h)
        h = layers.Dense(num_classes, activation="softmax", name=f"head{i}_out")(h)
        outs.append(layers.Reshape((1, num_classes), name=f"head{i}_pos")(h))
    return layers.Concatenate(axis=1, name="positions")(outs) if len(outs) > 1 else outs[0]


def build_cnn_faithful(height, width, num_classes, label_length, width_mult=1.0, inference=False, channels=1):
    """The textbook multi-head CNN, layer for layer."""
    inp = _input(height, width, inference, channels)
    x = layers.Conv2D(_f(16, width_mult), 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(_f(32, width_mult), 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(_f(32, width_mult), 3, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    out = _heads(x, num_classes, label_length, hidden=_f(64, width_mult), dropout=0.5)
    return keras.Model(inp, out, name="cnn_faithful")


def _conv_bn(x, filters, name, separable=False):
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_cnn(height, width, num_classes, label_length, width_mult=1.0, inference=False, channels=1):
    """Multi-head CNN on the convctc trunk: rows collapsed by a learned full-height convolution
    (averaging them away lost too much), context along the width, then a 1x1 squeeze and one
    shared hidden layer feeding one small softmax head per position."""
    inp = _input(height, width, inference, channels)
    x = _conv_trunk(inp, width_mult)
    x = layers.Conv2D(_f(32, width_mult), 1, activation="relu", name="squeeze")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(_f(192, width_mult), activation="relu", name="shared")(x)
    out = _heads(x, num_classes, label_length, hidden=None, dropout=0.3)
    return keras.Model(inp, out, name="cnn")


def _conv_trunk(x, width_mult, filters=(24, 48, 64), separable=(False, False, False)):
    """Conv blocks to (N, 1, W/4, C): rows collapsed by one full-height convolution, then two
    separable (1, 5) convolutions for context along the width."""
    for i, (n, sep) in enumerate(zip(filters, separable)):
        x = _conv_bn(x, _f(n, width_mult), f"block{i}", separable=sep)
        pool = (2, 2) if i < 2 else (2, 1)
        x = layers.MaxPooling2D(pool, name=f"block{i}_pool")(x)
    rows = x.shape[1]
    x = layers.Conv2D(_f(96, width_mult), (rows, 1), use_bias=False, name="collapse_conv")(x)
    x = layers.BatchNormalization(name="collapse_bn")(x)
    x = layers.ReLU(name="collapse_relu")(x)
    for i in range(2):
        # 1-D context along time, written as (1, 5) 2-D convolutions to stay in builtin ops.
        x = layers.SeparableConv2D(_f(96, width_mult), (1, 5), padding="same", use_bias=False, name=f"time{i}_conv")(x)
        x = layers.BatchNormalization(name=f"time{i}_bn")(x)
        x = layers.ReLU(name=f"time{i}_relu")(x)
    return x


class PositionPrior(layers.Layer):
    """A learned (heads, steps) bias added to attention logits: where each head usually looks."""

    def build(self, input_shape):
        self.prior = self.add_weight(shape=(1, *input_shape[1:]), initializer="zeros", name="prior")

    def call(self, x):
        return x + self.prior


def _attention_pool(tensors):
    """sum_t weights[h, t] * features[t, c], written as a broadcast multiply and a sum: the int8
    BATCH_MATMUL that a matrix product becomes reads wrong values on tflite-runtime 2.14 on
    aarch64 (right on x86 and on ai-edge-litert)."""
    weights, features = tensors
    return keras.ops.sum(keras.ops.expand_dims(weights, -1) * keras.ops.expand_dims(features, 1), axis=2)


def build_cnn_attn(height, width, num_classes, label_length, width_mult=1.0, inference=False, channels=1,
                   ctc_classes=None):
    """Multi-head CNN whose heads look before they classify: each position head is a softmax over
    the width (its own attention, plus a learned prior on where that character usually sits) that
    pools the trunk's features, and one small classifier shared by all heads reads the pooled
    vector. Sharing means every head learns from every character, which a per-head dense layer
    over the flattened map (1.5M textbook parameters) cannot with 734 images. A CTC side output
    on the trunk, in training only, teaches it where characters are; the export graph has the
    heads only. ``ctc_classes``: the side output's classes (the charset and the CTC blank), by
    default one more than the heads' (right unless the heads have an end class)."""
    inp = _input(height, width, inference, channels)
    trunk = _conv_trunk(inp, width_mult)                        # (N, 1, T, C)
    steps, channels = trunk.shape[2], trunk.shape[3]
    features = layers.Reshape((steps, channels), name="features")(trunk)
    logits = layers.Conv1D(label_length, 1, name="attend")(features)       # (N, T, heads)
    logits = layers.Permute((2, 1), name="heads_first")(logits)            # (N, heads, T)
    weights = layers.Softmax(axis=-1, name="where")(PositionPrior(name="prior")(logits))
    pooled = layers.Lambda(_attention_pool, name="pool")([weights, features])  # (N, heads, C)
    pooled = layers.Dropout(0.2, name="pool_dropout")(pooled)
    out = layers.Dense(num_classes, activation="softmax", name="classify")(pooled)
    if inference:
        return keras.Model(inp, out, name="cnn_attn")
    # The side output's classes: the charset plus the CTC blank, last (as Contract.for_charset lays out CTC).
    return keras.Model(inp, [out, _ctc_steps(trunk, ctc_classes or num_classes + 1, prefix="aux_")], name="cnn_attn")


def primary(model: keras.Model) -> keras.Model:
    """The model without its training-only outputs (the same layers and weights)."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.outputs[0], name=model.name)


def _input(height, width, inference, channels):
    # The export graph has a fixed batch of 1: no dynamic-shape ops (SHAPE/FILL) for LSTM states.
    return keras.Input((height, width, channels), batch_size=1 if inference else None, name="image")


def _reverse_time(x, name):
    steps = x.shape[1]
    order = list(range(steps - 1, -1, -1))
    return layers.Lambda(lambda t: keras.ops.take(t, order, axis=1), name=name)(x)


def _bilstm(x, units, dropout, inference, name):
    """Bidirectional LSTM. The export graph spells both directions out and reverses time with a
    constant gather: Keras' own reversal becomes an int8 REVERSE_V2 (version 3) that
    tflite-runtime 2.14 accepts and then segfaults on in invoke() on aarch64."""
    if not inference:
        return layers.Bidirectional(layers.LSTM(units, return_sequences=True, dropout=dropout), name=name)(x)
    forward = layers.LSTM(units, return_sequences=True, unroll=True, name=f"{name}_forward")(x)
    backward = layers.LSTM(units, return_sequences=True, unroll=True, name=f"{name}_backward")(
        _reverse_time(x, f"{name}_reverse_in"))
    return layers.Concatenate(name=f"{name}_concat")([forward, _reverse_time(backward, f"{name}_reverse_out")])


def transfer_weights(trained: keras.Model, export: keras.Model) -> None:
    """Copy weights from the training graph into the export graph: a Bidirectional layer's
    halves go to the export graph's '<name>_forward'/'<name>_backward' LSTMs, every other
    weighted layer to its counterpart in the same order, with shapes checked."""
    by_name = {layer.name: layer for layer in export.layers}
    pairs, plain = [], []
    for layer in trained.layers:
        if isinstance(layer, layers.Bidirectional):
            pairs += [(layer.forward_layer, by_name[f"{layer.name}_forward"]),
                      (layer.backward_layer, by_name[f"{layer.name}_backward"])]
        elif layer.weights:
            plain.append(layer)
    split = {dst.name for _, dst in pairs}
    targets = [layer for layer in export.layers if layer.weights and layer.name not in split]
    if len(plain) != len(targets):
        raise ValueError(f"expected the export graph to have {len(plain)} other weighted layers, it has {len(targets)}")
    for src, dst in pairs + list(zip(plain, targets)):
        weights = src.get_weights()
        if [w.shape for w in weights] != [tuple(w.shape) for w in dst.weights]:
            raise ValueError(f"expected {dst.name} to take the weights of {src.name}, their shapes differ")
        dst.set_weights(weights)


def _to_sequence(x):
    """(N, H', W', C) feature map -> (N, W', H'*C): the width axis becomes time."""
    _, h, w, c = x.shape
    x = layers.Permute((2, 1, 3), name="width_as_time")(x)
    return layers.Reshape((w, h * c), name="sequence")(x)


def build_crnn_faithful(height, width, num_classes, label_length=None, width_mult=1.0, inference=False, channels=1):
    """The Keras "OCR model for reading Captchas" design: 2 conv blocks, 2 BiLSTMs, CTC."""
    inp = _input(height, width, inference, channels)
    x = layers.Conv2D(_f(32, width_mult), 3, activation="relu", kernel_initializer="he_normal", padding="same", name="Conv1")(inp)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(_f(64, width_mult), 3, activation="relu", kernel_initializer="he_normal", padding="same", name="Conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = _to_sequence(x)
    x = layers.Dense(_f(64, width_mult), activation="relu", name="dense1")(x)
    x = layers.Dropout(0.2)(x)
    for units in (128, 64):
        x = _bilstm(x, _f(units, width_mult), 0.25, inference, f"bilstm{units}")
    out = layers.Dense(num_classes, activation="softmax", name="ctc_probs")(x)
    return keras.Model(inp, out, name="crnn_faithful")


def build_crnn(height, width, num_classes, label_length=None, width_mult=1.0, inference=False, channels=1):
    """BatchNorm conv stack down to width/8 time steps, one small BiLSTM, CTC."""
    inp = _input(height, width, inference, channels)
    x = inp
    for i, filters in enumerate((32, 64, 96)):
        x = _conv_bn(x, _f(filters, width_mult), f"block{i}")
        x = layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = _to_sequence(x)
    x = layers.Dense(_f(96, width_mult), activation="relu", name="project")(x)
    x = layers.Dropout(0.25)(x)
    x = _bilstm(x, _f(64, width_mult), 0.1, inference, "bilstm")
    out = layers.Dense(num_classes, activation="softmax", name="ctc_probs")(x)
    return keras.Model(inp, out, name="crnn")


#: Training keeps every CTC logit within +-LOGIT_BOUND: a gap of twice that between two classes
#: already gives them probabilities 1 and 0 at float32 precision, so the bound changes no reading.
LOGIT_BOUND = 20.0
#: The weight of the mean squared excess beyond the bound in the training loss.
LOGIT_PENALTY = 0.01


class BoundedSoftmax(layers.Layer):
    """Softmax over the last axis that, while training, adds to the loss the mean squared excess of
    the logits beyond +-``bound``. Why: int8 quantizes the logits with one scale per tensor, so a
    single class running to +300 (a blank that is sure, as a base pre-trained on a harsh corpus
    learns) widens the step of every class and flips near-ties between characters."""

    def __init__(self, bound: float = LOGIT_BOUND, weight: float = LOGIT_PENALTY, **kwargs):
        super().__init__(**kwargs)
        self.bound, self.weight = bound, weight

    def call(self, x, training=None):
        if training:
            excess = keras.ops.relu(keras.ops.abs(x) - self.bound)
            self.add_loss(self.weight * keras.ops.mean(keras.ops.square(excess)))
        return keras.ops.softmax(x, axis=-1)

    def get_config(self):
        return {**super().get_config(), "bound": self.bound, "weight": self.weight}


def _ctc_steps(trunk, num_classes: int, prefix: str = "", inference: bool = False):
    """(N, 1, T, C) trunk -> (N, T, classes) per-step softmax: dropout, a 1x1 convolution to
    logits, then a softmax bounded in training. The export graph ends at the logits: the runtime
    takes their softmax (the contract's ``output`` says so: :func:`exported_output`)."""
    x = layers.Dropout(0.2, name=f"{prefix}dropout" if prefix else None)(trunk)
    x = layers.Conv2D(num_classes, 1, name=f"{prefix}ctc_probs")(x)
    if not inference:
        x = BoundedSoftmax(name=f"{prefix}ctc_softmax")(x)
    return layers.Reshape((x.shape[2], num_classes), name=f"{prefix}steps")(x)



def build_convctc(height, width, num_classes, label_length=None, width_mult=1.0, inference=False, channels=1):
    """Purely convolutional CTC: no recurrence, so nothing to unroll and few, cheap ops."""
    inp = _input(height, width, inference, channels)
    return keras.Model(inp, _ctc_steps(_conv_trunk(inp, width_mult), num_classes, inference=inference), name="convctc")


def build_convctc_fast(height, width, num_classes, label_length=None, width_mult=1.0, inference=False, channels=1):
    """convctc at about a third of the multiply-accumulates: thinner first blocks and a separable
    third block (the full-resolution 3x3 convolutions were most of the cost)."""
    inp = _input(height, width, inference, channels)
    x = _conv_trunk(inp, width_mult, filters=(16, 32, 64), separable=(False, False, True))
    return keras.Model(inp, _ctc_steps(x, num_classes, inference=inference), name="convctc_fast")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one inference (convolutions, dense and recurrent layers)."""
    total = 0

    def lstm(layer, steps, features):
        return steps * 4 * layer.units * (features + layer.units)

    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D, layers.Dense,
                              layers.LSTM, layers.Bidirectional)):
            inp, out = layer.input.shape, layer.output.shape
        else:
            continue
        if isinstance(layer, layers.SeparableConv2D):
            kh, kw = layer.kernel_size
            cin = inp[-1]
            total += out[1] * out[2] * (kh * kw * cin * layer.depth_multiplier + cin * layer.depth_multiplier * out[-1])
        elif isinstance(layer, layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += out[1] * out[2] * kh * kw * inp[-1] * layer.depth_multiplier
        elif isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            total += out[1] * out[2] * kh * kw * inp[-1] * out[-1]
        elif isinstance(layer, layers.Dense):
            rows = 1
            for d in inp[1:-1]:
                rows *= d
            total += rows * inp[-1] * out[-1]
        elif isinstance(layer, layers.Bidirectional):
            total += 2 * lstm(layer.forward_layer, inp[1], inp[-1])
        else:
            total += lstm(layer, inp[1], inp[-1])
    return int(total)


#: The builder of every name in trainer.archs.ARCHS.
BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "cnn-faithful": build_cnn_faithful,
    "cnn": build_cnn,
    "crnn-faithful": build_crnn_faithful,
    "crnn": build_crnn,
    "cnn-attn": build_cnn_attn,
    "convctc": build_convctc,
    "convctc-fast": build_convctc_fast,
}
#: The archs whose export graph ends at the CTC logits (:func:`_ctc_steps`). The recurrent ones
#: keep their softmax: their logits are unbounded, so int8 would give them a coarse step.
LOGIT_EXPORTS = ("convctc", "convctc-fast")


def exported_output(arch: str) -> Output:
    """What the export graph of ``arch`` outputs: logits for LOGIT_EXPORTS (an int8 file then
    keeps the odds of unlikely classes, which the length-kept CTC decode needs), else probabilities."""
    return Output.LOGITS if arch in LOGIT_EXPORTS else Output.PROBABILITIES


def build(config: RunConfig, inference: bool = False) -> keras.Model:
    """The run's model; ``inference=True`` gives the export graph (recurrences unrolled, no
    dropout, batch 1, no training-only outputs)."""
    builder = BUILDERS[config.arch]
    # A CTC side output reads the charset and the blank, whatever the heads' classes (an end class).
    side = {"ctc_classes": config.ctc_layout().num_classes} if builder is build_cnn_attn else {}
    return builder(config.height, config.width, config.contract().num_classes, config.label_length,
                   width_mult=config.width_mult, inference=inference, channels=config.input_spec.channels, **side)


def inference_graph(trained: keras.Model, config: RunConfig) -> keras.Model:
    """The export graph of a trained model, holding the same weights."""
    graph = build(config, inference=True)
    transfer_weights(trained, graph)
    return graph
