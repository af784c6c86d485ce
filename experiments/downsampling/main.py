r"""Command line of the downsampling study (``common/cli.py``): one run, or a config's sweep grid.

    python -m experiments.downsampling.main --config experiments/downsampling/configs/mnist1d_pooling.py \
        --workdir runs/one --config.model.downsample=avg_pool
    python -m experiments.downsampling.main --sweep --workers 2 \
        --config experiments/downsampling/configs/mnist1d_pooling.py --workdir runs/mnist1d_pooling
"""

from experiments.common import cli
from experiments.downsampling.train import STUDY

if __name__ == "__main__":
    cli.run(STUDY)
