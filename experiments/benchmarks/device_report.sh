#!/usr/bin/env bash
# One-call device report (issue 12): pooling headline cases, the window-scaling grid (float32 and bfloat16)
# and the train-step benchmark, each as JSON in one folder. Meant for a lent GPU (or TPU) machine with no
# network: it uses the Python already installed there (${PYTHON:-python3}) and installs nothing.
#
#   OUT=/some/folder bash experiments/benchmarks/device_report.sh     # default folder: device_report/
#
# Budget: at most 8 minutes on one GPU. Each step has its own timeout, so a slow step cannot eat the rest;
# the 1-D window grid stops at 1024 for bfloat16 and at 4096 for float32 (Flax's gradient is O(n * window)).
set -u
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
OUT="${OUT:-device_report}"
mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/log.txt"; }
step() {  # step NAME SECONDS CMD...
  local name=$1 secs=$2; shift 2
  log "start $name (limit ${secs}s)"
  timeout "$secs" "$@" > "$OUT/$name.txt" 2>&1
  log "end $name: exit $?"
}
log "python $("$PY" -c 'import sys, jax; print(sys.version.split()[0], "jax", jax.__version__, jax.devices())' 2>&1)"
"$PY" -c 'import jax; print(jax.default_backend())' > "$OUT/backend.txt" 2>&1
step headline 60 "$PY" -m experiments.benchmarks.pooling --quick --repeats 10 --json "$OUT/headline.json"
step windows_f32 170 "$PY" -m experiments.benchmarks.pooling --windows --repeats 5 --compiles 1 --dtype float32 \
  --json "$OUT/windows_float32.json"
step windows_bf16 110 "$PY" -m experiments.benchmarks.pooling --windows --repeats 3 --compiles 1 --dtype bfloat16 \
  --window-sizes 2 8 32 128 512 1024 --json "$OUT/windows_bfloat16.json"
step train_step 100 "$PY" -m experiments.benchmarks.train_step --repeats 5 --json "$OUT/train_step.json"
log "done; files in $OUT"
ls -l "$OUT" | tee -a "$OUT/log.txt"
