r"""The full MNIST-1D pooling grid of Greydanus & Kobak (2024): every train size of the paper.

Same model, data pool and training recipe as ``mnist1d_pooling.py`` (read its docstring for where
we differ from the paper's notebook); only the sweep is larger: train sizes 1000, 2000, 5000,
10000, 20000, 50000 x 7 variants x 3 seeds = 126 runs, each 6000 steps of batch 100.

    python -m experiments.ablate --config experiments/configs/mnist1d_pooling_full.py \
        --workdir runs/mnist1d_full --workers 2

CPU only is enough; the measured table and its timing are in experiments/README.md
("Full grid"). Expected: pooling (max/avg/L2/blur) leads ``strided_conv`` and ``none`` at every size,
by a margin that shrinks from tens of points at 1000 examples to about one or two at 50,000.
"""

from __future__ import annotations

import ml_collections

from experiments.configs import mnist1d_pooling


def get_config() -> ml_collections.ConfigDict:
    """The default MNIST-1D study with ``sweep.train_size`` set to the paper's six grid points.

    Returns:
      A ConfigDict; every field can be overridden on the command line (``--config.seed=1``).
    """
    config = mnist1d_pooling.get_config()
    config.sweep.train_size = mnist1d_pooling.PAPER_TRAIN_SIZES
    return config
