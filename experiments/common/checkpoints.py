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

In a multi-process job every process verifies the manifests and restores the same step as process 0 (they
compare it); only process 0 removes steps and prints.

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
    try:
        actual = _hashes(_step_dir(manager, step))
    except OSError as e:  # e.g. removed meanwhile by process 0, which found it damaged
        return f"unreadable ({e})"
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

    Every process of a multi-process job verifies the manifests itself (the run folder is on storage they all
    see) and restores the same step; only the writer (process 0) removes unfinished and damaged steps and says
    so. The processes then compare the steps they chose, so none can resume from a checkpoint that process 0
    refused.

    Args:
      manager: the run's checkpoint manager.
      workdir: the run folder (its ``checkpoint_manifests``).
      state: the freshly initialised state (shapes and dtypes of what to restore).
      writer: False in the processes of a multi-process job other than process 0: they verify and restore
        like process 0 but remove nothing and print nothing.

    Returns:
      ``(step, state)``: the restored step and state, or ``(0, state)`` unchanged if no checkpoint is left.

    Raises:
      DamagedCheckpoint: checkpoints exist but none is intact (the message names the newest damaged one, the
        cause and ``--restart_run``); or the processes of a multi-process job chose different steps.
    """
    import jax

    target = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    damaged: list[tuple[int, str]] = []
    unfinished: list[int] = []  # saves cut by a kill: as if they never started
    chosen: tuple[int, Any] | None = None
    for step in sorted(manager.all_steps(), reverse=True):
        problem = verify(manager, workdir, step)
        if problem is None:
            try:
                chosen = step, manager.restore(step, args=ocp.args.StandardRestore(target))
            except Exception as e:  # noqa: BLE001 -- any Orbax failure means: this checkpoint is unreadable
                problem = f"Orbax cannot read it ({type(e).__name__})"
            else:
                break
        if problem == "no manifest":
            unfinished.append(step)
        else:
            damaged.append((step, problem))
    if writer:
        for step in unfinished:
            _drop(manager, workdir, step)
    if chosen is None and damaged:
        raise DamagedCheckpoint(
            f"{_describe(manager, damaged)} and no earlier verified checkpoint is left; rerun with --restart_run "
            "to start this run from scratch"
        )
    step, restored = chosen or (0, state)
    _same_step_everywhere(step, Path(manager.directory))
    if writer:
        for bad, _ in damaged:
            _drop(manager, workdir, bad)
    if unfinished or damaged:  # every process's manager forgets the removed steps (it would not save them again)
        _barrier("jaxpool_checkpoints_removed")
        manager.reload()
    if writer and damaged:
        print(f"warning: {_describe(manager, damaged)}; falling back to the verified checkpoint of step {step}",
              file=sys.stderr, flush=True)  # fmt: skip
    return step, restored


def _barrier(name: str) -> None:
    """In a multi-process job: wait until every process gets here (process 0 has removed the steps)."""
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _same_step_everywhere(step: int, directory: Path) -> None:
    """In a multi-process job: raise ``DamagedCheckpoint`` unless every process restored ``step``."""
    import jax

    if jax.process_count() == 1:
        return
    import numpy as np
    from jax.experimental import multihost_utils

    steps = np.asarray(multihost_utils.process_allgather(np.int32(step))).reshape(-1).tolist()
    if len(set(steps)) > 1:
        raise DamagedCheckpoint(
            f"the processes restored different checkpoints of {directory} (steps {steps}, by process); every "
            "process must see the same run folder; rerun with --restart_run"
        )


def _describe(manager: ocp.CheckpointManager, damaged: list[tuple[int, str]]) -> str:
    step, problem = damaged[0]
    more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
    return f"checkpoint {_step_dir(manager, step)} is damaged: {problem}{more}"
