"""Checks of the brute-force reference itself, so the oracle every other test leans on is trusted.

Hand-derived values (the pitfall cases of shared/cases/pitfalls.md, worked by hand) and, where
torch is installed, torch's pooling (values, ``return_indices`` and gradients) on random problems.
"""

from __future__ import annotations

import numpy as np
import pytest
from reference import (
    pool_reference,
    pool_reference_output_shape,
    pool_reference_vjp,
    pool_reference_winners,
    reference_geometry,
)

NAN, INF = float("nan"), float("inf")


def img(a, dtype=np.float32):
    """A 2-D (or 1-D) array as one unbatched single-feature input: (*spatial, 1)."""
    return np.asarray(a, dtype=dtype)[..., None]


def run(a, op, window, *args, dtype=np.float32, **kw):
    x = img(a, dtype)
    return pool_reference(x, op, window, *args, **kw)[..., 0]


def grad_of_sum(a, op, window, *args, **kw):
    x = img(a)
    ct = np.ones(pool_reference_output_shape(x.shape, window, *args, **{
        k: v for k, v in kw.items() if k in ("dilation", "ceil_mode", "channels_first")}))
    return pool_reference_vjp(x, ct, op, window, *args, **kw)[..., 0]


def winners(a, op, window, *args, **kw):
    return pool_reference_winners(img(a), op, window, *args, **kw)[..., 0]


def test_avg_same_count_include_pad_p01():
    a = [[2, 4], [6, 8]]
    np.testing.assert_allclose(run(a, "avg", (2, 2), 1, "SAME"), [[5, 3], [3.5, 2]])
    np.testing.assert_allclose(grad_of_sum(a, "avg", (2, 2), 1, "SAME"), [[.25, .5], [.5, 1]])
    kw = {"count_include_pad": False}
    np.testing.assert_allclose(run(a, "avg", (2, 2), 1, "SAME", **kw), [[5, 6], [7, 8]])
    np.testing.assert_allclose(grad_of_sum(a, "avg", (2, 2), 1, "SAME", **kw),
                               [[.25, .75], [.75, 2.25]])


def test_same_split_p02_p03():
    a = np.arange(2, 20, 2).reshape(3, 3)
    np.testing.assert_allclose(run(a, "avg", (2, 2), (2, 2), "SAME", count_include_pad=False),
                               [[6, 9], [15, 18]])
    np.testing.assert_allclose(run(a, "avg", (2, 2), (2, 2), "SAME"), [[6, 4.5], [7.5, 4.5]])
    np.testing.assert_allclose(run([10, 20, 30, 40], "max", (2,), 1, "SAME"), [20, 30, 40, 40])
    assert reference_geometry((6, 1), (4,), 1, "SAME").pads == ((1, 2),)
    assert reference_geometry((6, 1), (4,), 1, "same_lower").pads == ((2, 1),)
    assert pool_reference_output_shape((8, 1), (2,), (2,), "SAME") == (4, 1)
    assert pool_reference_output_shape((8, 1), (2,), (2,), 1) == (5, 1)
    assert pool_reference_output_shape((6, 1), (4,), 1, "SAME") == (6, 1)
    assert pool_reference_output_shape((6, 1), (4,), 1, 2) == (7, 1)


def test_padding_never_wins_p04():
    a = [[2, -3, 0], [-1, 4, 1], [0, 5, -6]]
    np.testing.assert_array_equal(run(a, "max", (2, 2), (2, 2), "SAME"), [[4, 1], [5, -6]])
    np.testing.assert_array_equal(run(a, "min", (2, 2), (2, 2), "SAME"), [[-3, 0], [0, -6]])
    # -inf beside padding: value -inf, winner and gradient the first input element.
    a = [[-INF, -INF], [-INF, -INF]]
    np.testing.assert_array_equal(winners(a, "max", (2, 2), 1, 1), [[0, 0, 1], [0, 0, 1],
                                                                     [2, 2, 3]])
    np.testing.assert_array_equal(grad_of_sum(a, "max", (2, 2), 1, "SAME"), [[1, 1], [1, 1]])
    got = pool_reference(img([[-128, -100], [-120, -127]], np.int8), "max", (2, 2), 1, "SAME")
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got[..., 0], [[-100, -100], [-120, -127]])
    np.testing.assert_array_equal(
        winners(np.full((2, 2), -128, np.int8), "max", (2, 2), 1, 1), [[0, 0, 1], [0, 0, 1],
                                                                       [2, 2, 3]])


def test_windows_of_only_padding_p05_p14_p16():
    with pytest.raises(ValueError, match="padding"):
        run([[1, 2], [3, 4]], "max", (2, 2), 1, 2)
    assert run([[1, 2], [3, 4]], "max", (2, 2), 1, 1).shape == (3, 3)
    with pytest.raises(ValueError, match="padding"):
        run([1, 2], "sum", (2,), 1, "SAME", dilation=3)
    np.testing.assert_array_equal(run([1, 1], "sum", (3,), 1, "SAME", dilation=2), [1, 1])
    assert reference_geometry((2, 1), (3,), 1, "SAME", dilation=2).pads == ((2, 2),)
    with pytest.raises(ValueError, match="size 2, effective window 5"):
        run([1, 1], "sum", (3,), 1, "VALID", dilation=2)
    with pytest.raises(ValueError, match="size 3, effective window 4"):
        run(np.ones((3, 3)), "max", (4, 4))
    np.testing.assert_array_equal(run([1, 5, 2], "max", (5,), 1, "SAME"), [5, 5, 5])
    np.testing.assert_allclose(run([1, 5, 2], "avg", (5,), 1, "SAME", count_include_pad=False),
                               [8 / 3] * 3, rtol=1e-6)


def test_nan_rules_p06():
    for a, g in (([NAN, 0], [1, 0]), ([0, NAN], [0, 1]), ([NAN, NAN], [1, 0])):
        assert np.isnan(run(a, "max", (2,), (2,))).all()
        assert np.isnan(run(a, "min", (2,), (2,))).all()
        np.testing.assert_array_equal(grad_of_sum(a, "max", (2,), (2,)), g)
        np.testing.assert_array_equal(grad_of_sum(a, "min", (2,), (2,)), g)
    assert np.isnan(run([1, NAN, 3], "sum", (2,), 1)).all()
    np.testing.assert_array_equal(winners([3, NAN, 5, NAN], "max", (4,), 1), [1])


def test_ties_and_accumulation_p07_p08():
    np.testing.assert_array_equal(grad_of_sum([[.5, .9], [.9, .9]], "max", (2, 2), (2, 2)),
                                  [[0, 1], [0, 0]])
    np.testing.assert_array_equal(grad_of_sum([7, 7, 7, 7], "max", (2,), 1), [1, 1, 1, 0])
    np.testing.assert_array_equal(grad_of_sum([7, 7, 7, 7], "min", (2,), 1), [1, 1, 1, 0])
    np.testing.assert_array_equal(winners([2, 2, 1, 2], "max", (4,), 1), [0])
    a = np.arange(1, 26, dtype=np.float32).reshape(5, 5)
    a[1, 1] = 99
    np.testing.assert_array_equal(run(a, "max", (3, 3), (2, 2), 1),
                                  [[99, 99, 10], [99, 99, 20], [22, 24, 25]])
    g = np.zeros((5, 5))
    g[1, 1] = 4
    for v in (10, 20, 22, 24, 25):
        g[a == v] = 1
    np.testing.assert_array_equal(grad_of_sum(a, "max", (3, 3), (2, 2), 1), g)
    b = [4, 9, 1, 7, 3, 8, 2, 6]
    np.testing.assert_array_equal(run(b, "max", (2,), (3,)), [9, 7, 6])
    np.testing.assert_array_equal(grad_of_sum(b, "max", (2,), (3,)), [0, 1, 0, 1, 0, 0, 0, 1])


def test_ceil_mode_p09_p10():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.testing.assert_array_equal(run(a, "max", (1, 1), (2, 2), 0, ceil_mode=True), a[::2, ::2])
    b = np.arange(1, 8)
    kw = {"ceil_mode": True}
    np.testing.assert_array_equal(run(b, "max", (2,), (2,), 1, **kw), [1, 3, 5, 7])
    np.testing.assert_allclose(run(b, "avg", (2,), (2,), 1, **kw), [.5, 2.5, 4.5, 6.5])
    np.testing.assert_allclose(run(b, "avg", (2,), (2,), 1, count_include_pad=False, **kw),
                               [1, 2.5, 4.5, 6.5])
    assert pool_reference_output_shape((12, 1), (4,), (2,), 0, ceil_mode=True) == (5, 1)
    np.testing.assert_allclose(run(np.arange(1, 6), "avg", (3,), (3,), 0, **kw), [2, 4.5])
    np.testing.assert_allclose(grad_of_sum(np.arange(1, 6), "avg", (3,), (3,), 0, **kw),
                               [1 / 3] * 3 + [.5, .5])
    with pytest.raises(ValueError, match="ceil_mode"):
        run(b, "max", (2,), (2,), "SAME", **kw)
    # A ceil_mode window may be longer than the padded input (torch: max_pool1d([2.], 2, 2,
    # ceil_mode=True) == [2.]; avg_pool1d([1., 2., 3.], 4, 2, ceil_mode=True) == [2.]).
    np.testing.assert_array_equal(run([2], "max", (2,), (2,), 0, **kw), [2])
    np.testing.assert_array_equal(run([2], "avg", (2,), (2,), 0, **kw), [2])
    np.testing.assert_array_equal(run([1, 2, 3], "max", (4,), (2,), 0, **kw), [3])
    np.testing.assert_array_equal(run([1, 2, 3], "avg", (4,), (2,), 0, **kw), [2])
    with pytest.raises(ValueError, match="size 3, effective window 4"):
        run([1, 2, 3], "max", (4,), (1,), 0, **kw)  # ceil(-1 / 1) + 1 = 0 outputs


def test_dilation_p14():
    a = np.arange(16, 0, -1, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(run(a, "max", (2, 2), 1, dilation=2), [[16, 15], [12, 11]])
    g = np.zeros((4, 4))
    g[:2, :2] = 1
    np.testing.assert_array_equal(grad_of_sum(a, "max", (2, 2), 1, dilation=2), g)
    np.testing.assert_array_equal(winners(a, "max", (2, 2), 1, dilation=2), [[0, 1], [4, 5]])


def test_avg_divisor_override_and_sum():
    a = [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_allclose(run(a, "avg", (2, 2), 1, 0, divisor_override=3),
                               [[12 / 3, 16 / 3]], rtol=1e-6)
    np.testing.assert_allclose(grad_of_sum(a, "avg", (2, 2), 1, 0, divisor_override=3),
                               [[1 / 3, 2 / 3, 1 / 3]] * 2)
    np.testing.assert_array_equal(run(a, "sum", (2, 2), 1, 1), [[1, 3, 5, 3], [5, 12, 16, 9],
                                                                [4, 9, 11, 6]])


def test_lp_signed_root_and_zero_gradient():
    np.testing.assert_allclose(run([3, 4], "lp", (2,), norm_type=2), [5])
    np.testing.assert_allclose(grad_of_sum([3, 4], "lp", (2,), norm_type=2), [.6, .8])
    np.testing.assert_allclose(run([-3, 1], "lp", (2,), norm_type=3), [-(26 ** (1 / 3))],
                               rtol=1e-6)
    # d/dx of sign(s)|s|^(1/3) with s = x0^3 + x1^3 is |s|^(-2/3) * x^2.
    np.testing.assert_allclose(grad_of_sum([-3, 1], "lp", (2,), norm_type=3),
                               np.array([9, 1]) * 26 ** (-2 / 3), rtol=1e-12)
    np.testing.assert_array_equal(grad_of_sum([0, 0], "lp", (2,), norm_type=2), [0, 0])
    np.testing.assert_array_equal(grad_of_sum([1, -1], "lp", (2,), norm_type=3), [0, 0])
    np.testing.assert_array_equal(grad_of_sum([1, -1], "lp", (2,), norm_type=1), [1, 1])
    np.testing.assert_allclose(run([1, 2, 4], "lp", (2,), 1, norm_type=1), [3, 6])
    with pytest.raises(ValueError, match="norm_type"):
        run([1, 2], "lp", (2,), norm_type=0.5)


def test_dtypes_p24():
    x = img([[-3, -1], [-2, -4]], np.int32)
    np.testing.assert_array_equal(pool_reference(x, "max", (2, 2), 1, 1)[..., 0],
                                  [[-3, -1, -1], [-2, -1, -1], [-2, -2, -4]])
    got = pool_reference(img([[3, 1], [4, 2]], np.uint8), "max", (2, 2), 1, "SAME")
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got[..., 0], [[4, 2], [4, 2]])
    got = pool_reference(img([[1, 2], [3, 4]], np.int32), "avg", (2, 2))
    assert got.dtype == np.float32 and got.item() == 2.5
    assert pool_reference(img([[1, 2], [3, 4]], np.int8), "sum", (2, 2)).dtype == np.int32
    b = img([[True, False], [False, False]], np.bool_)
    assert pool_reference(b, "max", (2, 2)).item() is True
    assert pool_reference(b, "min", (2, 2)).item() is False
    assert pool_reference(b, "sum", (2, 2)).dtype == np.int32
    with pytest.raises(TypeError, match="complex"):
        pool_reference(img([[1, 2], [3, 4]], np.complex64), "sum", (2, 2))


def test_layouts_and_batch_dims():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(2, 3, 5, 4, 2)).astype(np.float32)  # (b0, b1, H, W, C)
    kw = {"op": "max", "window_shape": (2, 3), "strides": (2, 1), "padding": ((1, 0), (0, 1))}
    last = pool_reference(x, **kw)
    first = pool_reference(np.moveaxis(x, -1, 2), channels_first=True, **kw)
    np.testing.assert_array_equal(np.moveaxis(first, 2, -1), last)
    for i in range(2):
        np.testing.assert_array_equal(pool_reference(x[i, 1], **kw), last[i, 1])
    assert pool_reference_output_shape((4, 4, 1), (2, 2), None) == (3, 3, 1)
    assert pool_reference_output_shape((4, 4, 1), 2) == (4, 3, 1)  # all ints: N = ndim - 2
    assert pool_reference_output_shape((1, 4, 4, 1), 2) == (1, 3, 3, 1)
    assert pool_reference_output_shape((2, 4, 4, 1), (2, 2, 2)) == (1, 3, 3, 1)
    with pytest.raises(ValueError, match=r"\(\*batch, \*spatial, features\)"):
        pool_reference_output_shape((4, 3), (2, 2, 2))


def test_reference_against_torch():
    torch = pytest.importorskip("torch", reason="torch is the optional second oracle")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 3, size=(2, 3, 7, 6)).astype(np.float64)  # NCHW with ties
    for pad, dil, ceil in ((1, 1, True), (0, 2, False), (1, 2, True)):
        kw = {"window_shape": (3, 2), "strides": (2, 2), "padding": pad, "dilation": dil,
              "ceil_mode": ceil, "channels_first": True}
        t = torch.tensor(x, requires_grad=True)
        tv, ti = F.max_pool2d(t, (3, 2), (2, 2), pad, dil, ceil_mode=ceil, return_indices=True)
        np.testing.assert_array_equal(pool_reference(x, "max", **kw), tv.detach().numpy())
        np.testing.assert_array_equal(pool_reference_winners(x, "max", **kw), ti.numpy())
        c = rng.normal(size=tuple(tv.shape))
        tv.backward(torch.tensor(c))
        np.testing.assert_allclose(pool_reference_vjp(x, c, "max", **kw), t.grad.numpy())
    for pad, ceil, cip, div in ((1, True, True, None), (1, True, False, None), (0, False, True, 5)):
        kw = {"window_shape": (3, 2), "strides": (2, 2), "padding": pad, "ceil_mode": ceil,
              "count_include_pad": cip, "divisor_override": div, "channels_first": True}
        t = torch.tensor(x, requires_grad=True)
        tv = F.avg_pool2d(t, (3, 2), (2, 2), pad, ceil, cip, div)
        np.testing.assert_allclose(pool_reference(x, "avg", **kw), tv.detach().numpy())
        c = rng.normal(size=tuple(tv.shape))
        tv.backward(torch.tensor(c))
        np.testing.assert_allclose(pool_reference_vjp(x, c, "avg", **kw), t.grad.numpy())
    xp = np.abs(x) + 1
    t = torch.tensor(xp, requires_grad=True)
    tv = F.lp_pool2d(t, 3, (3, 2), (2, 2))
    kw = {"window_shape": (3, 2), "strides": (2, 2), "channels_first": True, "norm_type": 3}
    np.testing.assert_allclose(pool_reference(xp, "lp", **kw), tv.detach().numpy())
    c = rng.normal(size=tuple(tv.shape))
    tv.backward(torch.tensor(c))
    np.testing.assert_allclose(pool_reference_vjp(xp, c, "lp", **kw), t.grad.numpy())
