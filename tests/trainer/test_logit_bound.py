"""The CTC logits are kept within +-LOGIT_BOUND in training (int8 quantizes them with one scale per
tensor, so one runaway class coarsens every class), and the export graph ends at those logits."""

import keras
import numpy as np

from edge_runtime.quant import softmax
from trainer import models
from trainer.train import ctc_loss_fn

CLASSES = 20  # 19 characters and the blank, last
HEIGHT, WIDTH = 32, 128


def tiny_model(inference: bool = False, blank_bias: float = 0.0) -> keras.Model:
    keras.utils.set_random_seed(3)
    model = models.build_convctc_fast(HEIGHT, WIDTH, CLASSES, width_mult=0.25, inference=inference)
    kernel, bias = model.get_layer("ctc_probs").get_weights()
    bias[-1] = blank_bias
    model.get_layer("ctc_probs").set_weights([kernel, bias])
    return model


def logits_of(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.Model(model.input, model.get_layer("ctc_probs").output)(x).numpy()


def images(count: int = 4) -> np.ndarray:
    return np.random.default_rng(0).random((count, HEIGHT, WIDTH, 1), np.float32)


def test_the_penalty_is_the_mean_squared_excess_beyond_the_bound():
    x = images()
    runaway = tiny_model(blank_bias=300.0)
    runaway(x, training=True)
    logits = logits_of(runaway, x)
    excess = np.maximum(np.abs(logits) - models.LOGIT_BOUND, 0.0)
    assert excess.max() > 250
    expected = models.LOGIT_PENALTY * np.mean(excess ** 2)
    assert len(runaway.losses) == 1
    assert abs(float(runaway.losses[0]) - expected) <= 1e-3 * expected

    within = tiny_model()
    within(x, training=True)
    assert np.abs(logits_of(within, x)).max() < models.LOGIT_BOUND
    assert float(within.losses[0]) == 0.0


def test_training_pulls_a_runaway_blank_back_which_ctc_alone_leaves_where_it_is():
    """A blank that is already sure has no CTC gradient, so only the penalty can move its bias."""
    x = images(8)
    labels = np.random.default_rng(1).integers(0, CLASSES - 1, (8, 5)).astype(np.int32)
    rate, steps = 0.003, 20
    model = tiny_model(blank_bias=300.0)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=ctc_loss_fn(CLASSES - 1))
    model.fit(x, labels, batch_size=8, epochs=steps, verbose=0, shuffle=False)
    blank = model.get_layer("ctc_probs").get_weights()[1][-1]
    assert blank < 300.0 - 0.5 * steps * rate


def test_the_export_graph_gives_the_logits_whose_softmax_training_computes():
    x = images()
    trained = tiny_model(blank_bias=3.0)
    graph = tiny_model(inference=True)
    models.transfer_weights(trained, graph)
    assert not any(isinstance(layer, (models.BoundedSoftmax, keras.layers.Softmax)) for layer in graph.layers)
    logits = graph(x).numpy()
    np.testing.assert_allclose(logits, logits_of(trained, x).reshape(logits.shape), atol=1e-5)
    np.testing.assert_allclose(softmax(logits), trained(x).numpy(), atol=1e-6)
    assert models.exported_output("convctc-fast") == "logits" and models.exported_output("crnn") == "probabilities"
