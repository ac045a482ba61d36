"""The architectures by name: kind, default input size, batch size and augmentation. No Keras
here, so ``captcha-train --help`` lists them without TensorFlow; :mod:`trainer.models` holds
the builder of each name."""

from __future__ import annotations

from dataclasses import dataclass

from edge_runtime.contract import Kind


@dataclass(frozen=True)
class Arch:
    name: str
    kind: Kind
    height: int
    width: int
    augment: bool
    batch_size: int
    description: str
    time_stride: int = 4  # input width per output time step (the width pooling): T = width // time_stride


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("cnn-faithful", Kind.MULTIHEAD, 50, 200, False, 32, "textbook multi-head CNN (1.5M params), as published", 8),
        Arch("cnn", Kind.MULTIHEAD, 50, 200, True, 32, "convctc trunk (learned row collapse, width context), shared hidden layer, 5 linear heads, augmentation"),
        Arch("crnn-faithful", Kind.CTC, 50, 200, False, 16, "Keras OCR example: 2 convs + 2 BiLSTMs + CTC, as published"),
        Arch("crnn", Kind.CTC, 50, 200, True, 16, "BatchNorm convs, width/8 time steps, one BiLSTM(64), CTC, augmentation", 8),
        Arch("cnn-attn", Kind.MULTIHEAD, 50, 200, True, 16, "multi-head CNN: per-position attention heads over the convctc trunk, one shared classifier, CTC side output in training"),
        Arch("convctc", Kind.CTC, 50, 200, True, 16, "convolution-only CTC (no recurrence)"),
        Arch("convctc-fast", Kind.CTC, 50, 200, True, 16, "convctc with thinner and separable blocks: a third of the compute"),
    )
}
