"""Worker processes that die with their parent.

A sweep's ``--workers`` processes call ``die_with_parent(parent_pid)`` first thing: on Linux the kernel sends
them SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)`` through ctypes), and on every platform a
daemon thread checks once a second that the parent is still the one that started them (a re-parented
process sees another ``getppid()``) and kills its own process otherwise. So a sweep parent killed with
SIGKILL leaves no worker training on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _set_pdeathsig(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, interval_s: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(interval_s)


def die_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Make this process end when the process ``parent_pid`` (its parent) ends.

    Args:
      parent_pid: the pid of the parent at the time it started this process.
      interval_s: how often the fallback check polls.
    """
    _set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=_watch, args=(parent_pid, interval_s), daemon=True, name="parent-watch").start()
