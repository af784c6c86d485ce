"""Adaptive and global pooling (docs/semantics.md §5, ties per §4).

Oracles: hand-derived bins (length 5 -> 3 bins averages 0..4 to [0.5, 2.0, 3.5]); a NumPy
reference with explicit loops over the bins ``[floor(i*L/out), ceil((i+1)*L/out))``;
``torch.nn.functional.adaptive_{avg,max}_pool{1,2,3}d`` (values, indices, gradients) including
non-divisible sizes and outputs larger than the input; finite differences.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxpool


def _bins(size, out):
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def adaptive_reference(x, out_sizes, op):
    """Channels-first ``(B, C, *spatial)``; loops over every output bin; max: first maximal element
    in row-major order (first NaN); returns (values, flat indices)."""
    x = np.asarray(x, np.float64)
    spatial = x.shape[2:]
    out_sizes = [s if o is None else o for s, o in zip(spatial, out_sizes, strict=True)]
    vals = np.zeros(x.shape[:2] + tuple(out_sizes))
    idx = np.zeros(x.shape[:2] + tuple(out_sizes), np.int64)
    per_dim = [_bins(s, o) for s, o in zip(spatial, out_sizes, strict=True)]
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(n) for n in out_sizes)):
            ranges = [range(*per_dim[d][o[d]]) for d in range(len(o))]
            positions = list(itertools.product(*ranges))
            elems = [x[(b, c) + p] for p in positions]
            if op == "avg":
                vals[(b, c) + o] = sum(elems) / len(elems)
                continue
            best = 0
            for k, e in enumerate(elems):
                if np.isnan(elems[best]):
                    break
                if np.isnan(e) or e > elems[best]:
                    best = k
            vals[(b, c) + o] = elems[best]
            idx[(b, c) + o] = np.ravel_multi_index(positions[best], spatial)
    return vals, idx


def test_hand_derived_bins():
    x = np.arange(5, dtype=np.float32).reshape(1, 5, 1)
    np.testing.assert_allclose(np.asarray(jaxpool.adaptive_avg_pool(x, 3)).ravel(), [0.5, 2.0, 3.5])
    v, i = jaxpool.adaptive_max_pool(x, 3, return_indices=True)
    np.testing.assert_array_equal(np.asarray(v).ravel(), [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(np.asarray(i).ravel(), [1, 3, 4])
    # Larger output than input: 2 -> 5 bins [0,1) [0,1) [0,2) [1,2) [1,2).
    x2 = np.array([2.0, 4.0], np.float32).reshape(1, 2, 1)
    np.testing.assert_allclose(np.asarray(jaxpool.adaptive_avg_pool(x2, 5)).ravel(),
                               [2.0, 2.0, 3.0, 4.0, 4.0])


def adaptive_reference_vjp(x, out_sizes, op, ct):
    """The gradient of ``sum(ct * pool(x))`` from the same bins: avg spreads each cotangent evenly over its bin,
    max sends it to the bin's winner (channels-first, like ``adaptive_reference``)."""
    x = np.asarray(x, np.float64)
    spatial = x.shape[2:]
    out_sizes = [s if o is None else o for s, o in zip(spatial, out_sizes, strict=True)]
    per_dim = [_bins(s, o) for s, o in zip(spatial, out_sizes, strict=True)]
    _, idx = adaptive_reference(x, out_sizes, op)
    g = np.zeros(x.shape)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(n) for n in out_sizes)):
            if op == "max":
                g[(b, c) + np.unravel_index(idx[(b, c) + o], spatial)] += ct[(b, c) + o]
                continue
            positions = list(itertools.product(*(range(*per_dim[d][o[d]]) for d in range(len(o)))))
            for p in positions:
                g[(b, c) + p] += ct[(b, c) + o] / len(positions)
    return g


CASES = [
    ((5,), (3,)), ((7,), (7,)), ((4,), (9,)), ((12,), (4,)),
    ((7, 5), (3, 4)), ((6, 5), (3, None)), ((3, 4), (7, 9)), ((8, 8), (1, 1)),
    ((5, 6, 7), (2, 3, 4)), ((3, 4, 2), (4, 5, 3)),
]


@functools.cache
def jaxpool_case(spatial, out, op):
    """Input (ties), cotangent, and jaxpool's values, indices (max) and input gradient for one case, computed
    once per process (the NumPy-reference test and the torch test check the same results)."""
    rng = np.random.default_rng(sum(spatial) + 13 * sum(o or 0 for o in out))
    x = rng.integers(0, 3, size=(2, 3, *spatial)).astype(np.float32)  # ties
    ct_shape = (2, 3) + tuple(s if o is None else o for s, o in zip(spatial, out, strict=True))
    ct = rng.normal(size=ct_shape).astype(np.float32)

    @jax.jit
    def run(z, c):
        if op == "avg":
            y, vjp = jax.vjp(lambda a: jaxpool.adaptive_avg_pool(a, out, channels_first=True), z)
            return y, None, vjp(c)[0]
        f = lambda a: jaxpool.adaptive_max_pool(a, out, channels_first=True, return_indices=True)
        (y, i), vjp = jax.vjp(f, z)
        return y, i, vjp((c, np.zeros(i.shape, jax.dtypes.float0)))[0]

    return (x, ct, *(None if a is None else np.asarray(a) for a in run(x, ct)))


@pytest.mark.parametrize("op", ["avg", "max"])
@pytest.mark.parametrize("spatial, out", CASES)
def test_equals_numpy_reference(spatial, out, op):
    x, ct, y, i, g = jaxpool_case(spatial, out, op)
    ref_v, ref_i = adaptive_reference(x, out, op)
    np.testing.assert_allclose(y, ref_v, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g, adaptive_reference_vjp(x, out, op, ct), rtol=1e-5, atol=1e-6)
    if op == "max":
        assert i.dtype == np.int32
        np.testing.assert_array_equal(i, ref_i)


@pytest.mark.parametrize("op", ["avg", "max"])
@pytest.mark.parametrize("spatial, out", CASES)
def test_equals_torch(spatial, out, op):
    torch = pytest.importorskip("torch", reason="torch is the oracle for adaptive pooling")
    x, ct, y, i, g = jaxpool_case(spatial, out, op)
    xt = torch.tensor(x, requires_grad=True)
    tfn = getattr(torch.nn.functional, f"adaptive_{op}_pool{len(spatial)}d")
    res = tfn(xt, out, return_indices=True) if op == "max" else tfn(xt, out)
    tv = res[0] if op == "max" else res
    tv.backward(torch.tensor(ct))
    np.testing.assert_allclose(y, tv.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-6, atol=1e-6)
    if op == "max":
        np.testing.assert_array_equal(i, res[1].numpy())


def test_channels_last_batch_axes_and_int_output_size():
    x = np.random.default_rng(0).normal(size=(2, 3, 7, 5, 4)).astype(np.float32)  # 2 batch axes
    y = jaxpool.adaptive_avg_pool(x, (3, 2))
    ref, _ = adaptive_reference(np.moveaxis(x.reshape(6, 7, 5, 4), -1, 1), (3, 2), "avg")
    np.testing.assert_allclose(y, np.moveaxis(ref, 1, -1).reshape(2, 3, 3, 2, 4), rtol=1e-5)
    # An int output_size means N = ndim - 2: here (3, 7, 5, 4) is one batch, 2 spatial dims.
    assert jaxpool.adaptive_max_pool(x[0], 2).shape == (3, 2, 2, 4)


def test_max_gradient_goes_to_one_element_nan_first():
    x = np.ones((1, 5, 4, 1), np.float32)  # all ties; overlapping bins (5 -> 3)
    g = jax.jit(jax.grad(lambda z: jnp.sum(jaxpool.adaptive_max_pool(z, (3, 2)))))(x)
    v, i = jaxpool.adaptive_max_pool(x, (3, 2), return_indices=True)
    want = np.zeros(20, np.float32)
    np.add.at(want, np.asarray(i).ravel(), 1.0)
    np.testing.assert_array_equal(np.asarray(g).ravel(), want)
    # Rows: bins [0,2) [1,4) [3,5) start at 0, 1, 3; columns: [0,2) [2,4) start at 0, 2.
    hand = np.zeros((5, 4), np.float32)
    hand[np.ix_([0, 1, 3], [0, 2])] = 1.0
    np.testing.assert_array_equal(np.asarray(g).reshape(5, 4), hand)
    xn = np.array([1.0, np.nan, 3.0, np.nan], np.float32).reshape(1, 4, 1)
    v, i = jaxpool.adaptive_max_pool(xn, 1, return_indices=True)
    assert np.isnan(v).all() and int(np.asarray(i).ravel()[0]) == 1
    g = jax.jit(jax.grad(lambda z: jnp.sum(jaxpool.global_max_pool(z))))(xn)
    np.testing.assert_array_equal(np.asarray(g).ravel(), [0.0, 1.0, 0.0, 0.0])


def test_global_pools():
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(jaxpool.global_avg_pool(x), x.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(jaxpool.global_max_pool(x), x.max(axis=(1, 2)))
    np.testing.assert_allclose(jaxpool.global_avg_pool(x, channels_first=True, keepdims=True),
                               x.mean(axis=(2, 3), keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(jaxpool.global_max_pool(x, num_spatial_dims=3),
                                  x.max(axis=(0, 1, 2)))
    # Ties: the whole gradient to the first maximal element (jnp.max would split it).
    t = np.array([[2.0, 5.0], [5.0, 1.0]], np.float32).reshape(1, 2, 2, 1)
    g = jax.jit(jax.grad(lambda z: jnp.sum(jaxpool.global_max_pool(z))))(t)
    np.testing.assert_array_equal(np.asarray(g).ravel(), [0.0, 1.0, 0.0, 0.0])


def test_low_precision_accumulates_in_float32():
    """bf16: 1 + 256 * 2**-9 summed in bf16 stalls at 1 (2**-9 < half an ulp of 1); we get
    the float32 mean rounded once."""
    vals = np.full(257, 2.0**-9, np.float32)
    vals[0] = 1.0
    x = jnp.asarray(vals.reshape(1, 257, 1), jnp.bfloat16)
    want = jnp.asarray(np.float32(vals.astype(np.float64).mean()), jnp.bfloat16)
    for y in (jaxpool.global_avg_pool(x), jaxpool.adaptive_avg_pool(x, 1)):
        assert y.dtype == jnp.bfloat16
        assert float(y.reshape(())) == float(want)
    assert jaxpool.adaptive_avg_pool(np.ones((1, 4, 1), np.int32), 2).dtype == jnp.float32
    assert jaxpool.adaptive_max_pool(np.ones((1, 4, 1), np.int8), 2).dtype == np.int8
    assert jaxpool.global_max_pool(np.array([[[False], [True]]])).dtype == np.bool_


def test_transforms():
    x = np.random.default_rng(2).normal(size=(3, 5, 7, 2)).astype(np.float32)  # tie-free
    for f in (lambda z: jaxpool.adaptive_max_pool(z, (3, 4)),
              lambda z: jaxpool.adaptive_avg_pool(z, (2, 9)),
              lambda z: jaxpool.global_max_pool(z)):
        np.testing.assert_allclose(jax.jit(jax.vmap(f))(x[:, None]), jax.jit(f)(x)[:, None],
                                   rtol=1e-6)
        check_grads(jax.jit(f), (x[:1, :, :, :1],), order=2, modes=("fwd", "rev"), atol=1e-2,
                    rtol=1e-2)
        jf, jr = jax.jit(jax.jacfwd(f))(x), jax.jit(jax.jacrev(f))(x)
        np.testing.assert_allclose(jf, jr, rtol=1e-6, atol=1e-7)
    hess = jax.jit(jax.hessian(lambda z: jnp.sum(jaxpool.adaptive_max_pool(z, 2))))
    h = hess(x[:1, :3, :3])
    assert not np.any(np.asarray(h))
    shape = jax.eval_shape(lambda z: jaxpool.adaptive_avg_pool(z, (None, 3)), x).shape
    assert shape == (3, 5, 3, 2)


@pytest.mark.parametrize(
    "call, err, name",
    [
        (lambda x: jaxpool.adaptive_avg_pool(x, 0), ValueError, "output_size=0"),
        (lambda x: jaxpool.adaptive_avg_pool(x, (2, 2, 2, 2)), ValueError, "output_size implies 4 spatial dims"),
        (lambda x: jaxpool.adaptive_max_pool(x, "2"), TypeError, "output_size"),
        (lambda x: jaxpool.adaptive_max_pool(x, 2.5), TypeError, "output_size"),
        (lambda x: jaxpool.adaptive_max_pool(x, 2, return_indices=None), TypeError, "return_indices"),
        (lambda x: jaxpool.adaptive_avg_pool(x[:, :0], 2), ValueError, r"spatial dim 0 of inputs \(shape"),
        (lambda x: jaxpool.global_avg_pool(x, num_spatial_dims=4), ValueError, "num_spatial_dims"),
        (lambda x: jaxpool.global_max_pool(x, num_spatial_dims=1.0), TypeError, "num_spatial_dims=1.0"),
        (lambda x: jaxpool.global_max_pool(x, keepdims="no"), TypeError, "keepdims"),
        (lambda x: jaxpool.global_avg_pool(x.astype(np.complex64)), TypeError, "inputs has dtype complex64"),
        # more bins than elements go through a (size x bins) mask: refused once it would pass int32 entries,
        # before anything is allocated (it was numpy's MemoryError, or the process killed)
        (lambda x: jaxpool.adaptive_avg_pool(x, (10**9, 1)), ValueError,
         r"output_size 1000000000 for a spatial dim of size 4 \(input axis 1\).*at most 536870911 bins"),
        (lambda x: jax.eval_shape(lambda v: jaxpool.adaptive_max_pool(v, 10**9), x), ValueError, "output_size"),
        (lambda x: jax.eval_shape(lambda v: jaxpool.adaptive_max_pool(v, 3, return_indices=True),
                                  jax.ShapeDtypeStruct((1, 2**31 + 10, 1), jnp.float32)), ValueError,
         "has size 2147483658, beyond the largest size"),
    ],
)
def test_errors(call, err, name):
    with pytest.raises(err, match=name):
        call(np.ones((1, 4, 4, 2), np.float32))


@pytest.mark.parametrize("name", ["adaptive_avg_pool", "adaptive_max_pool"])
def test_non_dividing_bins_cost_scales_with_the_input(name):
    # 2001 -> 1000 bins: a mask over every (element, bin) pair made the forward+backward program hold 66 MB of
    # temporaries for a 64 kB input (and 20 GB at 10x the length); bins gathered to (bins, longest bin) hold a
    # few times the input. Values and gradients against PyTorch's rule (the reference) on the same shape.
    f = getattr(jaxpool, name)
    x = np.random.default_rng(0).integers(-3, 4, (2, 2001, 4)).astype(np.float32)
    ct = np.random.default_rng(1).standard_normal((2, 1000, 4)).astype(np.float32)
    prog = jax.jit(lambda v, c: jax.vjp(lambda u: f(u, 1000), v)[1](c)[0]).lower(x, ct).compile()
    mem = prog.memory_analysis()
    assert mem.temp_size_in_bytes <= 8 * x.nbytes, mem.temp_size_in_bytes
    op = "avg" if name == "adaptive_avg_pool" else "max"
    starts, ends = zip(*_bins(2001, 1000))  # PyTorch: [floor(i * L / out), ceil((i + 1) * L / out))
    want = np.stack([(x[:, s:e].mean(1) if op == "avg" else x[:, s:e].max(1)) for s, e in zip(starts, ends)], 1)
    np.testing.assert_allclose(np.asarray(f(x, 1000)), want, rtol=1e-6)
    grad = np.zeros_like(x, dtype=np.float64)
    for i, (s, e) in enumerate(zip(starts, ends)):
        if op == "avg":
            grad[:, s:e] += ct[:, i:i + 1] / (e - s)
        else:
            first = s + np.argmax(x[:, s:e], axis=1)  # first maximal element
            for b in range(2):
                for c in range(4):
                    grad[b, first[b, c], c] += ct[b, i, c]
    np.testing.assert_allclose(np.asarray(prog(x, ct)), grad, rtol=1e-5, atol=1e-6)


def test_indices_stay_int32_under_x64_and_global_pooling_builds_no_table():
    x = np.random.default_rng(3).standard_normal((1, 5, 4, 2)).astype(np.float32)
    with jax.enable_x64(True):
        _, idx = jaxpool.adaptive_max_pool(x, (3, 2), return_indices=True)
        assert idx.dtype == jnp.int32
    _, idx32 = jaxpool.adaptive_max_pool(x, (3, 2), return_indices=True)
    np.testing.assert_array_equal(idx, idx32)
    # the flat index of each bin's first maximum, by brute force over PyTorch's bins
    for i, (s0, e0) in enumerate(_bins(5, 3)):
        for j, (s1, e1) in enumerate(_bins(4, 2)):
            for c in range(2):
                block = x[0, s0:e0, s1:e1, c]
                r, q = np.unravel_index(np.argmax(block), block.shape)
                assert int(idx[0, i, j, c]) == (s0 + r) * 4 + (s1 + q)
    # one bin per dim (global pooling) holds its positions as an iota: a 10**8-long signal traces without
    # a host table (it built 1.7 GB of them) and the program holds no large constant
    big = jax.ShapeDtypeStruct((1, 10**8, 1), jnp.float32)
    assert jax.eval_shape(jaxpool.global_max_pool, big).shape == (1, 1)
    text = jax.jit(jaxpool.global_max_pool).lower(big).as_text()
    assert len(text) < 20_000
    # bins that do not divide the input build their gather index in the program from the 3 bins' ends
    text = jax.jit(lambda v: jaxpool.adaptive_max_pool(v, 3, return_indices=True)).lower(big).as_text()
    assert len(text) < 50_000
