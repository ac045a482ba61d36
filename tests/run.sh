#!/usr/bin/env bash
# The project's one test command: builds fresh virtual environments the way the README installs
# the project, then runs the test pyramid.
#   bash tests/run.sh            # everything below
#   bash tests/run.sh fast       # the fast in-process tier only: pytest -m "not e2e" tests/runtime,
#                                #   no dataset, no skips allowed (well under a minute)
#   bash tests/run.sh runtime    # the runtime suite WITHOUT TensorFlow: fast tier, then e2e, then the quick start
#   bash tests/run.sh py313      # the fast tier on Python 3.13 (Raspberry Pi OS / Debian 13's Python)
#   bash tests/run.sh tflite     # the runtime suite on tflite-runtime 2.14 with numpy<2
#   bash tests/run.sh arm64      # the runtime on emulated aarch64 (needs ../shared/tools)
#   bash tests/run.sh network    # serve (HTTP) and --mqtt with a real Mosquitto broker on loopback
#   bash tests/run.sh trainer    # the trainer suite WITH TensorFlow
# The dataset is read by path: CAPTCHA_DATA, default ../shared/data/wilhelmy beside the checkout.
# Only the e2e tier needs it.
set -euo pipefail
shopt -s inherit_errexit  # a failed install inside $(venv ...) stops the script
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
which=${1:-all}
export CAPTCHA_DATA=${CAPTCHA_DATA:-$root/../shared/data/wilhelmy}
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/captcha-edge-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Test the installed package, never the checkout's sources by accident.
export PYTHONSAFEPATH=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2
status=0
want() { [ "$which" = all ] || [ "$which" = "$1" ]; }

need_data() {
  if [ ! -d "$CAPTCHA_DATA" ]; then
    echo "tests/run.sh: dataset not found at $CAPTCHA_DATA (set CAPTCHA_DATA; see README 'Data')" >&2
    exit 2
  fi
}

venv() {  # venv NAME EXTRAS [PYTHON [TRAINER]]: a fresh venv with the project installed as the README says
  # TRAINER: also the trainer's distribution (./train), installed beside the runtime.
  local name=$1 extras=$2 py=${3:-$python} trainer=${4:-} env="$work/$1"
  echo "== $name: fresh venv ($("$py" --version 2>&1)), pip install '.$extras'${trainer:+ ./train}" >&2
  "$py" -m venv "$env"
  "$env/bin/pip" install -q "$root$extras" ${trainer:+"$root/train"} >&2
  "$env/bin/python" -c "import edge_runtime" >/dev/null
  echo "$env"
}

fast_tier() {  # fast_tier ENV: the in-process tier with no dataset anywhere; a skip is a failure
  local env=$1 log="$work/fast-$(basename "$1").log" start end
  echo "== $(basename "$env"): fast tier, pytest -m 'not e2e' tests/runtime (CAPTCHA_DATA points nowhere)"
  start=$(date +%s)
  (cd "$root" && CAPTCHA_DATA=/nonexistent "$env/bin/python" -m pytest -m "not e2e" tests/runtime -p no:cacheprovider -q) \
    | tee "$log" || status=1
  end=$(date +%s)
  if grep -Eq "[0-9]+ skipped" "$log"; then
    echo "tests/run.sh: the fast tier must skip nothing (it needs no dataset)" >&2
    status=1
  fi
  echo "== $(basename "$env"): fast tier took $((end - start)) s"
}

if [ "$which" = fast ]; then  # "all" runs the fast tier inside "runtime"
  env=$(venv fast "[test]")
  fast_tier "$env"
fi
if want runtime; then
  need_data
  env=$(venv runtime "[test]")
  fast_tier "$env"
  echo "== runtime: e2e tier, pytest -m e2e tests/runtime"
  (cd "$root" && "$env/bin/python" -m pytest -m e2e tests/runtime -p no:cacheprovider) || status=1
  # The README's quick start, in that same TensorFlow-free environment and from another
  # directory: the committed examples, then the real data on the shipped default model.
  echo "== runtime: README quick start"
  (cd "$work" && "$env/bin/captcha-edge" predict --model synth36-int8 "$root/examples/" &&
    "$env/bin/captcha-edge" predict "$CAPTCHA_DATA" | tail -n 3) || status=1
fi
if want py313; then
  # Raspberry Pi OS (Debian 13) ships Python 3.13. pyenv provides it on our machines.
  py313=""
  for candidate in "${PYTHON313:-}" "$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 \
                   /root/.pyenv/versions/3.13*/bin/python3.13 python3.13; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      py313=$candidate
      break
    fi
  done
  if [ -n "$py313" ]; then
    env=$(venv py313 "[test]" "$py313")
    fast_tier "$env"
  elif [ -n "${CI:-}" ]; then
    echo "tests/run.sh: CI needs Python 3.13 for the py313 stage, found none" >&2
    status=1
  else
    echo "== py313: skipped, no python3.13 on PATH"
  fi
fi
if want tflite; then
  need_data
  # Boards on the last tflite-runtime (2.14, Python <= 3.11, numpy<2, OpenCV 4.11): the same suite.
  if "$python" -c 'import sys; sys.exit(sys.version_info >= (3, 12))'; then
    env=$(venv runtime-tflite "[tflite,test]")
    echo "== runtime-tflite: pytest tests/runtime"
    (cd "$root" && CAPTCHA_EDGE_INTERPRETER=tflite_runtime "$env/bin/python" -m pytest tests/runtime -p no:cacheprovider) \
      || status=1
  else
    echo "== runtime-tflite: skipped, tflite-runtime 2.14 has no wheels for this Python"
  fi
fi
if want arm64; then
  need_data
  # The runtime on emulated aarch64 (Cortex-A72, a Raspberry Pi 4) with both interpreters: the
  # shipped models must read the same texts as on x86. Emulated timings mean nothing.
  arm_env=${ARM64_ENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/captcha-edge/arm64-env}
  # Everything in-process (the fast tier), plus every shipped model's reference texts on real images.
  arm_tests="python -m pytest tests/runtime -m 'not e2e' -k 'not console_script' -p no:cacheprovider -q &&
             python -m pytest tests/runtime/test_reference_texts.py -m e2e -p no:cacheprovider -q"
  "$root/../shared/tools/arm64-env.sh" -q -p pytest==8.3.4 -p hypothesis "$arm_env" >/dev/null  # build once
  # The emulator runs one thread: the two interpreters' runs go side by side on two cores.
  pids=()
  for interp in ai_edge_litert tflite_runtime; do
    "$root/../shared/tools/arm64-env.sh" -q -p pytest==8.3.4 -p hypothesis "$arm_env" -- \
      env PYTHONPATH="$root" CAPTCHA_EDGE_INTERPRETER=$interp bash -c "cd '$root' && $arm_tests" \
      > "$work/arm64-$interp.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1; do
    interp=$([ $i = 0 ] && echo ai_edge_litert || echo tflite_runtime)
    wait "${pids[$i]}" || status=1
    echo "== arm64 ($interp): pytest on emulated Cortex-A72"
    cat "$work/arm64-$interp.log"
  done
fi
if want network; then
  need_data
  # The optional network extras, against real clients and a real broker, on loopback only.
  env=$(venv network "[test,serve,mqtt]")
  echo "== network: pytest tests/network"
  (cd "$root" && "$env/bin/python" -m pytest tests/network -p no:cacheprovider) || status=1
fi
if want trainer; then
  need_data
  env=$(venv trainer "[test]" "$python" trainer)
  echo "== trainer: pytest tests/trainer"
  (cd "$root" && "$env/bin/python" -m pytest tests/trainer -p no:cacheprovider) || status=1
fi
exit $status
