"""max_pool_with_indices / min_pool_with_indices (docs/semantics.md §4-5).

Oracles: ``torch.nn.functional.max_pool{1,2,3}d(..., return_indices=True)`` (values, indices and
gradients) on random inputs with many ties, in both layouts; the brute-force reference's winners
(``reference.pool_reference_winners``) for what torch lacks (SAME padding, min, several batch axes,
-inf beside padding, NaN); and the index names the element the gradient and the jvp pick.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import pool_reference, pool_reference_winners

import jaxpool

# (input spatial shape, torch keyword arguments): padding, stride, dilation, ceil_mode; 1-3 dims.
TORCH_CASES = [
    ((9,), dict(kernel_size=3, stride=1, padding=1)),
    ((10,), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ((11,), dict(kernel_size=3, stride=2, dilation=2)),
    ((7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((6, 7), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True)),
    ((8, 8), dict(kernel_size=2, stride=1, dilation=(2, 1))),
    ((5, 6, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ((6, 5, 7), dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=(1, 0, 1),
                     dilation=(1, 2, 1))),
]


def _ours_kwargs(n, tkw):
    as_tuple = lambda v: tuple(v) if isinstance(v, tuple) else (v,) * n
    return dict(window_shape=as_tuple(tkw["kernel_size"]), strides=as_tuple(tkw["stride"]),
                padding=as_tuple(tkw.get("padding", 0)), dilation=as_tuple(tkw.get("dilation", 1)),
                ceil_mode=tkw.get("ceil_mode", False))


def _tied(shape, seed):
    """Small integers: many ties inside windows."""
    return np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.float32)


@pytest.mark.parametrize("spatial, tkw", TORCH_CASES)
@pytest.mark.parametrize("channels_first", [True, False])
def test_equals_torch_values_indices_gradients(spatial, tkw, channels_first):
    torch = pytest.importorskip("torch", reason="torch is the oracle for return_indices")
    n = len(spatial)
    x = _tied((2, 3, *spatial), seed=len(spatial) + 7 * sum(spatial))
    tfn = getattr(torch.nn.functional, f"max_pool{n}d")
    xt = torch.tensor(x, requires_grad=True)
    tv, ti = tfn(xt, return_indices=True, **tkw)
    ct = np.random.default_rng(3).normal(size=tuple(tv.shape)).astype(np.float32)
    tv.backward(torch.tensor(ct))
    kw = _ours_kwargs(n, tkw)
    xin = x if channels_first else np.moveaxis(x, 1, -1)
    ctin = ct if channels_first else np.moveaxis(ct, 1, -1)

    @jax.jit
    def run(xx, cc):
        f = lambda z: jaxpool.max_pool_with_indices(z, channels_first=channels_first, **kw)
        (v, i), vjp = jax.vjp(f, xx)
        (g,) = vjp((cc, np.zeros(i.shape, jax.dtypes.float0)))
        return v, i, g

    v, i, g = run(xin, ctin)
    if not channels_first:
        v, i, g = (np.moveaxis(np.asarray(a), -1, 1) for a in (v, i, g))
    assert i.dtype == np.int32
    np.testing.assert_array_equal(v, tv.detach().numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


REF_CASES = [
    dict(window_shape=(3, 2), strides=(2, 1), padding="SAME"),
    dict(window_shape=(2, 3), strides=2, padding="SAME_LOWER", dilation=(1, 2)),
    dict(window_shape=2, strides=(1, 3), padding=((1, 0), (1, 1)), ceil_mode=True),
]


@pytest.mark.parametrize("kw", REF_CASES)
@pytest.mark.parametrize("take_max", [True, False])
def test_equals_reference_winners_with_batch_axes(kw, take_max):
    x = _tied((2, 2, 6, 7, 3), seed=11)  # two batch axes, channels last
    fn = jaxpool.max_pool_with_indices if take_max else jaxpool.min_pool_with_indices
    v, i = jax.jit(lambda z: fn(z, **kw))(x)
    op = "max" if take_max else "min"
    np.testing.assert_array_equal(v, pool_reference(x, op, **kw))
    np.testing.assert_array_equal(i, pool_reference_winners(x, op, **kw))


def test_identity_values_and_nan():
    """-inf beside padding: the index is the first input element, never padding; first NaN wins."""
    x = np.full((1, 4, 1), -np.inf, np.float32)
    v, i = jaxpool.max_pool_with_indices(x, 3, strides=1, padding=1)
    np.testing.assert_array_equal(i.ravel(), [0, 0, 1, 2])
    assert np.all(np.isneginf(v))
    x = np.array([1.0, np.nan, 5.0, np.nan, 2.0], np.float32).reshape(1, 5, 1)
    v, i = jaxpool.max_pool_with_indices(x, 4, strides=1)
    np.testing.assert_array_equal(i.ravel(), [1, 1])
    v, i = jaxpool.min_pool_with_indices(x, 2, strides=2, padding=((0, 1),))
    np.testing.assert_array_equal(i.ravel(), [1, 3, 4])
    i8 = np.array([-128, -128, 5], np.int8).reshape(1, 3, 1)
    v, i = jaxpool.max_pool_with_indices(i8, 2, strides=1, padding=1)
    assert v.dtype == np.int8
    np.testing.assert_array_equal(i.ravel(), [0, 0, 2, 2])


def test_index_names_the_gradient_and_jvp_element():
    x = _tied((2, 5, 6, 2), seed=5)
    kw = dict(window_shape=(3, 3), strides=(2, 1), padding=1)
    v, i = jaxpool.max_pool_with_indices(x, **kw)
    plane = np.arange(30, dtype=np.float32).reshape(1, 5, 6, 1) * np.ones_like(x)
    # jvp with the plane index as the tangent carries the index of the chosen element.
    _, t = jax.jit(lambda a, b: jax.jvp(lambda z: jaxpool.max_pool(z, **kw), (a,), (b,)))(x, plane)
    np.testing.assert_array_equal(t, np.asarray(i, np.float32))
    # The gradient of each single output is one-hot at its index.
    grad_one = jax.jit(jax.grad(lambda z, c: jnp.sum(jaxpool.max_pool(z, **kw) * c)))
    for o in itertools.islice(itertools.product(*map(range, v.shape)), 0, None, 7):
        c = np.zeros(v.shape, np.float32)
        c[o] = 1.0
        g = np.asarray(grad_one(x, c))
        nz = np.argwhere(g)
        assert len(nz) == 1
        b, h, w, f = nz[0]
        assert (b, f) == (o[0], o[3]) and h * 6 + w == i[o]


def test_channels_first_matches_channels_last_and_dtypes():
    x = _tied((3, 2, 6, 5), seed=2)
    vf, i_f = jaxpool.max_pool_with_indices(x, (2, 2), 2, channels_first=True)
    vl, il = jaxpool.max_pool_with_indices(np.moveaxis(x, 1, -1), (2, 2), 2)
    np.testing.assert_array_equal(np.moveaxis(np.asarray(il), -1, 1), i_f)
    np.testing.assert_array_equal(np.moveaxis(np.asarray(vl), -1, 1), vf)
    for dt in (np.int32, np.uint8, np.bool_, jnp.bfloat16):
        xd = x.astype(dt)
        v, i = jaxpool.max_pool_with_indices(xd, (2, 2), 2, channels_first=True)
        assert v.dtype == xd.dtype and i.dtype == np.int32
        np.testing.assert_array_equal(i, i_f if dt is not np.bool_ else
                                      pool_reference_winners(xd, "max", (2, 2), 2,
                                                             channels_first=True))


def test_transforms():
    x = _tied((4, 6, 6, 2), seed=9)
    f = lambda z: jaxpool.max_pool_with_indices(z, (2, 2), 2)
    v, i = jax.jit(f)(x)
    vv, iv = jax.jit(jax.vmap(f))(x)  # vmap over the batch: each sample unbatched
    np.testing.assert_array_equal(vv, v)
    np.testing.assert_array_equal(iv, i)
    vs, is_ = jax.vmap(f, in_axes=2, out_axes=2)(x)  # vmap over a spatial axis
    np.testing.assert_array_equal(
        is_, np.stack([jaxpool.max_pool_with_indices(x[:, :, k], (2, 2), 2)[1]
                       for k in range(6)], axis=2))
    s = jax.eval_shape(f, jax.ShapeDtypeStruct(x.shape, jnp.float32))
    assert s[1].dtype == jnp.int32 and s[1].shape == v.shape
    g = jax.jit(jax.grad(lambda z: jnp.sum(f(z)[0])))(x)
    assert float(g.sum()) == v.size


@pytest.mark.parametrize(
    "kw, err, name",
    [
        (dict(window_shape=0), ValueError, "window_shape=0"),
        (dict(window_shape=2, padding="SAME", ceil_mode=True), ValueError, "ceil_mode=True needs explicit padding"),
        (dict(window_shape=2, channels_first="yes"), TypeError, "channels_first"),
        (dict(window_shape=(2, 2, 2, 2)), ValueError, "window_shape implies 4 spatial dims"),
    ],
)
def test_errors(kw, err, name):
    with pytest.raises(err, match=name):
        jaxpool.max_pool_with_indices(np.ones((1, 4, 4, 1), np.float32), **kw)
    with pytest.raises(TypeError, match="inputs has dtype complex64"):
        jaxpool.min_pool_with_indices(np.ones((1, 4, 1), np.complex64), 2)
