"""Measurements for the ablation: loss/accuracy, parameter count, FLOPs, receptive field, and Zhang's shift
consistency.

Shift consistency follows Zhang, "Making Convolutional Networks Shift-Invariant Again" (ICML 2019):
the percentage of test inputs whose top-1 prediction is the same under two circular shifts, each
offset drawn independently and uniformly from ``{-S, ..., S}`` per spatial axis and per example,
averaged over several passes. Offsets come from ``numpy.random.default_rng((seed, pass_index))`` —
first the ``(N, num_spatial)`` offsets of shift A, then those of shift B — so the figure is
reproducible. Accuracy under shift is the test accuracy on the shift-A inputs, averaged over the
same passes.

A circular shift moves the content that leaves one border back in at the other, which no generator of
the data produces. ``crop_shift_consistency`` is the same test without wrap-around: when a study provides
each test example inside a larger canvas of real content (``Dataset.test_canvas``, margin S), a shift by
``o`` is the window of the example's size at offset ``S - o``, so every sample of a shifted input is a
sample of the canvas. It draws the same offsets as the circular test (same seed), so the two figures
differ only in what fills the border.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy (natural log), as ``torch.nn.CrossEntropyLoss()``.

    Args:
      logits: float32 ``(B, num_classes)``.
      labels: int32 ``(B,)`` in ``[0, num_classes)``.

    Returns:
      A float32 scalar.
    """
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def loss_and_correct_sums(
    logits: jax.Array, labels: jax.Array, weights: jax.Array
) -> tuple[jax.Array, ...]:
    """Weighted sums of cross-entropy and of correct top-1 predictions over a (padded) batch.

    Args:
      logits: float32 ``(B, num_classes)``.
      labels: int32 ``(B,)``.
      weights: float32 ``(B,)``, 1 for real examples and 0 for padding.

    Returns:
      ``(loss_sum, correct_sum)``, float32 scalars (divide by the number of real examples for
      means).
    """
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
    return jnp.sum(losses * weights), jnp.sum(correct * weights)


def count_params(params: Any) -> int:
    """Total number of scalar parameters in a pytree of arrays.

    A Flax variables dict's ``batch_stats`` collection (BatchNorm's running mean and variance) is
    state, not parameters, and is not counted.
    """
    if isinstance(params, Mapping) and "batch_stats" in params:
        params = {k: v for k, v in params.items() if k != "batch_stats"}
    return int(sum(np.prod(np.shape(leaf)) for leaf in jax.tree_util.tree_leaves(params)))


def flops_per_example(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    example_shape: tuple[int, ...],
    batch: int = 1,
) -> float:
    """Forward-pass FLOPs per example from XLA's cost analysis of the compiled function.

    Args:
      apply_fn: ``apply_fn(params, x) -> logits``.
      params: the parameters (only shapes and dtypes matter).
      example_shape: one example's shape ``(*spatial, channels)``.
      batch: batch size to compile for; the count is divided by it.

    Returns:
      XLA's "flops" estimate divided by ``batch`` (a multiply-add counts as 2), or NaN when the
      backend gives no cost analysis.
    """
    x = jax.ShapeDtypeStruct((batch, *example_shape), jnp.float32)
    p = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), params)
    analysis = jax.jit(apply_fn).lower(p, x).compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return float("nan")
    return float(analysis["flops"]) / batch


def receptive_field(
    features_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    example_shape: tuple[int, ...],
    num_inputs: int = 64,
    seed: int = 0,
) -> tuple[int, ...]:
    """Receptive field of the features feeding a model's head, measured: per spatial dim, the extent
    (last minus first index, plus one) of the input samples on which the central feature depends.

    The dependence is the support of the gradient of the central position's features (summed over
    channels) with respect to the input, united over ``num_inputs`` random inputs. So that it is the
    architecture's receptive field and not one input's, every parameter is replaced by ``0.1 + |p|`` and the
    inputs are uniform in [1, 2]: every ReLU is then active and every path's gradient is positive (no
    cancellation), and the random inputs let every position win a max-pooling window for some input (a
    max passes gradient to one position of its window). Positions beyond the input's edge (zero padding)
    are not counted, so the figure is at most the input size.

    Args:
      features_fn: ``features_fn(params, x) -> (B, *spatial', C)``, the map the head reads (before the
        flatten or the global average), for ``x`` of shape ``(B, *example_shape)``.
      params: the model's parameters (only the tree's shapes matter, see above).
      example_shape: one input's shape ``(*spatial, channels)``.
      num_inputs: random inputs united over (>= 1).
      seed: seed of ``numpy.random.default_rng`` for the inputs.

    Returns:
      One int per spatial dim (0 where the central feature depends on no input).

    Raises:
      ValueError: if ``num_inputs < 1``.
    """
    if num_inputs < 1:
        raise ValueError(f"num_inputs={num_inputs} must be >= 1")
    # host copies: the measurement runs on whatever devices jit picks, not on the training mesh's placement
    positive = jax.tree_util.tree_map(lambda p: 0.1 + np.abs(np.asarray(p, np.float32)), params)
    x = np.random.default_rng(seed).uniform(1.0, 2.0, (num_inputs, *example_shape)).astype(np.float32)

    def central(inp: jax.Array) -> jax.Array:
        feats = features_fn(positive, inp)
        centre = tuple(size // 2 for size in feats.shape[1:-1])
        return jnp.sum(feats[(slice(None), *centre, slice(None))])

    grad = np.abs(np.asarray(jax.jit(jax.grad(central))(x)))  # (num_inputs, *spatial, channels)
    nd = len(example_shape) - 1
    out = []
    for d in range(nd):
        other = tuple(a for a in range(grad.ndim) if a != 1 + d)
        hit = np.flatnonzero(grad.sum(axis=other) > 0)
        out.append(int(hit[-1] - hit[0] + 1) if hit.size else 0)
    return tuple(out)


def _take_per_axis(x: np.ndarray, indices: list[np.ndarray]) -> np.ndarray:
    """``x`` ``(N, *spatial, C)`` with spatial axis d re-indexed per example by ``indices[d]`` ``(N, size_d)``."""
    n, nd = x.shape[0], len(indices)
    out = x
    for d, idx in enumerate(indices):
        shape = [n] + [1] * nd + [1]
        shape[1 + d] = idx.shape[1]
        out = np.take_along_axis(out, idx.reshape(shape), axis=1 + d)
    return out


def circular_shift(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Roll each example by its own offsets along the spatial axes (wrap-around), as ``np.roll`` per
    example.

    Args:
      x: ``(N, *spatial, C)`` array.
      offsets: int ``(N, num_spatial)``; example n becomes ``np.roll(x[n], offsets[n], axis=spatial
        axes)``.

    Returns:
      An array like ``x``.

    Raises:
      ValueError: if ``offsets`` does not have shape ``(N, x.ndim - 2)``.
    """
    n, nd = x.shape[0], x.ndim - 2
    if offsets.shape != (n, nd):
        raise ValueError(
            f"offsets has shape {offsets.shape}; expected (N, num_spatial) = {(n, nd)}"
        )
    return _take_per_axis(x, [(np.arange(size)[None, :] - offsets[:, d : d + 1]) % size  # (N, size)
                              for d, size in enumerate(x.shape[1:-1])])


def shift_consistency(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    max_shift: int,
    passes: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Zhang 2019 shift consistency and accuracy under a random circular shift (see the module
    docstring).

    Args:
      predict: maps ``(N, *spatial, C)`` inputs to int ``(N,)`` top-1 predictions.
      x: test inputs ``(N, *spatial, C)``.
      y: int labels ``(N,)``.
      max_shift: S, offsets are uniform in ``{-S, ..., S}`` per spatial axis (S >= 0).
      passes: number of passes averaged (>= 1).
      seed: seed of the offsets.

    Returns:
      ``{"shift_consistency": %, "shifted_test_acc": %}``, both in percent.

    Raises:
      ValueError: if ``max_shift < 0`` or ``passes < 1``.
    """
    if max_shift < 0:
        raise ValueError(f"shift.max_shift={max_shift} must be >= 0")
    if passes < 1:
        raise ValueError(f"shift.passes={passes} must be >= 1")
    consistent, shifted_acc = _consistency(predict, lambda o: circular_shift(x, o), x.shape[0], x.ndim - 2, y,
                                           max_shift, passes, seed)
    return {"shift_consistency": consistent, "shifted_test_acc": shifted_acc}


def _consistency(predict: Callable[[np.ndarray], np.ndarray], shifted: Callable[[np.ndarray], np.ndarray], n: int,
                 nd: int, y: np.ndarray, max_shift: int, passes: int, seed: int) -> tuple[float, float]:
    """(shift consistency %, accuracy under shift %) of ``predict`` on ``shifted(offsets)`` inputs, averaged over
    ``passes``; pass p draws shift A's then shift B's ``(n, nd)`` offsets from ``default_rng((seed, p))``."""
    consistent, shifted_acc = [], []
    for p in range(passes):
        rng = np.random.default_rng((seed, p))
        a = rng.integers(-max_shift, max_shift + 1, size=(n, nd))
        b = rng.integers(-max_shift, max_shift + 1, size=(n, nd))
        pred_a = np.asarray(predict(shifted(a)))
        pred_b = np.asarray(predict(shifted(b)))
        consistent.append(np.mean(pred_a == pred_b))
        shifted_acc.append(np.mean(pred_a == y))
    return 100.0 * float(np.mean(consistent)), 100.0 * float(np.mean(shifted_acc))


def crop_shift(canvas: np.ndarray, margin: int, offsets: np.ndarray) -> np.ndarray:
    """Shift each example by its own offsets inside its canvas, without wrap-around.

    Example n becomes the window ``canvas[n, S - o_1 : S - o_1 + L_1, ...]`` (``o = offsets[n]``,
    ``L_d = canvas.shape[1 + d] - 2 S``): the same direction as ``circular_shift`` (content moves towards
    higher indices for ``o > 0``; wherever ``np.roll`` does not wrap, the two agree), but every sample is a
    canvas sample.

    Args:
      canvas: ``(N, *(spatial + 2 S), C)``.
      margin: S >= 0, the canvas margin on each side of every spatial axis.
      offsets: int ``(N, num_spatial)`` with every entry in ``[-S, S]``.

    Returns:
      ``(N, *spatial, C)``, the same dtype as ``canvas``.

    Raises:
      ValueError: if ``offsets`` does not have shape ``(N, canvas.ndim - 2)``, an offset is outside ``[-S, S]``,
        or a spatial axis of the canvas is not longer than ``2 S``.
    """
    n, nd = canvas.shape[0], canvas.ndim - 2
    if offsets.shape != (n, nd):
        raise ValueError(f"offsets has shape {offsets.shape}; expected (N, num_spatial) = {(n, nd)}")
    if margin < 0 or any(size <= 2 * margin for size in canvas.shape[1:-1]):
        raise ValueError(f"margin={margin} must be >= 0 and leave a window in the canvas {canvas.shape}")
    if offsets.size and np.abs(offsets).max() > margin:
        raise ValueError(f"offsets reach {np.abs(offsets).max()}, beyond the canvas margin {margin}")
    # per axis (N, size) indices inside [0, size + 2S)
    return _take_per_axis(canvas, [margin + np.arange(size - 2 * margin)[None, :] - offsets[:, d : d + 1]
                                   for d, size in enumerate(canvas.shape[1:-1])])


def crop_shift_consistency(
    predict: Callable[[np.ndarray], np.ndarray],
    canvas: np.ndarray,
    margin: int,
    y: np.ndarray,
    max_shift: int,
    passes: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Shift consistency and accuracy under shift with crops of a canvas (no wrap-around), the offsets of
    ``shift_consistency`` with the same seed.

    Args:
      predict: maps ``(N, *spatial, C)`` inputs to int ``(N,)`` top-1 predictions.
      canvas: ``(N, *(spatial + 2 margin), C)``, e.g. ``Dataset.test_canvas``.
      margin: the canvas margin S (``Dataset.canvas_margin``).
      y: int labels ``(N,)``.
      max_shift: offsets are uniform in ``{-max_shift, ..., max_shift}``; at most ``margin``.
      passes: number of passes averaged (>= 1).
      seed: seed of the offsets.

    Returns:
      ``{"shift_consistency_crop": %, "shifted_test_acc_crop": %}``.

    Raises:
      ValueError: if ``max_shift`` is not in ``[0, margin]`` or ``passes < 1``.
    """
    if not 0 <= max_shift <= margin:
        raise ValueError(f"shift.max_shift={max_shift} must be in [0, canvas margin {margin}]")
    if passes < 1:
        raise ValueError(f"shift.passes={passes} must be >= 1")
    consistent, shifted_acc = _consistency(predict, lambda o: crop_shift(canvas, margin, o), canvas.shape[0],
                                           canvas.ndim - 2, y, max_shift, passes, seed)
    return {"shift_consistency_crop": consistent, "shifted_test_acc_crop": shifted_acc}
