"""The one version source for the distribution, the runtime and the trainer."""

__version__ = "0.1.0"
