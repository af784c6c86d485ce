"""Multi-process (multi-host) runs for the experiment side, with JAX's own runtime.

A config may carry a ``distributed`` section (absent or ``enabled=False``: one process, the default)::

    distributed.enabled              True: call ``jax.distributed.initialize`` before any JAX work
    distributed.coordinator_address  "host:port" of process 0 ("" lets JAX detect it: SLURM, Open MPI, TPU pods)
    distributed.num_processes        number of processes (0: detect)
    distributed.process_id           this process's id in [0, num_processes) (-1: detect)
    distributed.cpu_collectives      CPU cross-process collectives, "gloo" (the CPU backend needs one; GPU
                                     and TPU use their own interconnect and ignore it)
    distributed.mesh                 "auto" (default): the data mesh axis is ``AxisType.Auto`` (sharding
                                     propagated by XLA); "explicit": ``AxisType.Explicit`` (sharding in the
                                     types, JAX's explicit-sharding mode), the same numbers

Every process runs the same command (only ``process_id`` differs); the data-parallel ``Mesh`` spans the devices
of all processes, parameters are replicated, every global batch is split over the devices, and each process
gathers only the batch rows its own devices hold (``process_rows``). Only process 0 writes files
(``is_writer``); checkpoints go through Orbax, which coordinates the processes itself, so the run folder must
be on storage that every process sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from jax.sharding import Sharding

CPU_COLLECTIVES = ("gloo",)
#: ``distributed.mesh``: the axis type of the data-parallel mesh.
MESH_TYPES = ("auto", "explicit")


def _section(config: Any) -> Any:
    return config.get("distributed") if hasattr(config, "get") else None


def enabled(config: Any) -> bool:
    """Whether ``config`` asks for a multi-process run (a missing ``distributed`` section means no)."""
    section = _section(config)
    return bool(section is not None and section.get("enabled", False))


def validate(config: Any) -> None:
    """Check the ``distributed`` section without touching JAX's runtime.

    Args:
      config: a study config; a missing ``distributed`` section is valid (one process).

    Raises:
      ValueError: naming the field, its value and what is allowed: ``enabled`` not a bool, a
        ``coordinator_address`` that is not ``"host:port"`` with an integer port in [1, 65535], a negative
        ``num_processes``, a ``process_id`` outside ``[-1, num_processes)``, an unknown ``cpu_collectives`` or ``mesh``.
    """
    section = _section(config)
    if section is None:
        return
    on = section.get("enabled", False)
    if not isinstance(on, bool):
        raise ValueError(f"config.distributed.enabled={on!r} is invalid; allowed: True or False")
    address = section.get("coordinator_address", "")
    host, _, port = str(address).rpartition(":")
    if address and not (host and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(
            f"config.distributed.coordinator_address={address!r} is invalid; "
            "allowed: 'host:port' with a port in [1, 65535], or '' to let JAX detect it"
        )
    num = section.get("num_processes", 0)
    if not isinstance(num, int) or isinstance(num, bool) or num < 0:
        raise ValueError(
            f"config.distributed.num_processes={num!r} is invalid; allowed: a positive integer, or 0 to detect"
        )
    pid = section.get("process_id", -1)
    upper = f"{num - 1}" if num else "num_processes - 1"
    if not isinstance(pid, int) or isinstance(pid, bool) or pid < -1 or (num and pid >= num):
        raise ValueError(f"config.distributed.process_id={pid!r} is invalid; allowed: 0 .. {upper}, or -1 to detect")
    collectives = section.get("cpu_collectives", "gloo")
    if collectives not in CPU_COLLECTIVES:
        raise ValueError(
            f"config.distributed.cpu_collectives={collectives!r} is invalid; allowed: one of {list(CPU_COLLECTIVES)}"
        )
    mesh = section.get("mesh", "auto")
    if mesh not in MESH_TYPES:
        raise ValueError(f"config.distributed.mesh={mesh!r} is invalid; allowed: one of {list(MESH_TYPES)}")


def mesh_type(config: Any) -> str:
    """The config's ``distributed.mesh`` (``MESH_TYPES``); "auto" when the section or field is missing."""
    section = _section(config)
    return "auto" if section is None else str(section.get("mesh", "auto"))


def initialize(config: Any) -> None:
    """Start JAX's multi-process runtime if ``config`` asks for it (idempotent).

    Calls ``jax.distributed.initialize(coordinator_address, num_processes, process_id)`` with the fields that
    are set (unset ones are detected by JAX from the cluster environment), after selecting the CPU
    collectives implementation. Must run before anything else uses JAX's backends in this process.

    Args:
      config: a study config (validated by ``validate``).

    Raises:
      RuntimeError: from JAX, if its backends were already initialised in this process.
    """
    if not enabled(config) or jax.distributed.is_initialized():
        return
    section = config.distributed
    jax.config.update("jax_cpu_collectives_implementation", section.get("cpu_collectives", "gloo"))
    pid = section.get("process_id", -1)
    jax.distributed.initialize(
        coordinator_address=section.get("coordinator_address", "") or None,
        num_processes=section.get("num_processes", 0) or None,
        process_id=None if pid < 0 else pid,
    )


def is_writer() -> bool:
    """True in the process that writes logs, summaries, plots and results (process 0)."""
    return jax.process_index() == 0


def process_rows(sharding: Sharding, global_shape: Sequence[int], axis: int) -> slice:
    """The contiguous range of indices along ``axis`` that this process's devices hold under ``sharding``.

    Args:
      sharding: the sharding of a global array of ``global_shape``.
      global_shape: the global array's shape.
      axis: the sharded (batch) axis.

    Returns:
      ``slice(start, stop)``: the rows this process must supply to ``jax.make_array_from_process_local_data``
      (all rows with one process).

    Raises:
      ValueError: if this process's devices hold a non-contiguous set of rows (a device order that splits a
        process's devices over the mesh).
    """
    size = global_shape[axis]
    indices = sharding.addressable_devices_indices_map(tuple(global_shape)).values()
    spans = sorted({index[axis].indices(size)[:2] for index in indices})
    start, stop = spans[0][0], spans[-1][1]
    if sum(b - a for a, b in spans) != stop - start:
        raise ValueError(
            f"process {jax.process_index()} holds rows {spans} of axis {axis} (size {size}), not one contiguous "
            "range; order the mesh devices by process"
        )
    return slice(start, stop)
