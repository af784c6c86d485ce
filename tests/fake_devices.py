"""``XLA_FLAGS`` for test subprocesses that run on fake CPU devices (one place for every such test).

XLA:CPU aborts a collective whose devices do not all arrive within 40 s; on a loaded 2-core machine (two xdist
workers) the fake devices' threads can take longer, so the waits are raised. Correctness is unaffected.
"""

from __future__ import annotations


def xla_flags(devices: int) -> str:
    """The flags for ``devices`` fake CPU devices with raised collective waits."""
    return (f"--xla_force_host_platform_device_count={devices} --xla_cpu_collective_timeout_seconds=900"
            " --xla_cpu_collective_call_terminate_timeout_seconds=900")
