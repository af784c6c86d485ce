"""A run folder's identity and ownership: config fingerprints and one-writer locks.

Every run folder records ``config.json`` (the full config) and ``config.sha256`` (the SHA-256 of its
``result_fields``: the config without display, location and sweep-metadata fields). A folder whose recorded
config differs from the requested one is never reused: ``check_config`` raises ``ConfigMismatch`` naming the
differing fields and the folder, before any compute. ``--overwrite`` clears such a folder (``clear``) and
the run starts afresh.

``lock(path)`` takes an exclusive ``fcntl.flock`` on a lock file and writes the holder's pid into it; the
kernel drops the lock when the process dies (SIGKILL included), so a stale lock file never blocks. A second
process asking for the same lock gets ``FolderBusy`` at once, naming the holder's pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_collections

from experiments.common import io as _io
from experiments.common.config import result_fields

#: What a run writes into its folder (``clear`` removes exactly these).
RUN_FILES = ("config.json", "config.sha256", "metrics.jsonl", "result.json", "failed.json")
RUN_DIRS = ("checkpoints", "checkpoint_manifests", "tensorboard")


class ConfigMismatch(ValueError):
    """A run folder holds a run of another config."""


class FolderBusy(RuntimeError):
    """Another live process holds the folder's lock."""


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def fingerprint(config: ml_collections.ConfigDict) -> str:
    """The SHA-256 (hex) of the config's ``result_fields`` in canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(_canonical(result_fields(config))).hexdigest()


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def differing_fields(recorded: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """The dotted names of the leaves that differ between two nested dicts, each as
    ``name: recorded -> requested`` (a leaf missing on one side reads ``<absent>``), sorted."""
    a, b = _flatten(recorded), _flatten(requested)
    absent = "<absent>"
    return [
        f"{k}: {a.get(k, absent)!r} -> {b.get(k, absent)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k, absent) != b.get(k, absent)
    ]


def check_config(folder: str | Path, config: ml_collections.ConfigDict) -> bool:
    """Compare the config recorded in ``folder`` with ``config``.

    Args:
      folder: a run folder (it may be missing or empty).
      config: the requested config.

    Returns:
      True if the folder records a config (the same one), False if it records none.

    Raises:
      ConfigMismatch: the folder records another config; the message names the folder, every differing
        field (recorded -> requested) and the ways on (``--overwrite`` or a new ``--workdir``).
    """
    path = Path(folder) / "config.json"
    if not path.exists():
        return False
    recorded = _io.read_json(path)
    mine = result_fields(config)
    theirs = result_fields(ml_collections.ConfigDict(recorded))
    if _canonical(theirs) == _canonical(mine):
        return True
    diff = differing_fields(theirs, mine)
    raise ConfigMismatch(
        f"run folder {str(folder)!r} holds a run of a different config (differing fields: config."
        + "; config.".join(diff)
        + "); rerun with --overwrite to discard it, or use a new --workdir"
    )


def record_config(folder: str | Path, config: ml_collections.ConfigDict) -> None:
    """Write ``config.json`` and ``config.sha256`` into ``folder`` unless they already hold these contents
    (a finished run's folder is not touched)."""
    folder = Path(folder)
    text = json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"
    digest = fingerprint(config) + "\n"
    for name, content in (("config.json", text), ("config.sha256", digest)):
        path = folder / name
        if not (path.exists() and path.read_text(encoding="utf-8") == content):
            _io.atomic_write_text(path, content)


def clear(folder: str | Path) -> None:
    """Remove what a run wrote into ``folder`` (``RUN_FILES`` and ``RUN_DIRS``); other files stay."""
    folder = Path(folder)
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    for name in RUN_DIRS:
        shutil.rmtree(folder / name, ignore_errors=True)


@contextlib.contextmanager
def lock(path: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on the file ``path`` (created if missing) for the ``with`` body.

    Args:
      path: the lock file; it keeps the holder's pid while held.
      what: what the lock protects, for the message (e.g. ``run folder 'runs/x'``).

    Raises:
      FolderBusy: another process holds the lock; the message names its pid and ``what``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise FolderBusy(
                f"{what} is in use by another process (pid {holder}, lock file {path}); "
                "wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
