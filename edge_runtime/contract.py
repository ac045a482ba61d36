"""The model's contract: everything the runtime needs to use a model, stored inside the .tflite file.

It travels as a flatbuffer metadata entry named ``captcha_edge.contract`` holding UTF-8 JSON;
standard interpreters ignore metadata, so the file still loads everywhere. The runtime reads
it with :mod:`edge_runtime.flatbuf` and needs no side files or hard-coded constants.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Mapping

from .errors import ContractError
from .flatbuf import read_metadata

METADATA_NAME = "captcha_edge.contract"
FORMAT_VERSION = 1


class Kind(StrEnum):
    """How the output is read: CTC over time steps (the best class per step, kept to the trained
    label lengths: :func:`edge_runtime.decode.ctc_decode`), or one softmax per character position."""

    CTC = "ctc"
    MULTIHEAD = "multihead"


class Quantization(StrEnum):
    """How a .tflite file stores its weights (int8 files also take raw uint8 pixels)."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


class Output(StrEnum):
    """What the output tensor holds per step or position: class probabilities, or the logits whose
    softmax they are (taken by the runtime: :func:`edge_runtime.quant.output_decoder`).
    captcha-train exports its convolutional CTC models with logits: an int8 softmax, in steps of
    1/256, reads every class below 1/512 as 0, so a character the best path skipped could not be
    put back when a read is kept to the trained lengths (:func:`edge_runtime.decode.ctc_decode`);
    int8 logits keep its odds."""

    PROBABILITIES = "probabilities"
    LOGITS = "logits"


class Resize(StrEnum):
    """How an image of any size becomes height x width (see :func:`edge_runtime.preprocess.fit`):
    ``stretch`` to it; ``pad``: scaled to fit, aspect ratio kept, centred on white; or ``crop``:
    cut to the text's box, widened to the input's aspect ratio, then stretched (small text in a
    large canvas)."""

    STRETCH = "stretch"
    PAD = "pad"
    CROP = "crop"


class Color(StrEnum):
    """What the input's channels hold: 1 gray channel, or 3 channels in RGB order."""

    GRAY = "gray"
    RGB = "rgb"


KINDS = tuple(k.value for k in Kind)
QUANTIZATIONS = tuple(q.value for q in Quantization)
OUTPUTS = tuple(o.value for o in Output)
RESIZES = tuple(r.value for r in Resize)
COLORS = tuple(c.value for c in Color)
#: The channels of each colour.
CHANNELS = {Color.GRAY.value: 1, Color.RGB.value: 3}


@dataclass(frozen=True)
class InputSpec:
    """What the model's input tensor holds: gray (1 channel) or RGB (3) pixels brought to
    height x width by the ``resize`` policy, then ``value = pixel * scale + offset`` (pixels 0..255).
    Files written before ``resize`` existed were all stretched: that is its default."""

    height: int
    width: int
    channels: int = 1
    scale: float = 1.0 / 255.0
    offset: float = 0.0
    layout: str = "NHWC"
    color: str = Color.GRAY.value
    resize: str = Resize.STRETCH.value


@dataclass(frozen=True)
class Contract:
    """The one description of a model. The trainer builds it (:meth:`for_charset` fixes the class
    layout), export embeds it, the runtime obeys it and ``captcha-edge info`` shows it."""

    kind: str
    charset: str
    input: InputSpec
    blank_index: int | None = None
    label_length: int | None = None
    arch: str = ""
    quantization: str = "float32"
    trainer_version: str = ""
    format_version: int = FORMAT_VERSION
    # The label lengths seen in training; None in files written before they were recorded.
    min_length: int | None = None
    max_length: int | None = None
    # A multihead model that reads shorter texts than its heads: the class its heads after the text
    # predict (the trainer pads labels with it). None: every head reads a character.
    end_index: int | None = None
    # Confidence calibration, fitted by export on the validation split: the runtime tempers the
    # class probabilities by it (trust.temper) before it computes confidences; texts never change.
    # 1.0 (no tempering) in files written before it was recorded.
    temperature: float = 1.0
    # The margin rule's allowance (trust.margin_allowance): the most flat rows, top plus bottom, that
    # the training images had, when more than the runtime's default share allows (a style of text
    # on a plain band). None: the default share (in every file written before it was recorded).
    max_flat_rows: int | None = None
    # What the output tensor holds (Output); probabilities in every file written before logits were.
    output: str = Output.PROBABILITIES.value
    metrics: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def for_charset(cls, kind: str, charset: str, input: InputSpec, label_length: int | None = None,
                    **fields: Any) -> "Contract":
        """A contract with the trainer's class layout: the charset's characters in order, then for
        CTC the blank as the last class, and for a multihead model whose labels may be shorter
        than its heads (``min_length`` < ``label_length``) the end class as the last class. A
        fixed-length multihead model has no end class, exactly as before there was one. Checked
        like any contract read from a file."""
        kind = Kind(kind)
        heads = label_length if kind is Kind.MULTIHEAD else None
        shortest = fields.get("min_length")
        end = len(charset) if heads is not None and shortest is not None and shortest < heads else None
        contract = cls(kind=kind.value, charset=charset, input=input,
                       blank_index=len(charset) if kind is Kind.CTC else None,
                       label_length=heads, end_index=end, **fields)
        contract.validate()
        return contract

    @property
    def length_range(self) -> tuple[int, int] | None:
        """(shortest, longest) label this model was trained on: the recorded range, else a
        multihead model's label_length; None for an older CTC file that recorded none."""
        if self.min_length is not None:
            return self.min_length, self.max_length
        if self.kind == Kind.MULTIHEAD:
            return self.label_length, self.label_length
        return None

    @property
    def num_classes(self) -> int:
        """Width of the model's class axis: the charset, plus the blank for CTC or the end class."""
        return len(self.charset) + (1 if self.kind == Kind.CTC or self.end_index is not None else 0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = dict(self.metrics)
        if self.end_index is None:
            # Written only when there is one: a model without it (every CTC and fixed-length model)
            # keeps the JSON it always had, which older runtimes still read.
            del d["end_index"]
        if self.temperature == 1.0:
            del d["temperature"]  # likewise: an uncalibrated file keeps the JSON older runtimes read
        if self.max_flat_rows is None:
            del d["max_flat_rows"]  # likewise
        if self.output == Output.PROBABILITIES:
            del d["output"]  # likewise
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Contract":
        if not isinstance(d, Mapping):
            raise ContractError(f"expected the contract to be a JSON object, got {type(d).__name__}")
        try:
            spec = InputSpec(**d["input"])
            values = {k: d[k] for k in d if k != "input"}
            contract = cls(input=spec, **values)
        except (KeyError, TypeError) as exc:
            raise ContractError(f"expected contract fields {sorted(_FIELDS)}, got {sorted(d)} ({exc})") from None
        contract.validate()
        return contract

    @classmethod
    def from_json(cls, text: str | bytes) -> "Contract":
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ContractError(f"expected the contract to be UTF-8 JSON, got unparsable text ({exc})") from None
        return cls.from_dict(data)

    def validate(self) -> None:
        if self.format_version != FORMAT_VERSION:
            raise ContractError(
                f"expected contract format_version {FORMAT_VERSION}, got {self.format_version!r}; upgrade captcha-edge"
            )
        if self.kind not in KINDS:
            raise ContractError(f"expected kind in {KINDS}, got {self.kind!r}")
        if not isinstance(self.charset, str) or not self.charset:
            raise ContractError(f"expected a non-empty charset string, got {self.charset!r}")
        if len(set(self.charset)) != len(self.charset):
            raise ContractError(f"expected a charset without repeated characters, got {self.charset!r}")
        if self.kind == Kind.CTC:
            if not isinstance(self.blank_index, int) or not 0 <= self.blank_index <= len(self.charset):
                raise ContractError(
                    f"expected a CTC blank_index in 0..{len(self.charset)}, got {self.blank_index!r}"
                )
        elif not isinstance(self.label_length, int) or self.label_length < 1:
            raise ContractError(f"expected a positive label_length for a multihead model, got {self.label_length!r}")
        if self.quantization not in QUANTIZATIONS:
            raise ContractError(f"expected quantization in {QUANTIZATIONS}, got {self.quantization!r}")
        if self.output not in OUTPUTS:
            raise ContractError(f"expected output in {OUTPUTS}, got {self.output!r}")
        self._validate_lengths()
        self._validate_end()
        t = self.temperature
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 < t < float("inf"):
            raise ContractError(f"expected a positive, finite temperature, got {t!r}")
        rows = self.max_flat_rows
        if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
            raise ContractError(f"expected max_flat_rows to be a non-negative integer or absent, got {rows!r}")
        s = self.input
        for name in ("height", "width", "channels"):
            value = getattr(s, name)
            if not isinstance(value, int) or value < 1:
                raise ContractError(f"expected input.{name} to be a positive integer, got {value!r}")
        if CHANNELS.get(s.color) != s.channels or s.layout != "NHWC":
            raise ContractError(
                f"expected a 1-channel gray or 3-channel rgb NHWC input, got {s.channels} channel(s), {s.color}, {s.layout}"
            )
        if s.resize not in RESIZES:
            raise ContractError(f"expected input.resize in {RESIZES}, got {s.resize!r}")
        if not isinstance(s.scale, (int, float)) or s.scale <= 0:
            raise ContractError(f"expected a positive input.scale, got {s.scale!r}")

    def _validate_lengths(self) -> None:
        lo, hi = self.min_length, self.max_length
        if lo is None and hi is None:
            return
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise ContractError(f"expected min_length and max_length with 1 <= min_length <= max_length, got {lo!r} and {hi!r}")
        if self.kind == Kind.MULTIHEAD and hi > self.label_length:
            raise ContractError(f"expected max_length at most the {self.label_length} heads of a multihead model, got {hi}")

    def _validate_end(self) -> None:
        end = self.end_index
        if end is None:
            if self.kind == Kind.MULTIHEAD and self.min_length is not None and self.min_length < self.label_length:
                raise ContractError(f"expected an end_index for a multihead model reading {self.min_length} to "
                                    f"{self.max_length} characters with {self.label_length} heads, got none")
            return
        if self.kind != Kind.MULTIHEAD:
            raise ContractError(f"expected end_index only in a multihead model, got {end!r} in a {self.kind} model")
        if not isinstance(end, int) or isinstance(end, bool) or not 0 <= end <= len(self.charset):
            raise ContractError(f"expected a multihead end_index in 0..{len(self.charset)}, got {end!r}")

    def class_chars(self) -> list[str]:
        """The character of every class index; the CTC blank and the multihead end class map to ''."""
        chars = list(self.charset)
        if self.kind == Kind.CTC:
            chars.insert(self.blank_index, "")
        elif self.end_index is not None:
            chars.insert(self.end_index, "")
        return chars


_FIELDS = {f for f in Contract.__dataclass_fields__}


def read_contract(model_bytes: bytes) -> Contract:
    """The contract embedded in a TFLite model; ContractError if it has none."""
    entries = read_metadata(model_bytes)
    if METADATA_NAME not in entries:
        raise ContractError(
            f"expected a captcha-edge model with a '{METADATA_NAME}' metadata entry, "
            f"got a TFLite model with metadata {sorted(entries) or 'none'} (export it with captcha-train export)"
        )
    return Contract.from_json(entries[METADATA_NAME])
