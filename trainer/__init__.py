"""captcha-edge trainer (desktop): data, models, training, evaluation and TFLite export.

Needs the ``train`` extra (TensorFlow). Preprocessing and decoding are imported from
:mod:`edge_runtime`, so training sees exactly what the device sees.
"""

from edge_runtime._version import __version__

__all__ = ["__version__"]
