r"""Command line of the All-CNN study (``common/cli.py``): one run, or the config's sweep of the four variants.

    python -m experiments.allcnn_cifar10.main --config experiments/allcnn_cifar10/configs/allcnn_cifar10.py \
        --workdir runs/allcnn/allconv --config.data.root=ROOT --config.model.downsample=allconv
    python -m experiments.allcnn_cifar10.main --sweep \
        --config experiments/allcnn_cifar10/configs/allcnn_cifar10.py --workdir runs/allcnn --config.data.root=ROOT
"""

from experiments.allcnn_cifar10.train import STUDY
from experiments.common import cli

if __name__ == "__main__":
    cli.run(STUDY)
