"""One process of the two-process training test (run as a script by ``test_multihost.py``, not collected).

    python tests/experiments/_multiprocess_worker.py CONFIG_JSON WORKDIR OUT_PREFIX

Trains ``CONFIG_JSON`` (a study config whose ``distributed`` section names this process) with
``experiments.common.trainer.train_and_evaluate`` (the downsampling study) in ``WORKDIR`` and writes,
for the test to compare:
``OUT_PREFIX.npz`` (this process's copy of the final parameters, keyed by tree path) and ``OUT_PREFIX.json``
(process and device counts, the result, and the files this process wrote through ``experiments.common.io`` or
TensorBoard).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np


def main(config_path: str, workdir: str, out_prefix: str) -> None:
    import jax

    from experiments.common import io as _io
    from experiments.common import trainer as train_module
    from experiments.downsampling.train import STUDY

    config = ml_collections.ConfigDict(json.loads(Path(config_path).read_text(encoding="utf-8")))
    writes: list[str] = []
    real_bytes, real_append = _io.atomic_write_bytes, _io.append_jsonl

    def logged_bytes(path: Any, data: bytes) -> None:
        writes.append(str(path))
        real_bytes(path, data)

    def logged_append(path: Any, record: dict[str, Any]) -> None:
        writes.append(str(path))
        real_append(path, record)

    import tensorboardX  # the trainer imports SummaryWriter from it when it first writes

    real_writer = tensorboardX.SummaryWriter

    def logged_summary_writer(logdir: str, **kwargs: Any) -> Any:
        writes.append(logdir)
        return real_writer(logdir, **kwargs)

    _io.atomic_write_bytes, _io.append_jsonl = logged_bytes, logged_append
    tensorboardX.SummaryWriter = logged_summary_writer

    final: dict[str, Any] = {}
    real_compiled = train_module.compiled_functions

    def capturing_compiled(*args: Any, **kwargs: Any) -> Any:
        fns = real_compiled(*args, **kwargs)
        chunk = fns.train_chunk

        def train_chunk(*chunk_args: Any) -> Any:
            out = chunk(*chunk_args)
            final["state"] = out[0]
            return out

        fns.train_chunk = train_chunk
        return fns

    train_module.compiled_functions = capturing_compiled
    result = train_module.train_and_evaluate(STUDY, config, workdir)

    leaves = jax.tree_util.tree_flatten_with_path(final["state"]["params"])[0]
    params = {jax.tree_util.keystr(path): np.asarray(leaf.addressable_shards[0].data) for path, leaf in leaves}
    np.savez(out_prefix + ".npz", **params)
    info = {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
        "final": result["final"],
        "writes": writes,
    }
    Path(out_prefix + ".json").write_text(json.dumps(info), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
