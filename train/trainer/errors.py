"""The trainer's named exceptions. Like the runtime's, each message says what was expected and
what was received, on one line; ``captcha-train`` prints it and exits 1. Anything else that
escapes is a bug and keeps its traceback."""

from edge_runtime.errors import CaptchaEdgeError

#: How the trainer and its dependencies (TensorFlow, captcha) are installed: a distribution of
#: its own, beside the runtime, so that a device's install carries neither.
INSTALL_HINT = "pip install ./train (in the captcha-edge checkout; it installs TensorFlow and captcha)"


class TrainerError(CaptchaEdgeError):
    """Base class of every error the trainer raises on purpose."""


class DataError(TrainerError):
    """A data folder, a split or a set of folds cannot give the images that were asked for."""


class RunError(TrainerError):
    """A run directory does not fit the request: another run is there, its files or weights are
    missing or stale, or an --init-from run trained on this run's validation images."""


class ExportError(TrainerError):
    """The model cannot be exported as asked, or the exported file does not match Keras."""
