"""The sharding matrix's cases, and the worker that runs them on 8 virtual CPU devices.

The ops (every public function family and both Flax module flavours) run in one jitted program per
(op, sharding mode) that returns the values, the gradient, a jvp and a Hessian-vector product. ``tests/
test_sharding.py`` runs this file as a script in a subprocess started with 8 CPU devices (the test process
itself keeps one device: other tests, the experiments' among them, build meshes from ``jax.devices()``), then
compares every output with the single-device result it computes itself.

Run as ``python tests/sharding_cases.py OUT_DIR [--slow]``: writes ``OUT_DIR/arrays.npz`` (outputs, keyed
``op/mode/i``) and ``OUT_DIR/meta.json`` (per cell: the error if it raised, each output's
``PartitionSpec``, the collectives in the compiled program).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxpool
import jaxpool.linen
import jaxpool.nnx
from jaxpool._sharding import whole_axes

SHAPE = (8, 8, 8, 8)  # (batch, height, width, features); every axis splits over 8 devices
COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter")
#: mode -> (mesh axis type, PartitionSpec entries of the input, whether the op runs inside shard_map)
MODES = {
    "explicit_batch": ("Explicit", ("b",), False),
    "explicit_feature": ("Explicit", (None, None, None, "b"), False),
    "shard_map": ("Explicit", ("b",), True),
    "auto_batch": ("Auto", ("b",), False),
    "auto_feature": ("Auto", (None, None, None, "b"), False),
    "explicit_spatial": ("Explicit", (None, "b"), False),
    "auto_spatial": ("Auto", (None, "b"), False),
}


def _unpool(x: jax.Array) -> tuple:
    v, i = jaxpool.max_pool_with_indices(x, (2, 2), (2, 2))
    return (jaxpool.max_unpool(v, i, (8, 8)),)


def fractional_samples(x: jax.Array) -> jax.Array:
    """Explicit fractional-pooling samples ``(batch, features, 2)`` in [0, 1), read from each sample's own
    first row (so a batch or feature shard carries its own samples, inside shard_map too); exact in float32:
    the inputs are multiples of 1/512 in [-4, 4). Spatially sharded inputs are gathered first (slicing a
    sharded axis is not defined under explicit sharding)."""
    x = whole_axes(x, (1, 2))
    return jnp.moveaxis(jax.lax.stop_gradient(x[:, 0, :2, :] + 4.0) / 8.0, 1, 2)


def _fractional(x: jax.Array) -> tuple:
    return jaxpool.fractional_max_pool(x, (2, 2), (5, 6), samples=fractional_samples(x), return_indices=True)


#: op name -> function of x returning a tuple whose first entry is the float output that is differentiated.
OPS: dict[str, Callable[[jax.Array], tuple]] = {
    "max": lambda x: (jaxpool.max_pool(x, (3, 3), (2, 2), "SAME"),),
    "min": lambda x: (jaxpool.min_pool(x, (2, 2), (2, 2)),),
    "avg": lambda x: (jaxpool.avg_pool(x, (3, 3), (2, 2), "SAME", count_include_pad=False),),
    "sum": lambda x: (jaxpool.sum_pool(x, (2, 2), (2, 2)),),
    "lp": lambda x: (jaxpool.lp_pool(x, 2.0, (3, 3), (1, 1), "SAME"),),
    "max_with_indices": lambda x: jaxpool.max_pool_with_indices(x, (3, 3), (2, 2), "SAME"),
    "min_with_indices": lambda x: jaxpool.min_pool_with_indices(x, (2, 2), (1, 1), dilation=2),
    "max_unpool": _unpool,
    "adaptive_avg": lambda x: (jaxpool.adaptive_avg_pool(x, (3, 4)),),
    "adaptive_max": lambda x: jaxpool.adaptive_max_pool(x, (3, 4), return_indices=True),
    "global_avg": lambda x: (jaxpool.global_avg_pool(x),),
    "global_max": lambda x: (jaxpool.global_max_pool(x),),
    "blur": lambda x: (jaxpool.blur_pool(x),),
    "fractional_max": _fractional,
    # A large window split into passes of small windows (jaxpool/_levels.py: 64 = 8 runs of 8), 1-D (8, 64, 8).
    "max_large_indices": lambda x: jaxpool.max_pool_with_indices(x.reshape(x.shape[0], 64, x.shape[-1]), 64, 1, "SAME"),
    # Large window sums anchored at sub-block starts (jaxpool/_anchored.py): a prime length, 1-D (8, 64, 8).
    "avg_anchored": lambda x: (jaxpool.avg_pool(x.reshape(x.shape[0], 64, x.shape[-1]), 67, 1, "SAME"),),
    "linen_max": lambda x: (jaxpool.linen.MaxPool((2, 2), (2, 2)).apply({}, x),),
    "nnx_avg": lambda x: (jaxpool.nnx.AvgPool((3, 3), (2, 2), "SAME")(x),),
}

#: Broader geometries, run only with --runslow (each under every mode).
SLOW_OPS: dict[str, Callable[[jax.Array], tuple]] = {
    "max_1d_stride1_same": lambda x: (jaxpool.max_pool(x.reshape(x.shape[0], 64, x.shape[-1]), 3, 1, "SAME"),),
    "avg_1d_reduce_window": lambda x: (jaxpool.avg_pool(x.reshape(x.shape[0], 64, x.shape[-1]), 3, 2, "SAME"),),
    # (N, H, W, C) -> (N, C, H, W): the sharded feature axis stays the channel axis
    "max_channels_first_dilated": lambda x: (
        jaxpool.max_pool(jnp.moveaxis(x, -1, 1), (2, 2), (1, 2), 1, dilation=(2, 1), channels_first=True),),
    "sum_3d": lambda x: (jaxpool.sum_pool(jnp.stack([x, -x], axis=3), (2, 2, 2), (2, 1, 2), "SAME"),),
    "min_ceil_mode": lambda x: (jaxpool.min_pool(x, (3, 3), (2, 2), 1, ceil_mode=True),),
    "lp_tiling": lambda x: (jaxpool.lp_pool(x, 3.0, (4, 4), (4, 4)),),
    "linen_adaptive_max": lambda x: (jaxpool.linen.AdaptiveMaxPool((3, 3)).apply({}, x),),
    "nnx_global_max": lambda x: (jaxpool.nnx.GlobalMaxPool()(x),),
    "avg_large_blocks": lambda x: (jaxpool.avg_pool(x.reshape(x.shape[0], 64, x.shape[-1]), 16, 4, "SAME"),),
    "sum_large": lambda x: (jaxpool.sum_pool(x.reshape(x.shape[0], 64, x.shape[-1]), 64, 1, "SAME"),),
    # The blocked running reductions (jaxpool/_large_windows.py): max from window 8192; a prime-length sum
    # (anchored sums on CPU, jaxpool/_anchored.py).
    "max_blocked_indices": lambda x: jaxpool.max_pool_with_indices(x.reshape(x.shape[0], 64, x.shape[-1]), 8192, 1,
                                                                   "SAME"),
    # Stride-aligned blocks of 64, winners from stored run results (jaxpool/_stride_blocks.py), 1-D.
    "max_block_runs_indices": lambda x: jaxpool.max_pool_with_indices(x.reshape(x.shape[0], 64, x.shape[-1]), 128,
                                                                      64, "SAME"),
    # Max windows split on both axes: their passes run without border blocks (jaxpool/_dispatch.py).
    "max_2d_split_indices": lambda x: jaxpool.max_pool_with_indices(x, (21, 20), (1, 1), "SAME"),
    "sum_blocked_prime": lambda x: (jaxpool.sum_pool(x.reshape(x.shape[0], 64, x.shape[-1]), 67, 1, "SAME"),),
}


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """The input (distinct values: no ties) and the tangent, float32 of shape SHAPE."""
    rng = np.random.default_rng(2026)
    x = rng.permutation(np.prod(SHAPE)).reshape(SHAPE).astype(np.float32) / 512.0 - 4.0
    return x, rng.standard_normal(SHAPE).astype(np.float32)


def program(f: Callable[[jax.Array], tuple]) -> Callable[[jax.Array, jax.Array], tuple]:
    """``(x, t) -> (*f(x), grad, jvp, hvp)`` for the loss ``sum(f(x)[0] ** 2)``, tangent ``t``."""

    def loss(x: jax.Array) -> jax.Array:
        return jnp.sum(f(x)[0] ** 2)

    def run(x: jax.Array, t: jax.Array) -> tuple:
        # Two traces, not four: the jvps' primals are the outputs and the gradient (a smaller program to compile).
        outs, tangents = jax.jvp(f, (x,), (t,))
        grad, hvp = jax.jvp(jax.grad(loss), (x,), (t,))
        return (*outs, grad, tangents[0], hvp)

    return run


#: Ops whose spatially sharded cells run by default (the others' run with --runslow): spatial sharding may
#: communicate, and its programs are the slowest to compile.
SPATIAL_DEFAULT = ("max", "avg", "max_with_indices", "max_unpool", "adaptive_max", "blur")


def plan(mode: str, slow: bool) -> dict[str, Callable]:
    """The ops run under ``mode`` in the default run (``slow=False``) or only with --runslow."""
    if "spatial" not in mode:
        return SLOW_OPS if slow else OPS
    default = {name: OPS[name] for name in SPATIAL_DEFAULT}
    return {**SLOW_OPS, **{k: f for k, f in OPS.items() if k not in default}} if slow else default


def merged(ops: dict[str, Callable]) -> Callable[[jax.Array, jax.Array], dict]:
    """One program for several ops: ``(x, t) -> {name: program(op)(x, t)}`` (compiles once, not per op)."""
    return lambda x, t: {name: program(f)(x, t) for name, f in ops.items()}


def _cells(ops: dict[str, Callable], mode: str, x: np.ndarray, t: np.ndarray) -> tuple[dict, dict]:
    """Outputs and meta of ``ops`` under ``mode``, compiled as one program."""
    from jax.sharding import AxisType, NamedSharding, PartitionSpec

    kind, spec, manual = MODES[mode]
    mesh = jax.make_mesh((8,), ("b",), axis_types=(getattr(AxisType, kind),))
    with jax.set_mesh(mesh):
        if manual:
            ops = {name: jax.shard_map(f, in_specs=PartitionSpec("b"), out_specs=PartitionSpec("b"))
                   for name, f in ops.items()}
        sharding = NamedSharding(mesh, PartitionSpec(*spec))
        xs, ts = jax.device_put(x, sharding), jax.device_put(t, sharding)
        compiled = jax.jit(merged(ops)).lower(xs, ts).compile()
        text = compiled.as_text()
        outs = compiled(xs, ts)
    collectives = [c for c in COLLECTIVES if c in text]
    arrays = {f"{name}/{mode}/{i}": np.asarray(o) for name, os in outs.items() for i, o in enumerate(os)}
    meta = {f"{name}/{mode}": {"specs": [list(o.sharding.spec) for o in os], "collectives": collectives}
            for name, os in outs.items()}
    return arrays, meta


#: Ops compiled in a program of their own under spatial sharding: merged with the other slow ops' collectives,
#: XLA:CPU's in-process fake devices stopped in a collective-permute rendezvous ("Termination timeout", twice
#: in a row); alone, every spatial cell of the op runs and equals one device.
ALONE_WHEN_SPATIAL = ("max_2d_split_indices",)


def _run_group(ops: dict[str, Callable], mode: str, x: np.ndarray, t: np.ndarray, arrays: dict, meta: dict) -> None:
    """Cells of ``ops`` under ``mode`` as one program, op by op where the whole program fails (so that the
    error is reported for the op that raises), into ``arrays`` and ``meta``."""
    if not ops:
        return
    try:
        got = _cells(ops, mode, x, t)
    except Exception:  # noqa: BLE001 -- retried op by op below, to name the op that fails
        got = None
    if got is not None:
        arrays.update(got[0])
        meta.update(got[1])
        return
    for name, f in ops.items():
        try:
            a, m = _cells({name: f}, mode, x, t)
        except Exception as e:  # noqa: BLE001 -- reported per cell, asserted by the test
            meta[f"{name}/{mode}"] = {"error": f"{type(e).__name__}: {e}"[:2000]}
            continue
        arrays.update(a)
        meta.update(m)


def main(out_dir: str, slow: bool) -> None:
    """Run every op under every mode; one program per mode, per op where the whole program fails (so that the
    error is reported for the op that raises). Collectives are those of the program the op was compiled in."""
    assert jax.device_count() == 8, jax.devices()
    x, t = inputs()
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, dict] = {}
    for mode in MODES:
        planned = plan(mode, slow)
        alone = [n for n in planned if n in ALONE_WHEN_SPATIAL and "spatial" in mode]
        groups = [{n: f for n, f in planned.items() if n not in alone}] + [{n: planned[n]} for n in alone]
        for ops in groups:
            _run_group(ops, mode, x, t, arrays, meta)
    np.savez(Path(out_dir) / "arrays.npz", **arrays)
    (Path(out_dir) / "meta.json").write_text(json.dumps(meta))


if __name__ == "__main__":
    main(sys.argv[1], "--slow" in sys.argv[2:])
