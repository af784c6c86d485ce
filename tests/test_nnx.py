"""jaxpool.nnx: every module equals its function, validates at construction, and composes.

Modules equal their functions (and the brute-force reference where one exists); constructor
signatures mirror the functions; they work in ``nnx.Sequential``, ``nnx.jit``, ``nnx.vmap``,
``nnx.remat`` and inside blocks scanned with ``nnx.scan``; and ``nnx.Sequential(conv, MaxPool)``
takes an optax step under ``nnx.jit`` that lowers the loss.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from reference import pool_reference

import jaxpool
import jaxpool.linen as jpl
import jaxpool.nnx as jpn

X = np.random.default_rng(1).normal(size=(2, 7, 6, 3)).astype(np.float32)

CASES = [
    (jpn.MaxPool, jaxpool.max_pool, ((3, 2),), dict(strides=(2, 1), padding="SAME"), "max"),
    (jpn.MinPool, jaxpool.min_pool, (2,), dict(strides=2, padding=1, ceil_mode=True), "min"),
    (jpn.SumPool, jaxpool.sum_pool, ((2, 2),), dict(dilation=(2, 1)), "sum"),
    (jpn.AvgPool, jaxpool.avg_pool, (3, 2, 1, False), {}, "avg"),
    (jpn.LPPool, jaxpool.lp_pool, (2.0, (2, 3)), dict(strides=(1, 2)), "lp"),
    (jpn.AdaptiveAvgPool, jaxpool.adaptive_avg_pool, ((3, None),), {}, None),
    (jpn.AdaptiveMaxPool, jaxpool.adaptive_max_pool, (4,), dict(return_indices=True), None),
    (jpn.GlobalAvgPool, jaxpool.global_avg_pool, (), dict(keepdims=True), None),
    (jpn.GlobalMaxPool, jaxpool.global_max_pool, (), dict(num_spatial_dims=2), None),
    (jpn.BlurPool, jaxpool.blur_pool, (2, 3), dict(padding="zero"), None),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("module, fn, args, kwargs, op", CASES, ids=IDS)
def test_module_equals_function(module, fn, args, kwargs, op):
    m = module(*args, **kwargs)
    got = nnx.jit(lambda m, x: m(x))(m, X)
    want = jax.jit(lambda x: fn(x, *args, **kwargs))(X)
    jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)
    if op is not None:
        bound = inspect.signature(fn).bind(X, *args, **kwargs).arguments
        bound.pop("inputs")
        norm = bound.pop("norm_type", None)
        ref = pool_reference(X, op, norm_type=norm, **bound)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert not jax.tree_util.tree_leaves(nnx.state(m))  # no parameters, no state


@pytest.mark.parametrize("module, fn, args, kwargs, op", CASES, ids=IDS)
def test_constructor_mirrors_function_and_linen(module, fn, args, kwargs, op):
    fparams = list(inspect.signature(fn).parameters.values())[1:]
    mparams = list(inspect.signature(module.__init__).parameters.values())[1:]
    assert [(p.name, p.kind, p.default) for p in mparams] == \
        [(p.name, p.kind, p.default) for p in fparams]
    assert hasattr(jpl, module.__name__)


@pytest.mark.parametrize(
    "make",
    [
        lambda: jpn.MaxPool(0),
        lambda: jpn.MinPool((2, 2), strides=(1, 2, 3)),
        lambda: jpn.SumPool(2, padding=[(1, -1)]),
        lambda: jpn.AvgPool(2, padding="same", ceil_mode=True),
        lambda: jpn.AvgPool(2, divisor_override=-3),
        lambda: jpn.LPPool(0.0, 2),
        lambda: jpn.MaxPool(2, padding=3),
        lambda: jpn.AdaptiveAvgPool((0, 1)),
        lambda: jpn.AdaptiveMaxPool("3"),
        lambda: jpn.GlobalMaxPool(num_spatial_dims=-1),
        lambda: jpn.GlobalAvgPool(channels_first="no"),
        lambda: jpn.BlurPool(filter_size=-1),
        lambda: jpn.BlurPool(padding="edge"),
    ],
)
def test_construction_validates(make):
    with pytest.raises((TypeError, ValueError)):
        make()


def test_repr_is_readable_and_lists_become_tuples():
    m = jpn.MaxPool([2, 2], strides=[2, 2])
    text = repr(m)
    for part in ("MaxPool", "window_shape=(2, 2)", "strides=(2, 2)", "padding='VALID'"):
        assert part in text, text
    assert "filter_size=4" in repr(jpn.BlurPool())


def test_sequential_trains_one_optax_step():
    model = nnx.Sequential(
        nnx.Conv(3, 4, (3, 3), rngs=nnx.Rngs(0)),
        jpn.MaxPool((2, 2), strides=(2, 2)),
        jpn.GlobalAvgPool(),
    )
    target = jnp.ones((2, 4), jnp.float32)
    optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)

    def loss_fn(m):
        return jnp.mean((m(X) - target) ** 2)

    @nnx.jit
    def step(m, opt):
        loss, grads = nnx.value_and_grad(loss_fn)(m)
        opt.update(m, grads)
        return loss

    before = float(step(model, optimizer))
    after = float(nnx.jit(loss_fn)(model))
    assert after < before


def test_vmap_and_remat():
    m = jpn.AvgPool((2, 2), strides=2)
    xs = np.stack([X, 2.0 * X])
    got = nnx.vmap(lambda m, x: m(x), in_axes=(None, 0))(m, xs)
    np.testing.assert_allclose(got, np.stack([jaxpool.avg_pool(x, (2, 2), 2) for x in xs]),
                               rtol=1e-6)
    mp = jpn.MaxPool((3, 3), strides=2, padding="SAME")
    g = nnx.jit(jax.grad(lambda x: jnp.sum(nnx.remat(lambda m, x: m(x))(mp, x) ** 2)))(X)
    want = jax.jit(jax.grad(lambda x: jnp.sum(jaxpool.max_pool(x, (3, 3), 2, "SAME") ** 2)))(X)
    np.testing.assert_array_equal(g, want)


class _Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.lin = nnx.Linear(3, 3, rngs=rngs)
        self.pool = jpn.MaxPool((3, 3), strides=1, padding="SAME")
        self.blur = jpn.BlurPool(1, 3, padding="zero")

    def __call__(self, x):
        return self.lin(self.pool(x)) + self.blur(x)


def test_inside_scanned_block():
    @nnx.vmap(in_axes=0, out_axes=0)
    def make(key):
        return _Block(nnx.Rngs(key))

    blocks = make(jax.random.split(jax.random.key(0), 3))

    @nnx.jit
    @nnx.scan(in_axes=(0, nnx.Carry), out_axes=nnx.Carry)
    def forward(block, x):
        return block(x)

    out = forward(blocks, X)
    c = jnp.asarray(X)
    for i in range(3):
        k, b = blocks.lin.kernel[...][i], blocks.lin.bias[...][i]
        c = jaxpool.max_pool(c, (3, 3), 1, "SAME") @ k + b.reshape(1, 1, 1, -1) \
            + jaxpool.blur_pool(c, 1, 3, padding="zero")
    np.testing.assert_allclose(out, c, rtol=1e-5, atol=1e-5)
