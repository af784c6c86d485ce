"""jaxpool.linen: every module equals its function, validates at construction, and composes.

Each module's output is compared with its function's *and* with the brute-force NumPy reference
(``reference.pool_reference``) where one exists, so a module that forwarded the wrong field would
fail. Composition: ``nn.Sequential``, ``jax.jit``, ``nn.jit``, ``jax.vmap`` and ``nn.vmap``,
``nn.remat``, and a block scanned with ``nn.scan``; a gradient step through a conv + pool model.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import pool_reference

import jaxpool
import jaxpool.linen as jpl

X = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype(np.float32)

# (module, function, kwargs, reference op or None)
CASES = [
    (jpl.MaxPool, jaxpool.max_pool, dict(window_shape=(3, 2), strides=(2, 1), padding="SAME"),
     "max"),
    (jpl.MinPool, jaxpool.min_pool, dict(window_shape=2, strides=2, padding=1, ceil_mode=True),
     "min"),
    (jpl.SumPool, jaxpool.sum_pool, dict(window_shape=(2, 2), dilation=(2, 1)), "sum"),
    (jpl.AvgPool, jaxpool.avg_pool,
     dict(window_shape=3, strides=2, padding=1, count_include_pad=False), "avg"),
    (jpl.LPPool, jaxpool.lp_pool, dict(norm_type=2.0, window_shape=(2, 3), strides=(1, 2)), "lp"),
    (jpl.AdaptiveAvgPool, jaxpool.adaptive_avg_pool, dict(output_size=(3, None)), None),
    (jpl.AdaptiveMaxPool, jaxpool.adaptive_max_pool, dict(output_size=4), None),
    (jpl.GlobalAvgPool, jaxpool.global_avg_pool, dict(keepdims=True), None),
    (jpl.GlobalMaxPool, jaxpool.global_max_pool, dict(num_spatial_dims=2), None),
    (jpl.BlurPool, jaxpool.blur_pool, dict(strides=2, filter_size=3), None),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("module, fn, kwargs, op", CASES, ids=IDS)
def test_module_equals_function(module, fn, kwargs, op):
    m = module(**kwargs)
    y = jax.jit(m.apply)({}, X)
    np.testing.assert_array_equal(y, jax.jit(lambda x: fn(x, **kwargs))(X))
    if op is not None:
        rkw = {k: v for k, v in kwargs.items() if k != "norm_type"}
        ref = pool_reference(X, op, norm_type=kwargs.get("norm_type"), **rkw)
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    assert m.init(jax.random.key(0), X) == {}  # no parameters, no state


def test_global_modules_values():
    """Hand-derived: mean and max over the two spatial dims."""
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 3, 2)  # (batch, h, w, c)
    np.testing.assert_array_equal(jax.jit(jpl.GlobalAvgPool().apply)({}, x), [[5.0, 6.0]])
    np.testing.assert_array_equal(jax.jit(jpl.GlobalMaxPool().apply)({}, x), [[10.0, 11.0]])


@pytest.mark.parametrize("module, fn, kwargs, op", CASES, ids=IDS)
def test_fields_have_function_names_and_defaults(module, fn, kwargs, op):
    import inspect

    params = list(inspect.signature(fn).parameters.values())[1:]
    fields = {f.name: f for f in module.__dataclass_fields__.values()
              if f.name not in ("parent", "name")}
    assert list(fields) == [p.name for p in params]
    for p in params:
        default = fields[p.name].default
        if p.default is inspect.Parameter.empty:
            assert default is inspect.Parameter.empty or repr(default).startswith("<dataclasses")
        else:
            assert default == p.default, p.name


@pytest.mark.parametrize(
    "make",
    [
        lambda: jpl.MaxPool(0),
        lambda: jpl.MaxPool((2, 0)),
        lambda: jpl.MinPool(2, strides=(1, 2, 3), dilation=(1, 1)),
        lambda: jpl.SumPool(2, padding=-1),
        lambda: jpl.AvgPool(2, padding="SAME", ceil_mode=True),
        lambda: jpl.AvgPool(2, divisor_override=0),
        lambda: jpl.AvgPool(2, padding="FULL"),
        lambda: jpl.LPPool(0.5, 2),
        lambda: jpl.LPPool(float("inf"), 2),
        lambda: jpl.MaxPool(2, padding=2),  # the first window would sample only padding
        lambda: jpl.MaxPool(2, channels_first=1),
        lambda: jpl.AdaptiveAvgPool(0),
        lambda: jpl.AdaptiveMaxPool((2, -1)),
        lambda: jpl.AdaptiveMaxPool(2, return_indices="yes"),
        lambda: jpl.GlobalAvgPool(num_spatial_dims=0),
        lambda: jpl.GlobalMaxPool(keepdims=None),
        lambda: jpl.BlurPool(filter_size=0),
        lambda: jpl.BlurPool(strides=0),
        lambda: jpl.BlurPool(padding="circular"),
        lambda: jpl.BlurPool(strides=(2, 2), num_spatial_dims=3),
    ],
)
def test_construction_validates(make):
    with pytest.raises((TypeError, ValueError)):
        make()


def test_input_dependent_checks_wait_for_the_input():
    """High padding that starves the last window only for some lengths is judged at call time."""
    m = jpl.MaxPool(2, strides=2, padding=((0, 2),))  # fine for odd lengths, invalid for even ones
    assert m.apply({}, np.ones((1, 5, 1), np.float32)).shape == (1, 3, 1)
    with pytest.raises(ValueError, match="padding"):
        m.apply({}, np.ones((1, 4, 1), np.float32))
    with pytest.raises(ValueError, match="reflect"):  # reflect wider than a 2-long input
        jpl.BlurPool(filter_size=5).apply({}, np.ones((1, 2, 2, 1), np.float32))


def test_lists_are_stored_as_tuples_and_repr_is_readable():
    m = jpl.MaxPool([2, 2], strides=[2, 2], padding=[(0, 1), (1, 0)])
    assert m.window_shape == (2, 2) and m.padding == ((0, 1), (1, 0))
    hash((m.window_shape, m.strides, m.padding))
    text = repr(m)
    for part in ("MaxPool", "window_shape = (2, 2)", "strides = (2, 2)", "ceil_mode = False"):
        assert part in text, text
    assert "filter_size = 4" in repr(jpl.BlurPool())


class _Net(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(4, (3, 3))(x)
        x = jpl.MaxPool((2, 2), strides=(2, 2))(x)
        x = jpl.BlurPool(strides=1, filter_size=3)(x)
        x = jpl.GlobalAvgPool()(x)
        return nn.Dense(2)(x)


def test_sequential_jit_and_grad():
    seq = nn.Sequential([jpl.MaxPool(2, strides=2), jpl.AvgPool(2), jpl.AdaptiveMaxPool((1, 1))])
    want = jaxpool.adaptive_max_pool(
        jaxpool.avg_pool(jaxpool.max_pool(X, 2, strides=2), 2), (1, 1))
    np.testing.assert_array_equal(jax.jit(seq.apply)({}, X), want)
    net = _Net()
    params = jax.jit(net.init)(jax.random.key(0), X)
    loss = lambda p: jnp.sum(net.apply(p, X) ** 2)
    g = jax.jit(jax.grad(loss))(params)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree_util.tree_leaves(g))
    assert any(float(jnp.abs(v).sum()) > 0 for v in jax.tree_util.tree_leaves(g))


def test_vmap_and_lifted_vmap():
    m = jpl.MaxPool((2, 2), strides=1)
    xs = np.stack([X, X + 1.0])
    got = jax.jit(jax.vmap(lambda x: m.apply({}, x)))(xs)
    want = np.stack([jaxpool.max_pool(x, (2, 2), 1) for x in (X, X + 1.0)])
    np.testing.assert_array_equal(got, want)
    vm = nn.vmap(jpl.AvgPool, in_axes=0, out_axes=0, variable_axes={}, split_rngs={})
    got = jax.jit(vm((2, 2), strides=2).apply)({}, xs)
    np.testing.assert_allclose(got, np.stack([jaxpool.avg_pool(x, (2, 2), 2) for x in xs]),
                               rtol=1e-6)


def test_remat():
    rm = nn.remat(jpl.MaxPool)((3, 3), strides=2, padding="SAME")
    f = lambda x: jnp.sum(rm.apply({}, x) ** 2)
    g_remat = jax.jit(jax.grad(f))(X)
    g_plain = jax.jit(jax.grad(lambda x: jnp.sum(jaxpool.max_pool(x, (3, 3), 2, "SAME") ** 2)))(X)
    np.testing.assert_array_equal(g_remat, g_plain)


class _Block(nn.Module):
    """A scanned block: shape-preserving pooling inside, carry in and out."""

    @nn.compact
    def __call__(self, carry, _):
        y = jpl.MaxPool((3, 3), strides=1, padding="SAME")(carry)
        y = nn.Dense(carry.shape[-1])(y)
        y = y + jpl.BlurPool(strides=1, filter_size=3, padding="zero")(carry)
        return y, jpl.GlobalAvgPool()(y)


def test_inside_scanned_block():
    scanned = nn.scan(_Block, variable_axes={"params": 0}, split_rngs={"params": True},
                      length=3)
    model = scanned()
    params = model.init(jax.random.key(0), X, None)
    carry, per_step = jax.jit(model.apply)(params, X, None)
    assert carry.shape == X.shape and per_step.shape == (3, 2, 3)
    # Unrolled by hand with the same per-step parameters.
    kernels = params["params"]["Dense_0"]
    c = jnp.asarray(X)
    for i in range(3):
        d = jax.tree_util.tree_map(lambda v, i=i: v[i], kernels)
        y = jaxpool.max_pool(c, (3, 3), 1, "SAME") @ d["kernel"] + d["bias"].reshape(1, 1, 1, -1)
        c = y + jaxpool.blur_pool(c, 1, 3, padding="zero")
    np.testing.assert_allclose(carry, c, rtol=1e-5, atol=1e-5)
