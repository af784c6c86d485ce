"""One sweep-wide progress line across worker processes, read from the run folders themselves.

The parent of a ``--workers k`` sweep polls the workdir: a grid point is done when its folder holds
``result.json`` or ``failed.json``, and running while some process holds its ``.lock`` (``fcntl.flock``; a
lock held by a live process is the only way to be "running"). Each time the picture changes it prints one
line::

    sweep: 3/42 runs done; running: max_pool-n1000-s0, avg_pool-n1000-s1; ETA 4 min 10 s
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO


def folder_busy(folder: Path) -> bool:
    """Whether a live process holds the run folder's lock (``<folder>/.lock``)."""
    try:
        fd = os.open(folder / ".lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock if it was taken
    return False


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


class SweepProgress:
    """The progress line of a sweep whose runs live under ``workdir/runs/<name>``."""

    def __init__(self, workdir: str | Path, names: Sequence[str], stream: TextIO | None = None) -> None:
        self.folders = [Path(workdir) / "runs" / name for name in names]
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.done0 = self._done()
        self.last = ""

    def _done(self) -> int:
        return sum((f / "result.json").exists() or (f / "failed.json").exists() for f in self.folders)

    def line(self) -> str:
        """``sweep: D/T runs done; running: ...; ETA ...`` (ETA from the runs finished since the start)."""
        done = self._done()
        running = [f.name for f in self.folders if folder_busy(f)]
        text = f"sweep: {done}/{len(self.folders)} runs done"
        text += f"; running: {', '.join(running)}" if running else ""
        finished = done - self.done0
        if finished > 0 and done < len(self.folders):
            rate = (time.monotonic() - self.t0) / finished
            text += f"; ETA {_duration(rate * (len(self.folders) - done))}"
        return text

    def poll(self) -> None:
        """Print the line if it changed since the last one printed."""
        text = self.line()
        if text != self.last:
            print(text, file=self.stream, flush=True)
            self.last = text
