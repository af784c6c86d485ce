"""Config validation of the downsampling study (MNIST-1D and 2-D digits), before any compute.

``validate_config`` checks every field this study's training code reads and fails in milliseconds with a
message that names the field, the value and what is allowed; the checks every study shares come from
``common.config.check_training``. Whether the input survives ``num_stages`` downsampling stages is asked of
the stage's own layers (``models.stage_output_spatial``: ``jax.eval_shape`` and
``jaxpool.pool_output_shape``), not recomputed by hand.
"""

from __future__ import annotations

import ml_collections

from experiments.common.config import check_training, need, positive_int
from experiments.downsampling.canvas import check_canvas
from experiments.downsampling.input_pipeline import LOADERS, RECIPES, TRAIN_DRAWS, check_sizes
from experiments.downsampling.models import DTYPES, HEADS, MODELS, POOLINGS, VARIANTS, stage_output_spatial

#: Spatial input shape of each fixed-size dataset (one example, without the channel axis); "digits_canvas"
#: is ``data.canvas_size`` squared.
INPUT_SPATIAL = {"mnist1d": (40,), "mnist": (28, 28)}
OPTIMIZERS = ("adam", "sgd")


def validate_config(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
    """Check a downsampling-study config before any data is loaded or anything is compiled.

    Args:
      config: a config as returned by a ``get_config()`` of ``experiments/downsampling/configs`` (possibly
        overridden).
      num_devices: the number of devices the batch is sharded over; ``batch_size`` and
        ``eval_batch_size`` must be multiples of it.

    Raises:
      ValueError: naming the field, its value and the allowed values, for the first problem found
        (unknown dataset/model/variant/optimizer name, non-positive sizes, a checkpoint interval
        that is not a multiple of the eval interval, a batch that does not divide over the devices,
        more downsampling stages than the input allows, more examples than the dataset has, bad shift-metric
        settings, a shift as large as the input, a canvas too small for its margin or a shift larger than the
        margin).
      KeyError/AttributeError: if a required field is missing altogether.
    """
    data, model = config.data, config.model
    need(data.name in LOADERS, "data.name", data.name, f"one of {sorted(LOADERS)}")
    need(model.name in MODELS, "model.name", model.name, f"one of {list(MODELS)}")
    need(model.downsample in VARIANTS, "model.downsample", model.downsample, f"one of {list(VARIANTS)}")
    need(config.optimizer.name in OPTIMIZERS, "optimizer.name", config.optimizer.name, f"one of {list(OPTIMIZERS)}")
    need(
        config.optimizer.learning_rate > 0,
        "optimizer.learning_rate",
        config.optimizer.learning_rate,
        "a positive float",
    )
    momentum = config.optimizer.get("momentum", 0.0)
    need(0 <= momentum < 1, "optimizer.momentum", momentum, "a float in [0, 1)")
    check_training(config, num_devices)
    need(float(model.lp_norm) >= 1.0, "model.lp_norm", model.lp_norm, "a float >= 1")
    need(model.blur_filter_size in (3, 4, 5), "model.blur_filter_size", model.blur_filter_size, "3, 4 or 5")
    dtype, pooling = model.get("dtype", "float32"), model.get("pooling", "jaxpool")
    need(dtype in DTYPES, "model.dtype", dtype, f"one of {list(DTYPES)}")
    need(pooling in POOLINGS, "model.pooling", pooling, f"one of {list(POOLINGS)}")
    if data.name == "mnist1d":
        positive_int(config, "data.pool_size")
        recipe, draw = data.get("recipe", "pool"), data.get("train_draw", "first")
        need(recipe in RECIPES, "data.recipe", recipe, f"one of {list(RECIPES)}")
        need(draw in TRAIN_DRAWS, "data.train_draw", draw, f"one of {list(TRAIN_DRAWS)}")
    if data.name == "digits_canvas":
        check_canvas(data.canvas_size, data.margin)
        need(
            config.shift.max_shift <= data.margin,
            "shift.max_shift",
            config.shift.max_shift,
            f"at most data.margin={data.margin} (a larger shift would move digit pixels off the canvas)",
        )
        spatial = (data.canvas_size,) * 2
    else:
        spatial = INPUT_SPATIAL[data.name]
    check_sizes(data)
    need(
        config.shift.max_shift < min(spatial),
        "shift.max_shift",
        config.shift.max_shift,
        f"less than the input's size {min(spatial)} (a shift by the whole input leaves nothing of it in view)",
    )
    if model.name == "cnn1d":
        need(len(spatial) == 1, "model.name", model.name, "cnn2d for 2-D data")
        positive_int(config, "model.num_stages")
        positive_int(config, "model.channels")
        k = model.kernel_size
        need(isinstance(k, int) and k > 0 and k % 2 == 1, "model.kernel_size", k, "an odd positive int")
        stages, stage_field = model.num_stages, "model.num_stages"
    else:
        need(len(spatial) == 2, "model.name", model.name, "cnn1d for 1-D data")
        need(
            len(model.widths) >= 1 and all(w > 0 for w in model.widths),
            "model.widths",
            model.widths,
            "a non-empty tuple of positive ints",
        )
        head = model.get("head", "gap")
        need(head in HEADS, "model.head", head, f"one of {list(HEADS)}")
        convs = model.get("convs_per_stage", 2)
        need(convs in (1, 2) and not isinstance(convs, bool), "model.convs_per_stage", convs, "1 or 2")
        stages, stage_field, k = len(model.widths), "model.widths (its length)", 3
    _check_stages(model, spatial, stages, stage_field, k)


def _check_stages(
    model: ml_collections.ConfigDict, spatial: tuple[int, ...], stages: int, field: str, kernel: int
) -> None:
    """Raise if one of ``stages`` downsampling stages cannot run on what the previous ones leave of
    ``spatial`` (jaxpool's own error, e.g. a window larger than the feature map, is quoted)."""
    sizes = tuple(spatial)
    for stage in range(stages):
        try:
            sizes = stage_output_spatial(
                model.downsample, sizes, kernel, float(model.lp_norm), int(model.blur_filter_size)
            )
        except ValueError as e:
            raise ValueError(
                f"config.{field}={stages} is too many for model.downsample={model.downsample!r}: the input "
                f"{tuple(spatial)} is {sizes} before stage {stage + 1}, too small for its downsampling ({e}); "
                f"allowed: at most {stage} stages"
            ) from None
