"""blur_pool (docs/semantics.md §5; Zhang 2019, "Making Convolutional Networks Shift-Invariant Again").

Oracles: hand-derived values for filter sizes 3 and 4 on small inputs; a NumPy reference that pads
with ``np.pad`` and loops over every output position with the N-d outer-product filter; finite
differences; and the point of the filter — a one-pixel circular shift of random images changes the
output less than it changes max_pool 2x2/2's.
"""

from __future__ import annotations

import itertools
from math import comb

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxpool


def blur_reference(x, strides, f, padding, n):
    """Channels last, one batch axis; float64; explicit loops over outputs and filter taps."""
    x = np.asarray(x, np.float64)
    w1 = np.array([comb(f - 1, k) for k in range(f)], np.float64)
    w1 /= w1.sum()
    pads = [(0, 0)] + [((f - 1) // 2, f // 2)] * n + [(0, 0)]
    xp = np.pad(x, pads, mode="reflect" if padding == "reflect" else "constant")
    out_sizes = [-(-x.shape[1 + d] // strides[d]) for d in range(n)]
    out = np.zeros((x.shape[0], *out_sizes, x.shape[-1]))
    for o in itertools.product(*(range(s) for s in out_sizes)):
        acc = 0.0
        for k in itertools.product(range(f), repeat=n):
            weight = np.prod([w1[kk] for kk in k])
            pos = tuple(o[d] * strides[d] + k[d] for d in range(n))
            acc = acc + weight * xp[(slice(None), *pos, slice(None))]
        out[(slice(None), *o, slice(None))] = acc
    return out


def test_binomial_filters():
    from jaxpool._blur import binomial_filter

    np.testing.assert_array_equal(binomial_filter(1), [1.0])
    np.testing.assert_array_equal(binomial_filter(3), np.array([1, 2, 1]) / 4)
    np.testing.assert_array_equal(binomial_filter(4), np.array([1, 3, 3, 1]) / 8)
    np.testing.assert_array_equal(binomial_filter(5), np.array([1, 4, 6, 4, 1]) / 16)


def test_hand_derived_filter_size_3():
    # 1-D [0, 1, 2, 3]: reflect pad (1, 1) -> [1, 0, 1, 2, 3, 2]; taps [1, 2, 1] / 4 at 0 and 2:
    # (1 + 0 + 1) / 4 = 0.5 and (1 + 4 + 3) / 4 = 2.0.
    x = np.arange(4, dtype=np.float32).reshape(1, 4, 1)
    np.testing.assert_array_equal(np.asarray(jaxpool.blur_pool(x, 2, 3)).ravel(), [0.5, 2.0])
    # Zero padding: [0, 0, 1, 2, 3, 0] -> (0 + 0 + 1) / 4 = 0.25, (1 + 4 + 3) / 4 = 2.0.
    np.testing.assert_array_equal(
        np.asarray(jaxpool.blur_pool(x, 2, 3, padding="zero")).ravel(), [0.25, 2.0])
    # 2-D [[0, 1, 2], [3, 4, 5], [6, 7, 8]], stride 2: rows blurred then columns.
    # Rows (reflect): [0,1,2] -> outputs at 0, 2: (1+0+1)/4 = 0.5, (1+4+1)/4 = 1.5; so rows become
    # [0.5, 1.5], [3.5, 4.5], [6.5, 7.5]; columns the same way: (3.5 + 2*0.5 + 3.5) / 4 = 2.0,
    # (3.5 + 2*6.5 + 3.5) / 4 = 5.0 (first column), and +1 for the second.
    x2 = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(np.asarray(jaxpool.blur_pool(x2, 2, 3))[0, :, :, 0],
                                  [[2.0, 3.0], [5.0, 6.0]])


def test_hand_derived_filter_size_4():
    # Reflect pad (1, 2): [1, 0, 1, 2, 3, 2, 1]; taps [1, 3, 3, 1] / 8 at 0 and 2:
    # (1 + 0 + 3 + 2) / 8 = 0.75, (1 + 6 + 9 + 2) / 8 = 2.25.
    x = np.arange(4, dtype=np.float32).reshape(1, 4, 1)
    np.testing.assert_array_equal(np.asarray(jaxpool.blur_pool(x)).ravel(), [0.75, 2.25])


@pytest.mark.parametrize(
    "shape, strides, f, padding",
    [
        ((2, 9, 3), (2,), 5, "reflect"),
        ((2, 7, 6, 2), (2, 2), 4, "reflect"),
        ((1, 6, 7, 3), (1, 3), 3, "zero"),
        ((2, 5, 4, 6, 1), (2, 1, 2), 2, "reflect"),
        ((1, 3, 5, 2), (3, 2), 7, "zero"),
        ((1, 6, 6, 1), (2, 2), 1, "reflect"),
    ],
)
def test_equals_reference(shape, strides, f, padding):
    x = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)
    n = len(strides)
    y = jax.jit(lambda z: jaxpool.blur_pool(z, strides, f, padding=padding))(x)
    np.testing.assert_allclose(y, blur_reference(x, strides, f, padding, n), rtol=1e-5, atol=1e-6)
    # Channels first, several batch axes, num_spatial_dims given explicitly.
    xf = np.moveaxis(x, -1, 1)[None]
    yf = jaxpool.blur_pool(xf, strides[0], f, padding=padding.upper(), channels_first=True,
                           num_spatial_dims=n) if len(set(strides)) == 1 else \
        jaxpool.blur_pool(xf, strides, f, padding=padding, channels_first=True)
    np.testing.assert_allclose(np.moveaxis(np.asarray(yf)[0], 1, -1), y, rtol=1e-6, atol=1e-7)


def test_one_pixel_shift_changes_blur_less_than_max_pool():
    """Zhang's point: subsampling after a low-pass filter is closer to shift-equivariant."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 32, 32, 3)).astype(np.float32)
    shifted = np.roll(x, 1, axis=2)  # circular one-pixel shift along the width

    def change(f):
        a, b = np.asarray(f(x)), np.asarray(f(shifted))
        scale = np.linalg.norm((a - a.mean()).reshape(8, -1), axis=1)
        return np.linalg.norm((a - b).reshape(8, -1), axis=1) / scale

    max_change = change(jax.jit(lambda z: jaxpool.max_pool(z, 2, 2)))
    blur_change = change(jax.jit(lambda z: jaxpool.blur_pool(z, 2, 4)))
    aa_change = change(jax.jit(lambda z: jaxpool.blur_pool(jaxpool.max_pool(z, 2, 1), 2, 4)))
    assert np.all(blur_change < max_change), (blur_change, max_change)
    assert np.all(aa_change < max_change), (aa_change, max_change)


def test_dtypes_and_transforms():
    x = np.random.default_rng(3).normal(size=(2, 6, 5, 2)).astype(np.float32)
    xb = jnp.asarray(x, jnp.bfloat16)
    yb = jax.jit(jaxpool.blur_pool)(xb)
    assert yb.dtype == jnp.bfloat16
    want = jnp.asarray(blur_reference(np.asarray(xb, np.float32), (2, 2), 4, "reflect", 2),
                       jnp.float32).astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(yb, np.float32), np.asarray(want, np.float32))
    assert jaxpool.blur_pool(np.ones((1, 4, 1), np.int32)).dtype == jnp.float32
    f = jax.jit(lambda z: jaxpool.blur_pool(z, (2, 1), 3))
    check_grads(f, (x[:1, :4, :3, :1],), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(x[:, None]), f(x)[:, None], rtol=1e-6)
    # The gradient is the transpose of the linear map: <blur(x), c> == <x, blur^T(c)>.
    c = np.random.default_rng(4).normal(size=f(x).shape).astype(np.float32)
    g = jax.jit(jax.grad(lambda z: jnp.sum(f(z) * c)))(x)
    np.testing.assert_allclose(np.sum(g * x), np.sum(np.asarray(f(x)) * c), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, shape, err, name",
    [
        (dict(filter_size=5), (1, 2, 8, 1), ValueError, r"padding='reflect' with filter_size=5"),  # pad 2 > 2 - 1
        (dict(filter_size=4), (1, 2, 8, 1), ValueError, r"padding='reflect' with filter_size=4"),
        (dict(filter_size=0), (1, 4, 4, 1), ValueError, "filter_size=0"),
        (dict(filter_size=2.0), (1, 4, 4, 1), TypeError, "filter_size=2.0"),
        (dict(strides=0), (1, 4, 4, 1), ValueError, "strides=0"),
        (dict(strides=(2, 2, 2), num_spatial_dims=2), (1, 4, 4, 1), ValueError, r"strides=\(2, 2, 2\) has length 3"),
        (dict(strides=(2, 2, 2, 2)), (1, 4, 4, 1), ValueError, "num_spatial_dims implies 4 spatial dims"),
        (dict(padding="circular"), (1, 4, 4, 1), ValueError, "padding='circular'"),
        (dict(num_spatial_dims=4), (1, 4, 4, 1), ValueError, "num_spatial_dims implies 4 spatial dims"),
        (dict(num_spatial_dims=0), (1, 4, 4, 1), ValueError, "num_spatial_dims=0"),
        (dict(channels_first=None), (1, 4, 4, 1), TypeError, "channels_first"),
        (dict(), (1, 0, 4, 1), ValueError, r"spatial dim 0 of inputs \(shape"),
    ],
)
def test_errors(kwargs, shape, err, name):
    with pytest.raises(err, match=name):
        jaxpool.blur_pool(np.ones(shape, np.float32), **kwargs)


def test_zero_padding_works_on_tiny_inputs():
    x = np.array([4.0], np.float32).reshape(1, 1, 1)
    # zero pad (1, 2) around [4]: taps [1, 3, 3, 1] / 8 at 0 -> 3 * 4 / 8 = 1.5.
    np.testing.assert_array_equal(np.asarray(jaxpool.blur_pool(x, padding="zero")).ravel(), [1.5])
    np.testing.assert_array_equal(np.asarray(jaxpool.blur_pool(x, 2, 1)).ravel(), [4.0])
    with pytest.raises(ValueError, match="reflect"):
        jaxpool.blur_pool(x, 2, 3)
