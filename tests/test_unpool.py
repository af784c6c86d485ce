"""max_unpool (docs/semantics.md §5): torch's max_unpool{1,2,3}d as oracle, round trips, determinism, transforms.

Indices come from overlapping windows (stride < window), so they repeat within a plane; values,
gradients (the cotangent gathered at the indices, every duplicate receiving it, as torch) and the
round trip ``max_unpool(*max_pool_with_indices(x))`` (exactly the selected elements, zeros
elsewhere) are checked against torch and against NumPy loops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxpool

CASES = [
    ((9,), dict(kernel_size=3, stride=1, padding=1)),
    ((10,), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ((7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((6, 7), dict(kernel_size=(2, 3), stride=1)),
    ((5, 6, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ((6, 5, 6), dict(kernel_size=3, stride=(1, 2, 2), padding=1)),
]


def _tuple(v, n):
    return tuple(v) if isinstance(v, tuple) else (v,) * n


def _pool_kwargs(n, tkw):
    return dict(window_shape=_tuple(tkw["kernel_size"], n), strides=_tuple(tkw["stride"], n),
                padding=_tuple(tkw.get("padding", 0), n), ceil_mode=tkw.get("ceil_mode", False))


@pytest.mark.parametrize("spatial, tkw", CASES)
@pytest.mark.parametrize("channels_first", [True, False])
def test_equals_torch_values_and_gradients(spatial, tkw, channels_first):
    torch = pytest.importorskip("torch", reason="torch is the oracle for max_unpool")
    n = len(spatial)
    rng = np.random.default_rng(sum(spatial))
    x = rng.integers(0, 3, size=(2, 3, *spatial)).astype(np.float32)  # ties
    F = torch.nn.functional
    tv, ti = getattr(F, f"max_pool{n}d")(torch.tensor(x), return_indices=True, **tkw)
    tvv = tv.clone().requires_grad_(True)
    unpool_kw = {k: tkw[k] for k in ("kernel_size", "stride") if k in tkw}
    tu = getattr(F, f"max_unpool{n}d")(tvv, ti, padding=tkw.get("padding", 0),
                                       output_size=spatial, **unpool_kw)
    ct = rng.normal(size=tuple(tu.shape)).astype(np.float32)
    tu.backward(torch.tensor(ct))

    to = (lambda a: a) if channels_first else (lambda a: np.moveaxis(np.asarray(a), 1, -1))
    back = (lambda a: np.asarray(a)) if channels_first else \
        (lambda a: np.moveaxis(np.asarray(a), -1, 1))
    v, i = jax.jit(lambda z: jaxpool.max_pool_with_indices(
        z, channels_first=channels_first, **_pool_kwargs(n, tkw)))(to(x))
    np.testing.assert_array_equal(back(i), ti.numpy())

    @jax.jit
    def run(vals, idx, cot):
        u, vjp = jax.vjp(lambda a: jaxpool.max_unpool(a, idx, spatial,
                                                      channels_first=channels_first), vals)
        return u, vjp(cot)[0]

    u, g = run(v, i, to(ct))
    np.testing.assert_array_equal(back(u), tu.detach().numpy())
    np.testing.assert_array_equal(back(g), tvv.grad.numpy())


def _round_trip_reference(x, idx):
    """NumPy loops: keep x where some output selected it, zero elsewhere (channels last, 2-D)."""
    out = np.zeros_like(x)
    b, h, w, c = x.shape
    for bb in range(b):
        for cc in range(c):
            for flat in np.asarray(idx)[bb, ..., cc].ravel():
                r, s = divmod(int(flat), w)
                out[bb, r, s, cc] = x[bb, r, s, cc]
    return out


@pytest.mark.parametrize("kw", [dict(window_shape=3, strides=1, padding=1),
                                dict(window_shape=(2, 3), strides=(2, 1), padding="SAME"),
                                dict(window_shape=2, strides=2)])
def test_round_trip_keeps_exactly_the_selected_elements(kw):
    x = np.random.default_rng(4).integers(-2, 3, size=(2, 6, 7, 3)).astype(np.float32)
    v, i = jaxpool.max_pool_with_indices(x, **kw)
    u = jax.jit(lambda a, b: jaxpool.max_unpool(a, b, (6, 7)))(v, i)
    want = _round_trip_reference(x, i)
    np.testing.assert_array_equal(u, want)
    selected = want != 0
    np.testing.assert_array_equal(np.asarray(u)[selected], x[selected])


def test_duplicates_unequal_values_and_out_of_range_are_deterministic():
    """Unequal duplicates give their maximum; out-of-range indices are ignored; -inf is kept."""
    vals = np.array([[3.0, 7.0, -1.0, 5.0, -np.inf, 9.0]], np.float32).reshape(1, 6, 1)
    idx = np.array([[2, 2, 2, 0, 4, 6]], np.int32).reshape(1, 6, 1)
    u = jaxpool.max_unpool(vals, idx, (5,))
    np.testing.assert_array_equal(np.asarray(u).ravel(), [5.0, 0.0, 7.0, 0.0, -np.inf])
    idx_neg = np.array([[-1, 1, 2, 3, 4, 0]], np.int32).reshape(1, 6, 1)
    u = jaxpool.max_unpool(vals, idx_neg, 5)
    np.testing.assert_array_equal(np.asarray(u).ravel(), [9.0, 7.0, -1.0, 5.0, -np.inf])
    iv = np.array([4, -3, 4], np.int16).reshape(1, 3, 1)
    u = jaxpool.max_unpool(np.array([1, 2, 3], np.int8).reshape(1, 3, 1), iv, (6,))
    assert u.dtype == np.int8
    np.testing.assert_array_equal(np.asarray(u).ravel(), [0, 0, 0, 0, 3, 0])


def test_gradient_gathers_and_jvp_is_its_transpose():
    v = np.arange(1.0, 7.0, dtype=np.float32).reshape(1, 2, 3, 1)
    idx = np.array([[0, 5, 5], [3, 11, 0]], np.int32).reshape(1, 2, 3, 1)
    ct = np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1) + 1.0
    f = lambda a: jaxpool.max_unpool(a, idx, (3, 4))
    g = jax.grad(lambda a: jnp.sum(f(a) * ct))(v)
    np.testing.assert_array_equal(np.asarray(g).ravel(), ct.ravel()[idx.ravel()])
    jac_f = jax.jacfwd(f)(v)
    jac_r = jax.jacrev(f)(v)
    np.testing.assert_array_equal(jac_f, jac_r)
    # Without duplicates the map is a plain permutation-with-zeros: finite differences agree.
    uniq = np.array([[0, 5, 7], [3, 11, 2]], np.int32).reshape(1, 2, 3, 1)
    check_grads(lambda a: jaxpool.max_unpool(a, uniq, (3, 4)), (v,), order=2,
                modes=("fwd", "rev"))


def test_vmap_jit_and_batch_axes():
    x = np.random.default_rng(8).normal(size=(3, 2, 6, 6, 2)).astype(np.float32)
    v, i = jaxpool.max_pool_with_indices(x, (2, 2), 2)  # two batch axes
    u = jax.jit(lambda a, b: jaxpool.max_unpool(a, b, (6, 6)))(v, i)
    uv = jax.vmap(lambda a, b: jaxpool.max_unpool(a, b, (6, 6)))(v, i)
    np.testing.assert_array_equal(u, uv)
    assert u.shape == x.shape
    np.testing.assert_array_equal(np.asarray(u).reshape(-1)[np.asarray(u).reshape(-1) != 0],
                                  x.reshape(-1)[np.asarray(u).reshape(-1) != 0])


@pytest.mark.parametrize(
    "args, kwargs, err, name",
    [
        ((np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1), np.float32), (4, 4)), {}, TypeError,
         "indices must have an integer dtype"),
        ((np.ones((1, 2, 2, 1)), np.zeros((1, 2, 3, 1), np.int32), (4, 4)), {}, ValueError,
         r"values shape \(1, 2, 2, 1\) and indices shape \(1, 2, 3, 1\)"),
        ((np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1), np.int32), (0, 4)), {}, ValueError,
         r"output_size=\(0, 4\)"),
        ((np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1), np.int32), (4, None)), {}, TypeError,
         r"output_size=\(4, None\) must hold positive ints \(the"),
        ((np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1), np.int32), None), {}, TypeError,
         r"output_size must be a positive int or a sequence of positive ints, got None"),
        ((np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1), np.int32), (4, 4, 4, 4)), {}, ValueError,
         "output_size implies 4 spatial dims"),
        ((np.ones((2, 2), np.complex64), np.zeros((2, 2), np.int32), (4,)), {}, TypeError,
         "values has dtype complex64"),
        ((np.ones((1, 2, 2)), np.zeros((1, 2, 2), np.int32), (4,)), {"channels_first": 1}, TypeError,
         "channels_first"),
    ],
)
def test_errors(args, kwargs, err, name):
    with pytest.raises(err, match=name):
        jaxpool.max_unpool(*args, **kwargs)
