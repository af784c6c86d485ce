"""Training of the All-CNN study: SGD with momentum, weight decay and a step schedule, dropout, optional
BatchNorm statistics and on-device flip/translation augmentation; and ``train_and_evaluate``.

``build_steps`` describes one step as ``common.steps.StepFunctions`` and ``STUDY`` bundles it with this
study's validation and input pipeline for ``common/`` (the trainer, the sweep runner and the CLI do not know
which study they drive). What differs from the downsampling study's step:

- ``state`` is ``{"params": variables, "opt_state", "step", "rng"}``, where ``variables`` is the
  Flax variables dict (``params``, plus ``batch_stats`` with BatchNorm) that eval, predict and the
  FLOPs count take; the optimizer sees only ``variables["params"]``.
- Every step draws its dropout and augmentation randomness from ``fold_in(key(config.seed),
  step)``, a pure function of (seed, step), so a resumed run repeats an uninterrupted one.
- Training mode: dropout on, BatchNorm on batch statistics (its running averages are carried in
  ``variables["batch_stats"]``, momentum 0.9); eval/predict: dropout off, running averages.
- A chunk runs one jitted step per batch from Python instead of one ``lax.scan`` (``scan=False``):
  XLA:CPU runs the kernel-gradient convolutions of a scan body whose weights are loop-carried ~25x
  slower (measured); accelerators lose nothing. The steps are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.allcnn_cifar10.input_pipeline import load_data
from experiments.allcnn_cifar10.models import create_allcnn, init_variables
from experiments.allcnn_cifar10.validation import validate_config
from experiments.common import trainer
from experiments.common.metrics import cross_entropy
from experiments.common.steps import StepFunctions
from experiments.common.study import Study


def decay_boundaries(optimizer: Any, train_size: int, batch_size: int) -> list[int]:
    """Steps at which the learning rate is multiplied by ``optimizer.decay_factor``.

    Epoch ``e`` ends after ``e * train_size / batch_size`` steps (batches wrap around the training
    set, ``common.steps.batch_indices``); the boundary is that number rounded to the nearest step.

    Args:
      optimizer: the ``optimizer`` ConfigDict (``decay_epochs``, a tuple of increasing epochs).
      train_size: training examples.
      batch_size: examples per step.

    Returns:
      Increasing step numbers, one per entry of ``decay_epochs``.
    """
    return [round(e * train_size / batch_size) for e in optimizer.decay_epochs]


def make_allcnn_optimizer(
    optimizer: Any, train_size: int, batch_size: int
) -> optax.GradientTransformation:
    """SGD with momentum, L2 weight decay on the convolution kernels, and a step schedule.

    ``optax.chain(optax.add_decayed_weights(weight_decay, mask=kernels),
    optax.sgd(piecewise_constant_schedule(learning_rate, {b: decay_factor}), momentum))``: the
    gradient of ``loss + weight_decay / 2 * sum(kernel ** 2)`` (the paper's weight decay, lambda =
    1e-3), heavy-ball momentum ``v = g + m v``, update ``-lr(step) * v``. Biases and BatchNorm
    parameters are not decayed.

    Args:
      optimizer: the ``optimizer`` ConfigDict (``learning_rate``, ``momentum``, ``weight_decay``,
        ``decay_epochs``, ``decay_factor``).
      train_size: training examples (for the epoch -> step conversion).
      batch_size: examples per step.

    Returns:
      The optax transformation, to be applied to the ``params`` collection only.
    """
    schedule = optax.piecewise_constant_schedule(
        float(optimizer.learning_rate),
        {b: float(optimizer.decay_factor) for b in decay_boundaries(optimizer, train_size, batch_size)},
    )

    def kernels(params: Any) -> Any:
        return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key == "kernel", params)

    return optax.chain(
        optax.add_decayed_weights(float(optimizer.weight_decay), mask=kernels),
        optax.sgd(schedule, momentum=float(optimizer.momentum) or None),
    )


def flip_and_translate(x: jax.Array, flips: jax.Array, shifts: jax.Array, max_shift: int) -> jax.Array:
    """Mirror some images left-right, then move each by its own offset, filling with zeros.

    ``out[b, i, j] = f[b, i - dy, j - dx]`` where ``f`` is ``x[b]`` mirrored along W when
    ``flips[b]``, ``(dy, dx) = shifts[b]``, and positions that come from outside the image are 0
    (the mean of preprocessed data).

    Args:
      x: ``(B, H, W, C)`` images.
      flips: bool ``(B,)``.
      shifts: int32 ``(B, 2)``, each in ``[-max_shift, max_shift]``.
      max_shift: the largest offset (>= 0).

    Returns:
      An array like ``x``.
    """
    x = jnp.where(flips[:, None, None, None], x[:, :, ::-1, :], x)
    if max_shift == 0:
        return x
    m = max_shift
    padded = jnp.pad(x, ((0, 0), (m, m), (m, m), (0, 0)))
    h, w, c = x.shape[1:]

    def crop(img: jax.Array, shift: jax.Array) -> jax.Array:
        start = (m - shift[0], m - shift[1], jnp.zeros((), shift.dtype))
        return jax.lax.dynamic_slice(img, start, (h, w, c))

    return jax.vmap(crop)(padded, shifts)


def random_augment(key: jax.Array, x: jax.Array, max_shift: int) -> jax.Array:
    """``flip_and_translate`` with flips ~ Bernoulli(1/2) and offsets uniform in ``[-max_shift,
    max_shift]`` per axis, independently per example, drawn from ``key``."""
    k_flip, k_shift = jax.random.split(key)
    flips = jax.random.bernoulli(k_flip, 0.5, (x.shape[0],))
    shifts = jax.random.randint(k_shift, (x.shape[0], 2), -max_shift, max_shift + 1, jnp.int32)
    return flip_and_translate(x, flips, shifts, max_shift)


def step_key(config: ml_collections.ConfigDict) -> tuple[Any, ...]:
    """This study's ``Study.step_key``: the step also reads the augmentation and the train size (the
    learning-rate schedule's epochs)."""
    return bool(config.data.augment), int(config.data.max_translate), int(config.data.train_size)


def build_steps(config: ml_collections.ConfigDict, num_classes: int, example_shape: Sequence[int]) -> StepFunctions:
    """This study's ``Study.build_steps`` (see the module docstring).

    Args:
      config: a validated All-CNN config (``model``, ``optimizer``, ``data.augment``,
        ``data.max_translate``, ``data.train_size``, ``batch_size``).
      num_classes: number of logits.
      example_shape: one example's shape ``(H, W, C)``.

    Returns:
      ``StepFunctions`` with ``scan=False``; ``init(seed)`` draws the variables with
      ``models.init_variables``.
    """
    augment = (bool(config.data.augment), int(config.data.max_translate))
    model = create_allcnn(config.model, num_classes)
    tx = make_allcnn_optimizer(config.optimizer, config.data.train_size, config.batch_size)
    init_opt = jax.jit(tx.init)

    def init(seed: int) -> dict[str, Any]:
        variables = jax.device_put(init_variables(model, example_shape, seed))
        return {
            "params": variables,
            "opt_state": init_opt(variables["params"]),
            "step": np.zeros((), np.int32),
            "rng": np.asarray(jax.random.key_data(jax.random.key(seed))),
        }

    def step(state: dict[str, Any], x: jax.Array, y: jax.Array) -> tuple[dict[str, Any], jax.Array]:
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
        k_aug, k_drop = jax.random.split(key)
        if augment[0]:
            x = random_augment(k_aug, x, augment[1])
        variables = state["params"]
        others = {k: v for k, v in variables.items() if k != "params"}

        def loss_fn(params: Any) -> tuple[jax.Array, Any]:
            logits, new = model.apply(
                {"params": params, **others}, x, train=True, rngs={"dropout": k_drop}, mutable=["batch_stats"]
            )
            return cross_entropy(logits, y), new

        (loss, new), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
        # optax's schedule and momentum mix Python floats with int32 counts, which strict dtype
        # promotion (used by the test suite) rejects; our own code stays strict.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, state["opt_state"], variables["params"])
        return {
            "params": {**variables, **new, "params": optax.apply_updates(variables["params"], updates)},
            "opt_state": opt_state,
            "step": state["step"] + jnp.int32(1),
            "rng": state["rng"],
        }, loss

    def apply(variables: Any, x: jax.Array) -> jax.Array:
        return model.apply(variables, x, train=False)

    return StepFunctions(init=init, step=step, apply=apply, scan=False)


#: The All-CNN study as ``common/`` calls it.
STUDY = Study(name="allcnn_cifar10", validate=validate_config, load_data=load_data, build_steps=build_steps,
              step_key=step_key)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """Train one config of this study into the run folder ``workdir``: ``common.trainer.train_and_evaluate``
    with ``STUDY`` (see there for the folder's contents, the result and the errors)."""
    return trainer.train_and_evaluate(STUDY, config, workdir)
