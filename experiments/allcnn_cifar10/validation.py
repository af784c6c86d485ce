"""Config validation of the All-CNN / CIFAR-10 study, before any data is read or anything is compiled.

Messages name the field, its value and what is allowed; the checks every study shares come from
``common.config.check_training``.
"""

from __future__ import annotations

import ml_collections

from experiments.allcnn_cifar10.input_pipeline import FORMATS, FULL_SIZES, PREPROCESS
from experiments.allcnn_cifar10.models import DTYPES, POOLINGS, VARIANTS
from experiments.common.config import check_training, need


def _rate(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0


def validate_config(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
    """Check an All-CNN config (``experiments/allcnn_cifar10/configs/allcnn_cifar10.py`` and overrides).

    Args:
      config: the config.
      num_devices: devices the batch is split over; ``batch_size`` and ``eval_batch_size`` must be
        multiples of it.

    Raises:
      ValueError: naming the field, its value and the allowed values, for the first problem found:
        a model/dataset pairing other than allcnn + cifar10, an unknown variant, dtype, pooling,
        data format or preprocessing, dropout rates outside [0, 1), a non-positive size or
        learning rate, momentum outside [0, 1), negative weight decay, decay epochs that are not
        increasing and positive, a decay factor outside (0, 1], more examples than CIFAR-10 has,
        an empty ``data.root`` without ``data.synthetic``, a checkpoint interval that is not a
        multiple of the eval interval, a batch that does not divide over the devices, bad
        shift-metric settings.
      KeyError/AttributeError: if a required field is missing altogether.
    """
    data, model, opt = config.data, config.model, config.optimizer
    need(model.name == "allcnn", "model.name", model.name, "'allcnn' for data.name='cifar10'")
    need(data.name == "cifar10", "data.name", data.name, "'cifar10' for model.name='allcnn'")
    need(model.downsample in VARIANTS, "model.downsample", model.downsample, f"one of {list(VARIANTS)}")
    need(model.dtype in DTYPES, "model.dtype", model.dtype, f"one of {list(DTYPES)}")
    need(model.pooling in POOLINGS, "model.pooling", model.pooling, f"one of {list(POOLINGS)}")
    for field in ("batch_norm", "final_relu"):
        need(isinstance(model[field], bool), f"model.{field}", model[field], "True or False")
    for field in ("input_dropout", "dropout"):
        need(_rate(model[field]), f"model.{field}", model[field], "a rate in [0, 1)")
    need(opt.name == "sgd", "optimizer.name", opt.name, "'sgd' (the paper's optimizer)")
    need(opt.learning_rate > 0, "optimizer.learning_rate", opt.learning_rate, "a positive float")
    need(0 <= opt.momentum < 1, "optimizer.momentum", opt.momentum, "a float in [0, 1)")
    need(opt.weight_decay >= 0, "optimizer.weight_decay", opt.weight_decay, "a float >= 0")
    epochs = tuple(opt.decay_epochs)
    need(
        all(e > 0 for e in epochs) and all(a < b for a, b in zip(epochs, epochs[1:], strict=False)),
        "optimizer.decay_epochs",
        opt.decay_epochs,
        "positive, strictly increasing epochs (possibly empty)",
    )
    need(0 < opt.decay_factor <= 1, "optimizer.decay_factor", opt.decay_factor, "a float in (0, 1]")
    check_training(config, num_devices)
    for field, most in (("train_size", FULL_SIZES[0]), ("test_size", FULL_SIZES[1])):
        need(data[field] <= most, f"data.{field}", data[field], f"at most {most} (CIFAR-10's size)")
    need(data.format in FORMATS, "data.format", data.format, f"one of {list(FORMATS)}")
    need(data.preprocess in PREPROCESS, "data.preprocess", data.preprocess, f"one of {list(PREPROCESS)}")
    need(data.zca_epsilon > 0, "data.zca_epsilon", data.zca_epsilon, "a positive float")
    need(isinstance(data.synthetic, bool), "data.synthetic", data.synthetic, "True or False")
    need(
        data.synthetic or bool(str(data.root).strip()),
        "data.root",
        data.root,
        "the folder holding cifar-10-batches-py/ or cifar-10-batches-bin/ (or that folder itself), "
        "or --config.data.synthetic=True for random CIFAR-shaped data",
    )
    need(isinstance(data.augment, bool), "data.augment", data.augment, "True or False")
    need(
        isinstance(data.max_translate, int) and 0 <= data.max_translate <= 16,
        "data.max_translate",
        data.max_translate,
        "an int in [0, 16] (pixels)",
    )
