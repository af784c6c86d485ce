"""Compiled pieces of a training run, cached per (study, model, optimizer, shapes, devices), and the data
order.

A study describes one optimizer step as ``StepFunctions`` (initial state, a traceable step, the eval-mode
forward pass); ``compiled_functions`` turns them into jitted functions whose shardings put the state on
every device (replicated) and split each batch over a one-axis ``Mesh`` (``"data"``; ``AxisType.Auto``, or
``AxisType.Explicit`` with ``config.distributed.mesh = "explicit"``), and caches them, so
two runs in one process that differ only in seed (or train size) share the compiled code and a sweep
compiles each variant once. ``batch_indices`` is the data order: a pure function of (seed, step).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from experiments.common.distributed import mesh_type, process_rows
from experiments.common.metrics import loss_and_correct_sums


@dataclasses.dataclass
class Compiled:
    """Jitted functions of one (model, optimizer, shapes, devices) combination.

    Attributes:
      apply: ``apply(params, x) -> logits`` (not jitted; for cost analysis).
      init: ``init(seed) -> state`` (a dict holding at least ``"params"``), replicated over the mesh.
      train_chunk: ``train_chunk(state, xs, ys) -> (state, losses)``; ``xs`` is ``(n, batch,
        *example)``, ``ys`` ``(n, batch)``, ``losses`` float32 ``(n,)``, one optimizer step per
        leading index.
      eval_sums: ``eval_sums(params, x, y, w) -> (loss_sum, correct_sum)`` over one eval batch.
      predict: ``predict(params, x) -> int32 top-1 predictions``.
      put_batch: ``put_batch(local) -> global array``: ``local`` is ``(n, len(batch_rows), *example)`` (or
        ``(n, len(batch_rows))`` labels), this process's rows of a training chunk; the result is the global
        ``(n, batch, ...)`` array, sharded over the mesh (``jax.make_array_from_process_local_data``).
      put_eval: the same for one eval batch: ``(len(eval_rows), ...)`` -> ``(eval_batch_size, ...)``.
      batch_rows / eval_rows: the rows of a global training / eval batch that this process supplies (all of
        them with one process; see ``_distributed.process_rows``).
      eval_batch_size: the fixed eval batch size.
      features: the study's ``StepFunctions.features`` (or None).
    """

    apply: Callable[..., Any]
    init: Callable[..., Any]
    train_chunk: Callable[..., Any]
    eval_sums: Callable[..., Any]
    predict: Callable[..., Any]
    put_batch: Callable[[np.ndarray], jax.Array]
    put_eval: Callable[[np.ndarray], jax.Array]
    batch_rows: slice
    eval_rows: slice
    eval_batch_size: int
    features: Callable[..., Any] | None = None
    _flops: float | None = None
    _receptive_field: tuple[int, ...] | None = None

    def flops(self, compute: Callable[[], float]) -> float:
        """FLOPs per example, computed once per cache entry by ``compute``."""
        if self._flops is None:
            self._flops = compute()
        return self._flops

    def receptive_field(self, compute: Callable[[], tuple[int, ...]]) -> tuple[int, ...]:
        """The receptive field (an architecture property), computed once per cache entry by ``compute``."""
        if self._receptive_field is None:
            self._receptive_field = tuple(compute())
        return self._receptive_field


_CACHE: dict[str, Compiled] = {}


def _placer(sharding: NamedSharding, axis: int, size: int) -> Callable[[np.ndarray], jax.Array]:
    # ``local`` holds only this process's rows (``process_rows``) of a global array whose ``axis`` has ``size``.
    def put(local: np.ndarray) -> jax.Array:
        global_shape = (*local.shape[:axis], size, *local.shape[axis + 1 :])
        return jax.make_array_from_process_local_data(sharding, local, global_shape)

    return put


def data_mesh(devices: Sequence[Any], explicit: bool = False) -> Mesh:
    """A 1-D ``data`` mesh over ``devices``, ordered by process so that each process's devices hold one
    contiguous block of batch rows (what ``process_rows`` and multi-host data loading assume); its axis is
    ``AxisType.Explicit`` if ``explicit``, else ``AxisType.Auto``."""
    ordered = np.asarray(sorted(devices, key=lambda d: (d.process_index, d.id)))
    return Mesh(ordered, ("data",), axis_types=(AxisType.Explicit if explicit else AxisType.Auto,))


@dataclasses.dataclass(frozen=True)
class StepShardings:
    """Shardings of a data-parallel run on a one-axis ``data`` mesh.

    Attributes:
      mesh: the ``data`` mesh.
      replicated: parameters, optimizer state and scalars (a copy on every device).
      chunk: training chunks ``(steps, batch, ...)``, batch rows split over the devices.
      eval: evaluation batches ``(batch, ...)``, rows split over the devices.
    """

    mesh: Mesh
    replicated: NamedSharding
    chunk: NamedSharding
    eval: NamedSharding


def step_shardings(devices: Sequence[Any], explicit: bool = False) -> StepShardings:
    """The :class:`StepShardings` of :func:`data_mesh` over ``devices`` (``explicit``: as there)."""
    mesh = data_mesh(devices, explicit)
    return StepShardings(mesh, NamedSharding(mesh, P()), NamedSharding(mesh, P(None, "data")),
                         NamedSharding(mesh, P("data")))


def _in_mesh(fn: Callable[..., Any], mesh: Mesh) -> Callable[..., Any]:
    """``fn`` called with ``mesh`` as the current mesh (``jax.set_mesh``), as explicit sharding needs when it
    traces."""

    def call(*args: Any) -> Any:
        with jax.set_mesh(mesh):
            return fn(*args)

    return call


def cache_key(config: ml_collections.ConfigDict, num_classes: int, example_shape: Sequence[int],
              devices: Sequence[Any], *extra: Any) -> str:
    """The cache key of a study's compiled functions: the config fields they depend on (model,
    optimizer, batch sizes), the shapes, the devices and any ``extra`` JSON-able fields."""
    return json.dumps(
        [
            json.loads(config.model.to_json_best_effort()),
            json.loads(config.optimizer.to_json_best_effort()),
            config.batch_size,
            config.eval_batch_size,
            num_classes,
            list(example_shape),
            [d.id for d in devices],
            list(extra),
        ],
        sort_keys=True,
    )


@dataclasses.dataclass(frozen=True)
class StepFunctions:
    """One study's training step, before compilation (what ``Study.build_steps`` returns).

    Attributes:
      init: ``init(seed) -> state``: the initial training state, a pytree (host or device arrays) holding at
        least ``"params"``, the tree ``apply`` takes; a pure function of ``seed``.
      step: ``step(state, x, y) -> (state, loss)``: one optimizer step on one global batch ``x`` ``(batch,
        *example)``, ``y`` int32 ``(batch,)``; traceable, with float32 scalar ``loss``.
      apply: ``apply(params, x) -> logits``: the eval-mode forward pass, float32 ``(batch, num_classes)``.
      scan: True: a chunk of steps is one ``lax.scan`` in one compiled call; False: one jitted step per
        batch, driven from Python (the same steps; for models whose scanned step XLA compiles badly).
      features: optional ``features(params, x) -> (batch, *spatial, C)``: the map the head reads, for
        ``metrics.receptive_field`` (None: the result has no ``receptive_field``).
    """

    init: Callable[[int], Any]
    step: Callable[..., tuple[Any, jax.Array]]
    apply: Callable[[Any, jax.Array], jax.Array]
    scan: bool = True
    features: Callable[[Any, jax.Array], jax.Array] | None = None


def _loop_chunk(step: Callable[..., Any], sh: StepShardings) -> Callable[..., Any]:
    """``train_chunk`` as one jitted ``step`` per batch of the chunk, run from Python."""
    step_jit = jax.jit(step, in_shardings=(sh.replicated, sh.eval, sh.eval), out_shardings=(sh.replicated,) * 2)
    # Batch i of a chunk, still split over the devices (compiled per chunk shape; a gather, cheap).
    take = jax.jit(lambda xs, i: xs[i], in_shardings=(sh.chunk, sh.replicated), out_shardings=sh.eval)

    def train_chunk(state: Any, xs: jax.Array, ys: jax.Array) -> tuple[Any, jax.Array]:
        losses = []
        for i in range(xs.shape[0]):
            index = np.int32(i)
            state, loss = step_jit(state, take(xs, index), take(ys, index))
            losses.append(loss)
        return state, jax.numpy.stack(losses)

    return train_chunk


def compiled_functions(
    study: Any,
    config: ml_collections.ConfigDict,
    num_classes: int,
    example_shape: Sequence[int],
    devices: Sequence[jax.Device],
) -> Compiled:
    """The (cached) compiled functions of ``study`` for ``config`` on ``devices``.

    Args:
      study: a ``common.study.Study`` (its ``build_steps`` and ``step_key``).
      config: a validated study config (``model``, ``optimizer``, ``batch_size``, ``eval_batch_size``).
      num_classes: number of logits.
      example_shape: one example's shape ``(*spatial, channels)``.
      devices: the devices of the ``data`` mesh axis, those of every process (batch sizes must divide by
        their number).

    Returns:
      A ``Compiled``; the same object for configs equal in the fields above and in ``study.step_key``.
    """
    explicit = mesh_type(config) == "explicit"
    key = cache_key(config, num_classes, example_shape, devices, study.name, explicit, *study.step_key(config))
    if key in _CACHE:
        return _CACHE[key]
    fns = study.build_steps(config, num_classes, tuple(example_shape))
    sh = step_shardings(devices, explicit)
    if fns.scan:
        def chunk(state: Any, xs: jax.Array, ys: jax.Array) -> tuple[Any, jax.Array]:
            return jax.lax.scan(lambda s, b: fns.step(s, *b), state, (xs, ys))

        train_chunk = jax.jit(chunk, in_shardings=(sh.replicated, sh.chunk, sh.chunk),
                              out_shardings=(sh.replicated, sh.replicated))
    else:
        train_chunk = _loop_chunk(fns.step, sh)

    def eval_sums(params: Any, x: jax.Array, y: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
        return loss_and_correct_sums(fns.apply(params, x), y, w)

    def predict(params: Any, x: jax.Array) -> jax.Array:
        return jax.numpy.argmax(fns.apply(params, x), axis=-1).astype(jax.numpy.int32)

    compiled = Compiled(
        apply=fns.apply,
        init=lambda seed: jax.device_put(fns.init(seed), sh.replicated),
        train_chunk=_in_mesh(train_chunk, sh.mesh),
        eval_sums=_in_mesh(jax.jit(eval_sums, in_shardings=(sh.replicated, sh.eval, sh.eval, sh.eval),
                                   out_shardings=sh.replicated), sh.mesh),
        predict=_in_mesh(jax.jit(predict, in_shardings=(sh.replicated, sh.eval), out_shardings=sh.replicated),
                         sh.mesh),
        put_batch=_placer(sh.chunk, 1, config.batch_size),
        put_eval=_placer(sh.eval, 0, config.eval_batch_size),
        batch_rows=process_rows(sh.chunk, (1, config.batch_size), 1),
        eval_rows=process_rows(sh.eval, (config.eval_batch_size,), 0),
        eval_batch_size=config.eval_batch_size,
        features=fns.features,
    )
    _CACHE[key] = compiled
    return compiled


def batch_indices(
    step: int, num_steps: int, batch_size: int, num_train: int, seed: int, shuffle: bool
) -> np.ndarray:
    """Training-example indices of steps ``step .. step + num_steps - 1``, a pure function of its
    arguments.

    Example number ``k = step * batch_size + j`` (j < batch_size) is ``k mod num_train`` — the
    paper's sequential batches, wrapping around the training set — or, with ``shuffle``, position
    ``k mod num_train`` of the permutation ``numpy.random.default_rng((seed, k //
    num_train)).permutation(num_train)`` of its epoch.

    Args:
      step: the first step (number of optimizer steps already taken).
      num_steps: how many steps.
      batch_size: examples per step.
      num_train: training-set size.
      seed: the run seed (only used with ``shuffle``).
      shuffle: reshuffle every epoch.

    Returns:
      int64 ``(num_steps, batch_size)``.
    """
    k = (
        np.arange(step, step + num_steps, dtype=np.int64)[:, None] * batch_size
        + np.arange(batch_size, dtype=np.int64)[None, :]
    )
    within = k % num_train
    if not shuffle:
        return within
    epoch = k // num_train
    out = np.empty_like(within)
    for e in np.unique(epoch):
        perm = np.random.default_rng((seed, int(e))).permutation(num_train)
        mask = epoch == e
        out[mask] = perm[within[mask]]
    return out
