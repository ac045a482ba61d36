"""The one version source of the runtime distribution (captcha-edge)."""

__version__ = "0.1.0"
