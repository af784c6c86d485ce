"""Config pieces every study shares: the ``shift`` and ``distributed`` blocks, the checks every training
config passes, and a run's identity.

Each study's ``get_config()`` attaches the shared blocks (``config.shift = shift_config(8)``), and each
study's validation calls ``check_training`` after its own fields: messages name the field, its value and
what is allowed, and come before any data is loaded or anything is compiled. ``result_fields`` is the part
of a config that can change a run's numbers; two configs with equal ``result_fields`` describe the same run
(used on resume and by sweeps).
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import ml_collections


def shift_config(max_shift: int) -> ml_collections.ConfigDict:
    """The ``shift`` block: shift consistency over circular shifts of up to ``max_shift`` samples
    per spatial axis, averaged over 5 passes with a fixed seed (Zhang 2019).

    Args:
      max_shift: largest shift S; offsets are drawn from {-S, ..., S}.

    Returns:
      A ConfigDict with ``max_shift``, ``passes`` and ``seed``.
    """
    shift = ml_collections.ConfigDict()
    shift.max_shift = max_shift
    shift.passes = 5
    shift.seed = 0
    return shift


def distributed_config() -> ml_collections.ConfigDict:
    """The ``distributed`` block: multi-process (multi-host) data parallelism with
    ``jax.distributed``, off by default (see experiments/README.md).

    Returns:
      A ConfigDict with ``enabled``, ``coordinator_address``, ``num_processes``, ``process_id``,
      ``cpu_collectives`` and ``mesh``.
    """
    distributed = ml_collections.ConfigDict()
    distributed.enabled = False
    distributed.coordinator_address = ""  # "host:port" of process 0; "" -> detected (SLURM, MPI, TPU)
    distributed.num_processes = 0  # 0 -> detected
    distributed.process_id = -1  # -1 -> detected
    distributed.cpu_collectives = "gloo"  # CPU backend only
    distributed.mesh = "auto"  # "explicit": the data axis is jax.sharding.AxisType.Explicit
    return distributed


#: Fields that never change a run's numbers (display, locations, sweep and reference metadata).
NON_RESULT_FIELDS = ("sweep", "reference", "progress_bar", "data.cache_dir", "distributed")


def need(cond: bool, field: str, value: Any, allowed: str) -> None:
    """Raise ``ValueError("config.<field>=<value> is invalid; allowed: <allowed>")`` unless ``cond``."""
    if not cond:
        raise ValueError(f"config.{field}={value!r} is invalid; allowed: {allowed}")


def positive_int(config: ml_collections.ConfigDict, field: str) -> int:
    """The value of the dotted ``field`` of ``config``.

    Raises:
      ValueError: naming the field unless the value is a positive int (bools are refused).
    """
    value = config
    for part in field.split("."):
        value = value[part]
    need(isinstance(value, int) and not isinstance(value, bool) and value > 0, field, value, "a positive integer")
    return value


def check_training(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
    """The checks every study's training config passes: sizes, eval/checkpoint intervals, batches over the
    devices, the shift metric.

    Args:
      config: a study config (``batch_size``, ``eval_batch_size``, ``num_steps``, ``eval_every``,
        ``checkpoint_every``, ``data.train_size``, ``data.test_size``, ``shift``).
      num_devices: the devices a batch is split over; both batch sizes must be multiples of it.

    Raises:
      ValueError: naming the field, its value and what is allowed, for the first problem found.
    """
    for field in ("batch_size", "eval_batch_size", "num_steps", "eval_every", "checkpoint_every",
                  "data.train_size", "data.test_size"):
        positive_int(config, field)
    if config.checkpoint_every % config.eval_every:
        raise ValueError(
            f"config.checkpoint_every={config.checkpoint_every} is not a multiple of "
            f"config.eval_every={config.eval_every} (checkpoints are taken at eval points); allowed: "
            f"checkpoint_every a multiple of eval_every, e.g. checkpoint_every="
            f"{-(-config.checkpoint_every // config.eval_every) * config.eval_every} with eval_every="
            f"{config.eval_every}"
        )
    for field in ("batch_size", "eval_batch_size"):
        if config[field] % num_devices:
            raise ValueError(
                f"config.{field}={config[field]} does not divide over the {num_devices} devices; "
                f"allowed: a multiple of {num_devices}"
            )
    need(config.shift.max_shift >= 0, "shift.max_shift", config.shift.max_shift, "an integer >= 0")
    need(config.shift.passes >= 1, "shift.passes", config.shift.passes, "an integer >= 1")
    for field, value in (("seed", config.get("seed", 0)), ("shift.seed", config.shift.get("seed", 0))):
        need(isinstance(value, int) and not isinstance(value, bool) and value >= 0, field, value,
             "an integer >= 0 (it seeds numpy and jax.random)")


def result_fields(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The config as a plain dict without the fields in ``NON_RESULT_FIELDS`` (JSON-compatible)."""
    return drop_fields(json.loads(config.to_json_best_effort()), NON_RESULT_FIELDS)


def drop_fields(plain: dict[str, Any], fields: Any) -> dict[str, Any]:
    """Remove dotted ``fields`` ("model.downsample") from the nested dict ``plain`` in place (absent ones are
    skipped); returns ``plain``."""
    for field in fields:
        *parents, leaf = field.split(".")
        node = plain
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    return plain


def flatten(config: ml_collections.ConfigDict | dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The leaves of a (nested) config as ``{dotted name: value}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, (dict, ml_collections.ConfigDict)):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def check_finite(config: ml_collections.ConfigDict) -> None:
    """Every number of the config (tuples included) is finite.

    Raises:
      ValueError: ``config.<field>=inf is invalid; allowed: a finite number`` for the first one that is not.
    """
    for name, value in flatten(config).items():
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"config.{name}={value!r} is invalid; allowed: a finite number")


def nearest_field(config: ml_collections.ConfigDict, name: str) -> str | None:
    """The field of ``config`` whose dotted name is closest to ``name`` (difflib), or one with the same last
    part; None if nothing is close."""
    fields = list(flatten(config))
    same_leaf = [f for f in fields if f.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]]
    if same_leaf:
        return same_leaf[0]
    close = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
    return close[0] if close else None


def _load_config_file(spec: str) -> ml_collections.ConfigDict | None:
    """``get_config()`` of a ``--config`` file (``path`` or ``path:arg``); None if it cannot be loaded."""
    path, arg = spec, None
    if not Path(path).is_file() and ":" in spec:
        path, arg = spec.rsplit(":", 1)
    try:
        module_spec = importlib.util.spec_from_file_location("_config_to_check", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module.get_config(arg) if arg is not None else module.get_config()
    except Exception:  # noqa: BLE001 -- the flags parser reports a bad config file itself
        return None


def config_path(argv: list[str]) -> str | None:
    """The ``--config`` file named on the command line, as ``--config=PATH`` or ``--config PATH`` (absl takes
    both); None when absent."""
    for i, a in enumerate(argv):
        if a.startswith("--config="):
            return a.split("=", 1)[1]
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def check_override_names(argv: list[str]) -> None:
    """Refuse ``--config.<field>=...`` overrides of fields the ``--config`` file does not have.

    Args:
      argv: the command line.

    Raises:
      ValueError: ``--config.<field>: no such field; did you mean config.<nearest>?`` (the nearest valid name
        by difflib, or a field with the same last part); or a tuple field given more than once (absl would join
        the tuples, e.g. two ``--config.sweep.seed`` lists into one that runs a seed twice; a scalar field given
        twice keeps the last value).
    """
    spec = config_path(argv)
    overrides = [a.split("=", 1)[0][len("--config."):] for a in argv if a.startswith("--config.")]
    if spec is None or not overrides:
        return
    config = _load_config_file(spec)
    if config is None:
        return
    fields = flatten(config)
    for name in dict.fromkeys(overrides):  # a scalar given twice: the last wins, as absl documents
        if overrides.count(name) > 1 and isinstance(fields.get(name), (tuple, list)):
            given = [a for a in argv if a.split("=", 1)[0] == f"--config.{name}"]
            raise ValueError(
                f"--config.{name} is given {overrides.count(name)} times ({' '.join(given)}); absl would join "
                "the tuples; give it once"
            )
    for name in overrides:
        if name in fields or any(f.startswith(name + ".") for f in fields):
            continue
        near = nearest_field(config, name)
        hint = f"; did you mean config.{near}?" if near else f"; the fields are listed in {spec}"
        raise ValueError(f"--config.{name}: the config has no field {name!r}{hint}")
