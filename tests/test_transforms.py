"""Every JAX transformation on every pooling op (docs/semantics.md §4), checked against the brute-force oracle.

jit, vmap over batch/spatial/feature axes (equal to looping the reference), grad, jvp, jacfwd and
jacrev (equal to the reference Jacobian built row by row from ``pool_reference_vjp``), jvp-of-grad
and hessian (zero for max/min/sum/avg on tie-free inputs, finite differences of the reference
gradient for lp), checkpoint, eval_shape, export, and ``jax.test_util.check_grads`` to order 2 in
float32 and float64. float64 runs enable x64 only inside the test (``jax.enable_x64``); an autouse
fixture asserts it does not leak. Max/min gradients must not use ``select_and_gather_add``.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from reference import pool_reference, pool_reference_output_shape, pool_reference_vjp

import jaxpool

OPS = ("max", "min", "sum", "avg", "lp")
P = 3.0
FNS = {"max": jaxpool.max_pool, "min": jaxpool.min_pool, "sum": jaxpool.sum_pool,
       "avg": jaxpool.avg_pool}
GEOMS = {
    "same": dict(window_shape=(2, 3), strides=(1, 2), padding="SAME"),
    "dilated": dict(window_shape=(2, 2), strides=1, padding=((1, 0), (0, 1)), dilation=(1, 2)),
    "ceil": dict(window_shape=(3, 2), strides=2, padding=1, ceil_mode=True),
}
AVG_EXTRA = {"same": {}, "dilated": {"count_include_pad": False}, "ceil": {"divisor_override": 5}}
SHAPE = (2, 4, 5, 2)


@pytest.fixture(autouse=True)
def _x64_does_not_leak():
    before = jax.config.jax_enable_x64
    yield
    assert jax.config.jax_enable_x64 == before, "a test left jax_enable_x64 changed"


def _x64(dtype: str):
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def make(op: str, geom: str = "same", **extra):
    """(pooling function of x, reference keyword arguments) for ``op`` on geometry ``geom``."""
    kw = dict(GEOMS[geom], **extra)
    if op == "avg":
        kw.update(AVG_EXTRA[geom])
    if op == "lp":
        return (lambda x: jaxpool.lp_pool(x, P, **kw)), dict(kw, norm_type=P)
    return (lambda x: FNS[op](x, **kw)), kw


def tie_free(shape, seed=0, dtype=np.float32, spacing=None):
    """Distinct positive values (no ties for max/min; positive for lp), gaps ``spacing``."""
    n = int(np.prod(shape))
    perm = np.random.default_rng(seed).permutation(n).astype(np.float64)
    vals = 0.5 + perm / n if spacing is None else 0.5 + perm * spacing
    return vals.reshape(shape).astype(dtype)


def ref_jacobian(x, op, rkw):
    """Reference Jacobian (out.size, x.size), one reference VJP per output element."""
    out_shape = pool_reference_output_shape(x.shape, **{k: v for k, v in rkw.items()
                                                        if k in _GEOM_KEYS})
    rows = []
    for i in range(int(np.prod(out_shape))):
        ct = np.zeros(int(np.prod(out_shape)))
        ct[i] = 1.0
        rows.append(pool_reference_vjp(x, ct.reshape(out_shape), op, **rkw).ravel())
    return np.stack(rows)


_GEOM_KEYS = ("window_shape", "strides", "padding", "dilation", "ceil_mode", "channels_first")


def _close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("geom", list(GEOMS))
@pytest.mark.parametrize("op", OPS)
def test_jit_grad_jvp_jacobians_match_reference(op, geom):
    f, rkw = make(op, geom)
    x = tie_free(SHAPE, seed=1)
    want = pool_reference(x, op, **rkw)
    jac = ref_jacobian(x, op, rkw)
    ct = np.random.default_rng(2).standard_normal(want.shape).astype(np.float32)
    t = np.random.default_rng(3).standard_normal(SHAPE).astype(np.float32)

    def body(a, t, ct):
        y, ty = jax.jvp(f, (a,), (t,))
        g = jax.grad(lambda z: jnp.sum(f(z) * ct))(a)
        return f(a), y, ty, g, jax.jacfwd(f)(a), jax.jacrev(f)(a)

    y0, y, ty, g, jf, jr = jax.jit(body)(x, t, ct)
    _close(y0, want)
    _close(y, want)
    _close(g, pool_reference_vjp(x, ct, op, **rkw), rtol=1e-4, atol=1e-5)
    _close(ty, (jac @ t.ravel()).reshape(want.shape), rtol=1e-4, atol=1e-5)
    _close(jf.reshape(jac.shape), jac, rtol=1e-4, atol=1e-6)
    _close(jr.reshape(jac.shape), jac, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("op", OPS)
def test_vmap_over_batch_spatial_and_feature_axes(op):
    x = tie_free(SHAPE, seed=4)
    f, rkw = make(op, "same")
    # Batch axis: vmap of the unbatched op == batched op == reference; also vmap of grad / jvp.
    _close(jax.jit(jax.vmap(f))(x), pool_reference(x, op, **rkw))
    g = jax.jit(jax.vmap(jax.grad(lambda a: jnp.sum(f(a)))))(x)
    want = np.stack([pool_reference_vjp(xi, np.ones(pool_reference(xi, op, **rkw).shape), op, **rkw)
                     for xi in x])
    _close(g, want, rtol=1e-4, atol=1e-5)
    t = np.ones_like(x)
    _, ty = jax.jit(jax.vmap(lambda a, b: jax.jvp(f, (a,), (b,))))(x, t)
    _close(ty, jax.jit(lambda a, b: jax.jvp(f, (a,), (b,)))(x, t)[1])
    # Spatial axis H mapped, 1-D pooling over W == 2-D pooling with a window of height 1.
    f1, rkw1 = make(op, "same", window_shape=(3,), strides=(2,))
    ys = jax.jit(jax.vmap(f1, in_axes=1, out_axes=1))(x)
    rkw2 = dict(rkw1, window_shape=(1, 3), strides=(1, 2))
    _close(ys, pool_reference(x, op, **rkw2))
    # Feature axis mapped: each channel pooled alone == pooling all channels.
    yf = jax.jit(jax.vmap(lambda a: f(a[..., None])[..., 0], in_axes=3, out_axes=3))(x)
    _close(yf, pool_reference(x, op, **rkw))
    # Any axis of a 4-D array mapped, the 3-D slice being one unbatched 2-D input: equals looping.
    for axis in range(4):
        got = jax.jit(jax.vmap(f, in_axes=axis))(x)
        want = np.stack([pool_reference(np.take(x, i, axis=axis), op, **rkw)
                         for i in range(x.shape[axis])])
        _close(got, want)


@pytest.mark.parametrize("channels_first", [False, True], ids=["nhwc", "nchw"])
@pytest.mark.parametrize("op", OPS)
def test_vmap_with_batched_inner_input(op, channels_first):
    x = tie_free((3, 2, 4, 5, 2), seed=5)
    if channels_first:
        x = np.moveaxis(x, -1, 2)
    f, rkw = make(op, "dilated", channels_first=channels_first)
    got = jax.jit(jax.vmap(f, in_axes=1, out_axes=1))(x)
    _close(got, pool_reference(x, op, **rkw))


@pytest.mark.parametrize("op", OPS)
def test_hvp_and_hessian(op):
    x = tie_free((1, 3, 4, 1), seed=6, dtype=np.float64)
    f, rkw = make(op, "same")
    ct = np.random.default_rng(7).standard_normal(pool_reference(x, op, **rkw).shape)
    with jax.enable_x64(True):
        xj, ctj = jnp.asarray(x), jnp.asarray(ct)
        loss = lambda a: jnp.sum(f(a) * ctj)  # noqa: E731
        v = jnp.asarray(np.random.default_rng(8).standard_normal(x.shape))
        _, hvp = jax.jit(lambda a, b: jax.jvp(jax.grad(loss), (a,), (b,)))(xj, v)
        hess = jax.jit(jax.hessian(loss))(xj).reshape(x.size, x.size)
        hvp, hess, v = np.asarray(hvp), np.asarray(hess), np.asarray(v)
    if op != "lp":
        np.testing.assert_array_equal(hvp, 0.0)
        np.testing.assert_array_equal(hess, 0.0)
        return
    eps = 1e-5
    grad = lambda a: pool_reference_vjp(a, ct, op, **rkw).ravel()  # noqa: E731
    fd_hvp = (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)
    _close(hvp.ravel(), fd_hvp, rtol=1e-5, atol=1e-7)
    basis = np.eye(x.size).reshape((x.size,) + x.shape)
    fd_hess = np.stack([(grad(x + eps * e) - grad(x - eps * e)) / (2 * eps) for e in basis])
    _close(hess, fd_hess, rtol=1e-5, atol=1e-7)
    _close(hess, hess.T, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", OPS)
def test_checkpoint_eval_shape_and_export(op):
    x = tie_free(SHAPE, seed=9)
    f, rkw = make(op, "ceil")
    want = pool_reference(x, op, **rkw)
    ones = np.ones(want.shape)
    g = jax.jit(jax.grad(lambda a: jnp.sum(jax.checkpoint(f)(a))))(x)
    _close(g, pool_reference_vjp(x, ones, op, **rkw), rtol=1e-4, atol=1e-5)
    spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
    out = jax.eval_shape(f, spec)
    geom_kw = {k: v for k, v in rkw.items() if k in _GEOM_KEYS}
    assert out.shape == want.shape == tuple(jaxpool.pool_output_shape(x.shape, **geom_kw))
    assert out.dtype == want.dtype
    exported = jax.export.export(jax.jit(f))(spec)
    _close(exported.call(x), want)
    ge = jax.grad(lambda a: jnp.sum(exported.call(a)))(x)
    _close(ge, pool_reference_vjp(x, ones, op, **rkw), rtol=1e-4, atol=1e-5)
    exported_grad = jax.export.export(jax.jit(jax.grad(lambda a: jnp.sum(f(a)))))(spec)
    _close(exported_grad.call(x), ge, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("op", OPS)
def test_export_serialization_roundtrip(op):
    import flatbuffers  # noqa: F401 -- jax.export serialization needs it (the test extra's): missing fails here
    x = tie_free(SHAPE, seed=10)
    f, rkw = make(op, "same")
    exported = jax.export.export(jax.jit(f))(jax.ShapeDtypeStruct(x.shape, x.dtype))
    back = jax.export.deserialize(exported.serialize(vjp_order=1))
    _close(back.call(x), pool_reference(x, op, **rkw))
    g = jax.grad(lambda a: jnp.sum(back.call(a)))(x)
    ones = np.ones(pool_reference(x, op, **rkw).shape)
    _close(g, pool_reference_vjp(x, ones, op, **rkw), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "dtype,op",
    # max/min/lp in float32 too with --runslow (float64 is the sharper check of the same code); min (the max
    # kernels with the comparison flipped) in float64 too
    [pytest.param(d, o, marks=pytest.mark.slow if (d == "float32" and o in ("max", "min", "lp")) or o == "min"
                  else ())
     for d in ("float32", "float64") for o in OPS],
)
def test_check_grads_order_2(dtype, op):
    # Max/min: tie-free with gaps of 0.1, far wider than any finite-difference step.
    spacing = 0.1 if op in ("max", "min") else None
    x = tie_free((1, 4, 5, 2), seed=11, dtype=np.float64, spacing=spacing)
    f, _ = make(op, "dilated")
    eps = 1e-3 if dtype == "float32" else 1e-6
    tol = 2e-2 if dtype == "float32" else 1e-5
    with _x64(dtype):
        xj = jnp.asarray(x, dtype=dtype)
        assert xj.dtype == np.dtype(dtype)
        check_grads(jax.jit(f), (xj,), order=2, modes=("fwd", "rev"), eps=eps, atol=tol, rtol=tol)


@pytest.mark.parametrize("geom", list(GEOMS))
@pytest.mark.parametrize("op", ["max", "min"])
def test_reverse_pass_avoids_select_and_gather_add(op, geom):
    f, _ = make(op, geom)
    x = tie_free(SHAPE, seed=12)
    for fn in (jax.grad(lambda a: jnp.sum(f(a))),
               jax.grad(lambda a: jnp.sum(jax.vmap(f)(a))),
               jax.jacrev(lambda a: jnp.sum(f(a), axis=(1, 2)))):
        text = str(jax.make_jaxpr(fn)(x))
        assert "select_and_gather_add" not in text
        assert "select_and_scatter_add" not in text


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the conditional barrier is the CPU path")
def test_winners_stay_behind_a_fusion_barrier():
    # The reverse pass reads each winner offset several times; if XLA fused the winner computation into it
    # (it inlines a conditional whose branches it can prove equal) the chain would be recomputed per read.
    x = jnp.asarray(tie_free((2, 9, 9, 3), seed=13))
    grad = jax.jit(jax.grad(lambda a: jnp.sum(jaxpool.max_pool(a, (3, 3), (2, 2), "SAME") ** 2)))
    hlo = grad.lower(x).compile().as_text()
    assert " conditional(" in hlo


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    "shape,kw",
    [((2, 9, 1), dict(window_shape=(3,), strides=2, padding=2, dilation=3)),
     ((1, 4, 5, 6, 2), dict(window_shape=(2, 2, 2), strides=(1, 2, 1), padding="SAME",
                            dilation=(2, 1, 3)))],
    ids=["1d", "3d"],
)
def test_dilated_gradients_any_rank(op, shape, kw):
    x = tie_free(shape, seed=13)
    if op == "lp":
        f, rkw = (lambda a: jaxpool.lp_pool(a, P, **kw)), dict(kw, norm_type=P)
    else:
        f, rkw = (lambda a: FNS[op](a, **kw)), kw
    want = pool_reference(x, op, **rkw)
    ct = np.random.default_rng(14).standard_normal(want.shape).astype(np.float32)
    _close(jax.jit(f)(x), want)
    g = jax.jit(jax.grad(lambda a: jnp.sum(f(a) * ct)))(x)
    _close(g, pool_reference_vjp(x, ct, op, **rkw), rtol=1e-4, atol=1e-5)
