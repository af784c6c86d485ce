"""Fractional max pooling (issue 17; ties and NaN per docs/semantics.md §4, indices per docs/semantics.md §5).

Oracles: ``torch.nn.functional.fractional_max_pool{2,3}d`` with the same ``_random_samples`` (values, indices
and gradients, exact, over generated 2-D and 3-D cases in both layouts); hand-derived interval sequences; a
NumPy loop reference (its own interval arithmetic in NumPy scalars, first maximal element, first NaN) for NaN,
where PyTorch's CPU kernel picks the last NaN; finite differences.
"""

from __future__ import annotations

import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

import jaxpool
import jaxpool.linen as jpl
import jaxpool.nnx as jpn

TORCH_REASON = "torch is the oracle for fractional max pooling (the NumPy loop reference needs no torch)"


def ref_starts(u, size, window, out, dtype=np.float32):
    """PyTorch's interval sequence in NumPy scalars of ``dtype`` (one rounding per operation)."""
    if out == 1:
        return [size - window]
    t = np.dtype(dtype).type
    alpha = t(t(size - window) / t(out - 1))
    u = t(u)
    return [int(t(t(t(i) + u) * alpha)) - int(t(u * alpha)) for i in range(out - 1)] + [size - window]


def reference(x, window, out, samples):
    """Channels-first ``(B, C, *spatial)`` loops; returns (values, flat indices) with the first max/NaN."""
    n = len(window)
    spatial = x.shape[2:]
    vals = np.zeros(x.shape[:2] + tuple(out), x.dtype)
    idx = np.zeros(x.shape[:2] + tuple(out), np.int64)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        comp = [n - 1 - d if n == 2 else d for d in range(n)]  # PyTorch: 2-D samples are (W, H)
        starts = [ref_starts(samples[b, c, comp[d]], spatial[d], window[d], out[d]) for d in range(n)]
        for o in itertools.product(*(range(k) for k in out)):
            ranges = [range(starts[d][o[d]], starts[d][o[d]] + window[d]) for d in range(n)]
            best = None
            for p in itertools.product(*ranges):
                e = x[(b, c) + p]
                if best is None or (not np.isnan(x[(b, c) + best]) and (np.isnan(e) or e > x[(b, c) + best])):
                    best = p
            vals[(b, c) + o] = x[(b, c) + best]
            idx[(b, c) + o] = np.ravel_multi_index(best, spatial)
    return vals, idx


def make_case(seed: int, n: int) -> dict:
    """A random case: sizes, window, output_size or output_ratio, batch axes, layout, tie-heavy or not."""
    rng = np.random.default_rng(1000 * n + seed)
    hi = 13 if n == 2 else 7
    window = tuple(int(k) for k in rng.integers(1, 4, size=n))
    # PyTorch's 3-D kernel rejects out = L - k + 1 (its check is strict; the 2-D one and jaxpool accept it).
    extra = 0 if n == 2 else 1
    spatial = tuple(int(rng.integers(k + extra, hi + 1)) for k in window)
    case = {"window": window, "spatial": spatial, "channels_first": bool(seed % 2), "ties": bool(seed % 3 == 0)}
    case["batch"] = ((), (2,), (2, 2))[seed % 3]
    case["features"] = int(rng.integers(1, 4))
    out = tuple(int(rng.integers(1, s - k + 2 - extra)) for s, k in zip(spatial, window))
    if seed % 4 < 2 or any(o >= s for o, s in zip(out, spatial)):
        case["output_size"] = out
    else:  # a ratio in (0, 1) with int(L * r) = out
        case["output_ratio"] = tuple((o + float(rng.uniform(0.1, 0.9))) / s for o, s in zip(out, spatial))
    return case


# Each case compiles its own program (1-4 s on the shared 2-core CPU), so the default run compares the first 4
# 2-D and 2 3-D cases; --runslow compares all 72.
CASES = [
    pytest.param(n, s, marks=() if s < (4 if n == 2 else 2) else pytest.mark.slow)
    for n, count in ((2, 48), (3, 24))
    for s in range(count)
]


def _torch_run(x_cf, case, out_kw, samples, ct, n):
    """PyTorch on channels-first data with one batch axis (flattened): values, indices, input gradient."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    F = torch.nn.functional
    b = int(np.prod(case["batch"])) if case["batch"] else 1
    xt = torch.tensor(x_cf.reshape((b,) + x_cf.shape[len(case["batch"]):]), requires_grad=True)
    fn = F.fractional_max_pool2d if n == 2 else F.fractional_max_pool3d
    st = torch.tensor(samples.reshape(b, case["features"], n))
    v, i = fn(xt, case["window"], **out_kw, return_indices=True, _random_samples=st)
    v.backward(torch.tensor(ct.reshape(v.shape)))
    shape = lambda a: a.reshape(case["batch"] + a.shape[1:])
    return shape(v.detach().numpy()), shape(i.numpy()), xt.grad.numpy().reshape(x_cf.shape)


@pytest.mark.parametrize(("n", "seed"), CASES)
def test_equals_torch_values_indices_gradients(n, seed):
    case = make_case(seed, n)
    rng = np.random.default_rng(seed + 77)
    bf = case["batch"] + (case["features"],)
    x_cf = (rng.integers(0, 3, size=bf + case["spatial"]) if case["ties"] else rng.normal(size=bf + case["spatial"]))
    x_cf = x_cf.astype(np.float32)
    samples = rng.random(bf + (n,), dtype=np.float32)
    out_kw = {k: case[k] for k in ("output_size", "output_ratio") if k in case}
    out = case.get("output_size") or tuple(int(s * r) for s, r in zip(case["spatial"], case["output_ratio"]))
    ct_cf = rng.integers(-4, 5, size=bf + out).astype(np.float32)  # integers: every gradient sum is exact
    tv, ti, tg = _torch_run(x_cf, case, out_kw, samples, ct_cf, n)

    cf = case["channels_first"]
    to_layout = (lambda a: a) if cf else (lambda a: np.moveaxis(a, len(case["batch"]), -1))
    from_layout = (lambda a: np.asarray(a)) if cf else (lambda a: np.moveaxis(np.asarray(a), -1, len(case["batch"])))

    @jax.jit
    def run(z, c, u):
        f = lambda a: jaxpool.fractional_max_pool(a, case["window"], **out_kw, samples=u, channels_first=cf,
                                                  return_indices=True)
        (v, i), vjp = jax.vjp(f, z)
        return v, i, vjp((c, np.zeros(i.shape, jax.dtypes.float0)))[0]

    v, i, g = run(to_layout(x_cf), to_layout(ct_cf), samples)
    assert i.dtype == np.int32 and v.dtype == np.float32
    np.testing.assert_array_equal(from_layout(v), tv)
    np.testing.assert_array_equal(from_layout(i), ti)
    np.testing.assert_array_equal(from_layout(g), tg)


def test_hand_derived_interval_sequences():
    # L = 20, k = 1, out = 7: alpha = 19/6; u = 0.9: int((i + 0.9) * alpha) - int(0.9 * alpha) = [0, 4, 7, 10, 13,
    # 16] then the anchor 19; u = 0: int(i * 19/6) = [0, 3, 6, 9, 12, 15], 19.
    x = np.arange(20, dtype=np.float32).reshape(20, 1)  # unbatched; values name their positions
    pos = lambda u, **kw: np.asarray(jaxpool.fractional_max_pool(x, (1,), samples=np.full((1, 1), u), **kw)).ravel()
    np.testing.assert_array_equal(pos(0.9, output_size=7), [0, 4, 7, 10, 13, 16, 19])
    np.testing.assert_array_equal(pos(0.0, output_size=7), [0, 3, 6, 9, 12, 15, 19])
    np.testing.assert_array_equal(pos(0.3, output_size=1), [19])  # a single window is the anchored last one
    # output_ratio 0.5 -> int(20 * 0.5) = 10 outputs, alpha = 19/9, u = 0.5: int(0.5 * alpha) = 1 and
    # int((i + 0.5) * alpha) = 1, 3, 5, 7, 9, 11, 13, 15, 17 -> [0, 2, 4, 6, 8, 10, 12, 14, 16], 19.
    np.testing.assert_array_equal(pos(0.5, output_ratio=0.5), [0, 2, 4, 6, 8, 10, 12, 14, 16, 19])
    # window 3: the value is the window's last position; L = 10, out = 4, alpha = 7/3, u = 0.5: starts
    # int(1.1667) - 1 = 0, int(3.5) - 1 = 2, int(5.833) - 1 = 4, anchor 7 -> maxima at 2, 4, 6, 9.
    x10 = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = jaxpool.fractional_max_pool(x10, (3,), 4, samples=np.full((1, 1), 0.5))
    np.testing.assert_array_equal(np.asarray(y).ravel(), [2, 4, 6, 9])


def test_sample_components_follow_torch_2d_w_then_h_3d_t_h_w():
    grid = np.meshgrid(*(np.arange(20) for _ in range(3)), indexing="ij")
    x3 = (10000 * grid[0] + 100 * grid[1] + grid[2]).astype(np.float32)
    seq = {0.9: [0, 4, 7, 10, 13, 16, 19], 0.5: [0, 3, 6, 10, 13, 16, 19], 0.1: [0, 3, 6, 9, 12, 16, 19]}
    y2 = np.asarray(jaxpool.fractional_max_pool(x3[0][None, None], 1, 7, samples=np.array([[[0.9, 0.1]]]),
                                                channels_first=True))[0, 0]
    np.testing.assert_array_equal(y2[0] % 100, seq[0.9])  # component 0 drives the width (last dim)
    np.testing.assert_array_equal(y2[:, 0] // 100, seq[0.1])  # component 1 the height
    y3 = np.asarray(jaxpool.fractional_max_pool(x3[..., None], (1, 1, 1), 7, samples=np.array([[0.9, 0.5, 0.1]])))
    y3 = y3[..., 0]
    np.testing.assert_array_equal(y3[:, 0, 0] // 10000, seq[0.9])
    np.testing.assert_array_equal(y3[0, :, 0] // 100, seq[0.5])
    np.testing.assert_array_equal(y3[0, 0, :], seq[0.1])
    for u, s in seq.items():
        assert ref_starts(u, 20, 1, 7) == s


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_intervals_equal_torch(dtype):
    # Starts computed with every operation rounded to the type: all float16/bfloat16 samples in [0, 1) of a
    # few sizes, read back as indices (window 1 in the first dim).
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    F = torch.nn.functional
    jdt = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    bits = 0x3C00 if dtype == "float16" else 0x3F80
    u = np.arange(0, bits, 7, dtype=np.uint16).view(jdt)
    tdt = getattr(torch, dtype)
    for size, k, out in [(200, 2, 101), (97, 3, 40), (31, 2, 11)]:
        x = np.broadcast_to(np.arange(size, dtype=np.float32), (1, len(u), 1, size)).astype(jdt)
        s = np.stack([u, np.zeros_like(u)], -1)[None]
        _, ti = F.fractional_max_pool2d(torch.tensor(x.astype(np.float32)).to(tdt), (1, k), output_size=(1, out),
                                        return_indices=True, _random_samples=torch.tensor(s.astype(np.float32)).to(tdt))
        v, i = jaxpool.fractional_max_pool(x, (1, k), (1, out), samples=s, channels_first=True, return_indices=True)
        assert v.dtype == jdt
        np.testing.assert_array_equal(np.asarray(i), ti.numpy())


def test_float64_equals_torch_x64():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    F = torch.nn.functional
    with jax.enable_x64(True):
        rng = np.random.default_rng(5)
        x = rng.normal(size=(2, 3, 17, 15))
        s = rng.random((2, 3, 2))
        tv, ti = F.fractional_max_pool2d(torch.tensor(x), (3, 2), output_size=(9, 11), return_indices=True,
                                         _random_samples=torch.tensor(s))
        v, i = jaxpool.fractional_max_pool(x, (3, 2), (9, 11), samples=s, channels_first=True, return_indices=True)
        assert v.dtype == np.float64
        np.testing.assert_array_equal(np.asarray(v), tv.numpy())
        np.testing.assert_array_equal(np.asarray(i), ti.numpy())


def test_ties_and_nan_first_element_wins():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=(2, 2, 9, 8)).astype(np.float32)
    x[0, 0, 2:4, 1:5] = np.nan
    x[1, 1, 5, 6] = np.nan
    s = rng.random((2, 2, 2), dtype=np.float32)
    window, out = (3, 2), (5, 6)
    ref_v, ref_i = reference(x, window, out, s)
    f = lambda z: jaxpool.fractional_max_pool(z, window, out, samples=s, channels_first=True)
    v, i = jaxpool.fractional_max_pool(x, window, out, samples=s, channels_first=True, return_indices=True)
    np.testing.assert_array_equal(np.asarray(v), ref_v)
    np.testing.assert_array_equal(np.asarray(i), ref_i)
    assert np.isnan(np.asarray(v)).any()
    g = jax.jit(jax.grad(lambda z: jnp.sum(f(z))))(x)
    want = np.zeros((2, 2, 72), np.float32)
    for b, c in itertools.product(range(2), range(2)):
        np.add.at(want[b, c], ref_i[b, c].ravel(), 1.0)
    np.testing.assert_array_equal(np.asarray(g), want.reshape(x.shape))
    # jvp takes the tangent at the same element.
    t = rng.normal(size=x.shape).astype(np.float32)
    _, jt = jax.jvp(f, (x,), (t,))
    want_t = np.take_along_axis(t.reshape(2, 2, 72), ref_i.reshape(2, 2, -1), axis=-1).reshape(ref_i.shape)
    np.testing.assert_array_equal(np.asarray(jt), want_t)


def test_finite_differences_and_transforms():
    rng = np.random.default_rng(11)
    x = rng.permutation(2 * 10 * 9 * 2).reshape(2, 10, 9, 2).astype(np.float32) / 7.0  # distinct values
    s = rng.random((2, 2, 2), dtype=np.float32)
    f = lambda z: jaxpool.fractional_max_pool(z, 2, output_ratio=(0.7, 0.6), samples=s)
    check_grads(jax.jit(f), (x,), order=1, modes=("fwd", "rev"), eps=1e-2)
    # vmap over an extra leading axis, with per-example samples, equals the batched call; jit equals eager.
    g = lambda z, u: jaxpool.fractional_max_pool(z, 2, output_ratio=(0.7, 0.6), samples=u)
    vm = jax.vmap(g)(x[:, None], s[:, None])[:, 0]
    np.testing.assert_array_equal(np.asarray(vm), np.asarray(f(x)))
    np.testing.assert_array_equal(np.asarray(jax.jit(g)(x, s)), np.asarray(f(x)))
    ref_v, _ = reference(np.moveaxis(x, -1, 1), (2, 2), (7, 5), s)
    np.testing.assert_array_equal(np.asarray(f(x)), np.moveaxis(ref_v, 1, -1))


def test_key_draws_uniform_samples_per_plane():
    x = jax.random.normal(jax.random.key(0), (4, 3, 10, 10))
    key = jax.random.key(42)
    y = jaxpool.fractional_max_pool(x, 2, output_ratio=0.7, key=key, channels_first=True)
    assert y.shape == (4, 3, 7, 7)
    u = jax.random.uniform(key, (4, 3, 2), jnp.float32)  # the documented draw
    np.testing.assert_array_equal(np.asarray(y), np.asarray(
        jaxpool.fractional_max_pool(x, 2, output_ratio=0.7, samples=u, channels_first=True)))
    _, i = jaxpool.fractional_max_pool(x, 2, output_ratio=0.7, key=jax.random.key(1), channels_first=True,
                                       return_indices=True)
    ref = reference(np.asarray(x), (2, 2), (7, 7), np.asarray(jax.random.uniform(jax.random.key(1), (4, 3, 2))))
    np.testing.assert_array_equal(np.asarray(i), ref[1])
    legacy = jaxpool.fractional_max_pool(x, 2, output_ratio=0.7, key=jax.random.PRNGKey(3), channels_first=True)
    assert legacy.shape == y.shape


def test_integer_and_bool_inputs():
    rng = np.random.default_rng(2)
    x = rng.integers(-50, 50, size=(2, 11, 10, 3)).astype(np.int32)
    s = rng.random((2, 3, 2))
    y = jaxpool.fractional_max_pool(x, 2, (6, 5), samples=s)
    assert y.dtype == np.int32
    ref_v, _ = reference(np.moveaxis(x, -1, 1).astype(np.float32), (2, 2), (6, 5), s.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(y), np.moveaxis(ref_v, 1, -1).astype(np.int32))
    b = jaxpool.fractional_max_pool(x > 40, 2, (6, 5), samples=s)
    assert b.dtype == np.bool_
    np.testing.assert_array_equal(np.asarray(b), np.moveaxis(ref_v, 1, -1) > 40)


X = np.zeros((2, 10, 9, 3), np.float32)
S = np.full((2, 3, 2), 0.5, np.float32)
ERRORS = [
    (dict(window_shape=2, samples=S), ValueError, "exactly one of output_size and output_ratio"),
    (dict(window_shape=2, output_size=4, output_ratio=0.5, samples=S), ValueError, "output_size"),
    (dict(window_shape=2, output_ratio=1.0, samples=S), ValueError, "output_ratio"),
    (dict(window_shape=2, output_ratio=(0.5, 0.0), samples=S), ValueError, "output_ratio"),
    (dict(window_shape=2, output_ratio=0.05, samples=S), ValueError, "output_ratio"),
    (dict(window_shape=2, output_ratio="half", samples=S), TypeError, "output_ratio"),
    (dict(window_shape=2, output_size=(10, 4), samples=S), ValueError, "output_size"),
    (dict(window_shape=3, output_ratio=0.9, samples=S), ValueError, "output_ratio"),
    (dict(window_shape=(2, 2, 2), output_size=4, samples=S), ValueError, "output_size"),
    (dict(window_shape=0, output_size=4, samples=S), ValueError, "window_shape"),
    (dict(window_shape=11, output_size=1, samples=S), ValueError, "window_shape"),
    (dict(window_shape=2.0, output_size=4, samples=S), TypeError, "window_shape"),
    (dict(window_shape=2, output_size=0, samples=S), ValueError, "output_size"),
    (dict(window_shape=2, output_size=4), ValueError, "key"),
    (dict(window_shape=2, output_size=4, samples=S, key=jax.random.key(0)), ValueError, "samples"),
    (dict(window_shape=2, output_size=4, samples=S[:1]), ValueError, "samples"),
    (dict(window_shape=2, output_size=4, samples=S[..., :1]), ValueError, "samples"),
    (dict(window_shape=2, output_size=4, samples=S + 0.5), ValueError, "samples"),
    (dict(window_shape=2, output_size=4, samples=S - 0.6), ValueError, "samples"),
    (dict(window_shape=2, output_size=4, samples=np.ones((2, 3, 2), np.int32)), TypeError, "samples"),
    (dict(window_shape=2, output_size=4, key=7), TypeError, "key"),
    (dict(window_shape=2, output_size=4, samples=S, channels_first=1), TypeError, "channels_first"),
    (dict(window_shape=2, output_size=4, samples=S, return_indices="yes"), TypeError, "return_indices"),
]


@pytest.mark.parametrize(("kwargs", "exc", "match"), ERRORS)
def test_errors_name_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        jaxpool.fractional_max_pool(X, **kwargs)


def test_float16_samples_rounding_to_one_are_rejected():
    x = np.zeros((1, 10, 9, 1), np.float16)
    with pytest.raises(ValueError, match="samples"):  # 0.9999 is 1.0 in float16
        jaxpool.fractional_max_pool(x, 2, 4, samples=np.full((1, 1, 2), 0.9999, np.float32))


def test_linen_module_rng_stream_and_deterministic():
    x = jax.random.normal(jax.random.key(0), (2, 12, 12, 4))
    m = jpl.FractionalMaxPool(2, output_ratio=0.7)
    y_eval = m.apply({}, x, deterministic=True)
    np.testing.assert_array_equal(np.asarray(y_eval), np.asarray(
        jaxpool.fractional_max_pool(x, 2, output_ratio=0.7, samples=np.full((2, 4, 2), 0.5))))
    a = m.apply({}, x, False, rngs={"pooling": jax.random.key(1)})
    b = m.apply({}, x, False, rngs={"pooling": jax.random.key(1)})
    c = m.apply({}, x, False, rngs={"pooling": jax.random.key(2)})
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert a.shape == (2, 8, 8, 4) and not np.array_equal(np.asarray(a), np.asarray(c))
    with pytest.raises(Exception, match="pooling"):  # no such stream
        m.apply({}, x, False)
    with pytest.raises(ValueError, match="output_ratio"):
        jpl.FractionalMaxPool(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="output_size"):
        jpl.FractionalMaxPool(2)

    class Net(nn.Module):
        @nn.compact
        def __call__(self, z, train: bool):
            return jpl.FractionalMaxPool((2, 2), output_size=(5, 5), deterministic=not train)(z)

    net = Net()
    np.testing.assert_array_equal(
        np.asarray(net.apply({}, x, False)),
        np.asarray(jaxpool.fractional_max_pool(x, 2, 5, samples=0.5)),
    )
    g = jax.grad(lambda z: net.apply({}, z, True, rngs={"pooling": jax.random.key(3)}).sum())(x)
    assert float(g.sum()) == 2 * 5 * 5 * 4  # one unit of cotangent per output, all reaching the input


def test_nnx_module_rngs_stream_and_eval():
    x = jax.random.normal(jax.random.key(0), (2, 12, 12, 4))
    p = jpn.FractionalMaxPool(2, output_ratio=0.7)
    y = p(x, rngs=nnx.Rngs(pooling=5))
    want = jaxpool.fractional_max_pool(x, 2, output_ratio=0.7, key=nnx.Rngs(pooling=5).pooling())
    np.testing.assert_array_equal(np.asarray(y), np.asarray(want))
    with pytest.raises(ValueError, match="rngs"):
        p(x)
    q = jpn.FractionalMaxPool(2, output_ratio=0.7, rngs=nnx.Rngs(pooling=0))
    model = nnx.Sequential(q)
    first, second = model(x), model(x)  # the stream advances: new windows each call
    assert not np.array_equal(np.asarray(first), np.asarray(second))
    model.eval()
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(
        jaxpool.fractional_max_pool(x, 2, output_ratio=0.7, samples=0.5)))
    model.train()
    assert not q.deterministic
    with pytest.raises(ValueError, match="output_size"):
        jpn.FractionalMaxPool(2, output_size=3, output_ratio=0.5)
    with pytest.raises(TypeError, match="rngs"):
        jpn.FractionalMaxPool(2, output_size=3, rngs=0)


def test_module_modes_are_checked():
    # a string "False" is truthy: accepted, it would silently select evaluation mode
    x = np.zeros((1, 12, 12, 1), np.float32)
    for bad in ("False", 0, 1.0):
        with pytest.raises(TypeError, match="deterministic"):
            jpl.FractionalMaxPool(2, output_size=4, deterministic=bad)
        with pytest.raises(TypeError, match="deterministic"):
            jpl.FractionalMaxPool(2, output_size=4).apply({}, x, deterministic=bad)
        with pytest.raises(TypeError, match="deterministic"):
            jpn.FractionalMaxPool(2, output_size=4, deterministic=bad, rngs=nnx.Rngs(pooling=0))
        with pytest.raises(TypeError, match="deterministic"):
            jpn.FractionalMaxPool(2, output_size=4, rngs=nnx.Rngs(pooling=0))(x, deterministic=bad)
    with pytest.raises(TypeError, match="rng_collection"):
        jpl.FractionalMaxPool(2, output_size=4, rng_collection=3)
    with pytest.raises(TypeError, match="rng_collection"):
        jpn.FractionalMaxPool(2, output_size=4, rng_collection=3, rngs=nnx.Rngs(0))
    # Flax's rule (flax.linen.Dropout): the field or the call, not both
    with pytest.raises(ValueError, match="deterministic"):
        jpl.FractionalMaxPool(2, output_size=4, deterministic=False).apply({}, x, deterministic=True)
    np.testing.assert_array_equal(
        np.asarray(jpl.FractionalMaxPool(2, output_size=4, deterministic=True).apply({}, x + 1)),
        np.ones((1, 4, 4, 1), np.float32))
