"""Verified Orbax checkpoints: a manifest of content hashes per checkpoint, checked before every restore.

After each ``CheckpointManager.save`` the trainer calls ``write_manifest``: the SHA-256 of every file of the
step's folder goes to ``<run folder>/checkpoint_manifests/<step>.json`` (written atomically, after Orbax has
finished the step). ``restore`` tries the steps newest first and restores only one whose files match their
manifest and that Orbax reads back:

- a step without a manifest was cut by a kill while it was being saved: it is removed and the run resumes
  from the step before (or from scratch), as if the save never started;
- a step whose files differ from their manifest, or that Orbax cannot read, is damaged: the run falls back to
  the newest verified step and says so on stderr (damaged steps are removed, so they are saved afresh);
- if every step is damaged, ``DamagedCheckpoint`` names the checkpoint, the cause and the way out
  (``--restart_run``).

Training resumes deterministically from any step (the data order is a function of seed and step), so a run
that falls back ends bit-identical to an uninterrupted one. The trainer keeps two checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

from experiments.common import io as _io

MANIFESTS = "checkpoint_manifests"


class DamagedCheckpoint(RuntimeError):
    """No checkpoint of the run folder is intact."""


def _step_dir(manager: ocp.CheckpointManager, step: int) -> Path:
    return Path(manager.directory) / str(step)


def _hashes(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        out[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return out


def manifest_path(workdir: Path, step: int) -> Path:
    """Where the manifest of checkpoint ``step`` of run folder ``workdir`` lives."""
    return Path(workdir) / MANIFESTS / f"{step}.json"


def write_manifest(manager: ocp.CheckpointManager, workdir: Path, step: int) -> None:
    """Record the SHA-256 of every file of the finished checkpoint ``step``; drop manifests of deleted steps."""
    manager.wait_until_finished()
    _io.atomic_write_json(manifest_path(workdir, step), {"step": step, "sha256": _hashes(_step_dir(manager, step))})
    kept = {str(s) for s in manager.all_steps()}
    for old in (Path(workdir) / MANIFESTS).glob("*.json"):
        if old.stem not in kept:
            old.unlink(missing_ok=True)


def verify(manager: ocp.CheckpointManager, workdir: Path, step: int) -> str | None:
    """None if checkpoint ``step`` matches its manifest, else what is wrong (``"no manifest"`` for a step
    whose save did not finish)."""
    path = manifest_path(workdir, step)
    if not path.exists():
        return "no manifest"
    try:
        expected = json.loads(path.read_text(encoding="utf-8"))["sha256"]
    except (ValueError, KeyError, OSError) as e:
        return f"unreadable manifest {path} ({type(e).__name__})"
    actual = _hashes(_step_dir(manager, step))
    for name, digest in expected.items():
        if name not in actual:
            return f"file {name} is missing"
        if actual[name] != digest:
            return f"file {name} does not match its SHA-256 in {path}"
    extra = sorted(set(actual) - set(expected))
    return f"unexpected file {extra[0]}" if extra else None


def _drop(manager: ocp.CheckpointManager, workdir: Path, step: int) -> None:
    shutil.rmtree(_step_dir(manager, step), ignore_errors=True)
    manifest_path(workdir, step).unlink(missing_ok=True)


def restore(manager: ocp.CheckpointManager, workdir: Path, state: Any, writer: bool = True) -> tuple[int, Any]:
    """Restore the newest verified checkpoint into the structure of ``state``.

    Args:
      manager: the run's checkpoint manager.
      workdir: the run folder (its ``checkpoint_manifests``).
      state: the freshly initialised state (shapes and dtypes of what to restore).
      writer: False in the processes of a multi-process job other than process 0: they do not write
        manifests and restore Orbax's latest step unverified.

    Returns:
      ``(step, state)``: the restored step and state, or ``(0, state)`` unchanged if no checkpoint is left.

    Raises:
      DamagedCheckpoint: checkpoints exist but none is intact; the message names the newest damaged one, the
        cause and ``--restart_run``.
    """
    import jax

    target = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    if not writer:
        latest = manager.latest_step()
        return (latest, manager.restore(latest, args=ocp.args.StandardRestore(target))) if latest else (0, state)
    damaged: list[tuple[int, str]] = []
    for step in sorted(manager.all_steps(), reverse=True):
        problem = verify(manager, workdir, step)
        if problem is None:
            try:
                restored = manager.restore(step, args=ocp.args.StandardRestore(target))
            except Exception as e:  # noqa: BLE001 -- any Orbax failure means: this checkpoint is unreadable
                problem = f"Orbax cannot read it ({type(e).__name__})"
            else:
                _forget(manager, workdir, damaged)
                if damaged:
                    print(f"warning: {_describe(manager, damaged)}; falling back to the verified checkpoint of "
                          f"step {step}", file=sys.stderr, flush=True)  # fmt: skip
                return step, restored
        if problem == "no manifest":  # a save cut by a kill: as if it never started
            _drop(manager, workdir, step)
            manager.reload()
        else:
            damaged.append((step, problem))
    if damaged:
        raise DamagedCheckpoint(
            f"{_describe(manager, damaged)} and no earlier verified checkpoint is left; rerun with --restart_run "
            "to start this run from scratch"
        )
    return 0, state


def _describe(manager: ocp.CheckpointManager, damaged: list[tuple[int, str]]) -> str:
    step, problem = damaged[0]
    more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
    return f"checkpoint {_step_dir(manager, step)} is damaged: {problem}{more}"


def _forget(manager: ocp.CheckpointManager, workdir: Path, damaged: list[tuple[int, str]]) -> None:
    for step, _ in damaged:
        _drop(manager, workdir, step)
    if damaged:
        manager.reload()
