"""The torch competitor of the pooling benchmark: the same case in ``torch.nn.functional``, forward
and backward.

torch is optional: without it :func:`available` is False and the benchmark leaves torch out.
Layouts map to torch memory formats: NCHW cases run on a contiguous ``(N, C, *spatial)`` tensor,
NHWC cases on the same logical tensor with channels-last strides (the permuted view of the
channels-last data: ``channels_last`` in 2-D, ``channels_last_3d`` in 3-D). torch pads
symmetrically, so JAX's SAME padding ``(lo, hi)`` becomes ``ceil((lo + hi) / 2)`` per side; the
output size is checked to equal JAX's (same work, windows possibly shifted by one: a timing
reference, not a value oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from jax import lax

try:
    import torch
except ImportError:  # pragma: no cover - exercised only where torch is absent
    torch = None


def available() -> bool:
    """Whether torch can be imported."""
    return torch is not None


def version() -> str | None:
    """torch's version, or None without torch."""
    return None if torch is None else str(torch.__version__)


def threads() -> int | None:
    """torch's intra-op thread count, or None without torch."""
    return None if torch is None else int(torch.get_num_threads())


def make(case: Any, x32: np.ndarray, out_shape: tuple[int, ...], *, gpu: bool
         ) -> tuple[Callable[[], None], Callable[[], None], dict[str, Any]]:
    """Build torch's forward and forward+backward callables for a benchmark case.

    Args:
      case: a ``_cases.Case`` (op, dims, window, strides, padding, dtype, channels_first, shape).
      x32: the case's input as float32 NumPy, channels-last logical shape ``case.shape``.
      out_shape: jaxpool's output shape in the case's layout (torch's must match it).
      gpu: run on CUDA if torch sees a GPU (the caller passes whether JAX's backend is a GPU).

    Returns:
      ``(fwd, grad, info)``: zero-argument callables that run to completion (synchronising CUDA)
      and a dict naming the torch function, device, memory format and padding.

    Raises:
      RuntimeError: torch is not installed.
      ValueError: torch's output shape differs from ``out_shape`` (no torch equivalent).
    """
    if torch is None:
        raise RuntimeError("torch is not installed")
    device = torch.device("cuda" if gpu and torch.cuda.is_available() else "cpu")
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[case.dtype]
    n = case.dims
    x = torch.from_numpy(np.array(x32)).to(device=device, dtype=dtype)
    x = x.permute(0, n + 1, *range(1, n + 1))  # (N, C, *spatial) with channels-last strides
    if case.channels_first:
        x = x.contiguous()
    x = x.detach().requires_grad_(True)
    pads = lax.padtype_to_pads(case.shape[1:-1], case.window, case.strides, case.padding)
    pad = tuple((lo + hi + 1) // 2 for lo, hi in pads)
    k, s = case.window, case.strides
    fn = torch.nn.functional
    if case.op == "max":
        name = f"max_pool{n}d"
        pool = getattr(fn, name)
        f = lambda v: pool(v, k, s, pad)
    else:
        name = f"avg_pool{n}d"
        pool = getattr(fn, name)
        if case.op == "avg":
            f = lambda v: pool(v, k, s, pad, count_include_pad=True)
        elif n == 1:
            name += " * k"
            f = lambda v: pool(v, k, s, pad) * float(k[0])
        else:
            name += "(divisor_override=1)"
            f = lambda v: pool(v, k, s, pad, divisor_override=1)
    with torch.no_grad():
        y = f(x)
    want = out_shape if case.channels_first else (out_shape[0], out_shape[-1], *out_shape[1:-1])
    if tuple(y.shape) != tuple(want):
        raise ValueError(f"torch {name} with padding {pad} gives {tuple(y.shape)}, "
                         f"JAX gives {tuple(want)}")
    torch.manual_seed(1)
    g = torch.randn_like(y)  # keeps y's memory format
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def fwd() -> None:
        with torch.no_grad():
            f(x)
        sync()

    def grad() -> None:
        x.grad = None
        f(x).backward(g)
        sync()

    layout = "contiguous (NCHW)" if case.channels_first else "channels-last strides"
    info = {"function": f"torch.nn.functional.{name}", "device": str(device),
            "padding": list(pad), "memory_format": layout}
    return fwd, grad, info
