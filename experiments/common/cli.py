r"""The command line every study's ``main.py`` runs (absl flags and ``ml_collections.config_flags``, as the
Flax examples): one run, or the config's whole sweep grid followed by its summary.

    python -m experiments.<study>.main --config CONFIG --workdir DIR [--config.FIELD=VALUE ...]
    python -m experiments.<study>.main --sweep --config CONFIG --workdir DIR [--workers K | --shard I/N]

Without ``--sweep``: ``trainer.train_and_evaluate`` into ``--workdir`` and one line of final figures.
With ``--sweep``: every grid point is validated first, then run under ``DIR/runs/<name>/`` (``--workers K``:
K processes on this machine; ``--shard I/N``: only every N-th point, for job arrays), then ``summary.csv``,
``summary.md`` and the plots are written into ``DIR`` and the accuracy table is printed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from experiments.common import distributed, report, sweep
from experiments.common.study import Study
from experiments.common.trainer import train_and_evaluate


def _one_run(study: Study, config: Any, workdir: str) -> None:
    result = train_and_evaluate(study, config, workdir)
    if not distributed.is_writer():
        return
    final = result["final"]
    print(
        f"test_acc {final['test_acc']:.2f}%  train_acc {final['train_acc']:.2f}%  "
        f"shift_consistency {result['shift_consistency']:.2f}%  params {result['num_params']}  "
        f"flops/example {result['flops_per_example']:.0f}  "
        f"throughput {result['timing']['train_examples_per_s']:.0f} examples/s"
    )


def _sweep(study: Study, config: Any, workdir: Path, shard: str, workers: int, retry_failed: bool) -> None:
    from absl import app

    t0 = time.perf_counter()
    sweep.grid(study, config)  # validate every grid point before any compute
    if workers > 1 and distributed.enabled(config):
        raise app.UsageError("--workers > 1 cannot be combined with config.distributed.enabled")
    if workers > 1:
        status = sweep.run_parallel(study, config, workdir, workers, retry_failed)
    else:
        status = sweep.run_sweep(study, config, workdir, sweep.parse_shard(shard), retry_failed)
    if not distributed.is_writer():
        return
    counts = {s: sum(v == s for v in status.values()) for s in sorted(set(status.values()))}
    table = report.write_report(workdir)
    print(table)
    print(f"runs: {counts}; wall time {time.perf_counter() - t0:.0f} s; summary in {workdir}")


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
    flags.mark_flags_as_required(["config", "workdir"])

    def main(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        if not flags.FLAGS["verbosity"].present:  # keep Orbax's per-save INFO lines out of the way
            logging.set_verbosity(logging.WARNING)
        f = flags.FLAGS
        if f.sweep:
            _sweep(study, f.config, Path(f.workdir), f.shard, f.workers, f.retry_failed)
        else:
            if f.workers > 1 or f.shard != "0/1" or f.retry_failed:
                raise app.UsageError("--workers, --shard and --retry_failed need --sweep")
            _one_run(study, f.config, f.workdir)

    app.run(main)
