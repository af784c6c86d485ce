r"""Sweep runner: every (train size, variant, seed) of a config's ``sweep`` grid, one run folder
each, then a summary. Any study's; the command line is each study's ``main.py --sweep``::

    python -m experiments.downsampling.main --sweep \
        --config experiments/downsampling/configs/mnist1d_pooling.py --workdir runs/mnist1d

Runs go one after another in this process (compiled functions are reused across seeds and train
sizes) under ``workdir/runs/<variant>-n<train_size>-s<seed>/``. A run whose folder holds
``result.json`` is skipped, a partial one resumes from its checkpoint, and a run that raises (a
diverging loss, a missing jaxpool module) gets a ``failed.json`` and the sweep goes on;
``--retry_failed`` runs those again. Afterwards ``common.report`` writes ``summary.csv``,
``summary.md`` and the plots into ``workdir`` and the summary table is printed.

``--shard i/n`` runs only every n-th run starting at i (for a SLURM job array, one shard per
machine); each shard rewrites the summary from whatever run folders exist, so the last one to finish
has them all. ``--workers k`` runs k shards in parallel processes on this machine, then the summary.
With ``config.distributed.enabled`` every process of a multi-host job runs the same command: they
train each grid point together (data parallel) and only process 0 writes ``failed.json`` and the
summary.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
import traceback
from pathlib import Path

import ml_collections

from experiments.common import checkpoints as _checkpoints
from experiments.common import distributed as _distributed
from experiments.common import io as _io
from experiments.common import lifetime as _lifetime
from experiments.common import progress as _progress
from experiments.common import runfolder
from experiments.common.study import Study
from experiments.common.trainer import train_and_evaluate

#: The config fields each grid point sets, and the ``sweep`` entry that gives their values.
GRID_FIELDS = {"data.train_size": "sweep.train_size", "model.downsample": "sweep.downsample", "seed": "sweep.seed"}


def check_overrides(argv: list[str]) -> None:
    """Refuse command-line overrides of fields that the sweep grid sets on every run.

    Args:
      argv: the command line (``--config.model.downsample=max_pool`` style entries are looked at).

    Raises:
      ValueError: naming the overridden field and the grid entry to set instead.
    """
    for arg in argv:
        name = arg.split("=", 1)[0].lstrip("-")
        if name.startswith("config.") and name[len("config."):] in GRID_FIELDS:
            field = name[len("config."):]
            raise ValueError(
                f"--{name} has no effect with --sweep: the grid sets config.{field} from "
                f"config.{GRID_FIELDS[field]}; set --config.{GRID_FIELDS[field]} instead"
            )


def check_folders(runs: list[Run], workdir: str | Path, overwrite: bool = False) -> None:
    """Before any compute: every run folder that records a config records the run's own.

    Args:
      runs: grid points.
      workdir: the sweep folder.
      overwrite: clear the folders that hold another config (each under its lock) instead of refusing.

    Raises:
      runfolder.ConfigMismatch: for the first folder holding another config (its fields named), saying how
        many of the grid's folders differ; not with ``overwrite``.
      runfolder.FolderBusy: with ``overwrite``, a folder to clear is in use.
    """
    errors = []
    for run in runs:
        folder = Path(workdir) / "runs" / run.name
        try:
            runfolder.check_config(folder, run.config)
        except runfolder.ConfigMismatch as e:
            if overwrite:
                with runfolder.lock(folder / ".lock", f"run folder {str(folder)!r}"):
                    runfolder.clear(folder)
            else:
                errors.append(e)
    if errors:
        more = f" ({len(errors)} of the {len(runs)} run folders differ)" if len(errors) > 1 else ""
        raise runfolder.ConfigMismatch(f"{errors[0]}{more}")


@dataclasses.dataclass(frozen=True)
class Run:
    """One grid point: its folder name and its full config."""

    name: str
    config: ml_collections.ConfigDict


def grid(study: Study, config: ml_collections.ConfigDict) -> list[Run]:
    """The runs of ``config.sweep``: train sizes x variants x seeds, in that nesting order.

    Args:
      study: the config's study (each grid point is validated by it).
      config: a study config with ``sweep.train_size``, ``sweep.downsample`` and ``sweep.seed``
        tuples.

    Returns:
      One ``Run`` per grid point, each config a copy of ``config`` with ``data.train_size``,
      ``model.downsample`` and ``seed`` set; every config is validated.

    Raises:
      ValueError: if a sweep list is empty, lists a value twice or holds a name with commas (a bare comma list
        on the command line), or a grid point is an invalid config (the message names the field).
    """
    sweep = config.sweep
    for field, kind in (("train_size", int), ("downsample", str), ("seed", int)):
        if len(sweep[field]) == 0:
            raise ValueError(f"config.sweep.{field} is empty; allowed: a non-empty tuple")
        values = [kind(v) for v in sweep[field]]
        joined = [v for v in values if isinstance(v, str) and "," in v]
        if joined:  # a bare comma list on the command line arrives as one name
            raise ValueError(
                f"config.sweep.{field}={tuple(sweep[field])} holds {joined[0]!r}, one name with commas; write the "
                f"list as a quoted tuple: --config.sweep.{field}=\"{tuple(joined[0].split(','))}\""
            )
        twice = sorted({v for v in values if values.count(v) > 1}, key=values.index)
        if twice:
            raise ValueError(
                f"config.sweep.{field}={tuple(sweep[field])} lists {', '.join(map(repr, twice))} more than once "
                "(that grid point would run twice); allowed: distinct values"
            )
    runs = []
    for size, variant, seed in itertools.product(sweep.train_size, sweep.downsample, sweep.seed):
        run = ml_collections.ConfigDict(config.to_dict())
        run.data.train_size, run.model.downsample, run.seed = int(size), str(variant), int(seed)
        study.check(run)
        runs.append(Run(f"{variant}-n{size}-s{seed}", run))
    return runs


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (0 <= i < n) into ``(i, n)``.

    Raises:
      ValueError: naming ``--shard`` and the allowed form.
    """
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise ValueError(
            f"--shard={text!r} is invalid; allowed: 'i/n' with integers 0 <= i < n"
        ) from None
    if not 0 <= i < n:
        raise ValueError(f"--shard={text!r} is invalid; allowed: 'i/n' with integers 0 <= i < n")
    return i, n


def run_sweep(
    study: Study,
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    shard: tuple[int, int] = (0, 1),
    retry_failed: bool = False,
    overwrite: bool = False,
    restart: bool = False,
) -> dict[str, str]:
    """Run this shard's part of the grid, skipping finished runs.

    Args:
      study: the config's study.
      config: the study config (its ``sweep`` field gives the grid).
      workdir: the sweep folder; runs go to ``workdir/runs/<name>``.
      shard: ``(i, n)``: run grid points ``i, i + n, i + 2n, ...``.
      retry_failed: run again the points whose folder holds ``failed.json``.
      overwrite: clear run folders that hold another config (else they stop the sweep before compute).
      restart: start every unfinished run of this shard from scratch (after a damaged checkpoint).

    Returns:
      ``{run name: "done" | "skipped" | "failed" | "failed before"}`` for this shard's runs.

    Raises:
      runfolder.ConfigMismatch: a run folder holds another config (before any compute), unless
        ``overwrite``.
      runfolder.FolderBusy: another process is writing one of this shard's run folders.
    """
    runs = grid(study, config)[shard[0] :: shard[1]]
    _distributed.initialize(config)  # multi-process: every process runs the same grid points in step
    writer = _distributed.is_writer()
    if writer or not overwrite:
        check_folders(runs, workdir, overwrite)
    status: dict[str, str] = {}
    for k, run in enumerate(runs, 1):
        folder = Path(workdir) / "runs" / run.name
        failed = folder / "failed.json"
        if (folder / "result.json").exists():
            status[run.name] = "skipped"
            continue
        if failed.exists() and not retry_failed:
            status[run.name] = "failed before"
            continue
        t0 = time.perf_counter()
        try:
            result = train_and_evaluate(study, run.config, folder, restart=restart)
        except (runfolder.ConfigMismatch, runfolder.FolderBusy, _checkpoints.DamagedCheckpoint):
            raise  # stop the sweep: the message says what to do

        except Exception as e:  # noqa: BLE001 -- one bad grid point must not stop the sweep
            status[run.name] = "failed"
            if writer:
                _io.atomic_write_json(
                    failed, {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
                )
                print(f"{_label(k, len(runs), shard)} {run.name}: FAILED {type(e).__name__}: {e}", flush=True)
            continue
        status[run.name] = "done"
        if not writer:
            continue
        failed.unlink(missing_ok=True)
        print(
            f"{_label(k, len(runs), shard)} {run.name}: test {result['final']['test_acc']:.1f}%  "
            f"shift-consistency {result['shift_consistency']:.1f}%  "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    return status


def _label(k: int, n: int, shard: tuple[int, int]) -> str:
    """``[k/n]``, or ``[shard i/m: k/n]`` when the grid is split, so workers' lines tell apart."""
    return f"[{k}/{n}]" if shard[1] == 1 else f"[shard {shard[0]}/{shard[1]}: {k}/{n}]"


def _worker(
    study: Study, config_json: str, workdir: str, shard: tuple[int, int], retry_failed: bool, restart: bool
) -> dict[str, str]:
    config = ml_collections.ConfigDict(json.loads(config_json))
    config.progress_bar = False
    return run_sweep(study, config, workdir, shard, retry_failed, overwrite=False, restart=restart)


def run_parallel(
    study: Study,
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    workers: int,
    retry_failed: bool = False,
    restart: bool = False,
) -> dict[str, str]:
    """Run the grid as ``workers`` shards in separate processes (each single-threaded), then return.

    Args:
      study: the config's study (sent to the workers by reference).
      config: the study config.
      workdir: the sweep folder.
      workers: number of processes (>= 1).
      retry_failed: as in ``run_sweep``.
      restart: as in ``run_sweep``.

    Returns:
      The merged status of all shards. Each worker dies with this process (``lifetime.die_with_parent``);
      meanwhile one sweep-wide progress line (``progress.SweepProgress``) is printed on stderr when it changes.
      Folders holding another config are checked (or cleared, with ``--overwrite``) by the caller first.
    """
    import concurrent.futures
    import multiprocessing

    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    ctx = multiprocessing.get_context("spawn")
    status: dict[str, str] = {}
    grid_runs = grid(study, config)
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_lifetime.die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        futures = [
            pool.submit(
                _worker, study, config.to_json_best_effort(), str(workdir), (i, workers), retry_failed, restart
            )
            for i in range(workers)
        ]
        progress = _progress.SweepProgress(workdir, [run.name for run in grid_runs])
        pending = set(futures)
        while pending:
            _, pending = concurrent.futures.wait(pending, timeout=2.0)
            progress.poll()
        for f in futures:
            status.update(f.result())
    return status
