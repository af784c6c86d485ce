"""Compiled pieces of an All-CNN training run: SGD with momentum, weight decay and a step schedule,
dropout, optional BatchNorm statistics and on-device flip/translation augmentation.

``compiled_functions`` returns the same ``_steps.Compiled`` interface as the ablation's CNNs (the
training loop in ``train.py`` does not know which it drives), with the same shardings: state
replicated over a one-axis ``Mesh`` (``"data"``), batches split over it. The differences:

- ``state`` is ``{"params": variables, "opt_state", "step", "rng"}``, where ``variables`` is the
  Flax variables dict (``params``, plus ``batch_stats`` with BatchNorm) that eval, predict and the
  FLOPs count take; the optimizer sees only ``variables["params"]``.
- Every step draws its dropout and augmentation randomness from ``fold_in(key(config.seed),
  step)``, a pure function of (seed, step), so a resumed run repeats an uninterrupted one.
- Training mode: dropout on, BatchNorm on batch statistics (its running averages are carried in
  ``variables["batch_stats"]``, momentum 0.9); eval/predict: dropout off, running averages.
- ``train_chunk`` runs one jitted step per batch of the chunk from Python instead of ``lax.scan``
  (see the comment there); the steps are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments._steps import Compiled, assemble, cache_key, step_shardings
from experiments.allcnn import create_allcnn, init_variables
from experiments.metrics import cross_entropy, loss_and_correct_sums

_CACHE: dict[str, Compiled] = {}


def decay_boundaries(optimizer: Any, train_size: int, batch_size: int) -> list[int]:
    """Steps at which the learning rate is multiplied by ``optimizer.decay_factor``.

    Epoch ``e`` ends after ``e * train_size / batch_size`` steps (batches wrap around the training
    set, ``_steps.batch_indices``); the boundary is that number rounded to the nearest step.

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


def compiled_functions(
    config: ml_collections.ConfigDict,
    num_classes: int,
    example_shape: Sequence[int],
    devices: Sequence[jax.Device],
) -> Compiled:
    """The (cached) compiled functions of an All-CNN config on ``devices`` (see the module
    docstring).

    Args:
      config: a validated All-CNN config (``model``, ``optimizer``, ``data.augment``,
        ``data.max_translate``, ``data.train_size``, ``batch_size``, ``eval_batch_size``).
      num_classes: number of logits.
      example_shape: one example's shape ``(H, W, C)``.
      devices: the devices of the ``data`` mesh axis.

    Returns:
      A ``Compiled`` (``init(seed)`` draws the variables with ``allcnn.init_variables``).
    """
    augment = (bool(config.data.augment), int(config.data.max_translate))
    key = cache_key(config, num_classes, example_shape, devices, augment, config.data.train_size)
    if key in _CACHE:
        return _CACHE[key]
    model = create_allcnn(config.model, num_classes)
    tx = make_allcnn_optimizer(config.optimizer, config.data.train_size, config.batch_size)
    sh = step_shardings(devices)
    replicated, chunk_sharding, eval_sharding = sh.replicated, sh.chunk, sh.eval
    init_opt = jax.jit(tx.init, out_shardings=replicated)

    def init(seed: int) -> dict[str, Any]:
        variables = jax.device_put(init_variables(model, example_shape, seed), replicated)
        return {
            "params": variables,
            "opt_state": init_opt(variables["params"]),
            "step": jax.device_put(np.zeros((), np.int32), replicated),
            "rng": jax.device_put(np.asarray(jax.random.key_data(jax.random.key(seed))), replicated),
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

    step_jit = jax.jit(
        step, in_shardings=(replicated, eval_sharding, eval_sharding), out_shardings=(replicated, replicated)
    )
    # Batch i of a chunk, still split over the devices (compiled per chunk shape; a gather, cheap).
    take = jax.jit(lambda xs, i: xs[i], in_shardings=(chunk_sharding, replicated), out_shardings=eval_sharding)

    def train_chunk(state: dict[str, Any], xs: jax.Array, ys: jax.Array) -> tuple[dict[str, Any], jax.Array]:
        # One jitted step per batch rather than lax.scan: XLA:CPU runs the kernel-gradient convolutions
        # of a scan body whose weights are loop-carried ~25x slower (measured); accelerators lose nothing.
        losses = []
        for i in range(xs.shape[0]):
            index = np.int32(i)
            state, loss = step_jit(state, take(xs, index), take(ys, index))
            losses.append(loss)
        return state, jnp.stack(losses)

    def apply(variables: Any, x: jax.Array) -> jax.Array:
        return model.apply(variables, x, train=False)

    def eval_sums(variables: Any, x: jax.Array, y: jax.Array, w: jax.Array) -> tuple[jax.Array, ...]:
        return loss_and_correct_sums(apply(variables, x), y, w)

    def predict(variables: Any, x: jax.Array) -> jax.Array:
        return jnp.argmax(apply(variables, x), axis=-1).astype(jnp.int32)

    fns = assemble(config, sh, apply=apply, init=init, train_chunk=train_chunk, eval_sums=eval_sums,
                   predict=predict)
    _CACHE[key] = fns
    return fns

