"""Config validation (before any compute) and run identity for the experiment side.

``validate_config`` checks every field the training code reads and fails in milliseconds with a
message that names the field, the value and what is allowed. ``result_fields`` is the part of a
config that can change a run's numbers; two configs with equal ``result_fields`` describe the same
run (used on resume and by sweeps).
"""

from __future__ import annotations

import json
from typing import Any

import ml_collections

from experiments import _distributed
from experiments.data import LOADERS, RECIPES, TRAIN_DRAWS
from experiments.models import DTYPES, MODELS, POOLINGS, VARIANTS, downsampled_size

#: Spatial input shape of each dataset (one example, without the channel axis).
INPUT_SPATIAL = {"mnist1d": (40,), "mnist": (28, 28)}
OPTIMIZERS = ("adam", "sgd")
#: Fields that never change a run's numbers (display, locations, sweep and reference metadata).
NON_RESULT_FIELDS = ("sweep", "reference", "progress_bar", "data.cache_dir", "distributed")


def _need(cond: bool, field: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ValueError(f"config.{field}={value!r} is invalid; allowed: {allowed}")


def _positive_int(config: ml_collections.ConfigDict, field: str) -> int:
    value = config
    for part in field.split("."):
        value = value[part]
    _need(
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        field,
        value,
        "a positive integer",
    )
    return value


def validate_config(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
    """Check a training config before any data is loaded or anything is compiled.

    Args:
      config: a config as returned by ``get_config()`` (possibly overridden).
      num_devices: the number of devices the batch is sharded over; ``batch_size`` and
        ``eval_batch_size`` must be multiples of it.

    Raises:
      ValueError: naming the field, its value and the allowed values, for the first problem found
        (unknown dataset/model/variant/optimizer name, non-positive sizes, a checkpoint interval
        that is not a multiple of the eval interval, a batch that does not divide over the devices,
        more downsampling stages than the input allows, a pooling window or blur filter larger than the
        feature map it meets, bad shift-metric settings, a bad ``distributed`` section).
        KeyError/AttributeError: if a required field is missing altogether.
    """
    _distributed.validate(config)  # every study, before anything else
    data, model = config.data, config.model
    if model.name == "allcnn" or data.name == "cifar10":  # the All-CNN study checks its own fields
        from experiments._allcnn_config import validate_allcnn_config

        validate_allcnn_config(config, num_devices)
        return
    _need(data.name in LOADERS, "data.name", data.name, f"one of {sorted(LOADERS)}")
    _need(model.name in MODELS, "model.name", model.name, f"one of {list(MODELS)}")
    _need(
        model.downsample in VARIANTS,
        "model.downsample",
        model.downsample,
        f"one of {list(VARIANTS)}",
    )
    _need(
        config.optimizer.name in OPTIMIZERS,
        "optimizer.name",
        config.optimizer.name,
        f"one of {list(OPTIMIZERS)}",
    )
    _need(
        config.optimizer.learning_rate > 0,
        "optimizer.learning_rate",
        config.optimizer.learning_rate,
        "a positive float",
    )
    for field in (
        "batch_size",
        "eval_batch_size",
        "num_steps",
        "eval_every",
        "checkpoint_every",
        "data.train_size",
        "data.test_size",
    ):
        _positive_int(config, field)
    _need(
        config.checkpoint_every % config.eval_every == 0,
        "checkpoint_every",
        config.checkpoint_every,
        f"a positive multiple of eval_every={config.eval_every} "
        "(checkpoints are taken at eval points)",
    )
    for field in ("batch_size", "eval_batch_size"):
        size = config[field]
        if size % num_devices:
            raise ValueError(
                f"config.{field}={size} does not divide over the {num_devices} devices; "
                f"allowed: a multiple of {num_devices}"
            )
    _need(config.shift.max_shift >= 0, "shift.max_shift", config.shift.max_shift, "an integer >= 0")
    _need(config.shift.passes >= 1, "shift.passes", config.shift.passes, "an integer >= 1")
    _need(float(model.lp_norm) >= 1.0, "model.lp_norm", model.lp_norm, "a float >= 1")
    _need(
        model.blur_filter_size in (3, 4, 5),
        "model.blur_filter_size",
        model.blur_filter_size,
        "3, 4 or 5",
    )
    dtype, pooling = model.get("dtype", "float32"), model.get("pooling", "jaxpool")
    _need(dtype in DTYPES, "model.dtype", dtype, f"one of {list(DTYPES)}")
    _need(pooling in POOLINGS, "model.pooling", pooling, f"one of {list(POOLINGS)}")
    if data.name == "mnist1d":
        _positive_int(config, "data.pool_size")
        _need(
            data.get("recipe", "pool") in RECIPES,
            "data.recipe",
            data.get("recipe"),
            f"one of {list(RECIPES)}",
        )
        _need(
            data.get("train_draw", "first") in TRAIN_DRAWS,
            "data.train_draw",
            data.get("train_draw"),
            f"one of {list(TRAIN_DRAWS)}",
        )
    spatial = INPUT_SPATIAL[data.name]
    if model.name == "cnn1d":
        _need(len(spatial) == 1, "model.name", model.name, "cnn2d for 2-D data")
        _positive_int(config, "model.num_stages")
        _positive_int(config, "model.channels")
        k = model.kernel_size
        _need(
            isinstance(k, int) and k > 0 and k % 2 == 1,
            "model.kernel_size",
            k,
            "an odd positive int",
        )
        stages, stage_field = model.num_stages, "model.num_stages"
    else:
        _need(len(spatial) == 2, "model.name", model.name, "cnn1d for 1-D data")
        _need(
            len(model.widths) >= 1 and all(w > 0 for w in model.widths),
            "model.widths",
            model.widths,
            "a non-empty tuple of positive ints",
        )
        stages, stage_field, k = len(model.widths), "model.widths (its length)", 3
    _check_stages(model.downsample, spatial, stages, stage_field, k, model.blur_filter_size)


def _check_stages(
    variant: str, spatial: tuple[int, ...], stages: int, field: str, kernel: int, blur: int
) -> None:
    """Raise if ``stages`` downsampling points shrink some spatial dim below what the variant
    needs."""
    need = {"blur_pool": blur // 2 + 2, "max_pool": 2, "avg_pool": 2, "lp_pool": 2}.get(variant, 1)
    what = {
        "blur_pool": f"the {need} that MaxPool(window 2, stride 1) and then BlurPool(filter {blur}, reflect "
        "padding) need (the window larger than the feature map)",
    }.get(variant, f"the pooling window of {need}")
    sizes = list(spatial)
    for stage in range(stages):
        if min(sizes) < need:
            allowed = stage
            raise ValueError(
                f"config.{field}={stages} is too many for model.downsample={variant!r}: the input "
                f"{tuple(spatial)} is {tuple(sizes)} before stage {stage + 1}, smaller than {what}; "
                f"allowed: at most {allowed} stages"
            )
        sizes = [downsampled_size(variant, s, kernel, blur) for s in sizes]


def result_fields(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The config as a plain dict without the fields in ``NON_RESULT_FIELDS`` (JSON-compatible)."""
    plain = json.loads(config.to_json_best_effort())
    for field in NON_RESULT_FIELDS:
        *parents, leaf = field.split(".")
        node = plain
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    return plain
