r"""The full MNIST-1D pooling grid of Greydanus & Kobak (2024): every train size of the paper.

Same model, data pool and training recipe as ``mnist1d_pooling.py`` (read its docstring for where
we differ from the paper's notebook); only the sweep is larger: train sizes 1000, 2000, 5000,
10000, 20000, 50000 x the variants x 10 seeds (0-9, paired across variants), each 6000 steps of batch 100.

    python -m experiments.downsampling.main --sweep --config experiments/downsampling/configs/mnist1d_pooling_full.py \
        --workdir runs/mnist1d_full --workers 2

CPU only is enough (15 min 24 s wall on 2 cores with two workers, measured with 7 variants x 3 seeds);
the measured table is in experiments/README.md ("MNIST-1D, the paper's full grid") and
experiments/results/mnist1d_full/.
Expected: every pooling variant (max/avg/L2/blur) leads ``strided_conv`` and ``none`` at every
size, by a margin that shrinks with the data (worst pooling minus best control, measured: +13.3,
+7.1, +3.0, +1.6, +1.7, +0.7 points at 1000 ... 50,000 examples), and every cell the paper has is
within 4 points of it (within 1.6 from 5000 examples on).
"""

from __future__ import annotations

import ml_collections

from experiments.downsampling.configs import mnist1d_pooling


def get_config() -> ml_collections.ConfigDict:
    """The default MNIST-1D study with ``sweep.train_size`` set to the paper's six grid points::

        python -m experiments.downsampling.main --sweep --workers 2 \
            --config experiments/downsampling/configs/mnist1d_pooling_full.py --workdir runs/mnist1d_full

    Expected: experiments/results/mnist1d_full/summary.md (pooling leads strided_conv and none at every
    size, by +13.3 points at 1000 examples down to +0.7 at 50,000).

    Returns:
      A ConfigDict; every field can be overridden on the command line (``--config.seed=1``).
    """
    config = mnist1d_pooling.get_config()
    config.sweep.train_size = mnist1d_pooling.PAPER_TRAIN_SIZES
    config.sweep.seed = tuple(range(10))  # paired across variants, as in the main config
    return config
