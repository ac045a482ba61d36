"""The one version source for the trainer's distribution (captcha-edge-trainer)."""

__version__ = "0.1.0"
