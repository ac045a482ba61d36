"""``python -m edge_runtime``: the captcha-edge CLI, for boards without console scripts on PATH."""

from .cli import main

main(prog_name="captcha-edge")
