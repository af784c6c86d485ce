"""The sweep-wide progress line, read from real run folders and real locks."""

from __future__ import annotations

import io
from pathlib import Path

from experiments.common import progress, runfolder


def test_progress_line_counts_done_runs_and_names_the_running_ones(tmp_path: Path) -> None:
    names = ["a", "b", "c", "d"]
    for name in names:
        (tmp_path / "runs" / name).mkdir(parents=True)
    (tmp_path / "runs" / "a" / "result.json").write_text("{}")
    (tmp_path / "runs" / "d" / ".lock").write_text("12345\n")  # a stale lock file: nobody holds it
    out = io.StringIO()
    bar = progress.SweepProgress(tmp_path, names, stream=out)
    with runfolder.lock(tmp_path / "runs" / "b" / ".lock", "b"):
        assert progress.folder_busy(tmp_path / "runs" / "b")
        assert not progress.folder_busy(tmp_path / "runs" / "d")
        bar.poll()
        bar.poll()  # unchanged: printed once
        (tmp_path / "runs" / "c" / "failed.json").write_text("{}")
        line = bar.line()
    assert out.getvalue() == "sweep: 1/4 runs done; running: b\n"
    assert line.startswith("sweep: 2/4 runs done; running: b; ETA ")
    assert bar.line().startswith("sweep: 2/4 runs done; ETA ")  # the lock is released: nothing running
