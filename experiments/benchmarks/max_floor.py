"""What a large max window costs against the passes any window-independent scheme must make, on this backend.

``python -m experiments.benchmarks.max_floor [--repeats N] [--rounds R] [--json PATH]``

The window-scaling target (``windows``) asks that max pooling's fwd+bwd time grow at most 3x from window 2
to window 4096 at stride 1 on (8, 16384, 16). This script puts that budget beside the cost of the passes over
the input that any scheme with work per element independent of the window has to make, all timed in one
process, interleaved (``_timing.measure``), as multiples of jaxpool's max w=2 fwd+bwd:

* ours: ``jaxpool.max_pool`` fwd+bwd (``jit`` of ``jax.vjp(f, x)[1](g)``, the cotangent an argument, as in
  ``windows``) at windows 2, 8 and 4096, stride 1, SAME;
* forward-only reference passes: a copy (``x + 1``), one max over 2 and over 8 shifted views (a stride-1
  window of 2 / 8, padded with -inf), a block maximum n -> n/8 (a reshape and a reduce), and the whole van
  Herk / Gil-Werman forward of a 4096 window (two running maxima within blocks of 4096, ``lax.cummax`` forward
  and reverse, and the combining max; VALID).

A van Herk / Gil-Werman fwd+bwd is that forward plus a reverse that routes each cotangent to its winner; a
log-depth or blocked tree of window maxima is passes of shifted views, each with a reverse pass. Where the
forward passes alone exceed 3x of the w=2 fwd+bwd, no such scheme built of these XLA operations meets the 3x
target on this backend.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxpool
from experiments.benchmarks import _timing
from experiments.common import io as _io

SHAPE = (8, 16384, 16)
BLOCK = 4096


def shifted_max(x: jax.Array, k: int) -> jax.Array:
    """Stride-1 max over ``k`` consecutive entries of axis 1, the end padded with -inf (output shape of x)."""
    n = x.shape[1]
    xp = jnp.pad(x, ((0, 0), (0, k - 1), (0, 0)), constant_values=-jnp.inf)
    out = xp[:, :n]
    for i in range(1, k):
        out = jnp.maximum(out, xp[:, i : i + n])
    return out


def gil_werman_max(x: jax.Array, block: int = BLOCK) -> jax.Array:
    """Van Herk / Gil-Werman forward: the max over ``block`` consecutive entries of axis 1 (VALID, stride 1),
    as the max of a reverse running maximum and a forward running maximum within blocks of ``block`` entries
    (``lax.cummax``); output length ``n - block + 1``."""
    b, n, c = x.shape
    blocks = x.reshape(b, n // block, block, c)
    forward = lax.cummax(blocks, axis=2).reshape(x.shape)
    reverse = lax.cummax(blocks, axis=2, reverse=True).reshape(x.shape)
    return jnp.maximum(reverse[:, : n - block + 1], forward[:, block - 1 :])


def block_max(x: jax.Array, block: int = 8) -> jax.Array:
    """The maximum of each run of ``block`` entries of axis 1 (n -> n / block)."""
    b, n, c = x.shape
    return x.reshape(b, n // block, block, c).max(axis=2)


def programs(x: jax.Array, g: jax.Array) -> dict[str, Callable[[], Any]]:
    """Compiled zero-argument calls, by label: ours fwd+bwd at three windows and the reference passes."""
    out: dict[str, Callable[[], Any]] = {}
    for w in (2, 8, 4096):
        f = lambda v, w=w: jaxpool.max_pool(v, (w,), (1,), "SAME")  # noqa: E731
        c = jax.jit(lambda v, ct, f=f: jax.vjp(f, v)[1](ct)[0]).lower(x, g).compile()
        out[f"ours max w={w} fwd+bwd"] = lambda c=c: jax.block_until_ready(c(x, g))
    refs = {"copy x+1 (fwd)": lambda v: v + 1, "2-view shifted max (fwd)": lambda v: shifted_max(v, 2),
            "8-view shifted max (fwd)": lambda v: shifted_max(v, 8),
            "block max n->n/8 (fwd)": block_max,
            f"Gil-Werman max w={BLOCK} VALID (fwd)": gil_werman_max}
    for label, f in refs.items():
        c = jax.jit(f).lower(x).compile()
        out[label] = lambda c=c: jax.block_until_ready(c(x))
    return out


def run(*, repeats: int = 15, rounds: int = 2, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Time :func:`programs` ``rounds`` times, interleaved; returns ``{"rounds": [{label: wall ms}]}``."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(SHAPE, np.float32))
    g = jnp.asarray(rng.standard_normal(SHAPE, np.float32))
    fns = programs(x, g)
    base = "ours max w=2 fwd+bwd"
    echo(f"max pooling floor, {SHAPE} float32, backend {jax.default_backend()}; wall-clock medians")
    per_round = []
    for k in range(rounds):
        t = {label: v.wall_ms for label, v in _timing.measure(fns, repeats=repeats, seed=k).items()}
        per_round.append(t)
        for label, ms in t.items():
            echo(f"round {k}  {label:<48} {ms:8.3f} ms  {ms / t[base]:6.2f}x of {base}")
    return {"shape": list(SHAPE), "rounds": per_round, "environment": _timing.environment()}


def main(argv: Sequence[str] | None = None) -> None:
    """The command line (``--repeats``, ``--rounds``, ``--json``)."""
    p = argparse.ArgumentParser(prog="python -m experiments.benchmarks.max_floor", description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=15, help="interleaved samples per program and round")
    p.add_argument("--rounds", type=int, default=2, help="independent interleaved measurements")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    result = run(repeats=args.repeats, rounds=args.rounds)
    if args.json:
        _io.atomic_write_json(args.json, result)


if __name__ == "__main__":
    main()
