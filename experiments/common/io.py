"""Crash-safe file output for the experiment side: atomic writes and a tolerant JSON-lines log.

Every results file (config.json, result.json, summaries, plots, cached datasets) is written to a
temporary file in the destination directory and renamed over the target with ``os.replace``, so a
reader never sees a truncated file; a file that already holds the same bytes is not touched.
``metrics.jsonl`` is an append-only log; its reader drops a
truncated last line, and on resume ``truncate_jsonl`` rewrites it (atomically) without the lines
past the checkpoint step.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on clean exit rename it over ``path``.

    Args:
      path: the destination file. Its directory is created if missing.

    Returns:
      A context manager yielding the temporary ``Path`` (same directory and suffix as ``path``) to
      write to. On clean exit the file is flushed to disk (fsync) and renamed over ``path``; if the
      body raises, the temporary file is removed and ``path`` is untouched. A process killed inside
      the body leaves only a hidden ``.<name>.*.tmp<suffix>`` file beside ``path``, which no reader
      opens.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.name}.", suffix=".tmp" + dest.suffix, dir=dest.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual file mode
        _fsync(tmp_path)  # the data reaches the disk before the new name points at it
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file ``path`` exists and holds exactly ``data``."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, fsync, rename).

    A file that already holds ``data`` is left alone (nothing is written, so rebuilding the summary of a
    finished workdir on a read-only disk works).

    Args:
      path: destination file.
      data: the bytes to write.
    """
    _put(Path(path), data)


def _put(path: Path, data: bytes) -> None:
    """``atomic_write_bytes``'s body (``atomic_save`` calls it directly)."""
    if _holds(path, data):
        return
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see ``atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically.

    Args:
      path: destination file.
      obj: a JSON-serialisable object (NaN is written as ``NaN``, as Python's json module does).
    """
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Let ``writer`` write to a temporary path (same suffix as ``path``, in the system's temporary
    directory), then put its bytes at ``path`` with ``atomic_write_bytes`` (unchanged bytes: nothing written).

    Args:
      path: destination file, e.g. a ``.png`` (writers such as ``Figure.savefig`` pick the format
        from the suffix, which the temporary path keeps) or an ``.npz``.
      writer: called once with the temporary path.
    """
    dest = Path(path)
    with tempfile.TemporaryDirectory(prefix="atomic_save.") as scratch:
        tmp = Path(scratch) / f"file{dest.suffix}"
        writer(tmp)
        _put(dest, tmp.read_bytes())


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one JSON record as a line to ``path`` (the file is created if missing) and flush
    it."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`.

    Raises:
      OSError: the file cannot be read. ValueError: naming the file, when it is not valid JSON (damaged
        outside this package's atomic writes: edited, cut, or copied in part).
    """
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{p} is not valid JSON ({e}); the file is damaged: restore it, or delete it to "
                         "recompute what it held") from None


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSON-lines file, ignoring blank lines and a truncated (unparseable) last line.

    Args:
      path: the file; a missing file reads as an empty list.

    Returns:
      The records in file order.

    Raises:
      ValueError: if a line other than the last one is not valid JSON (the file is corrupt, not just
        cut).
    """
    p = Path(path)
    if not p.exists():
        return []
    lines = p.read_text(encoding="utf-8").split("\n")
    records: list[dict[str, Any]] = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == last:
                break
            raise ValueError(
                f"{p}: line {i + 1} is not valid JSON ({e}); the log is corrupt"
            ) from e
    return records


def truncate_jsonl(path: str | os.PathLike[str], max_step: int) -> None:
    """Rewrite a metrics log atomically keeping only records whose ``step`` is at most ``max_step``.

    Used on resume so the log holds no step twice and none past the restored checkpoint.

    Args:
      path: the JSON-lines file (missing: nothing happens).
      max_step: the checkpoint step; records without a ``step`` key are kept.
    """
    p = Path(path)
    if not p.exists():
        return
    kept = [r for r in read_jsonl(p) if int(r.get("step", -1)) <= max_step]
    atomic_write_text(p, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
