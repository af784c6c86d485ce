"""Pooling benchmark: jaxpool against JAX's own autodiff, torch and the memory floor (docs/semantics.md §7).

For max/avg/sum pooling in 1-D/2-D/3-D, windows 2/2 VALID, 3/2 SAME and 3/1 SAME (per spatial
dim), float32 and bfloat16, channels-last (NHWC) and channels-first (NCHW), it times in one process,
interleaved (see ``_timing``; torch in a block of its own after the JAX competitors, whose timings its
spinning OpenMP workers otherwise disturb), medians after warm-up:

* ``ours``: ``jaxpool.{max,avg,sum}_pool`` (``channels_first=True`` for NCHW);
* ``base``: ``flax.linen.max_pool``/``avg_pool`` for NHWC max/avg, else (sum, and every NCHW case,
  which Flax lacks) ``lax.reduce_window`` in the same layout, differentiated by JAX (``_cases``);
* ``torch``: ``torch.nn.functional.{max,avg}_pool{1,2,3}d`` when torch is installed, NCHW for NCHW
  cases and channels-last strides for NHWC ones, on CUDA when JAX runs on a GPU and torch sees one
  (``_torch_pool``; symmetric padding, so a timing reference rather than a value oracle);
* ``floor``: the memory floor, a jitted ``x * 2`` over the same input.

Each op is timed forward (``jit(f)``) and forward+backward: ``grad`` is ``jit`` of
``jax.vjp(f, x)[1](g)`` with a fixed random cotangent ``g``, i.e. the passes ``jit(grad)`` runs
without a scalar loss whose all-ones cotangent XLA could fold away (torch: ``f(x).backward(g)``).
JAX competitors are compiled once (``jax.jit(f).lower(...).compile()``); the grad's peak memory is
``memory_analysis()`` temp + argument + output bytes where the backend reports it. Wall-clock
medians (``time.perf_counter``) are the figures of record; process CPU time is kept beside them.
The run ends with the headline figures and every case where ours is slower (``_report``).

Usage::

    python -m experiments.benchmarks.pooling --json a.json   # full table: 108 cases, ~11 min on
                                                            # 2 CPU cores (an hour when loaded)
    python -m experiments.benchmarks.pooling --quick         # headline cases only (~1 min)
    python -m experiments.benchmarks.pooling --ops max --dims 2 3 --dtypes float32
    python -m experiments.benchmarks.pooling --rerun-slower a.json   # second run of slow cases
    python -m experiments.benchmarks.pooling --windows --json w.json  # window-scaling grid (``windows``)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks import _report, _timing, _torch_pool, windows
from experiments.benchmarks._cases import (
    CONFIGS,
    DIMS,
    DTYPES,
    LAYOUTS,
    OPS,
    Case,
    baseline_fn,
    build_cases,
    headline_cases,
    ours_fn,
)
from experiments.common import io as _io

__all__ = ["Case", "build_cases", "headline_cases", "main", "run_benchmark", "run_case"]

COMPETITORS = ("ours_fwd", "base_fwd", "torch_fwd", "floor", "ours_grad", "base_grad",
               "torch_grad")


def _vjp(f: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array, jax.Array], jax.Array]:
    return lambda x, g: jax.vjp(f, x)[1](g)[0]


def _inputs(case: Case, seed: int = 0) -> tuple[np.ndarray, jax.Array]:
    """(float32 channels-last NumPy copy for torch, JAX input in the case's dtype and layout)."""
    x32 = np.random.default_rng(seed).standard_normal(case.shape, np.float32)
    x = jnp.asarray(x32, dtype=case.dtype)
    if case.channels_first:
        x = jnp.moveaxis(x, -1, 1)
    return x32, jax.block_until_ready(x)


def _compile(record: dict[str, Any], name: str, f: Callable[..., Any],
             args: tuple[Any, ...]) -> Callable[..., Any]:
    """Compile ``f`` for ``args``; note compile time and (except the floor) memory in ``record``."""
    t0 = time.perf_counter()
    compiled = jax.jit(f).lower(*args).compile()
    record["compile_s"][name] = time.perf_counter() - t0
    if name != "floor":
        record["memory_bytes"][name] = _timing.compiled_peak_bytes(compiled)
    return compiled


def run_case(case: Case, *, repeats: int, warmup: int = 2, min_sample_s: float = 0.005,
             use_torch: bool = True) -> dict[str, Any]:
    """Compile, warm up and time every competitor of ``case``; return its JSON-ready record.

    Args:
      case: the case.
      repeats: timing samples per competitor (interleaved).
      warmup: untimed calls per competitor.
      min_sample_s: minimum duration of one sample, seconds (short calls repeat within a sample).
      use_torch: time torch too when it is importable.

    Returns:
      The case fields plus: ``baseline`` (its name); ``times_ms`` / ``cpu_ms`` (competitor ->
      median wall / process-CPU milliseconds per call; torch entries absent without torch);
      ``timing`` (the full ``_timing.Timing`` per competitor); ``ratios`` (``fwd_speedup`` and
      ``grad_speedup`` = base / ours, ``cpu_*_speedup`` the same in CPU time, ``torch_*_speedup`` =
      torch / ours, ``fwd_floor`` and ``grad_floor`` = ours / floor, ``grad_memory`` = ours / base
      peak bytes); ``memory_bytes`` (``ours_fwd``, ``base_fwd``, ``ours_grad``, ``base_grad`` ->
      byte counts or None); ``same_program`` (``fwd``/``grad`` -> whether ours and the baseline
      compiled to the same XLA program, so that their ratio is noise); ``compile_s``;
      ``fwd_max_abs_diff`` (ours vs baseline forward values, in float32: a sanity check that both
      compute the same thing); ``torch`` (what torch ran, or
      None); ``errors`` (component -> message); ``elapsed_s``.

    Raises:
      ValueError: the baseline's output shape differs from ours (a wrong case definition).
    """
    started = time.perf_counter()
    record: dict[str, Any] = {**case.describe(), "compile_s": {}, "memory_bytes": {},
                              "torch": None, "errors": {}}
    # Flax's avg_pool does not trace under strict dtype promotion; this measures time, not
    # promotion rules (the library is tested under strict promotion elsewhere).
    with jax.numpy_dtype_promotion("standard"):
        x32, x = _inputs(case)
        f_ours = ours_fn(case)
        record["baseline"], f_base = baseline_fn(case)
        ours_fwd = _compile(record, "ours_fwd", f_ours, (x,))
        base_fwd = _compile(record, "base_fwd", f_base, (x,))
        y_ours, y_base = ours_fwd(x), base_fwd(x)
        if y_ours.shape != y_base.shape:
            raise ValueError(f"{case}: ours gives {y_ours.shape}, baseline {y_base.shape}")
        diff = jnp.abs(y_ours.astype(jnp.float32) - y_base.astype(jnp.float32))
        record["fwd_max_abs_diff"] = float(jnp.max(diff))
        g32 = np.random.default_rng(1).standard_normal(y_ours.shape, np.float32)
        g = jnp.asarray(g32, dtype=y_ours.dtype)
        compiled = {
            "ours_fwd": (ours_fwd, (x,)),
            "base_fwd": (base_fwd, (x,)),
            "floor": (_compile(record, "floor", lambda v: v * 2, (x,)), (x,)),
            "ours_grad": (_compile(record, "ours_grad", _vjp(f_ours), (x, g)), (x, g)),
            "base_grad": (_compile(record, "base_grad", _vjp(f_base), (x, g)), (x, g)),
        }
    fns: dict[str, Callable[[], Any]] = {
        name: (lambda c=c, a=a: jax.block_until_ready(c(*a)))
        for name, (c, a) in compiled.items()
    }
    if use_torch and _torch_pool.available():
        try:
            fwd, grad, record["torch"] = _torch_pool.make(
                case, x32, tuple(y_ours.shape), gpu=jax.default_backend() in ("gpu", "cuda", "rocm"))
            fns["torch_fwd"], fns["torch_grad"] = fwd, grad
        except Exception as e:  # a case torch lacks is reported, not fatal
            record["errors"]["torch"] = f"{type(e).__name__}: {e}"
    # torch is timed in a block of its own, after the JAX competitors: its OpenMP workers keep spinning after
    # each call, and interleaved with JAX they slowed whichever JAX program ran next (headline 3x3/2 SAME fwd+bwd
    # on the 2-core CPU: 12.1x and 13.4x flax with torch interleaved, 17.3x and 17.9x without, same code)
    jax_fns = {k: fns[k] for k in COMPETITORS if k in fns and not k.startswith("torch")}
    torch_fns = {k: fns[k] for k in COMPETITORS if k in fns and k.startswith("torch")}
    timings = _timing.measure(jax_fns, repeats=repeats, warmup=warmup, min_sample_s=min_sample_s)
    if torch_fns:
        timings.update(_timing.measure(torch_fns, repeats=repeats, warmup=warmup, min_sample_s=min_sample_s))
    timings = {k: timings[k] for k in COMPETITORS if k in timings}
    record["timing"] = {k: v.as_dict() for k, v in timings.items()}
    t = record["times_ms"] = {k: v.wall_ms for k, v in timings.items()}
    c = record["cpu_ms"] = {k: v.cpu_ms for k, v in timings.items()}
    prints = {k: _timing.program_fingerprint(fn) for k, (fn, _) in compiled.items()}
    record["same_program"] = {kind: prints[f"ours_{kind}"] is not None
                              and prints[f"ours_{kind}"] == prints[f"base_{kind}"] for kind in ("fwd", "grad")}
    r = record["ratios"] = {
        "fwd_speedup": t["base_fwd"] / t["ours_fwd"],
        "grad_speedup": t["base_grad"] / t["ours_grad"],
        "cpu_fwd_speedup": c["base_fwd"] / max(c["ours_fwd"], 1e-9),
        "cpu_grad_speedup": c["base_grad"] / max(c["ours_grad"], 1e-9),
        "fwd_floor": t["ours_fwd"] / t["floor"],
        "grad_floor": t["ours_grad"] / t["floor"],
    }
    if "torch_fwd" in t:
        r["torch_fwd_speedup"] = t["torch_fwd"] / t["ours_fwd"]
        r["torch_grad_speedup"] = t["torch_grad"] / t["ours_grad"]
    mem = record["memory_bytes"]
    if mem.get("ours_grad") and mem.get("base_grad"):
        r["grad_memory"] = mem["ours_grad"]["peak"] / mem["base_grad"]["peak"]
    record["elapsed_s"] = time.perf_counter() - started
    return record


def environment() -> dict[str, Any]:
    """Versions, backend, device and options (``_timing.environment``) plus torch's, for the JSON record."""
    return {**_timing.environment(), "torch": _torch_pool.version(), "torch_threads": _torch_pool.threads()}


def run_benchmark(cases: Sequence[Case], *, repeats: int, warmup: int = 2,
                  min_sample_s: float = 0.005, use_torch: bool = True,
                  json_path: str | None = None,
                  echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``cases`` in turn, printing a table row per case and the summary at the end.

    Args:
      cases: from :func:`build_cases` or :func:`headline_cases`.
      repeats: timing samples per competitor.
      warmup: untimed calls per competitor.
      min_sample_s: minimum duration of one sample, seconds.
      use_torch: time torch too when it is importable.
      json_path: if given, the results are rewritten there atomically after every case.
      echo: where the lines go (``print`` by default).

    Returns:
      ``{"meta", "cases", "headline", "slower", "memory_higher"}``: environment and settings, one
      :func:`run_case` record per case, the headline figures, the (case, pass) pairs slower than
      the baseline (base/ours < 0.9) and the cases whose grad peak memory exceeds the baseline's.
    """
    meta = {**environment(), "repeats": repeats, "warmup": warmup,
            "min_sample_ms": min_sample_s * 1e3,
            "timer": "time.perf_counter wall-clock medians; cpu_ms: time.process_time",
            "grad": "jit(lambda x, g: jax.vjp(f, x)[1](g)[0]), fixed random cotangent g"}
    result: dict[str, Any] = {"meta": meta, "cases": [], "headline": [], "slower": [],
                              "memory_higher": []}
    echo(f"backend {meta['backend']} ({meta['device']}), jax {meta['jax']}, torch "
         f"{meta['torch']}; {len(cases)} cases, {repeats} interleaved repeats; "
         "wall-clock medians in ms")
    echo(_report.TABLE_HEADER)
    started = time.perf_counter()
    for case in cases:
        rec = run_case(case, repeats=repeats, warmup=warmup, min_sample_s=min_sample_s,
                       use_torch=use_torch)
        result["cases"].append(rec)
        errors = "; ".join(f"{k}: {v}" for k, v in rec["errors"].items())
        echo(_report.format_row(rec) + (f"  [{errors}]" if errors else ""))
        result["headline"] = _report.headline(result["cases"])
        result["slower"] = _report.slower_cases(result["cases"])
        result["memory_higher"] = _report.memory_higher(result["cases"])
        meta["elapsed_s"] = time.perf_counter() - started
        if json_path:
            _io.atomic_write_json(json_path, result)
    echo("")
    echo(_report.summary(result))
    return result


def _choices(allowed: Sequence[Any], kind: type = str) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        try:
            vals = [kind(v) for v in text.replace(",", " ").split()]
        except ValueError:
            vals = []
        if not vals or any(v not in allowed for v in vals):
            raise argparse.ArgumentTypeError(f"{text!r}: allowed values are {list(allowed)}")
        return vals
    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; list options take space- or comma-separated values."""
    p = argparse.ArgumentParser(prog="python -m experiments.benchmarks.pooling",
                                description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="only the headline cases (max, 2-D, float32, NHWC, 2x2/2 and 3x3/2)")
    for name, allowed, kind in (("ops", OPS, str), ("dims", DIMS, int),
                                ("configs", tuple(CONFIGS), str), ("dtypes", DTYPES, str),
                                ("layouts", LAYOUTS, str)):
        p.add_argument(f"--{name}", type=_choices(allowed, kind), nargs="+",
                       default=[list(allowed)], help=f"subset of {list(allowed)} (default all)")
    p.add_argument("--repeats", type=int, default=15,
                   help="interleaved samples per competitor (default 15)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per competitor")
    p.add_argument("--min-sample-ms", type=float, default=5.0,
                   help="repeat short calls within a sample until it lasts this long (default 5)")
    p.add_argument("--batch", type=int, default=None, help="override every shape's batch size")
    p.add_argument("--no-torch", action="store_true", help="leave torch out")
    p.add_argument("--windows", action="store_true",
                   help="the window-scaling grid instead (1-D max/avg/sum windows 2..4096 at stride 1 and "
                        "window/4; 2-D max 3..63 stride 1 SAME; compile times and fwd+bwd vs flax)")
    p.add_argument("--window-sizes", type=int, nargs="+", default=None,
                   help="with --windows: the 1-D windows to run (default 2 4 ... 4096)")
    p.add_argument("--dtype", default="float32", choices=DTYPES, help="with --windows: input dtype")
    p.add_argument("--compiles", type=int, default=3,
                   help="with --windows: compile each program this many times and keep the fastest (default 3)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="write all results as JSON (atomically, after every case)")
    p.add_argument("--rerun-slower", default=None, metavar="PATH",
                   help="run only the cases listed as slower than baseline in an earlier --json "
                        "file (the 'two runs' check of docs/semantics.md §7)")
    args = p.parse_args(argv)
    for name in ("ops", "dims", "configs", "dtypes", "layouts"):
        groups = getattr(args, name)
        setattr(args, name, list(dict.fromkeys(v for group in groups for v in group)))
    if args.repeats < 1 or args.warmup < 1 or args.compiles < 1 or (args.batch is not None and args.batch < 1):
        p.error(f"--repeats ({args.repeats}), --warmup ({args.warmup}), --compiles ({args.compiles}) and --batch "
                f"({args.batch}) must be >= 1")
    if args.min_sample_ms < 0:
        p.error(f"--min-sample-ms ({args.min_sample_ms}) must be >= 0")
    return args


def slower_from_json(path: str) -> list[Case]:
    """The distinct cases slower than baseline (either pass) in a file written by ``--json``.

    Args:
      path: a JSON file written by this script.

    Returns:
      The cases, in file order, with their original shapes.

    Raises:
      OSError: the file cannot be read. ValueError: it is not such a results file.
    """
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or "cases" not in data:
        raise ValueError(f"{path!r} is not a results file of this benchmark (no 'cases' list)")
    cases: list[Case] = []
    for s in _report.slower_cases(data["cases"]):
        shape = tuple(s["shape"])
        if s["layout"] == "NCHW":  # back to the channels-last logical shape
            shape = (shape[0], *shape[2:], shape[1])
        case = Case(s["op"], s["dims"], s["config"], s["dtype"], s["layout"], shape)
        if case not in cases:
            cases.append(case)
    return cases


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, run the benchmark, print table and summary; return the results dict."""
    args = parse_args(argv)
    if args.windows:
        grid = windows.points(args.window_sizes or windows.WINDOWS_1D, ops=args.ops)
        meta = {**environment(), "dtype": args.dtype, "repeats": args.repeats, "compiles": args.compiles}
        save = (lambda recs: _io.atomic_write_json(args.json, {"meta": meta, "points": recs})) if args.json else None
        result = windows.run(grid, dtype=args.dtype, repeats=min(args.repeats, 5), compiles=args.compiles,
                             on_record=save)
        result["meta"] = meta
        if args.json:
            _io.atomic_write_json(args.json, result)
        return result
    if args.rerun_slower:
        cases = slower_from_json(args.rerun_slower)
    elif args.quick:
        cases = headline_cases()
    else:
        cases = build_cases(args.ops, args.dims, args.configs, args.dtypes, args.layouts)
    if args.batch is not None:
        cases = [replace(c, shape=(args.batch, *c.shape[1:])) for c in cases]
    return run_benchmark(cases, repeats=args.repeats, warmup=args.warmup,
                         min_sample_s=args.min_sample_ms / 1e3, use_torch=not args.no_torch,
                         json_path=args.json)


if __name__ == "__main__":
    main()
