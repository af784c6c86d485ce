"""Test subprocesses on fake CPU devices: their ``XLA_FLAGS`` and one rerun when XLA:CPU aborts a collective.

XLA:CPU runs the independent operations of a program concurrently, and on a loaded 2-core machine (two xdist
workers) it was seen to start two independent collectives of one program in different orders on different
fake devices (6 device threads waiting in a collective-permute, 2 in an all-to-all, 0 % CPU). No thread can
then progress; XLA ends the process after its 40 s termination timeout with "Termination timeout for ...".
That is a scheduling race of the runtime, not a result of the program (the same program passes when run
again), so :func:`run` runs such a subprocess once more. Any other failure is returned as it is.

Run as a script (``python fake_devices.py RESULT.json CMD...``) it runs ``CMD`` through :func:`run` and writes
its return code and the end of its stderr to ``RESULT.json`` (atomically), so that a test can start ``CMD`` in
the background and read its outcome later.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

#: The start of XLA:CPU's message when a collective's devices never all arrive (it then ends the process).
STUCK_COLLECTIVE = "Termination timeout for"


def xla_flags(devices: int) -> str:
    """``XLA_FLAGS`` for ``devices`` fake CPU devices."""
    return f"--xla_force_host_platform_device_count={devices}"


def run(cmd: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True, **kwargs)``, run a second time if the first
    ended on a stuck collective (module doc)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0 and STUCK_COLLECTIVE in proc.stderr:
        proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    return proc


def main(argv: Sequence[str]) -> None:
    """``RESULT.json CMD...``: run ``CMD`` (:func:`run`) and write ``{"returncode", "stderr"}`` to ``RESULT.json``."""
    result, cmd = argv[0], list(argv[1:])
    try:
        proc = run(cmd, timeout=1800)
        outcome = {"returncode": proc.returncode, "stderr": proc.stderr[-8000:]}
    except subprocess.TimeoutExpired:
        outcome = {"returncode": -1, "stderr": f"{cmd} did not end within 1800 s"}
    tmp = result + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(outcome, fh)
    os.replace(tmp, result)


if __name__ == "__main__":
    main(sys.argv[1:])
