"""The crash-safe files of ``common/io.py``: the append-only metrics log drops a line cut by a kill and is
truncated on resume; atomic writes leave either the old file or the new one, with ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from experiments.common import io as _io


def test_jsonl_log_drops_a_truncated_last_line_and_truncates_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    for step in (0, 20, 40):
        _io.append_jsonl(path, {"step": step, "acc": step / 2})
    with open(path, "a") as f:
        f.write('{"step": 60, "ac')  # killed mid-write
    assert [r["step"] for r in _io.read_jsonl(path)] == [0, 20, 40]
    _io.truncate_jsonl(path, 20)
    assert path.read_text().count("\n") == 2
    assert [r["step"] for r in _io.read_jsonl(path)] == [0, 20]
    path.write_text('{"step": 0}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="line 2"):
        _io.read_jsonl(path)


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    _io.atomic_write_json(target, {"a": 1})

    def boom(tmp: Path) -> None:
        tmp.write_text("partial")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        _io.atomic_save(target, boom)
    assert target.read_text() == '{\n  "a": 1\n}\n'
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
