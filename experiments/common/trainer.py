r"""Train and evaluate one run of any study: the training loop every study's ``train.py`` calls.

``train_and_evaluate(study, config, workdir)`` runs one config in one run folder::

    workdir/config.json      the config (a folder holding a different config is refused, naming the fields)
    workdir/config.sha256    the fingerprint of its result fields (``runfolder.fingerprint``)
    workdir/.lock            held (fcntl.flock) by the process writing the folder
    workdir/metrics.jsonl    one line per eval point: step, batch_loss, train/test loss and accuracy
    workdir/tensorboard/     the same scalars as TensorBoard event files (tensorboardX)
    workdir/checkpoints/     Orbax checkpoints (params, optimizer state) at eval points, the last two
    workdir/checkpoint_manifests/  SHA-256 of each checkpoint's files, verified before a restore
    workdir/result.json      final metrics, parameter count, FLOPs, throughput, shift consistency

Training is the study's jit-compiled step (``common.study.Study.build_steps``) run ``eval_every`` steps
per call (one ``lax.scan``, or one jitted step per batch, as the study says), with
the batch sharded over all devices of all processes (a ``Mesh`` with one ``data`` axis; each process
gathers only its own rows of every batch) and the parameters replicated; with
``config.distributed.enabled`` the processes first join through ``jax.distributed`` (see
``distributed.py``) and only process 0 writes files. All randomness comes from ``config.seed``; the
data order is a pure function of (seed, step), so a checkpoint (params, optimizer state, step) is
all a restart needs: a run killed at any moment (SIGKILL included) and restarted with the same
command resumes from its latest checkpoint, drops metric lines past it, and ends with the same
numbers as an uninterrupted run. A non-finite loss stops the run with an error naming the step.
Compiled functions are cached per (model, optimizer, shapes) inside the process, so sweeps compile
each variant once.

The command line is ``common/cli.py``, run through each study's ``main.py``::

    python -m experiments.downsampling.main --config experiments/downsampling/configs/mnist1d_pooling.py \
        --workdir runs/one --config.model.downsample=max_pool
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import tqdm

from experiments.common import checkpoints as _checkpoints
from experiments.common import distributed as _distributed
from experiments.common import io as _io
from experiments.common import metrics as _metrics
from experiments.common import runfolder
from experiments.common.data import Dataset
from experiments.common.metrics import count_params, crop_shift_consistency, flops_per_example, shift_consistency
from experiments.common.steps import Compiled, batch_indices, compiled_functions
from experiments.common.study import Study


def _eval_rows(fns: Compiled, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """This process's example indices in the eval batch starting at ``start`` (rows past ``n`` are padding
    that repeats example 0) and their float32 weights (1 real, 0 padding)."""
    rows = np.arange(start, start + fns.eval_batch_size)[fns.eval_rows]
    real = rows < n
    return np.where(real, rows, 0), real.astype(np.float32)


def _evaluate(fns: Compiled, params: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean loss and accuracy (%) over ``x``, in fixed-size padded batches (one compiled shape)."""
    loss_sum = correct = 0.0
    for start in range(0, len(y), fns.eval_batch_size):
        rows, w = _eval_rows(fns, start, len(y))
        ls, cs = fns.eval_sums(params, fns.put_eval(x[rows]), fns.put_eval(y[rows]), fns.put_eval(w))
        loss_sum += float(ls)
        correct += float(cs)
    return loss_sum / len(y), 100.0 * correct / len(y)


def _predict(fns: Compiled, params: Any, x: np.ndarray) -> np.ndarray:
    """Top-1 predictions for ``x`` in padded batches of ``eval_batch_size``."""
    size, out = fns.eval_batch_size, []
    for start in range(0, len(x), size):
        rows, _ = _eval_rows(fns, start, len(x))
        out.append(np.asarray(fns.predict(params, fns.put_eval(x[rows])))[: len(x) - start])
    return np.concatenate(out)


def _last_good(manager: Any, workdir: Path) -> str:
    """Where a diverged run can restart from: its newest saved checkpoint, or that none was saved yet."""
    step = manager.latest_step()
    if step is None:
        return f"no checkpoint saved yet in {workdir / 'checkpoints'}"
    return f"last good checkpoint: step {step} in {workdir / 'checkpoints'}"


def _eval_record(fns: Compiled, params: Any, data: Dataset, step: int) -> dict[str, float]:
    train_loss, train_acc = _evaluate(fns, params, data.x_train, data.y_train)
    test_loss, test_acc = _evaluate(fns, params, data.x_test, data.y_test)
    return {
        "step": step,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
    }


def train_and_evaluate(
    study: Study,
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    overwrite: bool = False,
    restart: bool = False,
) -> dict[str, Any]:
    """Train one model as ``config`` says, log to ``workdir``, and return its final measurements.

    Args:
      study: the study the config belongs to (validation, data, step builder).
      config: a config of that study (``experiments/<study>/configs``), validated here before any compute.
      workdir: the run folder (created if missing). If it holds a finished run of the same config,
        its ``result.json`` is returned without training; if it holds checkpoints, training resumes
        from the latest one (metric lines past that step are dropped first). The folder is locked
        (``runfolder.lock`` on ``workdir/.lock``) for the whole call.
      overwrite: discard whatever run the folder holds (another config included) and start afresh.
      restart: the same as ``overwrite`` (the way on after a damaged checkpoint).

    Returns:
      The contents of ``result.json``: ``final`` (the last eval record), ``num_params``,
      ``flops_per_example`` (forward pass, XLA cost analysis), ``shift_consistency`` and
      ``shifted_test_acc`` (percent, circular shifts), ``shift_consistency_crop`` and ``shifted_test_acc_crop``
      (percent, crops of ``data.test_canvas``; only when the study's dataset has a canvas),
      ``num_devices`` (the data-parallel devices of all processes),
      and ``timing`` (wall-clock figures, the only fields that vary between identical runs).
      Studies whose steps give ``features`` add ``receptive_field`` (of the features the head reads,
      ``metrics.receptive_field``: an int for 1-D inputs, a list for 2-D).

    Raises:
      ValueError: for an invalid config (before compute; a batch size that does not divide over the
        devices of all processes names both numbers).
      runfolder.ConfigMismatch: the workdir holds a run of a different config (the message names the
        differing fields), unless ``overwrite``.
      runfolder.FolderBusy: another process holds the folder's lock (the message names its pid).
      FloatingPointError: if a training loss, or the evaluation loss after a chunk of steps, is not
        finite (the message names the step; the last good checkpoint stays in
        ``workdir/checkpoints``, and nothing past it is logged).
    """
    t_start = time.perf_counter()
    # before JAX's runtime starts (multi-process initialisation needs it untouched): only checks that start
    # none; the study's own (which may trace layers) after it
    study.check_launch(config)
    _distributed.initialize(config)
    devices = jax.devices()  # of every process
    study.check(config, num_devices=len(devices))
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    writer = _distributed.is_writer()  # only process 0 writes files
    with contextlib.ExitStack() as stack:
        if writer:
            stack.enter_context(runfolder.lock(workdir / ".lock", f"run folder {str(workdir)!r}"))
        if overwrite or restart:
            if writer:
                runfolder.clear(workdir)
        else:
            runfolder.check_config(workdir, config)
        if (workdir / "result.json").exists():
            return _io.read_json(workdir / "result.json")
        if writer:
            runfolder.record_config(workdir, config)
        return _train(study, config, workdir, writer, devices, t_start)


def _train(
    study: Study, config: ml_collections.ConfigDict, workdir: Path, writer: bool, devices: list[Any], t_start: float
) -> dict[str, Any]:
    """The body of ``train_and_evaluate`` once the folder is locked and its config recorded."""
    status = writer and config.progress_bar  # single runs: say what the first silent minute is spent on
    if status:
        print(f"{workdir.name}: loading data (generated and cached on first use)", file=sys.stderr, flush=True)
    data = study.load_data(config)
    if status:
        print(f"{workdir.name}: compiling the training step (once per model in a process)", file=sys.stderr,
              flush=True)  # fmt: skip
    fns = compiled_functions(study, config, data.num_classes, data.input_shape, devices)
    state = fns.init(config.seed)
    metrics_path = workdir / "metrics.jsonl"
    options = ocp.CheckpointManagerOptions(
        max_to_keep=2, create=True, enable_async_checkpointing=False
    )
    manager = ocp.CheckpointManager(workdir / "checkpoints", options=options)
    step, state = _checkpoints.restore(manager, workdir, state, writer)
    if step:
        if writer:
            _io.truncate_jsonl(metrics_path, step)
    elif writer:  # a fresh start: forget what a run killed before its first checkpoint logged
        metrics_path.unlink(missing_ok=True)
        shutil.rmtree(workdir / "tensorboard", ignore_errors=True)
    # On resume, TensorBoard hides the killed run's events past the checkpoint (purge_step).
    tb = None
    if writer:
        # Imported here: tensorboardX imports torch when it is installed (~1 s), which a CLI call that stops
        # at a bad argument, or a process that never writes, should not pay.
        from tensorboardX import SummaryWriter

        tb = SummaryWriter(str(workdir / "tensorboard"), purge_step=step + 1 if step else None)

    def log(record: dict[str, float]) -> None:
        if writer:
            _io.append_jsonl(metrics_path, record)
            for key, value in record.items():
                if key != "step":
                    tb.add_scalar(key, value, record["step"])

    if step == 0:
        log(_eval_record(fns, state["params"], data, 0))
    chunk_times, chunk_examples, record = [], [], None
    bar = tqdm.tqdm(
        total=config.num_steps,
        initial=step,
        disable=not (config.progress_bar and writer),
        leave=False,
        desc=f"{config.model.downsample} n={config.data.train_size} seed={config.seed}",
    )
    try:
        while step < config.num_steps:
            n = min(config.eval_every - step % config.eval_every, config.num_steps - step)
            idx = batch_indices(  # this process's rows of the global batches
                step, n, config.batch_size, len(data.y_train), config.seed, config.data.shuffle
            )[:, fns.batch_rows]
            t0 = time.perf_counter()
            state, losses = fns.train_chunk(
                state, fns.put_batch(data.x_train[idx]), fns.put_batch(data.y_train[idx])
            )
            losses = np.asarray(losses)
            chunk_times.append(time.perf_counter() - t0)
            chunk_examples.append(n * config.batch_size)
            if not np.all(np.isfinite(losses)):
                bad = int(np.argmin(np.isfinite(losses)))
                raise FloatingPointError(
                    f"non-finite training loss {losses[bad]} at step {step + bad} "
                    f"(downsample={config.model.downsample}, seed={config.seed}); "
                    f"{_last_good(manager, workdir)}"
                )
            step += n
            record = {
                **_eval_record(fns, state["params"], data, step),
                "batch_loss": float(losses.mean()),
            }
            if not all(np.isfinite(record[k]) for k in ("train_loss", "test_loss")):
                # The last update of the chunk made the parameters non-finite: neither log nor save them.
                raise FloatingPointError(
                    f"non-finite evaluation loss (train {record['train_loss']}, test {record['test_loss']}) "
                    f"after step {step} (downsample={config.model.downsample}, seed={config.seed}); "
                    f"{_last_good(manager, workdir)}"
                )
            log(record)
            if step % config.checkpoint_every == 0 or step == config.num_steps:
                manager.save(step, args=ocp.args.StandardSave(state))
                if writer:
                    _checkpoints.write_manifest(manager, workdir, step)
            bar.update(n)
            bar.set_postfix(test_acc=f"{record['test_acc']:.1f}")
    finally:
        bar.close()
        manager.wait_until_finished()
        manager.close()
        if tb is not None:
            tb.close()

    params = state["params"]
    final = record or _io.read_jsonl(metrics_path)[-1]
    shift = shift_consistency(
        lambda x: _predict(fns, params, x),
        data.x_test,
        data.y_test,
        config.shift.max_shift,
        config.shift.passes,
        config.shift.seed,
    )
    if data.test_canvas is not None:  # the same offsets, cropped from the canvas: nothing wraps around
        shift.update(crop_shift_consistency(lambda x: _predict(fns, params, x), data.test_canvas,
                                            data.canvas_margin, data.y_test, config.shift.max_shift,
                                            config.shift.passes, config.shift.seed))  # fmt: skip
    steady = (
        (chunk_times[1:], chunk_examples[1:])
        if len(chunk_times) > 1
        else (chunk_times, chunk_examples)
    )
    result = {
        "final": final,
        "num_params": count_params(params),
        "num_devices": len(devices),
        "flops_per_example": fns.flops(
            lambda: flops_per_example(fns.apply, params, data.input_shape)
        ),
        **_receptive_field(fns, params, data.input_shape),
        **shift,
        "timing": {
            "train_examples_per_s": sum(steady[1]) / sum(steady[0]) if steady[0] else float("nan"),
            "train_s": sum(chunk_times),
            "total_s": time.perf_counter() - t_start,
        },
    }
    if writer:
        _io.atomic_write_json(workdir / "result.json", result)
    return result


def _receptive_field(fns: Compiled, params: Any, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """``{"receptive_field": int (1-D) or list (N-d)}``, or ``{}`` when the study gives no ``features``."""
    if fns.features is None:
        return {}
    rf = fns.receptive_field(lambda: _metrics.receptive_field(fns.features, params, tuple(input_shape)))
    return {"receptive_field": rf[0] if len(rf) == 1 else list(rf)}
