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


class SourceError(CaptchaEdgeError):
    """A video source cannot be opened or stopped delivering frames."""


class UsageError(CaptchaEdgeError):
    """A setting (an option or an environment variable) has a value the runtime cannot use."""


#: The error policy of every command that reads many inputs (predict, watch, camera, serve):
#: these exceptions, raised while reading one input, become that input's one-line error record
#: and the other inputs still go through. MemoryError and ValueError are a last resort for
#: what a decoder may still raise on hostile data.
INPUT_ERRORS = (CaptchaEdgeError, MemoryError, ValueError)


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message (native libraries' run over several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def input_error_message(exc: BaseException) -> str:
    """The one-line message of an input error: ours as they are, others named by their type."""
    text = str(exc) if isinstance(exc, CaptchaEdgeError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__
