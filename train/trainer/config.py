"""RunConfig: the settings of one fit, as stored in RUN_DIR/config.json, and the defaults that
``captcha-train fit`` shows. The model's class layout is not repeated here: :meth:`RunConfig.contract`
builds it with the runtime's own ``Contract.for_charset``. No Keras here (the CLI reads the
defaults before TensorFlow is imported)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Mapping

from edge_runtime.contract import CHANNELS, Color, Contract, InputSpec, Kind, Quantization, Resize

from ._version import __version__


#: The input size chosen from the data when --input-size is not given (stated once, printed with the size).
SIZE_RULE = ("height {height}; width = {height} x the median width/height of the images, "
             "rounded to a multiple of {stride} (the arch's width per time step)")
#: Appended to SIZE_RULE when the fit starts from the pre-trained base: the width also gives each
#: character of the mean label length at least the base's pixels (its input width over its mean
#: label length), so that narrow characters reach the scale at which the base learned to read.
SIZE_SCALE_RULE = ("; at least {pixels:.1f} pixels per character of the mean label length ({length:.2f}), "
                   "the pre-trained base's scale")
#: The height of a chosen input size: that of the shipped models, enough for CAPTCHA glyphs.
AUTO_HEIGHT = 50
#: --select: keep the last epoch (the default; validation steers nothing, so its score is an
#: unbiased estimate), or the epoch best on validation.
SELECT_LAST, SELECT_BEST = "last", "best"
SELECT = (SELECT_BEST, SELECT_LAST)


@dataclass(frozen=True)
class RunConfig:
    # The field names are config.json's keys: runs written by older trainers must still load.
    arch: str
    data_dir: str
    kind: str
    charset: str
    label_length: int | None
    height: int
    width: int
    seed: int = 0
    epochs: int | None = None  # None: as many as trainer.defaults.STEP_BUDGET optimizer steps take
    batch_size: int = 16
    val_fraction: float = 0.15
    learning_rate: float = 1e-3
    patience: int | None = None  # None: as many epochs as trainer.defaults.PATIENCE_STEPS steps take
    augment: bool = True
    strokes: float = 0.0  # with augment: chance of an extra curve drawn across the text
    width_mult: float = 1.0
    max_steps: int | None = None  # per epoch; for smoke tests
    init_from: str | None = None  # a run (or the pre-trained base) whose same-named layers initialise this model
    folds: int | None = None  # k-fold cross-validation: validate on fold ``fold`` (1..folds) of the seeded order
    fold: int | None = None
    select: str = SELECT_LAST  # one of SELECT
    labels: str | None = None  # the labels file (relative to data_dir if inside it); None: labels from file names
    ignore_case: bool = False  # labels and charset folded to lowercase
    resize: str = Resize.STRETCH.value  # the contract's resize policy (edge_runtime.preprocess.fit)
    color: str = Color.GRAY.value  # "gray" (1 channel) or "rgb" (3)
    min_length: int | None = None  # label lengths of the training data; None in runs made before they were kept
    max_length: int | None = None
    unlabelled: str | None = None  # self-training: a folder of unlabelled images (trainer.selftrain)
    pseudo_confidence: float | None = None  # with unlabelled: the reads it keeps; None: trainer.defaults'
    # Then a second fit on every labelled image, validation images too (trainer.train.refit). False here:
    # runs made before it was kept had none; fit's default is trainer.defaults.REFIT.
    refit: bool = False
    trainer_version: str = __version__

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(height=self.height, width=self.width, channels=CHANNELS[self.color], color=self.color,
                         resize=self.resize)

    def contract(self, quantization: str = Quantization.FLOAT32, metrics: Mapping[str, Any] | None = None) -> Contract:
        """The model this run makes, described as the runtime reads it: class layout (charset,
        CTC blank, classes), input, arch; export adds the quantization and the run's metrics."""
        return Contract.for_charset(self.kind, self.charset, self.input_spec, self.label_length, arch=self.arch,
                                    quantization=str(quantization), trainer_version=__version__,
                                    min_length=self.min_length, max_length=self.max_length,
                                    metrics=dict(metrics or {}))

    def ctc_layout(self) -> Contract:
        """The CTC class layout over the run's charset: the model's own for a CTC run, and that of a
        multi-head model's training-only CTC output (which has a blank, never an end class)."""
        return Contract.for_charset(Kind.CTC, self.charset, self.input_spec)

    @property
    def lengths(self) -> tuple[int, int] | None:
        """The label lengths this run's model reads, which decide the usable images: a multi-head
        model's heads exactly, or (with an end class) any length up to them; None for CTC, which
        reads any length its time steps allow (checked once the model is built)."""
        if self.kind != Kind.MULTIHEAD:
            return None
        return (1 if self.contract().end_index is not None else self.label_length), self.label_length


#: Every field's default, by name: the CLI's option defaults, and the value that an older
#: config.json lacking a field (added later) was trained with.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(RunConfig) if f.default is not MISSING}
