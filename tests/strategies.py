"""Hypothesis strategies that generate small pooling problems for the value/gradient/oracle tests.

``pool_cases(...)`` draws a ``PoolCase``: an op, float64 data (small-integer values, so ties are
common; or with NaN/inf entries; or tie-free), and every argument of docs/semantics.md §1–3 in every accepted
spelling (ints, tuples, lists, ``None`` defaults, padding strings in any case, ints, per-dim ints,
(low, high) pairs), N in {1, 2, 3}, 0–2 batch axes, either layout, dilation, ceil_mode (explicit
padding only),
count_include_pad and divisor_override. Invalid combinations are filtered with the reference's own
geometry (output ≥ 1 per dim, every window samples an input position). Keyword switches restrict the
space to what an oracle (torch, flax) supports.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from reference import OPS, RefGeometry, reference_geometry

import jaxpool

PADDING_FORMS = ("VALID", "SAME", "SAME_LOWER", "int", "ints", "pairs")
DATA_KINDS = ("ties", "nan", "inf", "distinct", "positive", "nonneg")
MAX_SIZE = {1: 9, 2: 6, 3: 4}  # spatial extent per dim, keeps the brute force fast
LP_NORMS = (1.0, 1.5, 2.0, 3.0, 4.0)


@dataclasses.dataclass
class PoolCase:
    """One pooling problem: op, data (float64, cast by the test) and the op's arguments."""

    op: str
    x: np.ndarray
    window_shape: object
    strides: object = None
    padding: object = "VALID"
    dilation: object = None
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None
    channels_first: bool = False
    norm_type: float | None = None
    seed: int = 0

    def geometry_kwargs(self) -> dict:
        """Arguments shared by every op and pool_output_shape (keyword form)."""
        return {"window_shape": self.window_shape, "strides": self.strides,
                "padding": self.padding, "dilation": self.dilation, "ceil_mode": self.ceil_mode,
                "channels_first": self.channels_first}

    def ref_kwargs(self) -> dict:
        """Keyword arguments for the reference functions (after ``x, op`` / ``x, ct, op``)."""
        return dict(self.geometry_kwargs(), count_include_pad=self.count_include_pad,
                    divisor_override=self.divisor_override, norm_type=self.norm_type)

    def geometry(self) -> RefGeometry:
        return reference_geometry(self.x.shape, self.window_shape, self.strides, self.padding,
                                  dilation=self.dilation, ceil_mode=self.ceil_mode,
                                  channels_first=self.channels_first)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                           if f.name != "x")
        return (f"PoolCase({fields}, x.shape={self.x.shape},\n  "
                f"x=np.array({self.x.tolist()!r}))")


FNS = {"max": jaxpool.max_pool, "min": jaxpool.min_pool, "sum": jaxpool.sum_pool,
       "avg": jaxpool.avg_pool, "lp": jaxpool.lp_pool}  # op name -> jaxpool function


def call(case: PoolCase, x):
    """The jaxpool op of ``case`` on ``x``, arguments spelled as the case spells them."""
    kw = {"dilation": case.dilation, "ceil_mode": case.ceil_mode,
          "channels_first": case.channels_first}
    args = (case.window_shape, case.strides, case.padding)
    if case.op == "avg":
        return jaxpool.avg_pool(x, *args, case.count_include_pad,
                                divisor_override=case.divisor_override, **kw)
    if case.op == "lp":
        return jaxpool.lp_pool(x, case.norm_type, *args, **kw)
    return FNS[case.op](x, *args, **kw)


def make_data(rng: np.random.Generator, shape: tuple, kind: str) -> np.ndarray:
    """Float64 data of one kind: ties (ints in [-3, 3]), nan, inf, distinct, positive, nonneg."""
    size = int(np.prod(shape))
    if kind == "distinct":
        return (rng.permutation(size).astype(np.float64) - size // 2).reshape(shape) * 0.5
    if kind == "positive":
        return rng.integers(1, 5, size=shape).astype(np.float64)
    if kind == "nonneg":
        return rng.integers(0, 4, size=shape).astype(np.float64)
    x = rng.integers(-3, 4, size=shape).astype(np.float64)
    if kind == "nan":
        x[rng.random(shape) < 0.25] = np.nan
    elif kind == "inf":
        u = rng.random(shape)
        x[u < 0.15] = -np.inf
        x[(u >= 0.15) & (u < 0.25)] = np.inf
    return x


def ties_and_specials(shape: tuple, seed: int) -> np.ndarray:
    """Float32 values from {-1, 0, 1, 2} (most windows tie) with two NaN, two +inf and two -inf entries."""
    rng = np.random.default_rng(seed)
    flat = rng.integers(-1, 3, shape).astype(np.float32).reshape(-1)
    for value, count in ((np.nan, 2), (np.inf, 2), (-np.inf, 2)):
        flat[rng.choice(flat.size, count, replace=False)] = value
    return flat.reshape(shape)


def _spell(draw, values: tuple, *, allow_int: bool, allow_none_if: int | None = None):
    """One accepted spelling of a per-dim argument: None (all default), int, tuple or list
    (``allow_int=False``: tuple or None only, as Flax accepts)."""
    forms = ["tuple", "list"] if allow_int else ["tuple"]
    if allow_int and len(set(values)) == 1:
        forms.append("int")
    if allow_none_if is not None and all(v == allow_none_if for v in values):
        forms.append("none")
    form = draw(st.sampled_from(forms))
    return {"none": None, "int": values[0], "tuple": tuple(values), "list": list(values)}[form]


def _padding(draw, form: str, window: tuple, dil: tuple, max_pad) -> object:
    if form in ("VALID", "SAME", "SAME_LOWER"):
        return draw(st.sampled_from([form, form.lower()]))
    limits = [max_pad(w, d) for w, d in zip(window, dil, strict=True)]
    if form == "int":
        return draw(st.integers(0, min(limits)))
    if form == "ints":
        vals = [draw(st.integers(0, lim)) for lim in limits]
        return draw(st.sampled_from([tuple(vals), list(vals)]))
    return tuple((draw(st.integers(0, lim)), draw(st.integers(0, lim))) for lim in limits)


@st.composite
def pool_cases(draw, *, ops=OPS, data=("ties", "nan", "inf"), ns=(1, 2, 3),
               paddings=PADDING_FORMS, dilation=True, ceil_mode=True, batch_dims=(0, 1, 2),
               layouts=(False, True), max_pad=lambda w, d: d * (w - 1), int_args=True,
               divisor_override=True, max_window=3, max_stride=3, lp_norms=LP_NORMS,
               no_overhang=False) -> PoolCase:
    """A valid pooling problem drawn from the space the keyword switches allow.

    ``data`` kinds are filtered per op: "nan" only for max/min/sum/avg, "inf" only for max/min;
    lp with a non-integer norm gets non-negative data. ``max_pad(window, dilation)`` bounds explicit
    padding per side (default: effective window - 1; torch allows window // 2); ``int_args=False``
    spells window/strides as tuples (Flax); ``no_overhang`` rejects ceil_mode windows that reach
    past the padded input (torch's lp_pool).
    """
    op = draw(st.sampled_from(ops))
    n = draw(st.sampled_from(ns))
    window = tuple(draw(st.integers(1, max_window)) for _ in range(n))
    strides = tuple(draw(st.integers(1, max_stride)) for _ in range(n))
    dil = tuple(draw(st.integers(1, 2)) if dilation else 1 for _ in range(n))
    eff = tuple(d * (w - 1) + 1 for w, d in zip(window, dil, strict=True))
    sizes = tuple(draw(st.integers(1, MAX_SIZE[n])) for _ in range(n))
    pad_form = draw(st.sampled_from(paddings))
    padding = _padding(draw, pad_form, window, dil, max_pad)
    ceil = ceil_mode and pad_form in ("int", "ints", "pairs") and draw(st.booleans())
    nb = draw(st.sampled_from(batch_dims))
    batch = tuple(draw(st.integers(1, 2)) for _ in range(nb))
    feats = draw(st.integers(1, 2 if nb < 2 else 1))
    channels_first = draw(st.sampled_from(layouts))

    window_arg = _spell(draw, window, allow_int=int_args)
    strides_arg = _spell(draw, strides, allow_int=int_args, allow_none_if=1)
    dil_arg = _spell(draw, dil, allow_int=True, allow_none_if=1) if dilation else None
    spelled = (window_arg, strides_arg, dil_arg)
    if not any(isinstance(a, (tuple, list)) for a in spelled) and nb != 1:
        window_arg = tuple(window)  # all ints means N = ndim - 2; make the tuple set N instead

    kinds = [k for k in data if not (k == "nan" and op == "lp") and
             not (k == "inf" and op not in ("max", "min"))] or ["ties"]
    kind = draw(st.sampled_from(kinds))
    norm = None
    if op == "lp":
        norm = draw(st.sampled_from(lp_norms))
        if norm != int(norm) and kind not in ("positive", "nonneg", "distinct"):
            kind = "nonneg"
    shape = batch + ((feats,) + sizes if channels_first else sizes + (feats,))
    seed = draw(st.integers(0, 2**32 - 1))
    x = make_data(np.random.default_rng(seed), shape, kind)
    if op == "lp" and kind == "distinct" and norm != int(norm):
        x = np.abs(x)
    case = PoolCase(op, x, window_arg, strides_arg, padding, dil_arg, ceil, seed=seed,
                    channels_first=channels_first, norm_type=norm)
    if op == "avg":
        case.count_include_pad = draw(st.booleans())
        if divisor_override and draw(st.integers(0, 4)) == 0:
            case.divisor_override = draw(st.integers(1, 5))
    try:
        geom = case.geometry()
    except ValueError:
        assume(False)
    if no_overhang and ceil:
        assume(all((o - 1) * s + e <= size + lo + hi for o, s, e, size, (lo, hi)
                   in zip(geom.out, geom.strides, eff, geom.sizes, geom.pads, strict=True)))
    return case


@contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    """Fail with TimeoutError (instead of hanging the suite) if the block runs longer than ``seconds`` of wall
    time; a bound on hangs, not a timing assertion."""

    def expired(signum, frame):
        raise TimeoutError(f"call ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
