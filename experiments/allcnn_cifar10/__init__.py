"""The All-CNN study: Springenberg et al.'s Model C and its three siblings on CIFAR-10 (see
experiments/README.md)."""
