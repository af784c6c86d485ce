"""``jax.export`` with symbolic batch and feature dims (shape polymorphism) for every public op family.

One exported program per op, with the batch (and, for the plain ops, the feature) dim symbolic, is called at
two concrete sizes and must equal the brute-force references (``reference``). Spatial sizes must be static:
a symbolic spatial dim gets jaxpool's ValueError naming the dim, as no window arithmetic can run on it.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import export
from reference import (
    adaptive_reference,
    blur_reference,
    fractional_reference,
    pool_reference,
    pool_reference_vjp,
    pool_reference_winners,
    unpool_reference,
)

import jaxpool
from jaxpool import linen as jpl
from jaxpool import nnx as jpn

SPATIAL = (7, 6)


def _spec(symbols: str) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(export.symbolic_shape(symbols), jnp.float32)


def _inputs(batch: int, features: int = 3, seed: int = 0) -> np.ndarray:
    # distinct values: no ties, so every winner is unique
    rng = np.random.default_rng(seed)
    n = batch * SPATIAL[0] * SPATIAL[1] * features
    return (rng.permutation(n).astype(np.float32) / n).reshape(batch, *SPATIAL, features)


def _close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol)


GEOM = dict(window_shape=(3, 2), strides=(2, 1), padding="SAME")
PLAIN = {
    "max": (lambda v: jaxpool.max_pool(v, **GEOM), dict(op="max")),
    "min": (lambda v: jaxpool.min_pool(v, **GEOM), dict(op="min")),
    "sum": (lambda v: jaxpool.sum_pool(v, **GEOM), dict(op="sum")),
    "avg": (lambda v: jaxpool.avg_pool(v, **GEOM, count_include_pad=False),
            dict(op="avg", count_include_pad=False)),
    "lp": (lambda v: jaxpool.lp_pool(v, 2.0, **GEOM), dict(op="lp", norm_type=2.0)),
    # a split window (_levels) and a blocked one (_large_windows), 1-D along the first spatial dim
    "max_w5_dilated": (lambda v: jaxpool.max_pool(v, (5, 1), 1, "SAME", dilation=(1, 1)),
                       dict(op="max", window_shape=(5, 1), strides=1, padding="SAME")),
}


@pytest.mark.parametrize("name", list(PLAIN))
@pytest.mark.parametrize("symbols", ["b, 7, 6, 3", "b, 7, 6, c"])
def test_plain_ops_export_with_symbolic_batch_and_features(name, symbols):
    f, rkw = PLAIN[name]
    kw = {**GEOM, **{k: v for k, v in rkw.items() if k != "op"}}
    exported = export.export(jax.jit(f))(_spec(symbols))
    grad = export.export(jax.jit(jax.grad(lambda v: jnp.sum(f(v) ** 2))))(_spec(symbols))
    for batch in (1, 4):
        x = _inputs(batch, seed=batch)
        want = pool_reference(x, rkw["op"], **kw)
        _close(exported.call(x), want)
        _close(grad.call(x), pool_reference_vjp(x, 2 * want.astype(np.float64), rkw["op"], **kw),
               rtol=1e-4, atol=1e-5)


def test_indices_unpool_adaptive_global_blur_export_with_symbolic_batch():
    def fns(v):
        vals, idx = jaxpool.max_pool_with_indices(v, (2, 2), (2, 2))
        return (vals, idx, jaxpool.max_unpool(vals, idx, SPATIAL), jaxpool.adaptive_avg_pool(v, (3, 4)),
                jaxpool.adaptive_max_pool(v, (3, 4)), jaxpool.global_avg_pool(v), jaxpool.global_max_pool(v),
                jaxpool.blur_pool(v, 2))

    exported = export.export(jax.jit(fns))(_spec("b, 7, 6, 3"))
    for batch in (2, 5):
        x = _inputs(batch, seed=10 + batch)
        vals, idx, unpooled, aavg, amax, gavg, gmax, blur = exported.call(x)
        _close(vals, pool_reference(x, "max", (2, 2), (2, 2)))
        np.testing.assert_array_equal(np.asarray(idx), pool_reference_winners(x, "max", (2, 2), (2, 2)))
        _close(unpooled, unpool_reference(np.asarray(vals), np.asarray(idx), SPATIAL))
        _close(aavg, adaptive_reference(x, (3, 4), "avg"))
        _close(amax, adaptive_reference(x, (3, 4), "max")[0])
        _close(gavg, x.mean(axis=(1, 2)))
        _close(gmax, x.max(axis=(1, 2)))
        _close(blur, blur_reference(x, 2))


def test_fractional_export_with_symbolic_batch():
    f = lambda v, u: jaxpool.fractional_max_pool(v, (2, 2), output_size=(4, 3), samples=u)  # noqa: E731
    b = export.symbolic_shape("b")[0]
    specs = (jax.ShapeDtypeStruct((b, *SPATIAL, 3), jnp.float32), jax.ShapeDtypeStruct((b, 3, 2), jnp.float32))
    exported = export.export(jax.jit(f))(*specs)
    for batch in (1, 3):
        x = _inputs(batch, seed=30 + batch)
        u = np.random.default_rng(batch).uniform(0, 1, (batch, 3, 2)).astype(np.float32)
        _close(exported.call(x, u), fractional_reference(x, (2, 2), (4, 3), samples=u))


def test_modules_export_with_symbolic_batch():
    linen_pool = jpl.MaxPool((2, 2), (2, 2))
    nnx_pool = jpn.AvgPool((2, 2), (2, 2), padding="SAME")
    module = nn.Sequential([linen_pool])
    variables = module.init(jax.random.key(0), jnp.zeros((1, *SPATIAL, 3)))
    lin = export.export(jax.jit(lambda v: module.apply(variables, v)))(_spec("b, 7, 6, 3"))
    nnx_exp = export.export(jax.jit(lambda v: nnx_pool(v)))(_spec("b, 7, 6, 3"))
    assert isinstance(nnx_pool, nnx.Module)
    for batch in (1, 3):
        x = _inputs(batch, seed=20 + batch)
        _close(lin.call(x), pool_reference(x, "max", (2, 2), (2, 2)))
        _close(nnx_exp.call(x), pool_reference(x, "avg", (2, 2), (2, 2), "SAME"))


@pytest.mark.parametrize("fn", [
    lambda v: jaxpool.max_pool(v, (2, 2)),
    lambda v: jaxpool.avg_pool(v, (2, 2)),
    lambda v: jaxpool.adaptive_avg_pool(v, (2, 2)),
    lambda v: jaxpool.global_max_pool(v),
])
def test_symbolic_spatial_dim_is_a_clear_error(fn):
    with pytest.raises(ValueError, match=r"spatial dim 0 .*symbolic size h.*static spatial sizes"):
        export.export(jax.jit(fn))(_spec("b, h, 6, 3"))
