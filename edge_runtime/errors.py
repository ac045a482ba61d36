"""Named exceptions. Each message says what was expected and what was received, on one line."""


class CaptchaEdgeError(Exception):
    """Base class of every error the runtime raises on purpose."""


class ImageError(CaptchaEdgeError):
    """An input could not be read as an image we can recognise."""


class ModelError(CaptchaEdgeError):
    """A model file is missing, is not a TFLite model, or its contract does not fit it."""


class ContractError(ModelError):
    """The model's embedded contract is missing or invalid."""


class InterpreterUnavailable(CaptchaEdgeError):
    """Neither ai-edge-litert nor tflite-runtime can be imported, or the chosen one fails."""
