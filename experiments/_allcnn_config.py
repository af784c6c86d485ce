"""Validation of All-CNN / CIFAR-10 configs, before any data is read or anything is compiled.

``_config.validate_config`` hands configs with ``model.name == "allcnn"`` or ``data.name ==
"cifar10"`` to ``validate_allcnn_config``; the messages follow the same form (field, value, what is
allowed).
"""

from __future__ import annotations

import ml_collections

from experiments import _distributed
from experiments._config import _need, _positive_int
from experiments.allcnn import DTYPES, POOLINGS, VARIANTS
from experiments.cifar10 import FORMATS, FULL_SIZES, PREPROCESS


def _rate(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0


def validate_allcnn_config(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
    """Check an All-CNN config (``experiments/configs/allcnn_cifar10.py`` and overrides).

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
        shift-metric settings, a bad ``distributed`` section (``_distributed.validate``).
      KeyError/AttributeError: if a required field is missing altogether.
    """
    data, model, opt = config.data, config.model, config.optimizer
    _need(model.name == "allcnn", "model.name", model.name, "'allcnn' for data.name='cifar10'")
    _need(data.name == "cifar10", "data.name", data.name, "'cifar10' for model.name='allcnn'")
    _need(model.downsample in VARIANTS, "model.downsample", model.downsample, f"one of {list(VARIANTS)}")
    _need(model.dtype in DTYPES, "model.dtype", model.dtype, f"one of {list(DTYPES)}")
    _need(model.pooling in POOLINGS, "model.pooling", model.pooling, f"one of {list(POOLINGS)}")
    for field in ("batch_norm", "final_relu"):
        _need(isinstance(model[field], bool), f"model.{field}", model[field], "True or False")
    for field in ("input_dropout", "dropout"):
        _need(_rate(model[field]), f"model.{field}", model[field], "a rate in [0, 1)")
    _need(opt.name == "sgd", "optimizer.name", opt.name, "'sgd' (the paper's optimizer)")
    _need(opt.learning_rate > 0, "optimizer.learning_rate", opt.learning_rate, "a positive float")
    _need(0 <= opt.momentum < 1, "optimizer.momentum", opt.momentum, "a float in [0, 1)")
    _need(opt.weight_decay >= 0, "optimizer.weight_decay", opt.weight_decay, "a float >= 0")
    epochs = tuple(opt.decay_epochs)
    _need(
        all(e > 0 for e in epochs) and all(a < b for a, b in zip(epochs, epochs[1:], strict=False)),
        "optimizer.decay_epochs",
        opt.decay_epochs,
        "positive, strictly increasing epochs (possibly empty)",
    )
    _need(0 < opt.decay_factor <= 1, "optimizer.decay_factor", opt.decay_factor, "a float in (0, 1]")
    for field in ("batch_size", "eval_batch_size", "num_steps", "eval_every", "checkpoint_every",
                  "data.train_size", "data.test_size"):
        _positive_int(config, field)
    for field, most in (("train_size", FULL_SIZES[0]), ("test_size", FULL_SIZES[1])):
        _need(data[field] <= most, f"data.{field}", data[field], f"at most {most} (CIFAR-10's size)")
    _need(data.format in FORMATS, "data.format", data.format, f"one of {list(FORMATS)}")
    _need(data.preprocess in PREPROCESS, "data.preprocess", data.preprocess, f"one of {list(PREPROCESS)}")
    _need(data.zca_epsilon > 0, "data.zca_epsilon", data.zca_epsilon, "a positive float")
    _need(isinstance(data.synthetic, bool), "data.synthetic", data.synthetic, "True or False")
    _need(
        data.synthetic or bool(str(data.root).strip()),
        "data.root",
        data.root,
        "the folder holding cifar-10-batches-py/ or cifar-10-batches-bin/ (or that folder itself), "
        "or --config.data.synthetic=True for random CIFAR-shaped data",
    )
    _need(isinstance(data.augment, bool), "data.augment", data.augment, "True or False")
    _need(
        isinstance(data.max_translate, int) and 0 <= data.max_translate <= 16,
        "data.max_translate",
        data.max_translate,
        "an int in [0, 16] (pixels)",
    )
    _need(
        config.checkpoint_every % config.eval_every == 0,
        "checkpoint_every",
        config.checkpoint_every,
        f"a positive multiple of eval_every={config.eval_every} (checkpoints are taken at eval points)",
    )
    for field in ("batch_size", "eval_batch_size"):
        if config[field] % num_devices:
            raise ValueError(
                f"config.{field}={config[field]} does not divide over the {num_devices} devices; "
                f"allowed: a multiple of {num_devices}"
            )
    _need(config.shift.max_shift >= 0, "shift.max_shift", config.shift.max_shift, "an integer >= 0")
    _need(config.shift.passes >= 1, "shift.passes", config.shift.passes, "an integer >= 1")
    _distributed.validate(config)
