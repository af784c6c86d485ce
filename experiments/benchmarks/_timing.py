"""Interleaved wall-clock timing and compiled-memory readouts for the benchmark scripts.

Shared machines are noisy, so competitors are never timed one after another in blocks: every
repetition times each competitor once, in a freshly shuffled order (fixed seed), so that a burst
of load from another process hits all of them alike and no competitor always follows the same one.
(A fixed cyclic order made one program pay for its predecessor: torch's and XLA's worker threads
spin for a while after a call, and two identical XLA programs measured 2x apart.) Before each
sample the timer sleeps ``settle_s`` so that those threads park. A sample is ``n`` back-to-back calls (``n``
chosen from the warm-up so that a sample lasts at least ``min_sample_s``) and the reported figure
is the median over samples of the time per call. Wall time (``time.perf_counter``) is the figure of
record; process CPU time (``time.process_time``, all threads of this process) is reported beside it
as a steadier, load-independent cross-check. :func:`environment` is the machine record both benchmark
scripts write beside their figures.
"""

from __future__ import annotations

import math
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import flax
import jax

import jaxpool


@dataclass(frozen=True)
class Timing:
    """Medians of one competitor.

    Attributes:
      wall_ms: median wall-clock milliseconds per call.
      cpu_ms: median process CPU milliseconds per call (all threads; can exceed ``wall_ms``).
      wall_iqr_ms: interquartile range of the wall-clock samples (a noise gauge), milliseconds.
      wall_min_ms: fastest wall-clock sample, milliseconds (noise only adds time).
      samples: number of samples (repetitions) the medians are over.
      calls_per_sample: back-to-back calls per sample.
    """

    wall_ms: float
    cpu_ms: float
    wall_iqr_ms: float
    wall_min_ms: float
    samples: int
    calls_per_sample: int

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def measure(
    fns: Mapping[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int = 2,
    min_sample_s: float = 0.005,
    max_calls_per_sample: int = 64,
    settle_s: float = 0.005,
    seed: int = 0,
) -> dict[str, Timing]:
    """Time zero-argument callables, interleaved, and return per-callable medians.

    Args:
      fns: name -> callable that runs the computation to completion (it must block, e.g. call
        ``block_until_ready``). Compilation should happen in the first warm-up call at the latest.
      repeats: samples per callable (>= 1).
      warmup: untimed calls per callable before timing (>= 1; the last one sizes the samples).
      min_sample_s: a sample repeats the call until it lasts at least this long (seconds).
      max_calls_per_sample: upper bound on calls per sample.
      settle_s: untimed pause before each sample (seconds), so that worker threads left spinning by
        the previous competitor go idle.
      seed: seed of the per-repetition shuffles of the competitor order.

    Returns:
      name -> :class:`Timing`, in the order of ``fns``.

    Raises:
      ValueError: ``repeats`` or ``warmup`` below 1, or negative ``min_sample_s``.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    if warmup < 1:
        raise ValueError(f"warmup={warmup} must be >= 1")
    if min_sample_s < 0:
        raise ValueError(f"min_sample_s={min_sample_s} must be >= 0")
    names = list(fns)
    calls: dict[str, int] = {}
    for name in names:
        last = 0.0
        for _ in range(warmup):
            t0 = time.perf_counter()
            fns[name]()
            last = time.perf_counter() - t0
        n = 1 if last <= 0 else math.ceil(min_sample_s / last)
        calls[name] = max(1, min(max_calls_per_sample, n))
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    order = list(names)
    shuffle = random.Random(seed).shuffle
    for _ in range(repeats):
        shuffle(order)
        for name in order:
            fn, n = fns[name], calls[name]
            if settle_s > 0:
                time.sleep(settle_s)
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                fn()
            t1, c1 = time.perf_counter(), time.process_time()
            wall[name].append((t1 - t0) / n * 1e3)
            cpu[name].append((c1 - c0) / n * 1e3)
    out = {}
    for name in names:
        lo, hi = _quartiles(wall[name])
        out[name] = Timing(
            wall_ms=statistics.median(wall[name]),
            cpu_ms=statistics.median(cpu[name]),
            wall_iqr_ms=hi - lo,
            wall_min_ms=min(wall[name]),
            samples=repeats,
            calls_per_sample=calls[name],
        )
    return out


def compiled_peak_bytes(compiled: Any) -> dict[str, int] | None:
    """Memory of a compiled XLA executable as the backend reports it, or None where it does not.

    Args:
      compiled: the result of ``jax.jit(f).lower(*args).compile()``.

    Returns:
      ``{"peak": temp + argument + output - alias, "temp", "argument", "output"}`` in bytes, or
      None when ``memory_analysis()`` is unavailable on this backend.
    """
    try:
        stats = compiled.memory_analysis()
    except Exception:  # backends without the analysis raise various errors
        return None
    if stats is None:
        return None
    temp = int(stats.temp_size_in_bytes)
    arg = int(stats.argument_size_in_bytes)
    out = int(stats.output_size_in_bytes)
    alias = int(getattr(stats, "alias_size_in_bytes", 0))
    return {"peak": temp + arg + out - alias, "temp": temp, "argument": arg, "output": out}


_METADATA = re.compile(r",? ?metadata=\{[^{}]*\}")
_NAME = re.compile(r"%[A-Za-z_][\w.\-]*")
_PARAM = re.compile(r"\(\s*[A-Za-z_][\w.\-]*: ")  # "(x.1: f32[..]" in a computation's signature
_PARAM_NEXT = re.compile(r", [A-Za-z_][\w.\-]*: ")


def program_fingerprint(compiled: Any) -> str | None:
    """The optimized HLO of a compiled JAX function with source metadata and instruction names removed.

    Two functions with equal fingerprints run the same XLA program, so any timing difference between them
    is noise. Names are replaced by their order of first appearance. None if the text is unavailable.
    """
    try:
        text = compiled.as_text()
    except Exception:  # noqa: BLE001 - a backend without HLO text just has no fingerprint
        return None
    lines = text.splitlines()
    # Skip the module header and the debug-info tables (file names, stack frames) before the first computation.
    first = next((i for i, ln in enumerate(lines) if ln.startswith(("%", "ENTRY"))), len(lines))
    body = _METADATA.sub("", "\n".join(ln for ln in lines[first:] if ln.strip()))
    body = _PARAM.sub("(", body)
    body = _PARAM_NEXT.sub(", ", body)
    names: dict[str, str] = {}
    return _NAME.sub(lambda m: names.setdefault(m.group(0), f"%v{len(names)}"), body)


def environment(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Versions, backend, device and command-line options of a benchmark run, for its JSON record.

    Args:
      argv: the options (default ``sys.argv[1:]``). An option that names an existing path or a ``.json``
        file is recorded by its file name only, so a committed record holds no machine path.

    Returns:
      A JSON-ready dict: ``jax``, ``jaxpool``, ``flax``, ``backend``, ``device``, ``device_count``,
      ``python``, ``machine``, ``argv``.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    dev = jax.devices()[0]
    return {"jax": jax.__version__, "jaxpool": jaxpool.__version__, "flax": flax.__version__,
            "backend": jax.default_backend(), "device": getattr(dev, "device_kind", str(dev)),
            "device_count": jax.device_count(), "python": platform.python_version(),
            "machine": platform.machine(),
            "argv": [os.path.basename(a) if os.sep in a and (a.endswith(".json") or os.path.exists(a)) else a
                     for a in args]}
