#!/usr/bin/env bash
# The project's one test command: builds fresh virtual environments the way the README installs
# the project, then runs the runtime suite WITHOUT TensorFlow and the trainer suite WITH it.
#   bash tests/run.sh            # both suites
#   bash tests/run.sh runtime    # only the runtime suite (no TensorFlow download)
#   bash tests/run.sh tflite     # the runtime suite on tflite-runtime 2.14 with numpy<2
#   bash tests/run.sh arm64      # the runtime on emulated aarch64 (needs ../shared/tools)
#   bash tests/run.sh trainer    # only the trainer suite
# The dataset is read by path: CAPTCHA_DATA, default ../shared/data/wilhelmy beside the checkout.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
which=${1:-all}
export CAPTCHA_DATA=${CAPTCHA_DATA:-$root/../shared/data/wilhelmy}
if [ ! -d "$CAPTCHA_DATA" ]; then
  echo "tests/run.sh: dataset not found at $CAPTCHA_DATA (set CAPTCHA_DATA; see README 'Data')" >&2
  exit 2
fi
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/captcha-edge-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Test the installed package, never the checkout's sources by accident.
export PYTHONSAFEPATH=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2
status=0

suite() {  # suite NAME EXTRAS TESTDIR [ENV=VALUE...]
  local name=$1 extras=$2 tests=$3 env="$work/$1"
  shift 3
  echo "== $name: fresh venv, pip install '.$extras'"
  "$python" -m venv "$env"
  "$env/bin/pip" install -q "$root$extras"
  "$env/bin/python" -c "import edge_runtime" >/dev/null
  echo "== $name: pytest $tests"
  (cd "$root" && env "$@" "$env/bin/python" -m pytest "$tests" -p no:cacheprovider) || status=1
}

if [ "$which" = all ] || [ "$which" = runtime ]; then
  suite runtime "[test]" tests/runtime
  # The README's quick start, in that same TensorFlow-free environment and from another
  # directory: the committed examples, then the real data on the shipped default model.
  echo "== runtime: README quick start"
  (cd "$work" && "$work/runtime/bin/captcha-edge" predict --model synth36-int8 "$root/examples/" &&
    "$work/runtime/bin/captcha-edge" predict "$CAPTCHA_DATA" | tail -n 3) || status=1
fi
if [ "$which" = all ] || [ "$which" = tflite ]; then
  # Boards on the last tflite-runtime (2.14, Python <= 3.11, numpy<2, OpenCV 4.11): the same suite.
  if "$python" -c 'import sys; sys.exit(sys.version_info >= (3, 12))'; then
    suite runtime-tflite "[tflite,test]" tests/runtime CAPTCHA_EDGE_INTERPRETER=tflite_runtime
  else
    echo "== runtime-tflite: skipped, tflite-runtime 2.14 has no wheels for this Python"
  fi
fi
if [ "$which" = all ] || [ "$which" = arm64 ]; then
  # The runtime on emulated aarch64 (Cortex-A72, a Raspberry Pi 4) with both interpreters: the
  # shipped models must read the same texts as on x86. Emulated timings mean nothing.
  arm_env=${ARM64_ENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/captcha-edge/arm64-env}
  arm_tests="tests/runtime/test_reference_texts.py tests/runtime/test_contract.py tests/runtime/test_images.py
             tests/runtime/test_recognizer.py tests/runtime/test_cli.py tests/runtime/test_no_tensorflow.py"
  for interp in ai_edge_litert tflite_runtime; do
    echo "== arm64 ($interp): pytest on emulated Cortex-A72"
    "$root/../shared/tools/arm64-env.sh" -q -p pytest==8.3.4 -p hypothesis "$arm_env" -- \
      env PYTHONPATH="$root" CAPTCHA_EDGE_INTERPRETER=$interp bash -c \
      "cd '$root' && python -m pytest $(echo $arm_tests) -p no:cacheprovider -k 'not console_script'" || status=1
  done
fi
if [ "$which" = all ] || [ "$which" = trainer ]; then
  suite trainer "[train,test]" tests/trainer
fi
exit $status
