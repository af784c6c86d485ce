"""Training throughput (examples/s) per variant: jaxpool pooling against flax.linen pooling, in one run.

For every variant of the chosen studies it builds the training step exactly as a training run does
(``common.steps.compiled_functions`` of the study: the MNIST-1D CNN's ``lax.scan`` chunk, All-CNN's jitted steps)
twice — ``model.pooling="jaxpool"`` (jaxpool.linen modules) and ``model.pooling="flax"`` (the same
layers with ``flax.linen.max_pool``/``avg_pool``/``pooling.pool``, ``downsampling/flax_pool.py``;
All-CNN: ``flax.linen.max_pool`` and ``jnp.mean``) — from the same initial parameters and on the
same random batches, and times one call of ``steps`` optimizer steps for each, interleaved
(``_timing.measure``: every repetition times both, in a shuffled order; medians after warm-up).
Throughput is ``steps * batch / median wall time``; the ratio printed is jaxpool / flax (above 1:
jaxpool trains faster). ``strided_conv`` and ``none`` contain no pooling, so their two programs are
the same and their ratio shows the noise level. ``loss_diff`` is the largest difference between the
two per-step losses of the first call (same function, so float rounding only).

Runs on whatever backend JAX has (CPU, GPU, TPU); nothing here is backend-specific. Usage::

    python -m experiments.benchmarks.train_step                            # both studies, all variants
    python -m experiments.benchmarks.train_step --studies mnist1d --json mnist1d_steps.json
    python -m experiments.benchmarks.train_step --studies allcnn --variants max_pool --batch 16 --steps 2
    python -m experiments.benchmarks.train_step --dtype bfloat16           # bf16 compute, f32 params
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np

from experiments.allcnn_cifar10 import train as allcnn_train
from experiments.allcnn_cifar10.configs import allcnn_cifar10
from experiments.allcnn_cifar10.models import VARIANTS as ALLCNN_VARIANTS
from experiments.benchmarks import _timing
from experiments.common import io as _io
from experiments.common.steps import compiled_functions
from experiments.downsampling import train as downsampling_train
from experiments.downsampling.configs import mnist1d_pooling
from experiments.downsampling.models import VARIANTS as CNN_VARIANTS

#: study -> (config module, variants, example shape, default steps per timed call, the ``Study``).
STUDIES: dict[str, tuple[Any, tuple[str, ...], tuple[int, ...], int, Any]] = {
    "mnist1d": (mnist1d_pooling, CNN_VARIANTS, (40, 1), 20, downsampling_train.STUDY),
    "allcnn": (allcnn_cifar10, tuple(ALLCNN_VARIANTS), (32, 32, 3), 5, allcnn_train.STUDY),
}
POOLINGS = ("jaxpool", "flax")


def study_config(study: str, variant: str, pooling: str, dtype: str, batch: int | None) -> ml_collections.ConfigDict:
    """The study's config with ``model.downsample``, ``model.pooling``, ``model.dtype`` (and the batch
    size) set, validated for the local devices.

    Raises:
      ValueError: an unknown study, or an invalid resulting config (the message names the field).
    """
    if study not in STUDIES:
        raise ValueError(f"study={study!r} is not one of {list(STUDIES)}")
    config = STUDIES[study][0].get_config()
    config.model.downsample, config.model.pooling, config.model.dtype = variant, pooling, dtype
    if batch is not None:
        config.batch_size = batch
    if study == "allcnn":
        config.data.synthetic = True  # nothing is loaded; the field only has to validate
    STUDIES[study][4].check(config, num_devices=jax.device_count())
    return config


def run_variant(study: str, variant: str, *, dtype: str = "float32", batch: int | None = None,
                steps: int | None = None, repeats: int = 7, warmup: int = 1,
                min_sample_s: float = 0.0) -> dict[str, Any]:
    """Compile, check and time the jaxpool and flax training steps of one variant.

    Args:
      study: ``"mnist1d"`` or ``"allcnn"``.
      variant: one of the study's variants.
      dtype: compute dtype, ``"float32"`` or ``"bfloat16"`` (parameters stay float32).
      batch: examples per step (default: the study config's ``batch_size``).
      steps: optimizer steps per timed call (default: the study's, see ``STUDIES``).
      repeats, warmup, min_sample_s: as ``_timing.measure``.

    Returns:
      A JSON-ready record: ``study``, ``variant``, ``dtype``, ``batch``, ``steps``,
      ``examples_per_s`` (pooling -> throughput), ``ratio`` (jaxpool / flax throughput), ``timing``
      (pooling -> ``_timing.Timing`` fields, milliseconds per call), ``loss_diff``, ``compile_s``.
    """
    _, _, shape, default_steps, study_def = STUDIES[study]
    steps = steps or default_steps
    started = time.perf_counter()
    configs = {p: study_config(study, variant, p, dtype, batch) for p in POOLINGS}
    batch = configs["jaxpool"].batch_size
    rng = np.random.default_rng(0)
    xs_host = rng.standard_normal((steps, batch, *shape)).astype(np.float32)
    ys_host = rng.integers(0, 10, (steps, batch)).astype(np.int32)
    calls: dict[str, Callable[[], Any]] = {}
    losses, compile_s = {}, {}
    for pooling, config in configs.items():
        fns = compiled_functions(study_def, config, 10, shape, jax.devices())
        state = fns.init(0)
        xs = fns.put_batch(xs_host[:, fns.batch_rows])
        ys = fns.put_batch(ys_host[:, fns.batch_rows])
        t0 = time.perf_counter()
        losses[pooling] = np.asarray(fns.train_chunk(state, xs, ys)[1])
        compile_s[pooling] = time.perf_counter() - t0
        calls[pooling] = lambda fns=fns, state=state, xs=xs, ys=ys: jax.block_until_ready(
            fns.train_chunk(state, xs, ys)
        )
    timings = _timing.measure(calls, repeats=repeats, warmup=warmup, min_sample_s=min_sample_s)
    per_s = {p: steps * batch / (t.wall_ms / 1e3) for p, t in timings.items()}
    return {
        "study": study,
        "variant": variant,
        "dtype": dtype,
        "batch": batch,
        "steps": steps,
        "examples_per_s": per_s,
        "ratio": per_s["jaxpool"] / per_s["flax"],
        "timing": {p: t.as_dict() for p, t in timings.items()},
        "loss_diff": float(np.max(np.abs(losses["jaxpool"] - losses["flax"]))),
        "losses_finite": bool(all(np.all(np.isfinite(v)) for v in losses.values())),
        "compile_s": compile_s,
        "elapsed_s": time.perf_counter() - started,
    }


def _row(rec: dict[str, Any]) -> str:
    e, t = rec["examples_per_s"], rec["timing"]
    return (f"{rec['study']:8} {rec['variant']:13} {rec['batch']:5d} {rec['steps']:5d} "
            f"{e['jaxpool']:12.0f} {e['flax']:12.0f} {rec['ratio']:7.3f} "
            f"{t['jaxpool']['wall_iqr_ms']:8.2f} {t['flax']['wall_iqr_ms']:8.2f} {rec['loss_diff']:9.2e}")


HEADER = (f"{'study':8} {'variant':13} {'batch':>5} {'steps':>5} {'jaxpool ex/s':>12} {'flax ex/s':>12} "
          f"{'ratio':>7} {'iqr_j ms':>8} {'iqr_f ms':>8} {'loss_diff':>9}")


def run_benchmark(plan: Sequence[tuple[str, str]], *, json_path: str | None = None,
                  echo: Callable[[str], None] = print, **kwargs: Any) -> dict[str, Any]:
    """Run ``run_variant`` for every ``(study, variant)`` of ``plan``, printing a row each and the ratios.

    Args:
      plan: ``(study, variant)`` pairs, in order.
      json_path: if given, all results so far are written there atomically after every variant.
      echo: where the lines go.
      **kwargs: passed to ``run_variant`` (``dtype``, ``batch``, ``steps``, ``repeats``, ...).

    Returns:
      ``{"meta": environment and settings, "results": [record per variant]}``.
    """
    meta = {**_timing.environment(), "settings": {k: v for k, v in kwargs.items()},
            "timer": "time.perf_counter wall-clock medians of interleaved samples"}
    out: dict[str, Any] = {"meta": meta, "results": []}
    echo(f"backend {meta['backend']} ({meta['device']} x{meta['device_count']}), jax {meta['jax']}, "
         f"flax {meta['flax']}; training throughput, jaxpool vs flax.linen pooling (ratio = jaxpool / flax)")
    echo(HEADER)
    for study, variant in plan:
        rec = run_variant(study, variant, **kwargs)
        out["results"].append(rec)
        echo(_row(rec))
        if json_path:
            _io.atomic_write_json(json_path, out)
    echo("ratios jaxpool/flax: " + ", ".join(
        f"{r['study']}/{r['variant']} {r['ratio']:.2f}" for r in out["results"]))
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m experiments.benchmarks.train_step",
                                description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--studies", nargs="+", choices=list(STUDIES), default=list(STUDIES))
    p.add_argument("--variants", nargs="+", default=None,
                   help="only these variants (names from either study; default all)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--batch", type=int, default=None, help="examples per step (default: each config's)")
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps per timed call (default: mnist1d 20, allcnn 5)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved samples per pooling (default 7)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per pooling after the check call")
    p.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON (atomically)")
    args = p.parse_args(argv)
    for name in ("batch", "steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} ({getattr(args, name)}) must be >= 1")
    if args.repeats < 1 or args.warmup < 1:
        p.error(f"--repeats ({args.repeats}) and --warmup ({args.warmup}) must be >= 1")
    known = {v for s in args.studies for v in STUDIES[s][1]}
    if args.variants is not None and not set(args.variants) <= known:
        p.error(f"--variants {sorted(set(args.variants) - known)} not in {sorted(known)} (for {args.studies})")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, run the benchmark, print the table and ratios; return the results dict."""
    args = parse_args(argv)
    plan = [(s, v) for s in args.studies for v in STUDIES[s][1]
            if args.variants is None or v in args.variants]
    return run_benchmark(plan, json_path=args.json, dtype=args.dtype, batch=args.batch, steps=args.steps,
                         repeats=args.repeats, warmup=args.warmup)


if __name__ == "__main__":
    main()
