"""captcha-edge runtime: read text CAPTCHAs with a TFLite model; numpy, OpenCV and an interpreter only.

>>> from edge_runtime import Recognizer
>>> Recognizer.from_file().recognize("captcha.png").text   # doctest: +SKIP

Names are imported lazily so that ``import edge_runtime`` stays cheap on a board.
"""

from ._version import __version__

_EXPORTS = {
    "Recognizer": "recognizer",
    "Prediction": "recognizer",
    "Timings": "recognizer",
    "Result": "recognizer",
    "load_model": "recognizer",
    "Contract": "contract",
    "InputSpec": "contract",
    "read_contract": "contract",
    "CaptchaEdgeError": "errors",
    "ImageError": "errors",
    "ModelError": "errors",
    "ContractError": "errors",
    "InterpreterUnavailable": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'edge_runtime' has no attribute {name!r}")
