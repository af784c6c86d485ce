#!/usr/bin/env bash
# The main job: the default downsampling ablation (MNIST-1D, generated offline) on CPU, then its summary table.
# Extra args go to `python -m experiments.downsampling.main --sweep` (e.g. --workdir DIR, --config.sweep.seed=0,1).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
python -m experiments.downsampling.main --sweep --config experiments/downsampling/configs/mnist1d_pooling.py \
  --workdir "${WORKDIR:-runs/mnist1d_pooling}" --workers 2 "$@"
