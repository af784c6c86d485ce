"""Compiled pieces of a training run, cached per (model, optimizer, shapes, devices), and the data
order.

``compiled_functions`` builds the model and optimizer a config describes and returns jitted
functions whose shardings put the parameters on every device (replicated) and split each batch over
a one-axis ``Mesh`` (``"data"``). Two runs in one process that differ only in seed or train size
share the compiled code, so a sweep compiles each variant once. ``batch_indices`` is the data order:
a pure function of (seed, step).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from experiments._distributed import process_rows
from experiments.metrics import cross_entropy, loss_and_correct_sums
from experiments.models import create_model, init_params


@dataclasses.dataclass
class Compiled:
    """Jitted functions of one (model, optimizer, shapes, devices) combination.

    Attributes:
      apply: ``apply(params, x) -> logits`` (not jitted; for cost analysis).
      init: ``init(seed) -> {"params", "opt_state"}``, replicated over the mesh
        (``models.init_params``).
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
    _flops: float | None = None

    def flops(self, compute: Callable[[], float]) -> float:
        """FLOPs per example, computed once per cache entry by ``compute``."""
        if self._flops is None:
            self._flops = compute()
        return self._flops


_CACHE: dict[str, Compiled] = {}


def make_optimizer(optimizer: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """The optax optimizer of the config's ``optimizer`` section.

    ``adam``: ``optax.adam(learning_rate)`` (b1 0.9, b2 0.999, eps 1e-8: ``torch.optim.Adam``'s
    defaults);
    ``sgd``: ``optax.sgd(learning_rate, momentum)``.
    """
    if optimizer.name == "adam":
        return optax.adam(optimizer.learning_rate)
    if optimizer.name == "sgd":
        return optax.sgd(optimizer.learning_rate, momentum=optimizer.momentum or None)
    raise ValueError(f"optimizer.name={optimizer.name!r} is not one of ['adam', 'sgd']")


def _placer(sharding: NamedSharding, axis: int, size: int) -> Callable[[np.ndarray], jax.Array]:
    # ``local`` holds only this process's rows (``process_rows``) of a global array whose ``axis`` has ``size``.
    def put(local: np.ndarray) -> jax.Array:
        global_shape = (*local.shape[:axis], size, *local.shape[axis + 1 :])
        return jax.make_array_from_process_local_data(sharding, local, global_shape)

    return put


def data_mesh(devices: Sequence[Any]) -> Mesh:
    """A 1-D ``data`` mesh over ``devices``, ordered by process so that each process's devices hold one
    contiguous block of batch rows (what ``process_rows`` and multi-host data loading assume)."""
    return Mesh(np.asarray(sorted(devices, key=lambda d: (d.process_index, d.id))), ("data",))


@dataclasses.dataclass(frozen=True)
class StepShardings:
    """Shardings of a data-parallel run on a one-axis ``data`` mesh.

    Attributes:
      replicated: parameters, optimizer state and scalars (a copy on every device).
      chunk: training chunks ``(steps, batch, ...)``, batch rows split over the devices.
      eval: evaluation batches ``(batch, ...)``, rows split over the devices.
    """

    replicated: NamedSharding
    chunk: NamedSharding
    eval: NamedSharding


def step_shardings(devices: Sequence[Any]) -> StepShardings:
    """The :class:`StepShardings` of :func:`data_mesh` over ``devices``."""
    mesh = data_mesh(devices)
    return StepShardings(NamedSharding(mesh, P()), NamedSharding(mesh, P(None, "data")),
                         NamedSharding(mesh, P("data")))


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


def assemble(config: ml_collections.ConfigDict, sh: StepShardings, *, apply: Callable[..., jax.Array],
             init: Callable[[int], dict[str, Any]], train_chunk: Callable[..., Any],
             eval_sums: Callable[..., Any], predict: Callable[..., jax.Array]) -> Compiled:
    """A :class:`Compiled` from a study's functions: ``eval_sums`` and ``predict`` jitted with the
    replicated/eval shardings, ``train_chunk`` as given (already compiled), and the host-to-device
    placers and per-process row slices of ``config.batch_size`` / ``config.eval_batch_size``."""
    return Compiled(
        apply=apply,
        init=init,
        train_chunk=train_chunk,
        eval_sums=jax.jit(
            eval_sums,
            in_shardings=(sh.replicated, sh.eval, sh.eval, sh.eval),
            out_shardings=sh.replicated,
        ),
        predict=jax.jit(predict, in_shardings=(sh.replicated, sh.eval), out_shardings=sh.replicated),
        put_batch=_placer(sh.chunk, 1, config.batch_size),
        put_eval=_placer(sh.eval, 0, config.eval_batch_size),
        batch_rows=process_rows(sh.chunk, (1, config.batch_size), 1),
        eval_rows=process_rows(sh.eval, (config.eval_batch_size,), 0),
        eval_batch_size=config.eval_batch_size,
    )


def compiled_functions(
    config: ml_collections.ConfigDict,
    num_classes: int,
    example_shape: Sequence[int],
    devices: Sequence[jax.Device],
) -> Compiled:
    """The (cached) compiled functions for ``config`` on ``devices``.

    Args:
      config: a validated study config (``model``, ``optimizer``, ``batch_size``,
        ``eval_batch_size``).
      num_classes: number of logits.
      example_shape: one example's shape ``(*spatial, channels)``.
      devices: the devices of the ``data`` mesh axis, those of every process (batch sizes must divide by
        their number).

    Returns:
      A ``Compiled``; the same object for configs equal in the fields above. All-CNN configs
      (``model.name == "allcnn"``) get ``_allcnn_steps.compiled_functions``'s.
    """
    if config.model.name == "allcnn":
        from experiments import _allcnn_steps  # imported here: that module imports this one

        return _allcnn_steps.compiled_functions(config, num_classes, example_shape, devices)
    key = cache_key(config, num_classes, example_shape, devices)
    if key in _CACHE:
        return _CACHE[key]
    model = create_model(config.model, num_classes)
    tx = make_optimizer(config.optimizer)
    sh = step_shardings(devices)
    replicated = sh.replicated
    init_opt = jax.jit(tx.init, out_shardings=replicated)

    def init(seed: int) -> dict[str, Any]:
        params = jax.device_put(init_params(model, example_shape, seed), replicated)
        return {"params": params, "opt_state": init_opt(params)}

    def train_chunk(
        state: dict[str, Any], xs: jax.Array, ys: jax.Array
    ) -> tuple[dict[str, Any], jax.Array]:
        def step(
            carry: dict[str, Any], batch: tuple[jax.Array, jax.Array]
        ) -> tuple[dict[str, Any], Any]:
            x, y = batch
            loss, grads = jax.value_and_grad(lambda p: cross_entropy(model.apply(p, x), y))(
                carry["params"]
            )
            # optax's bias correction mixes Python floats and int32 counts, which strict dtype
            # promotion (used by the test suite) rejects; our own code stays strict.
            with jax.numpy_dtype_promotion("standard"):
                updates, opt_state = tx.update(grads, carry["opt_state"], carry["params"])
            return {
                "params": optax.apply_updates(carry["params"], updates),
                "opt_state": opt_state,
            }, loss

        return jax.lax.scan(step, state, (xs, ys))

    def eval_sums(
        params: Any, x: jax.Array, y: jax.Array, w: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        return loss_and_correct_sums(model.apply(params, x), y, w)

    def predict(params: Any, x: jax.Array) -> jax.Array:
        return jax.numpy.argmax(model.apply(params, x), axis=-1).astype(jax.numpy.int32)

    fns = assemble(
        config,
        sh,
        apply=model.apply,
        init=init,
        train_chunk=jax.jit(
            train_chunk,
            in_shardings=(replicated, sh.chunk, sh.chunk),
            out_shardings=(replicated, replicated),
        ),
        eval_sums=eval_sums,
        predict=predict,
    )
    _CACHE[key] = fns
    return fns


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
