r"""The command line every study's ``main.py`` runs (absl flags and ``ml_collections.config_flags``, as the
Flax examples): one run, or the config's whole sweep grid followed by its summary.

    python -m experiments.<study>.main --config CONFIG --workdir DIR [--config.FIELD=VALUE ...]
    python -m experiments.<study>.main --sweep --config CONFIG --workdir DIR [--workers K | --shard I/N]

Without ``--sweep``: ``trainer.train_and_evaluate`` into ``--workdir`` and one line of final figures.
With ``--sweep``: every grid point is validated first, then run under ``DIR/runs/<name>/`` (``--workers K``:
K processes on this machine; ``--shard I/N``: only every N-th point, for job arrays), then ``summary.csv``,
``summary.md`` and the plots are written into ``DIR`` and the accuracy table is printed.

Nothing is computed from a config that was not checked: unknown ``--config.*`` fields (with the nearest valid
name), non-finite or impossible values, grid fields overridden with ``--sweep``, and run folders that hold
another config (``--overwrite`` discards them) all end the process before any compute with one line,
``error: ...``, and exit status 1; so do a folder another process is writing (its pid named), a damaged
checkpoint with no intact one before it (``--restart_run``), a run whose loss stops being finite (the step and
the last good checkpoint named), I/O errors (the path and the cause), and a sweep in which any run failed
(after its summary is written; the failed runs named).
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from experiments.common import checkpoints, distributed, report, runfolder, sweep
from experiments.common.config import check_override_names
from experiments.common.study import Study
from experiments.common.trainer import train_and_evaluate


def _one_run(study: Study, config: Any, workdir: str, overwrite: bool, restart: bool) -> None:
    result = train_and_evaluate(study, config, workdir, overwrite=overwrite, restart=restart)
    if not distributed.is_writer():
        return
    final = result["final"]
    print(
        f"test_acc {final['test_acc']:.2f}%  train_acc {final['train_acc']:.2f}%  "
        f"shift_consistency {result['shift_consistency']:.2f}%  params {result['num_params']}  "
        f"flops/example {result['flops_per_example']:.0f}  "
        f"throughput {result['timing']['train_examples_per_s']:.0f} examples/s"
    )


def _sweep(
    study: Study, config: Any, workdir: Path, shard: str, workers: int, retry_failed: bool, overwrite: bool,
    restart: bool,
) -> None:
    from absl import app

    t0 = time.perf_counter()
    runs = sweep.grid(study, config)  # validate every grid point before any compute
    if workers > 1 and distributed.enabled(config):
        raise app.UsageError("--workers > 1 cannot be combined with config.distributed.enabled")
    i, n = sweep.parse_shard(shard)
    with contextlib.ExitStack() as stack:
        if n == 1:  # a whole sweep owns the workdir; shards of one sweep share it (run folders are locked)
            stack.enter_context(runfolder.lock(workdir / ".sweep.lock", f"sweep folder {str(workdir)!r}"))
        if workers > 1:
            sweep.check_folders(runs, workdir, overwrite)
            status = sweep.run_parallel(study, config, workdir, workers, retry_failed, restart)
        else:
            status = sweep.run_sweep(study, config, workdir, (i, n), retry_failed, overwrite, restart)
    if not distributed.is_writer():
        return
    counts = {s: sum(v == s for v in status.values()) for s in sorted(set(status.values()))}
    table = report.write_report(workdir)
    print(table)
    print(f"runs: {counts}; wall time {time.perf_counter() - t0:.0f} s; summary in {workdir}")
    failed = sorted(name for name, s in status.items() if s.startswith("failed"))
    if failed:  # a job array or script must see it: the summary is written, the exit status is 1
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        _fail(f"{len(failed)} of {len(status)} runs failed ({shown}); each folder holds failed.json with the "
              "error, and --retry_failed runs them again")


def run(study: Study) -> None:
    """Define the flags and run ``study`` as they say (the body of every study's ``main.py``).

    Args:
      study: the study whose configs ``--config`` names.

    Raises:
      absl.app.UsageError: for stray arguments, or ``--workers`` with a multi-process config.
      ValueError: for an invalid config (before any compute; the message names the field).
    """
    from absl import app, flags, logging
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, "path to a study config file", lock_config=True)
    flags.DEFINE_string("workdir", None, "run folder (one run) or sweep folder (--sweep)")
    flags.DEFINE_bool("sweep", False, "run the config's sweep grid, then write and print its summary")
    flags.DEFINE_string("shard", "0/1", "--sweep: run only shard i of n: 'i/n'")
    flags.DEFINE_integer("workers", 1, "--sweep: parallel worker processes on this machine", lower_bound=1)
    flags.DEFINE_bool("retry_failed", False, "--sweep: run again grid points that failed before")
    flags.DEFINE_bool("overwrite", False, "discard run folders that hold a run of another config")
    flags.DEFINE_bool("restart_run", False, "start unfinished runs from scratch (e.g. after a damaged checkpoint)")
    flags.mark_flags_as_required(["config", "workdir"])

    def main(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        if not flags.FLAGS["verbosity"].present:  # keep Orbax's per-save INFO lines out of the way
            logging.set_verbosity(logging.WARNING)
        f = flags.FLAGS
        try:
            if f.sweep:
                sweep.check_overrides(sys.argv[1:])
                _sweep(
                    study, f.config, Path(f.workdir), f.shard, f.workers, f.retry_failed, f.overwrite, f.restart_run
                )
            else:
                if f.workers > 1 or f.shard != "0/1" or f.retry_failed:
                    raise app.UsageError("--workers, --shard and --retry_failed need --sweep")
                _one_run(study, f.config, f.workdir, f.overwrite, f.restart_run)
        except (ValueError, FloatingPointError, runfolder.FolderBusy, checkpoints.DamagedCheckpoint) as e:
            _fail(e)
        except OSError as e:
            _fail(_io_cause(e))

    try:
        check_override_names(sys.argv)
    except ValueError as e:
        _fail(e)
    app.run(main)


def _io_cause(error: OSError) -> str:
    """``<path>: <cause>`` of an I/O error, from the innermost ``OSError`` of the chain that names a file
    (a writer thread's ``handle is closed`` hides the disk-full error underneath)."""
    seen, chain, e = set(), [], error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    named = [e for e in chain if isinstance(e, OSError) and e.filename]
    best = named[-1] if named else error
    cause = best.strerror or str(best)
    return f"I/O error on {best.filename}: {cause}" if best.filename else f"I/O error: {cause}"


def _fail(error: BaseException | str) -> None:
    """End the process with one line (``error: ...``) on stderr and exit status 1."""
    print(f"error: {error}", file=sys.stderr, flush=True)
    sys.exit(1)
