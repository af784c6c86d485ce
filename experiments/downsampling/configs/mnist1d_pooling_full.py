r"""The full MNIST-1D pooling grid of Greydanus & Kobak (2024): every train size of the paper.

Same model, data pool and training recipe as ``mnist1d_pooling.py`` (read its docstring for where
we differ from the paper's notebook); only the sweep is larger: train sizes 1000, 2000, 5000,
10000, 20000, 50000 x the variants x 10 seeds (0-9, paired across variants), each 6000 steps of batch 100.

    python -m experiments.downsampling.main --sweep --config experiments/downsampling/configs/mnist1d_pooling_full.py \
        --workdir runs/mnist1d_full --workers 2

CPU only is enough (12 variants x 10 seeds x 6 sizes = 720 runs: 59 min 34 s wall on 2 cores with two
workers, about 10 minutes of it sharing the machine with the test suite; 102 CPU-minutes); the measured
table is in experiments/README.md ("MNIST-1D, the paper's full grid") and experiments/results/mnist1d_full/.
Expected (paired tests, Holm-corrected): every pooling variant (max/avg/L2/blur) stays above
``strided_conv`` and ``subsample`` at every size, by a margin that shrinks with the data (max_pool minus
subsample: +18.28 points at 1000 examples, +1.85 at 50,000); avg and L2 pooling show no measurable
difference from ``none`` from 10,000 examples on; every cell the paper has is within 3 points of it except
avg_pool at 1000 (74.7 vs 78.0).
"""

from __future__ import annotations

import ml_collections

from experiments.downsampling.configs import mnist1d_pooling


def get_config() -> ml_collections.ConfigDict:
    """The default MNIST-1D study with ``sweep.train_size`` set to the paper's six grid points::

        python -m experiments.downsampling.main --sweep --workers 2 \
            --config experiments/downsampling/configs/mnist1d_pooling_full.py --workdir runs/mnist1d_full

    Expected: experiments/results/mnist1d_full/summary.md (max_pool 77.5 % at 1000 examples and 97.3 %
    at 50,000, learned_conv 76.1 % and 97.3 %; every cell the paper has within 3 points except avg_pool at
    1000, 74.7 vs 78.0). Measured: 720 runs, 59 min 34 s wall with 2 workers on the 2-core CPU (sharing it
    with the test suite for about 10 minutes), 102 CPU-minutes.

    Returns:
      A ConfigDict; every field can be overridden on the command line (``--config.seed=1``).
    """
    config = mnist1d_pooling.get_config()
    config.sweep.train_size = mnist1d_pooling.PAPER_TRAIN_SIZES
    config.sweep.seed = tuple(range(10))  # paired across variants, as in the main config
    return config
