"""Configs of the All-CNN study: ``allcnn_cifar10.get_config()`` (its docstring gives the commands and the
published figures)."""
