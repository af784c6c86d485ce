"""Brute-force NumPy reference for jaxpool's pooling ops — the oracle the tests trust.

Written from docs/semantics.md §1–4 alone and independent of jaxpool's code: its own argument normalisation
and window arithmetic, explicit Python loops over every output position and every window offset
(vectorised only over the (sample, channel) planes), float64 accumulation, and one cast to the semantics contract's
result dtype at the end.

- ``pool_reference(x, op, ...)``: op in {"max", "min", "sum", "avg", "lp"}; the semantics contract's result dtype.
- ``pool_reference_exact(x, op, ...)``: the same in float64 before the final cast (ulp tolerances).
- ``pool_reference_winners(x, op, ...)``: max/min only; flat row-major index of the selected element
  within the unpadded spatial extent of its own plane (PyTorch's ``return_indices``), int64.
- ``pool_reference_vjp(x, cotangent, op, ...)``: brute-force gradient, float64, shape of ``x``.
- ``pool_reference_output_shape(input_shape, window_shape, ...)`` and ``reference_geometry(...)``.
- ``adaptive_reference``, ``blur_reference``, ``unpool_reference``: docs/semantics.md §5's other ops, by loops over
bins,
  filter taps and indices.

Import it as ``from reference import ...`` (pytest puts tests/ on sys.path).

Invalid arguments raise ValueError (TypeError for complex inputs); the strategies filter on that.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

OPS = ("max", "min", "sum", "avg", "lp")
CHANNELS_LAST_LAYOUT = "(*batch, *spatial, features)"
CHANNELS_FIRST_LAYOUT = "(*batch, features, *spatial)"


@dataclasses.dataclass(frozen=True)
class RefGeometry:
    """Normalised pooling geometry: N, axes, per-dim sizes/window/strides/dilation/pads, output."""

    n: int
    channels_first: bool
    batch_axes: tuple
    spatial_axes: tuple
    feature_axis: int
    sizes: tuple
    window: tuple
    strides: tuple
    dilation: tuple
    pads: tuple
    out: tuple
    output_shape: tuple


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _per_dim(value, n: int, name: str, default: int | None) -> tuple:
    if value is None:
        return (default,) * n
    vals = (value,) * n if _is_int(value) else tuple(value)
    if len(vals) != n or not all(_is_int(v) and v >= 1 for v in vals):
        raise ValueError(f"{name} must be a positive int or {n} positive ints, got {value!r}")
    return tuple(int(v) for v in vals)


def _pads(padding, sizes, window, strides, dilation, ceil_mode) -> tuple:
    n = len(sizes)
    if isinstance(padding, str):
        mode = padding.upper()
        if mode not in ("VALID", "SAME", "SAME_LOWER"):
            raise ValueError(f"padding string must be VALID, SAME or SAME_LOWER, got {padding!r}")
        if ceil_mode:
            raise ValueError(f"ceil_mode=True needs explicit padding, got padding={padding!r}")
        if mode == "VALID":
            return ((0, 0),) * n
        pads = []
        for size, w, s, d in zip(sizes, window, strides, dilation, strict=True):
            eff = d * (w - 1) + 1
            total = max((-(-size // s) - 1) * s + eff - size, 0)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if mode == "SAME" else (big, small))
        return tuple(pads)
    if _is_int(padding):
        pads = ((int(padding), int(padding)),) * n
    else:
        items = tuple(padding)
        if len(items) != n:
            raise ValueError(f"padding needs {n} entries, got {padding!r}")
        pads = []
        for item in items:
            if _is_int(item):
                pads.append((int(item), int(item)))
            elif len(tuple(item)) == 2 and all(_is_int(v) for v in item):
                pads.append(tuple(int(v) for v in item))
            else:
                raise ValueError(f"malformed padding entry {item!r} in padding={padding!r}")
        pads = tuple(pads)
    if any(v < 0 for pair in pads for v in pair):
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return pads


def reference_geometry(input_shape, window_shape, strides=None, padding="VALID", *, dilation=None,
                       ceil_mode=False, channels_first=False) -> RefGeometry:
    """Normalise and validate the arguments (docs/semantics.md §1–3); ValueError for anything invalid."""
    ndim = len(input_shape)
    tuples = [v for v in (window_shape, strides, dilation) if v is not None and not _is_int(v)]
    n = len(tuple(tuples[0])) if tuples else ndim - 2
    if n < 1 or ndim < n + 1:
        raise ValueError(f"window_shape {window_shape!r} needs an input of rank >= N + 1 laid out "
                         f"{CHANNELS_FIRST_LAYOUT if channels_first else CHANNELS_LAST_LAYOUT}, "
                         f"got rank {ndim}")
    window = _per_dim(window_shape, n, "window_shape", None)
    stride = _per_dim(strides, n, "strides", 1)
    dil = _per_dim(dilation, n, "dilation", 1)
    nb = ndim - n - 1
    spatial_axes = tuple(range(nb + 1, ndim)) if channels_first else tuple(range(nb, nb + n))
    feature_axis = nb if channels_first else ndim - 1
    sizes = tuple(int(input_shape[a]) for a in spatial_axes)
    pads = _pads(padding, sizes, window, stride, dil, ceil_mode)
    out = []
    for d in range(n):
        lo, hi = pads[d]
        eff = dil[d] * (window[d] - 1) + 1
        span = sizes[d] + lo + hi - eff
        if ceil_mode:
            o = -(-span // stride[d]) + 1
            if (o - 1) * stride[d] >= sizes[d] + lo:
                o -= 1
        else:
            o = span // stride[d] + 1
        if o < 1:
            raise ValueError(f"empty output in spatial dim {d}: size {sizes[d]}, "
                             f"effective window {eff}")
        for i in range(o):
            if not any(0 <= i * stride[d] + k * dil[d] - lo < sizes[d] for k in range(window[d])):
                raise ValueError(f"window {i} of dim {d} samples only padding (padding/dilation)")
        out.append(o)
    out_shape = list(input_shape)
    for a, o in zip(spatial_axes, out, strict=True):
        out_shape[a] = o
    return RefGeometry(n, bool(channels_first), tuple(range(nb)), spatial_axes, feature_axis, sizes,
                       window, stride, dil, pads, tuple(out), tuple(int(v) for v in out_shape))


def pool_reference_output_shape(input_shape, window_shape, strides=None, padding="VALID", *,
                                dilation=None, ceil_mode=False, channels_first=False) -> tuple:
    """Full output shape by the reference's own geometry (docs/semantics.md §2)."""
    return reference_geometry(tuple(input_shape), window_shape, strides, padding, dilation=dilation,
                              ceil_mode=ceil_mode, channels_first=channels_first).output_shape


def result_dtype(dtype, op: str) -> np.dtype:
    """docs/semantics.md §3 result dtype: max/min keep it; sum follows jnp.sum, avg/lp follow jnp.mean."""
    dtype = jax.dtypes.canonicalize_dtype(np.dtype(dtype))
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"complex inputs are not supported, got dtype {dtype}")
    if op in ("max", "min"):
        return np.dtype(dtype)
    reducer = jnp.sum if op == "sum" else jnp.mean
    return np.dtype(jax.eval_shape(reducer, jax.ShapeDtypeStruct((1,), dtype)).dtype)


def _to_planes(x: np.ndarray, geom: RefGeometry) -> np.ndarray:
    """(*batch, *spatial, C) or (*batch, C, *spatial) -> (planes, *spatial)."""
    perm = list(geom.batch_axes) + [geom.feature_axis] + list(geom.spatial_axes)
    return np.transpose(x, perm).reshape((-1,) + geom.sizes)


def _from_planes(planes: np.ndarray, geom: RefGeometry, x_shape: tuple, spatial: tuple):
    """Inverse of _to_planes, with ``spatial`` as the spatial extent."""
    batch = tuple(x_shape[a] for a in geom.batch_axes)
    feats = x_shape[geom.feature_axis]
    y = planes.reshape(batch + (feats,) + spatial)
    if not geom.channels_first:
        y = np.moveaxis(y, len(batch), -1)
    return y


def _windows(geom: RefGeometry):
    """Yield (output index, [(input index or None, inside padded extent), ...]), row-major."""
    for o in itertools.product(*(range(n) for n in geom.out)):
        taps = []
        for k in itertools.product(*(range(w) for w in geom.window)):
            pos = tuple(o[d] * geom.strides[d] + k[d] * geom.dilation[d] - geom.pads[d][0]
                        for d in range(geom.n))
            inside = all(0 <= pos[d] < geom.sizes[d] for d in range(geom.n))
            in_padded = all(-geom.pads[d][0] <= pos[d] < geom.sizes[d] + geom.pads[d][1]
                            for d in range(geom.n))
            taps.append((pos if inside else None, in_padded))
        yield o, taps


def _geometry(x, kw) -> RefGeometry:
    return reference_geometry(np.shape(x), kw["window_shape"], kw["strides"], kw["padding"],
                              dilation=kw["dilation"], ceil_mode=kw["ceil_mode"],
                              channels_first=kw["channels_first"])


def _select(planes: np.ndarray, geom: RefGeometry, op: str):
    """Max/min winners per plane: (values (P, *out), flat indices (P, *out)) by docs/semantics.md §3–4."""
    floating = jnp.issubdtype(planes.dtype, jnp.floating)
    work = planes.astype(np.float64) if floating else planes.astype(np.int64)
    if planes.dtype == np.uint64:
        work = planes
    vals = np.zeros((work.shape[0],) + geom.out, dtype=work.dtype)
    idx = np.zeros((work.shape[0],) + geom.out, dtype=np.int64)
    for o, taps in _windows(geom):
        best = None
        best_i = None
        for pos, _ in taps:
            if pos is None:
                continue  # padding and ceil overhang never win
            v = work[(slice(None),) + pos]
            flat = np.ravel_multi_index(pos, geom.sizes)
            if best is None:
                best, best_i = v.copy(), np.full(v.shape, flat, dtype=np.int64)
                continue
            better = v > best if op == "max" else v < best
            if floating:
                better = ~np.isnan(best) & (np.isnan(v) | better)
            best = np.where(better, v, best)
            best_i = np.where(better, flat, best_i)
        vals[(slice(None),) + o] = best
        idx[(slice(None),) + o] = best_i
    return vals, idx


def _check_op(op: str, norm_type) -> None:
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if op == "lp" and (norm_type is None or not np.isfinite(norm_type) or norm_type < 1):
        raise ValueError(f"norm_type must be a finite float >= 1 for lp, got {norm_type!r}")


def _divisor(taps, op: str, count_include_pad: bool, divisor_override) -> float:
    if op != "avg":
        return 1.0
    if divisor_override is not None:
        return float(divisor_override)
    if count_include_pad:
        return float(sum(1 for _, in_padded in taps if in_padded))
    return float(sum(1 for pos, _ in taps if pos is not None))


def pool_reference_exact(x, op, window_shape, strides=None, padding="VALID", *, dilation=None,
                         ceil_mode=False, count_include_pad=True, divisor_override=None,
                         channels_first=False, norm_type=None) -> np.ndarray:
    """Pooled values in float64 (ints exactly as int64 for max/min/sum), before the final cast."""
    x = np.asarray(x)
    _check_op(op, norm_type)
    result_dtype(x.dtype, op)
    geom = _geometry(x, locals())
    planes = _to_planes(x, geom)
    if op in ("max", "min"):
        vals, _ = _select(planes, geom, op)
        return _from_planes(vals, geom, x.shape, geom.out)
    integer = not jnp.issubdtype(planes.dtype, jnp.floating)
    work = planes.astype(np.int64 if (integer and op == "sum") else np.float64)
    out = np.zeros((work.shape[0],) + geom.out, dtype=work.dtype)
    for o, taps in _windows(geom):
        acc = np.zeros(work.shape[0], dtype=work.dtype)
        for pos, _ in taps:
            if pos is not None:
                v = work[(slice(None),) + pos]
                acc = acc + (v ** norm_type if op == "lp" else v)
        if op == "lp":
            acc = np.sign(acc) * np.abs(acc) ** (1.0 / norm_type)
        elif op == "avg":
            acc = acc / _divisor(taps, op, count_include_pad, divisor_override)
        out[(slice(None),) + o] = acc
    return _from_planes(out, geom, x.shape, geom.out)


def pool_reference(x, op, window_shape, strides=None, padding="VALID", *, dilation=None,
                   ceil_mode=False, count_include_pad=True, divisor_override=None,
                   channels_first=False, norm_type=None) -> np.ndarray:
    """Pooled values with docs/semantics.md §3's result dtype (computed in float64, cast once at the end)."""
    x = np.asarray(x)
    exact = pool_reference_exact(
        x, op, window_shape, strides, padding, dilation=dilation, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad, divisor_override=divisor_override,
        channels_first=channels_first, norm_type=norm_type)
    return np.asarray(exact).astype(result_dtype(x.dtype, op))


def pool_reference_winners(x, op, window_shape, strides=None, padding="VALID", *, dilation=None,
                           ceil_mode=False, count_include_pad=True, divisor_override=None,
                           channels_first=False, norm_type=None) -> np.ndarray:
    """Flat row-major index (within the unpadded extent of its plane) of each selected element."""
    del count_include_pad, divisor_override, norm_type
    if op not in ("max", "min"):
        raise ValueError(f"winners exist for op 'max' or 'min' only, got {op!r}")
    x = np.asarray(x)
    geom = _geometry(x, locals())
    _, idx = _select(_to_planes(x, geom), geom, op)
    return _from_planes(idx, geom, x.shape, geom.out)


def pool_reference_vjp(x, cotangent, op, window_shape, strides=None, padding="VALID", *,
                       dilation=None, ceil_mode=False, count_include_pad=True,
                       divisor_override=None, channels_first=False, norm_type=None) -> np.ndarray:
    """Brute-force gradient of sum(pool(x) * cotangent) with respect to x, float64 (docs/semantics.md §4).

    lp: ``|s|^(1/p - 1) * x^(p - 1)`` per sampled element, 0 where the window sum s is 0 and p > 1
    (the derivative is infinite there); for p = 1 the op is the window sum and its gradient is 1.
    """
    x = np.asarray(x)
    _check_op(op, norm_type)
    geom = _geometry(x, locals())
    planes = _to_planes(x, geom)
    ct = np.asarray(cotangent, dtype=np.float64)
    if ct.shape != geom.output_shape:
        raise ValueError(f"cotangent shape {ct.shape} != output shape {geom.output_shape}")
    ct_planes = _to_planes_out(ct, geom)
    grad = np.zeros(planes.shape, dtype=np.float64)
    rows = np.arange(planes.shape[0])
    if op in ("max", "min"):
        _, idx = _select(planes, geom, op)
        flat_grad = grad.reshape(planes.shape[0], -1)
        for o in itertools.product(*(range(n) for n in geom.out)):
            flat_grad[rows, idx[(slice(None),) + o]] += ct_planes[(slice(None),) + o]
        return _from_planes(grad, geom, x.shape, geom.sizes)
    xf = planes.astype(np.float64)
    for o, taps in _windows(geom):
        c = ct_planes[(slice(None),) + o]
        inside = [pos for pos, _ in taps if pos is not None]
        if op == "lp":
            s = sum(xf[(slice(None),) + pos] ** norm_type for pos in inside)
            with np.errstate(divide="ignore", invalid="ignore"):
                # d/ds sign(s)|s|^(1/p) is infinite at s = 0 for p > 1: docs/semantics.md §4 makes it 0 there;
                # for p = 1 the op is the window sum, whose derivative is 1 everywhere.
                scale = np.where((s == 0) & (norm_type > 1), 0.0,
                                 np.abs(s) ** (1.0 / norm_type - 1.0))
            for pos in inside:
                xp = xf[(slice(None),) + pos]
                grad[(slice(None),) + pos] += c * scale * xp ** (norm_type - 1)
        else:
            div = _divisor(taps, op, count_include_pad, divisor_override)
            for pos in inside:
                grad[(slice(None),) + pos] += c / div
    return _from_planes(grad, geom, x.shape, geom.sizes)


def _to_planes_out(y: np.ndarray, geom: RefGeometry) -> np.ndarray:
    perm = list(geom.batch_axes) + [geom.feature_axis] + list(geom.spatial_axes)
    return np.transpose(y, perm).reshape((-1,) + geom.out)


# ---- adaptive, global, blur pooling and unpooling (docs/semantics.md §5), same style: loops over outputs, float64 ----

def _layout_axes(ndim: int, n: int, channels_first: bool) -> tuple:
    if n < 1 or ndim < n + 1:
        raise ValueError(f"{n} spatial dims need an input of rank >= {n + 1}, got rank {ndim}")
    nb = ndim - n - 1
    spatial = tuple(range(nb + 1, ndim)) if channels_first else tuple(range(nb, nb + n))
    return tuple(range(nb)), spatial, (nb if channels_first else ndim - 1)


def _planes(x: np.ndarray, batch: tuple, feature: int, spatial: tuple) -> np.ndarray:
    count = math.prod(x.shape[a] for a in batch) * x.shape[feature]
    return np.transpose(x, list(batch) + [feature] + list(spatial)).reshape(
        (count,) + tuple(x.shape[a] for a in spatial))


def _unplanes(planes: np.ndarray, x_shape: tuple, batch: tuple, feature: int, channels_first: bool,
              spatial_out: tuple) -> np.ndarray:
    y = planes.reshape(tuple(x_shape[a] for a in batch) + (x_shape[feature],) + spatial_out)
    return y if channels_first else np.moveaxis(y, len(batch), -1)


def adaptive_reference(x, output_size, op: str, *, channels_first: bool = False):
    """Adaptive pooling by loops over output bins (PyTorch's bins ``[floor(i*L/o), ceil((i+1)*L/o))``).

    op "avg" -> values (jnp.mean's dtype); "max"/"min" -> (values in x's dtype, int64 flat indices of the
    first extreme element in row-major bin order, the first NaN winning).
    """
    x = np.asarray(x)
    result_dtype(x.dtype, "avg")
    if _is_int(output_size):
        sizes = (int(output_size),) * (x.ndim - 2)
    else:
        sizes = tuple(output_size)
    if not all(o is None or (_is_int(o) and o >= 1) for o in sizes) or not sizes:
        raise ValueError(f"output_size must hold positive ints or None, got {output_size!r}")
    batch, spatial, feature = _layout_axes(x.ndim, len(sizes), channels_first)
    lengths = tuple(x.shape[a] for a in spatial)
    if min(lengths) < 1:
        raise ValueError(f"empty spatial dim in shape {x.shape}")
    outs = tuple(L if o is None else int(o) for L, o in zip(lengths, sizes, strict=True))
    planes = _planes(x, batch, feature, spatial)
    floating = jnp.issubdtype(x.dtype, jnp.floating)
    vals = np.zeros((planes.shape[0],) + outs, np.float64 if op == "avg" else planes.dtype)
    idx = np.zeros((planes.shape[0],) + outs, np.int64)
    for o in itertools.product(*(range(v) for v in outs)):
        box = tuple(slice(i * L // v, -(-(i + 1) * L // v)) for i, L, v in zip(o, lengths, outs, strict=True))
        sub = planes[(slice(None),) + box]
        flat = sub.reshape(sub.shape[0], math.prod(sub.shape[1:]))
        where = (slice(None),) + o
        if op == "avg":
            vals[where] = flat.astype(np.float64).mean(axis=1)
            continue
        work = flat.astype(np.float64) if floating else flat.astype(np.int64)
        k = np.argmax(work, axis=1) if op == "max" else np.argmin(work, axis=1)
        if floating:
            nan = np.isnan(work)
            k = np.where(nan.any(axis=1), np.argmax(nan, axis=1), k)
        vals[where] = flat[np.arange(flat.shape[0]), k]
        pos = np.unravel_index(k, sub.shape[1:])
        idx[where] = np.ravel_multi_index(tuple(p + b.start for p, b in zip(pos, box, strict=True)), lengths)
    if op == "avg":
        out = _unplanes(vals, x.shape, batch, feature, channels_first, outs)
        return out.astype(result_dtype(x.dtype, "avg"))
    return (_unplanes(vals, x.shape, batch, feature, channels_first, outs),
            _unplanes(idx, x.shape, batch, feature, channels_first, outs))


def blur_reference(x, strides=2, filter_size=4, *, padding="reflect", channels_first=False,
                   num_spatial_dims=None) -> np.ndarray:
    """Zhang's blur pooling by loops: pad ((f-1)//2, f//2), binomial weights, subsample (jnp.mean's dtype)."""
    from math import comb

    x = np.asarray(x)
    result_dtype(x.dtype, "avg")
    f = filter_size
    if not _is_int(f) or f < 1 or padding.lower() not in ("reflect", "zero"):
        raise ValueError(f"bad filter_size {f!r} or padding {padding!r}")
    n = num_spatial_dims if num_spatial_dims is not None else (
        x.ndim - 2 if _is_int(strides) else len(tuple(strides)))
    stride = _per_dim(strides, n, "strides", None)
    batch, spatial, feature = _layout_axes(x.ndim, n, channels_first)
    y = _planes(x, batch, feature, spatial).astype(np.float64)
    w = np.array([comb(f - 1, k) for k in range(f)], np.float64) / 2.0 ** (f - 1)
    lo, hi = (f - 1) // 2, f // 2
    for d in range(n):
        size = y.shape[1 + d]
        if size < 1 or (padding.lower() == "reflect" and hi > size - 1):
            raise ValueError(f"spatial dim {d} of size {size} cannot take filter {f} with {padding} padding")
        pads = [(0, 0)] * y.ndim
        pads[1 + d] = (lo, hi)
        yp = np.pad(y, pads, mode="reflect" if padding.lower() == "reflect" else "constant")
        outs = []
        for i in range(-(-size // stride[d])):
            acc = 0.0
            for k in range(f):
                acc = acc + w[k] * np.take(yp, i * stride[d] + k, axis=1 + d)
            outs.append(acc)
        y = np.stack(outs, axis=1 + d)
    out = _unplanes(y, x.shape, batch, feature, channels_first, y.shape[1:])
    return out.astype(result_dtype(x.dtype, "avg"))


def unpool_reference(values, indices, output_size, *, channels_first=False) -> np.ndarray:
    """Max unpooling by loops: each value at its index in its plane (the maximum of duplicates, NaN first),
    indices outside the plane ignored, zeros elsewhere; dtype of ``values``."""
    values, indices = np.asarray(values), np.asarray(indices)
    result_dtype(values.dtype, "max")
    if values.shape != indices.shape or not jnp.issubdtype(indices.dtype, jnp.integer):
        raise ValueError("values and integer indices of one shape are needed")
    sizes = (int(output_size),) * (values.ndim - 2) if _is_int(output_size) else tuple(output_size)
    if not sizes or not all(_is_int(s) and s >= 1 for s in sizes):
        raise ValueError(f"output_size must hold positive ints, got {output_size!r}")
    batch, spatial, feature = _layout_axes(values.ndim, len(sizes), channels_first)
    vp = _planes(values, batch, feature, spatial)
    vp = vp.reshape(vp.shape[0], math.prod(vp.shape[1:]))
    ip = _planes(indices, batch, feature, spatial).reshape(vp.shape).astype(object)
    plane = math.prod(sizes)
    out = np.zeros((vp.shape[0], plane), values.dtype)
    written = np.zeros(out.shape, bool)
    floating = jnp.issubdtype(values.dtype, jnp.floating)
    for p in range(vp.shape[0]):
        for j in range(vp.shape[1]):
            k, v = ip[p, j], vp[p, j]
            if not 0 <= k < plane:
                continue
            if not written[p, k] or (floating and np.isnan(v)) or (
                    not (floating and np.isnan(out[p, k])) and v > out[p, k]):
                out[p, k] = v
            written[p, k] = True
    return _unplanes(out, values.shape, batch, feature, channels_first, sizes)


def fractional_starts_reference(u, size: int, window: int, out: int, dtype) -> list:
    """PyTorch's fractional-max-pool window starts along one dim for one sample ``u`` in [0, 1).

    ``alpha = (size - window) / (out - 1)``, ``start_i = int((i + u) * alpha) - int(u * alpha)`` for
    ``i < out - 1``, the last start ``size - window``; every operation is done on NumPy scalars of ``dtype`` (so
    float16/bfloat16 round each one, as c10::Half/BFloat16), starts clipped into ``[0, size - window]``.
    """
    last = size - window
    if out == 1:
        return [last]
    t = np.dtype(dtype).type
    alpha = t(size - window) / t(out - 1)
    u = t(u)
    starts = [int(math.floor(float(t(t(i) + u) * alpha))) - int(math.floor(float(u * alpha))) for i in range(out - 1)]
    return [min(max(s, 0), last) for s in starts] + [last]


def fractional_reference(x, window_shape, output_size=None, output_ratio=None, *, samples,
                         channels_first=False, return_indices=False):
    """Fractional max pooling by loops over outputs and window elements (PyTorch's interval sequence).

    N is the length of the first tuple among window_shape, output_size, output_ratio (else ``x.ndim - 2``);
    ``samples`` has shape ``(*batch, features, N)`` or is a scalar; ``samples[..., j]`` drives spatial dim ``j``
    except for N = 2, where ``samples[..., 0]`` drives the width (the last spatial dim) and ``[..., 1]`` the
    height. The starts are computed in the input's (canonical) float type, float32 for integer/bool inputs; the
    samples are converted to that type and must then lie in [0, 1). The max is the first maximal element in
    row-major window order, the first NaN winning. Returns values (x's canonical dtype) or (values, int64 flat
    indices within the plane).
    """
    x = np.asarray(x)
    dtype = result_dtype(x.dtype, "max")  # TypeError for complex inputs
    work = dtype if jnp.issubdtype(dtype, jnp.floating) else np.dtype(np.float32)
    if not isinstance(channels_first, (bool, np.bool_)) or not isinstance(return_indices, (bool, np.bool_)):
        raise TypeError("channels_first and return_indices must be bools")
    if (output_size is None) == (output_ratio is None):
        raise ValueError("give exactly one of output_size and output_ratio")
    n = next((len(s) for s in (window_shape, output_size, output_ratio) if isinstance(s, (tuple, list))),
             x.ndim - 2)
    if n < 1:
        raise ValueError(f"{n} spatial dims")
    window = _per_dim(window_shape, n, "window_shape", None)
    batch, spatial, feature = _layout_axes(x.ndim, n, channels_first)
    lengths = tuple(x.shape[a] for a in spatial)
    if output_size is not None:
        outs = _per_dim(output_size, n, "output_size", None)
    else:
        ratios = (output_ratio,) * n if not isinstance(output_ratio, (tuple, list)) else tuple(output_ratio)
        if len(ratios) != n or not all(
                isinstance(r, (int, float, np.integer, np.floating)) and not isinstance(r, (bool, np.bool_))
                and 0 < r < 1 for r in ratios):
            raise ValueError(f"output_ratio must be {n} numbers in (0, 1), got {output_ratio!r}")
        outs = tuple(int(L * float(r)) for L, r in zip(lengths, ratios, strict=True))
    for L, k, o in zip(lengths, window, outs, strict=True):
        if k > L or not 1 <= o <= L - k + 1:
            raise ValueError(f"window {k} and output {o} do not fit a dim of size {L}")
    sample_shape = tuple(x.shape[a] for a in batch) + (x.shape[feature], n)
    s = np.asarray(samples)
    if not np.issubdtype(s.dtype, np.floating):
        raise TypeError(f"samples must be floating, got {s.dtype}")
    s = np.broadcast_to(s, sample_shape) if s.ndim == 0 else s
    if s.shape != sample_shape:
        raise ValueError(f"samples shape {s.shape} != {sample_shape}")
    s = s.astype(work)
    if not np.all((s >= 0) & (s < 1)):
        raise ValueError("samples outside [0, 1)")
    s = s.reshape(-1, n)
    planes = _planes(x, batch, feature, spatial)
    floating = jnp.issubdtype(dtype, jnp.floating)
    vals = np.zeros((planes.shape[0],) + outs, planes.dtype)
    idx = np.zeros((planes.shape[0],) + outs, np.int64)
    for p in range(planes.shape[0]):
        starts = [fractional_starts_reference(s[p, n - 1 - d if n == 2 else d], L, k, o, work)
                  for d, (L, k, o) in enumerate(zip(lengths, window, outs, strict=True))]
        for o in itertools.product(*(range(v) for v in outs)):
            best = best_pos = None
            for off in itertools.product(*(range(k) for k in window)):
                pos = tuple(st[i] + j for st, i, j in zip(starts, o, off, strict=True))
                v = planes[(p,) + pos]
                if best is None:
                    best, best_pos = v, pos
                elif floating and np.isnan(best):
                    continue
                elif (floating and np.isnan(v)) or v > best:
                    best, best_pos = v, pos
            vals[(p,) + o] = best
            idx[(p,) + o] = np.ravel_multi_index(best_pos, lengths)
    values = _unplanes(vals, x.shape, batch, feature, channels_first, outs).astype(dtype)
    if return_indices:
        return values, _unplanes(idx, x.shape, batch, feature, channels_first, outs)
    return values
