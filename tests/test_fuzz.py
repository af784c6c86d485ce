"""Property-based fuzzing of every public function and both module families (issue 15).

Each example draws one op, one way to call it (the function, its ``jaxpool.linen`` module or its ``jaxpool.nnx``
module), an input (dtypes bool, int8, uint8, int32, float16, bfloat16, float32, float64 and complex64; zero-size
and huge-rank shapes; NaN and inf; non-arrays: None, strings, bytes, ragged lists) and every argument from two
pools: *ok* values (small ints, also 0 and negative, tuples of any length, np.int64, 0-d arrays, np.bool_ flags)
and *bad* values (2**31, 2**62, 2**63, 10**30, floats, bools, bytes, strings, None, dicts). Then, under a
wall-clock guard that turns a hang into a failure:

* a call with a bad value must raise jaxpool's TypeError/ValueError, with a message naming an argument;
* a call with ok values only must do what the brute-force reference (``tests/reference.py``) does: raise
  TypeError/ValueError naming an argument where the reference rejects it, else return the reference's value
  (and shape and dtype).

Outcomes are counted (calls, valid results checked, clean errors, anything else) and printed at the end of the
module, and written as JSON to ``$JAXPOOL_FUZZ_REPORT`` if set (after every call, so a long run can be read
while it goes). Anything else fails the example at once. The
default profile draws a few examples per op (seconds to a minute); ``--hypothesis-profile=thorough`` many more.
"""

from __future__ import annotations

import collections
import inspect
import json
import math
import os
import re

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    adaptive_reference,
    blur_reference,
    fractional_reference,
    pool_reference_exact,
    pool_reference_output_shape,
    pool_reference_winners,
    result_dtype,
    unpool_reference,
)
from strategies import hang_guard

import jaxpool
import jaxpool.linen as jpl
import jaxpool.nnx as jpn

HANG_BOUND_S = 120  # a generous bound per call (compile included): it only turns a hang into a failure
COUNTS: collections.Counter = collections.Counter()


class Drawn:
    """A drawn argument value and whether it came from the bad pool."""

    def __init__(self, value, bad: bool):
        self.value, self.bad = value, bad

    def __repr__(self) -> str:
        text = repr(self.value)
        return f"{'BAD ' if self.bad else ''}{text if len(text) < 200 else text[:200] + '...'}"




# ---- value pools ----

HUGE = [2**31, 2**32 + 1, 2**62, 2**63, 10**30, -(2**63) - 1]
WRONG_TYPES = [2.0, 1.5, True, False, b"\x02", "2", np.float32(2.0), np.asarray(2.0), {"a": 1}, np.bool_(True)]


def _small_int(draw, lo=-1, hi=4):
    v = draw(st.integers(lo, hi))
    kind = draw(st.sampled_from(["int", "int", "np", "0d", "jnp"]))
    return {"int": v, "np": np.int64(v), "0d": np.asarray(v), "jnp": jnp.asarray(v, jnp.int32)}[kind]


@st.composite
def size_arg(draw, n: int, *, allow_none: bool, lo: int = -1, hi: int = 4, none_entries: bool = False,
             clean: bool = False) -> Drawn:
    """window/stride/dilation/output_size-like: an int or N ints (ok), or a bad value; ``clean``: positive ok
    values of the right length only."""
    if clean:
        lo, hi = 1, min(hi, 3)
        choice = draw(st.sampled_from(["int", "tuple", "tuple", "list"] + ["none"] * allow_none))
    else:
        choice = draw(st.sampled_from(["int", "tuple", "tuple", "list", "wrong_len", "bad", "bad_entry", "none"]))
    if choice == "none":
        return Drawn(None, not allow_none)
    if choice == "int":
        return Drawn(_small_int(draw, max(lo, 0) if draw(st.booleans()) else lo, hi), False)
    if choice in ("tuple", "list", "wrong_len"):
        m = n if choice != "wrong_len" else draw(st.sampled_from([0, 1, 2, 3, 4, 40]))
        vals = [_small_int(draw, 1 if draw(st.booleans()) else lo, hi) for _ in range(m)]
        return Drawn(tuple(vals) if choice != "list" else vals, False)
    if choice == "bad_entry":
        vals = [_small_int(draw, 1, hi) for _ in range(n)]
        pool = HUGE + WRONG_TYPES + ([] if none_entries else [None])
        vals[draw(st.integers(0, max(n - 1, 0)))] = draw(st.sampled_from(pool))
        return Drawn(tuple(vals), True)
    return Drawn(draw(st.sampled_from(HUGE + WRONG_TYPES + [(), "abc"])), True)


@st.composite
def padding_arg(draw, n: int, *, strings=("VALID", "SAME", "SAME_LOWER", "same", "valid"), clean=False) -> Drawn:
    if clean:
        choice = draw(st.sampled_from(["str", "str", "int", "ints", "pairs"]))
        if choice == "int":
            return Drawn(_small_int(draw, 0, 1), False)
        if choice == "ints":
            return Drawn(tuple(_small_int(draw, 0, 1) for _ in range(n)), False)
        if choice == "pairs":
            return Drawn(tuple((_small_int(draw, 0, 1), _small_int(draw, 0, 1)) for _ in range(n)), False)
    else:
        choice = draw(st.sampled_from(["str", "str", "int", "ints", "pairs", "bad", "bad_entry", "bad_str"]))
    if choice == "str":
        return Drawn(draw(st.sampled_from(strings)), False)
    if choice == "int":
        return Drawn(_small_int(draw, -1, 3), False)
    if choice == "ints":
        return Drawn(tuple(_small_int(draw, 0, 3) for _ in range(draw(st.sampled_from([n, n, n + 1])))), False)
    if choice == "pairs":
        return Drawn(tuple((_small_int(draw, -1, 3), _small_int(draw, 0, 3)) for _ in range(n)), False)
    if choice == "bad_entry":
        pairs = [(1, 1)] * n
        pairs[draw(st.integers(0, max(n - 1, 0)))] = draw(st.sampled_from(
            [(2**31, 0), (0, 2**63), (1.5, 0), (True, 0), "ab", (1, 2, 3), (None, 0), (10**30,), b"\x01\x02"]))
        return Drawn(tuple(pairs), True)
    if choice == "bad_str":
        return Drawn(draw(st.sampled_from(["FOO", "", "reflect", "zeros"])), False)
    return Drawn(draw(st.sampled_from(HUGE + [1.5, True, None, b"\x01", {"a": 1}, np.asarray(1.0)])), True)


@st.composite
def flag_arg(draw, clean: bool = False) -> Drawn:
    v = draw(st.sampled_from([False, True, np.bool_(True), np.bool_(False)] + ["BAD"] * (not clean)))
    if v == "BAD":
        return Drawn(draw(st.sampled_from([0, 1, "yes", None, 1.0, np.int8(1)])), True)
    return Drawn(v, False)


DTYPES = [np.float32, np.float32, np.float16, ml_dtypes.bfloat16, np.float64, np.int8, np.uint8, np.int32, np.bool_,
          np.complex64]


@st.composite
def inputs_arg(draw, n: int, clean: bool = False) -> tuple[Drawn, np.ndarray | None]:
    """(drawn inputs, the same as a NumPy array for the reference, or None if not an array)."""
    choice = draw(st.sampled_from(["array"] * 12 + ["list", "jax"] + ["huge_rank", "bad"] * (not clean)))
    if choice == "bad":
        v = draw(st.sampled_from([None, "abc", b"abc", [[1.0], [2.0, 3.0]], np.array([[[object()]]]), {"x": 1}]))
        return Drawn(v, True), None
    if choice == "huge_rank":
        shape = (1,) * draw(st.sampled_from([33, 40]))
        x = np.ones(shape, np.float32)
        return Drawn(x, True), None
    rank = draw(st.sampled_from([n + 1, n + 2, n + 2, n + 2, n + 3] + [max(n, 1), 1] * (not clean)))
    if clean:  # sizes that most clean window arguments fit
        shape = tuple(draw(st.integers(3, 7)) if i >= rank - n - 1 else draw(st.integers(1, 3)) for i in range(rank))
    else:
        shape = tuple(draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, 6)) for _ in range(rank))
    dtype = np.dtype(draw(st.sampled_from(DTYPES[:-1] if clean else DTYPES)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == np.bool_:
        x = rng.random(shape) < 0.5
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(max(info.min, -5), min(info.max, 9), size=shape, endpoint=True).astype(dtype)
        if x.size and info.bits == 8 and draw(st.booleans()):  # extremes (sums of 8-bit ints do not overflow)
            x.flat[0] = info.min if draw(st.booleans()) else info.max
    else:
        x = (rng.normal(size=shape) * 4).astype(dtype)
        if x.size and draw(st.booleans()):
            for _ in range(draw(st.integers(1, 3))):
                x.flat[rng.integers(x.size)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        if x.size and draw(st.booleans()):
            x = np.round(x).astype(dtype)  # ties
    if choice == "list" and dtype not in (np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)):
        return Drawn(x.tolist(), False), np.asarray(x.tolist())
    if choice == "jax" and dtype != np.float64:
        return Drawn(jnp.asarray(x), False), x
    return Drawn(x, False), x


def _plain(v):
    """An ok value as the reference expects it: NumPy/JAX ints and bools as Python ones (lists as tuples)."""
    if isinstance(v, (list, tuple)):
        return tuple(_plain(e) for e in v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, jax.Array) and jnp.issubdtype(v.dtype, jax.dtypes.prng_key):
        return v
    if isinstance(v, (np.integer, np.ndarray, jax.Array)) and np.ndim(v) == 0 and np.issubdtype(
            np.asarray(v).dtype, np.integer):
        return int(v)
    return v


@st.composite
def ratio_arg(draw, n: int, clean: bool = False) -> Drawn:
    """output_ratio: a float or N floats; ok values in (0, 1) and out of it (the reference rejects those),
    bad values of other types."""
    inside = [0.5, 0.7, 0.9, 0.34, np.float32(0.6), np.float64(0.8)]
    outside = [0.0, 1.0, 1.5, -0.25, 1, 0, 0.01]
    choice = draw(st.sampled_from(
        ["one", "tuple", "tuple"] + ["outside", "wrong_len", "bad", "bad_entry"] * (not clean)))
    if choice == "one":
        return Drawn(draw(st.sampled_from(inside)), False)
    if choice == "outside":
        return Drawn(draw(st.sampled_from(outside)), False)
    if choice in ("tuple", "wrong_len"):
        m = n if choice == "tuple" else draw(st.sampled_from([0, 1, 2, 3, 4]))
        return Drawn(tuple(draw(st.sampled_from(inside + outside * (not clean))) for _ in range(m)), False)
    if choice == "bad_entry":
        vals = [0.5] * n
        vals[draw(st.integers(0, n - 1))] = draw(st.sampled_from(["0.5", None, True, b"\x00", {"a": 1}, 1j]))
        return Drawn(tuple(vals), True)
    return Drawn(draw(st.sampled_from(["0.5", True, b"\x00", {"a": 1}, 0.5j, np.bool_(False)])), True)


def _fractional_n(xnp, kw: dict) -> int:
    """N by the spatial-dims rule (first tuple among window_shape, output_size, output_ratio), for drawing."""
    for k in ("window_shape", "output_size", "output_ratio"):
        v = kw[k].value if k in kw else None
        if isinstance(v, (tuple, list)):
            return len(v)
    return np.ndim(xnp) - 2


@st.composite
def fractional_randomness(draw, n: int, xnp, kw: dict, clean: bool) -> dict:
    """samples (mostly) or key for fractional_max_pool: valid samples of shape (*batch, features, N) in [0, 1)
    in several float dtypes, scalars, edge values; ok-but-invalid ones (out of range, NaN, wrong shape, integer
    dtype: the reference rejects them); bad types; jax.random keys and malformed keys."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m = _fractional_n(xnp, kw)
    cf = bool(kw["channels_first"].value) if "channels_first" in kw and not kw["channels_first"].bad else False
    shape = None
    if xnp is not None and 1 <= m <= xnp.ndim - 1:
        feat = xnp.ndim - m - 1 if cf else xnp.ndim - 1
        shape = xnp.shape[: xnp.ndim - m - 1] + (xnp.shape[feat], m)
    choice = draw(st.sampled_from(["array"] * 6 + ["scalar", "edge", "key"] + [
        "outside", "wrong_shape", "int", "bad", "both", "neither", "bad_key"] * (not clean)))
    if choice in ("array", "edge", "outside", "int") and shape is not None:
        dt = draw(st.sampled_from([np.float32, np.float32, np.float64, np.float16]))
        u = rng.random(shape).astype(dt)
        if choice == "edge" and u.size:
            u.flat[rng.integers(u.size)] = draw(st.sampled_from([0.0, 0.9999, np.nextafter(np.float32(1), 0)]))
        if choice == "outside" and u.size:
            u.flat[rng.integers(u.size)] = draw(st.sampled_from([1.0, -0.5, np.nan, np.inf, 2.0]))
        if choice == "int":
            u = np.zeros(shape, draw(st.sampled_from([np.int32, np.uint8, np.bool_])))
        return {"samples": Drawn(u, False)}
    if choice == "scalar" or (shape is None and choice in ("array", "edge", "outside", "int")):
        return {"samples": Drawn(draw(st.sampled_from([0.5, 0.0, 0.25, np.float32(0.75), np.asarray(0.1)])), False)}
    if choice == "wrong_shape":
        extra = draw(st.sampled_from([(1,), (2, 3), (1, 1, 1, 1), (0,)]))
        return {"samples": Drawn(np.full(extra, 0.5, np.float32), False)}
    if choice == "bad":
        return {"samples": Drawn(draw(st.sampled_from(["abc", b"\x00", {"a": 1}])), True)}
    if choice == "both":
        return {"key": Drawn(jax.random.key(0), False), "samples": Drawn(0.5, False)}
    if choice == "neither":
        return {}
    if choice == "bad_key":
        return {"key": Drawn(draw(st.sampled_from(
            [123, "abc", np.zeros(3, np.float32), jax.random.split(jax.random.key(1), 2)])), True)}
    return {"key": Drawn(jax.random.key(draw(st.integers(0, 2**31 - 1))), False)}


# ---- the ops: signature-ordered drawn kwargs, and a reference ----

WINDOW_OPS = {"max_pool": "max", "min_pool": "min", "sum_pool": "sum", "avg_pool": "avg", "lp_pool": "lp",
              "max_pool_with_indices": "max", "min_pool_with_indices": "min"}
MODULES = {"max_pool": "MaxPool", "min_pool": "MinPool", "sum_pool": "SumPool", "avg_pool": "AvgPool",
           "lp_pool": "LPPool", "adaptive_avg_pool": "AdaptiveAvgPool", "adaptive_max_pool": "AdaptiveMaxPool",
           "global_avg_pool": "GlobalAvgPool", "global_max_pool": "GlobalMaxPool", "blur_pool": "BlurPool",
           "fractional_max_pool": "FractionalMaxPool", "max_pool_with_indices": "MaxPoolWithIndices",
           "min_pool_with_indices": "MinPoolWithIndices"}
FUZZED = sorted(set(WINDOW_OPS) | set(MODULES) | {"pool_output_shape", "max_unpool"})


@st.composite
def op_call(draw, name: str) -> dict:
    """Draw the keyword arguments of ``name`` (after the array) and the input."""
    n = draw(st.sampled_from([1, 1, 2, 2, 3]))
    c = draw(st.booleans())  # clean: every argument from the ok pool, of the right form (mostly valid calls)
    kw: dict[str, Drawn] = {}
    if name in WINDOW_OPS or name == "pool_output_shape":
        if name == "lp_pool":
            p = draw(st.sampled_from([1, 2, 3, 1.5, np.float32(2.0)] + ["BAD"] * (not c)))
            kw["norm_type"] = Drawn(p, False) if not isinstance(p, str) else Drawn(
                draw(st.sampled_from([0.5, -1.0, math.inf, math.nan, 10**400, "2", None, True])), True)
        kw["window_shape"] = draw(size_arg(n, allow_none=False, clean=c))
        if draw(st.booleans()):
            kw["strides"] = draw(size_arg(n, allow_none=True, clean=c))
        if draw(st.booleans()):
            kw["padding"] = draw(padding_arg(n, clean=c))
        if draw(st.integers(0, 2)) == 0:
            kw["dilation"] = draw(size_arg(n, allow_none=True, hi=3, clean=c))
        if draw(st.integers(0, 2)) == 0:
            kw["ceil_mode"] = draw(flag_arg(c))
        if name == "avg_pool" and draw(st.booleans()):
            kw["count_include_pad"] = draw(flag_arg(c))
        if name == "avg_pool" and draw(st.integers(0, 2)) == 0:
            kw["divisor_override"] = draw(st.sampled_from([Drawn(3, False), Drawn(0, True), Drawn(-2, True),
                                                           Drawn(2**63, True), Drawn(1.5, True), Drawn(True, True)]))
    elif name in ("adaptive_avg_pool", "adaptive_max_pool", "max_unpool"):
        kw["output_size"] = draw(size_arg(n, allow_none=False, lo=-1, hi=5, none_entries=name != "max_unpool", clean=c))
        if name == "adaptive_max_pool" and draw(st.booleans()):
            kw["return_indices"] = draw(flag_arg(c))
        if name != "max_unpool" and isinstance(kw["output_size"].value, tuple) and draw(st.booleans()):
            sizes = list(kw["output_size"].value)
            if sizes:
                sizes[draw(st.integers(0, len(sizes) - 1))] = None
            kw["output_size"] = Drawn(tuple(sizes), kw["output_size"].bad)
    elif name in ("global_avg_pool", "global_max_pool"):
        if draw(st.booleans()):
            kw["num_spatial_dims"] = draw(st.sampled_from(
                [Drawn(None, False), Drawn(1, False), Drawn(2, False), Drawn(0, False), Drawn(np.int64(2), False),
                 Drawn(2**31, True), Drawn(2.0, True), Drawn(True, True), Drawn("2", True)]))
        if draw(st.booleans()):
            kw["keepdims"] = draw(flag_arg(c))
    elif name == "blur_pool":
        if draw(st.booleans()):
            kw["strides"] = draw(size_arg(n, allow_none=False, lo=0, hi=3, clean=c))
        if draw(st.booleans()):
            kw["filter_size"] = draw(st.sampled_from(
                [Drawn(v, False) for v in (1, 2, 3, 4, 5, 0, -1, np.int64(3))]
                + [Drawn(v, True) for v in (2**62, 2**31, 1025, 3.0, True, None, "3")]))
        if draw(st.booleans()):
            kw["padding"] = Drawn(draw(st.sampled_from(["reflect", "zero", "ZERO", "same", ""])), False)
        if draw(st.integers(0, 2)) == 0:
            kw["num_spatial_dims"] = draw(st.sampled_from(
                [Drawn(None, False), Drawn(1, False), Drawn(2, False), Drawn(0, False), Drawn(2**31, True)]))
    elif name == "fractional_max_pool":
        kw["window_shape"] = draw(size_arg(n, allow_none=False, hi=3, clean=c))
        which = draw(st.sampled_from(["size", "size", "ratio", "ratio"] + ["both", "neither"] * (not c)))
        if which in ("size", "both"):
            kw["output_size"] = draw(size_arg(n, allow_none=False, lo=-1, hi=5, clean=c))
        if which in ("ratio", "both"):
            kw["output_ratio"] = draw(ratio_arg(n, clean=c))
        if draw(st.booleans()):
            kw["return_indices"] = draw(flag_arg(c))
    if draw(st.booleans()):
        kw["channels_first"] = draw(flag_arg(c))
    foreign = draw(st.sampled_from(["kernel_size", "stride", "return_indices", "output_size"]))
    if not c and draw(st.integers(0, 9)) == 0 and foreign not in inspect.signature(getattr(jaxpool, name)).parameters:
        kw[foreign] = Drawn(2, True)  # a PyTorch spelling
    x, xnp = draw(inputs_arg(n, c))
    if name == "max_unpool":
        ishape = np.shape(xnp) if xnp is not None else (1, 2, 1)
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        idt = draw(st.sampled_from([np.int32, np.int64, np.int8, np.uint32, np.float32]))
        idx = rng.integers(-2, 40, size=ishape)
        if idx.size and draw(st.booleans()):
            idx.flat[0] = draw(st.sampled_from([2**32 + 1, 2**31, -(2**32)])) if idt in (np.int64,) else 3
        kw["indices"] = Drawn(idx.astype(idt), False)
    if name == "fractional_max_pool":
        kw.update(draw(fractional_randomness(n, xnp, kw, c)))
    if not c and name in ("pool_output_shape",) and xnp is not None and draw(st.integers(0, 4)) == 0:
        bad_shape = draw(st.sampled_from([(1, 5.9, 1), ("1", "6", "1"), "161", None, (1, -2, 1), (True, 3, 1)]))
        return {"name": name, "x": Drawn(bad_shape, True), "xnp": None, "kw": kw}
    return {"name": name, "x": x, "xnp": xnp, "kw": kw}


def _reference(name: str, xnp: np.ndarray, kw: dict):
    """The reference's result for ok arguments (raises ValueError/TypeError where it rejects them)."""
    if name in ("max_pool_with_indices", "min_pool_with_indices"):
        op = WINDOW_OPS[name]
        return pool_reference_exact(xnp, op, **kw), pool_reference_winners(xnp, op, **kw)
    if name in WINDOW_OPS:
        norm = kw.pop("norm_type", None)
        return pool_reference_exact(xnp, WINDOW_OPS[name], norm_type=norm, **kw)
    if name == "pool_output_shape":
        return pool_reference_output_shape(np.shape(xnp), **kw)
    if name in ("adaptive_avg_pool", "adaptive_max_pool"):
        op = "avg" if name == "adaptive_avg_pool" else "max"
        out = adaptive_reference(xnp, kw["output_size"], op, channels_first=kw.get("channels_first", False))
        if op == "max" and not kw.get("return_indices", False):
            out = out[0]
        return out
    if name in ("global_avg_pool", "global_max_pool"):
        cf = kw.get("channels_first", False)
        nsd = kw.get("num_spatial_dims")
        n = xnp.ndim - 2 if nsd is None else nsd
        if n < 1:
            raise ValueError("num_spatial_dims")
        out = adaptive_reference(xnp, (1,) * n, "avg" if name == "global_avg_pool" else "max", channels_first=cf)
        out = out if name == "global_avg_pool" else out[0]
        spatial = tuple(range(xnp.ndim - n, xnp.ndim)) if cf else tuple(range(xnp.ndim - 1 - n, xnp.ndim - 1))
        return out if kw.get("keepdims", False) else np.squeeze(out, spatial)
    if name == "blur_pool":
        return blur_reference(xnp, **kw)
    if name == "max_unpool":
        return unpool_reference(xnp, kw.pop("indices"), **kw)
    if name == "fractional_max_pool":
        if "key" in kw:  # the documented draw: jax.random.uniform(key, (*batch, features, N), float type)
            if "samples" in kw:
                raise ValueError("key and samples")
            key = kw.pop("key")
            n = next((len(v) for v in (kw.get("window_shape"), kw.get("output_size"), kw.get("output_ratio"))
                      if isinstance(v, tuple)), xnp.ndim - 2)
            if n < 1 or xnp.ndim < n + 1:
                raise ValueError("rank")
            cf = kw.get("channels_first", False)
            feat = xnp.ndim - n - 1 if cf else xnp.ndim - 1
            dtype = result_dtype(xnp.dtype, "max")
            dtype = dtype if jnp.issubdtype(dtype, jnp.floating) else np.dtype(np.float32)
            kw["samples"] = np.asarray(jax.random.uniform(key, xnp.shape[: xnp.ndim - n - 1] + (xnp.shape[feat], n),
                                                          dtype))
        if "samples" not in kw:
            raise ValueError("neither key nor samples")
        return fractional_reference(xnp, **kw)
    raise AssertionError(name)


def _call(name: str, style: str, x, kw: dict):
    fn = getattr(jaxpool, name)
    if style == "function" or name not in MODULES:
        if name == "max_unpool":
            kw = dict(kw)
            return fn(x, kw.pop("indices"), **kw)
        return fn(x, **kw)
    module = getattr(jpl if style == "linen" else jpn, MODULES[name])
    if name == "fractional_max_pool":  # evaluation mode: every sample 0.5, no RNG
        m = module(**kw)
        return m.apply({}, x, deterministic=True) if style == "linen" else m(x, deterministic=True)
    m = module(**kw)
    return m.apply({}, x) if style == "linen" else m(x)


def _compare(name: str, got, want, xnp: np.ndarray, kw: dict) -> None:
    if isinstance(want, tuple) and name != "pool_output_shape":
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _compare(name, g, w, xnp, kw)
        return
    if name == "pool_output_shape":
        assert got == want, (got, want)
        return
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype == np.int64 and got.dtype == np.int32:  # indices
        np.testing.assert_array_equal(got, want)
        return
    op = {"adaptive_avg_pool": "avg", "global_avg_pool": "avg", "blur_pool": "avg"}.get(name)
    op = op or WINDOW_OPS.get(name, "max")
    expected_dtype = result_dtype(xnp.dtype, op) if name != "max_unpool" else jax.dtypes.canonicalize_dtype(
        xnp.dtype)
    assert got.dtype == expected_dtype, (got.dtype, expected_dtype)
    if not jnp.issubdtype(got.dtype, jnp.inexact):
        np.testing.assert_array_equal(got, want.astype(got.dtype))
        return
    eps = float(jnp.finfo(got.dtype).eps)
    scale = 1.0 + np.nanmax(np.abs(np.where(np.isfinite(xnp.astype(np.float64)), xnp, 0)), initial=0.0)
    terms = 1 + int(np.prod(xnp.shape)) if xnp.size else 1
    tol = 4 * eps * scale * min(terms, 4096)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=4 * eps, atol=tol,
                               equal_nan=True)


def _names_an_argument(message: str, name: str, kw: dict) -> bool:
    fn = getattr(jaxpool, name)
    names = set(inspect.signature(fn).parameters) | set(kw)
    return any(re.search(rf"\b{re.escape(a)}\b", message) for a in names)


def run_example(case: dict, style: str) -> str:
    """Call once, classify ('value': checked against the reference; 'error': clean) or fail; keep the counts."""
    try:
        return _run_example(case, style)
    finally:
        _write_counts()


def _write_counts() -> None:
    path = os.environ.get("JAXPOOL_FUZZ_REPORT")
    if path:
        with open(path, "w") as fh:
            json.dump(dict(COUNTS), fh, indent=1)


def _run_example(case: dict, style: str) -> str:
    name, x, xnp = case["name"], case["x"], case["xnp"]
    if name == "fractional_max_pool" and "key" in case["kw"]:
        style = "function"
    if name == "fractional_max_pool" and style != "function":  # modules in evaluation mode draw no samples
        case = dict(case, kw={k: d for k, d in case["kw"].items() if k != "samples"})
    if name == "pool_output_shape":
        x = Drawn(np.shape(xnp) if xnp is not None else (1, 4, 1), False) if not case["x"].bad else case["x"]
    kw = {k: d.value for k, d in case["kw"].items()}
    bad = x.bad or any(d.bad for d in case["kw"].values())
    if name not in MODULES or "indices" in kw:
        style = "function"
    COUNTS["calls"] += 1
    with hang_guard(HANG_BOUND_S):
        try:
            got = _call(name, style, x.value, kw)
            outcome = None
        except (TypeError, ValueError) as err:
            outcome = err
        except Exception as err:  # noqa: BLE001  anything else is a finding
            COUNTS["other"] += 1
            raise AssertionError(f"{name} ({style}) raised {type(err).__name__}: {err}") from err
    if outcome is not None:
        msg = str(outcome)
        if not _names_an_argument(msg, name, kw):
            COUNTS["other"] += 1
            raise AssertionError(f"{name} ({style}) error names no argument: {type(outcome).__name__}: {msg}")
        if not bad:
            ref_kw = {k: _plain(v) for k, v in kw.items()}
            if name == "fractional_max_pool" and style != "function":
                ref_kw["samples"] = 0.5
            try:
                _reference(name, xnp, ref_kw)
            except (TypeError, ValueError):
                pass
            else:
                COUNTS["other"] += 1
                raise AssertionError(f"{name} ({style}) rejected a call the reference accepts: {msg}")
        COUNTS["clean errors"] += 1
        COUNTS[f"clean errors: {name} ({style})"] += 1
        return "error"
    if bad:
        COUNTS["other"] += 1
        raise AssertionError(f"{name} ({style}) accepted a bad value: {case}")
    ref_kw = {k: _plain(v) for k, v in kw.items()}
    if name == "fractional_max_pool" and style != "function":
        ref_kw["samples"] = 0.5
    try:
        want = _reference(name, xnp, ref_kw)
    except (TypeError, ValueError) as err:
        COUNTS["other"] += 1
        raise AssertionError(f"{name} ({style}) accepted what the reference rejects ({err})") from err
    _compare(name, got, want, xnp, kw)
    COUNTS["valid results checked"] += 1
    COUNTS[f"valid results checked: {name} ({style})"] += 1
    return "value"


def _examples() -> int:
    return max(4, settings().max_examples // 4)


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    text = ", ".join(f"{k}: {COUNTS[k]}" for k in ("calls", "valid results checked", "clean errors", "other"))
    print(f"\nfuzz outcomes: {text}")
    _write_counts()


def test_every_public_function_is_fuzzed():
    missing = sorted(set(jaxpool.__all__) - set(FUZZED))
    assert not missing, f"public functions without a fuzz case: {missing}; add them to tests/test_fuzz.py"
    for fn_name, module_name in MODULES.items():
        assert hasattr(jpl, module_name) and hasattr(jpn, module_name), fn_name


@pytest.mark.parametrize("name", FUZZED)
def test_fuzz(name):
    @settings(max_examples=_examples())
    @given(case=op_call(name), style=st.sampled_from(["function", "function", "linen", "nnx"]))
    def check(case, style):
        run_example(case, style)

    check()
