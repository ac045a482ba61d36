"""captcha-edge trainer (desktop): data, models, training, evaluation and TFLite export.

A distribution of its own (``pip install ./train``, with TensorFlow), so that a device's
install carries none of it. Preprocessing, decoding and the model contract are imported from
:mod:`edge_runtime`, so training sees exactly what the device sees.

    archs.py     arch names, kinds and defaults (no Keras)     models.py     the Keras builder of each arch
    config.py    RunConfig and its defaults; its contract()    runs.py       Run: a run directory and load_keras
    defaults.py  what fit decides with no flag (no Keras)      data.py       labelled folders, splits, folds, JSON
    augment.py   training-time augmentation                    predict.py    Keras outputs to texts via decoder_for
    train.py     fit, fit_folds (imports Keras)                selftrain.py  fit --unlabelled: teacher, then student
    evaluate.py  metrics report and plots                      export.py     TFLite files with the contract
    metrics.py   text metrics                                  synth.py      synthetic CAPTCHAs (captcha package)
    render.py    our renderer: development styles, pre-training corpus
    errors.py    TrainerError, DataError, RunError, ExportError
    cli.py       captcha-train

Imports go one way (cli -> selftrain -> train/evaluate/export -> runs -> models -> config ->
edge_runtime): no cycle, even counting imports inside functions.
"""

from ._version import __version__

__all__ = ["__version__"]
