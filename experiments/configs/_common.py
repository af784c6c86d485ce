"""Config blocks every study shares: the shift-consistency metric and multi-host settings.

Each ``get_config()`` attaches them (``config.shift = shift_config(8)``) so the fields, defaults
and comments live in one place.
"""

from __future__ import annotations

import ml_collections


def shift_config(max_shift: int) -> ml_collections.ConfigDict:
    """The ``shift`` block: shift consistency over circular shifts of up to ``max_shift`` samples
    per spatial axis, averaged over 5 passes with a fixed seed (Zhang 2019).

    Args:
      max_shift: largest shift S; offsets are drawn from {-S, ..., S}.

    Returns:
      A ConfigDict with ``max_shift``, ``passes`` and ``seed``.
    """
    shift = ml_collections.ConfigDict()
    shift.max_shift = max_shift
    shift.passes = 5
    shift.seed = 0
    return shift


def distributed_config() -> ml_collections.ConfigDict:
    """The ``distributed`` block: multi-process (multi-host) data parallelism with
    ``jax.distributed``, off by default (see experiments/README.md).

    Returns:
      A ConfigDict with ``enabled``, ``coordinator_address``, ``num_processes``, ``process_id`` and
      ``cpu_collectives``.
    """
    distributed = ml_collections.ConfigDict()
    distributed.enabled = False
    distributed.coordinator_address = ""  # "host:port" of process 0; "" -> detected (SLURM, MPI, TPU)
    distributed.num_processes = 0  # 0 -> detected
    distributed.process_id = -1  # -1 -> detected
    distributed.cpu_collectives = "gloo"  # CPU backend only
    return distributed
