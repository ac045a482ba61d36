"""A device has no TensorFlow: the runtime must work without it, and never import it."""

import importlib.util
import json
import subprocess
import sys

BLOCKER = r"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'):
            raise ImportError('blocked by test: ' + name)
sys.meta_path.insert(0, Block())
from edge_runtime.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))
    print('LEAKED', leaked, file=sys.stderr)
"""


def test_tensorflow_is_not_installed_here():
    # The runtime suite runs in an environment made by 'pip install .', which has no TensorFlow.
    assert importlib.util.find_spec("tensorflow") is None
    assert importlib.util.find_spec("keras") is None


def test_cli_works_with_tensorflow_import_blocked(wilhelmy):
    image = str(sorted(wilhelmy.glob("*.png"))[0])
    out = subprocess.run([sys.executable, "-c", BLOCKER, "predict", "--format", "jsonl", image],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "text" in json.loads(out.stdout.splitlines()[0])
    assert "LEAKED []" in out.stderr
    info = subprocess.run([sys.executable, "-c", BLOCKER, "info"], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0 and "LEAKED []" in info.stderr, info.stderr
