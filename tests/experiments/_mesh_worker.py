"""Run in a subprocess with 8 fake CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``): the
downsampling study's training step for every variant on one device, on an ``AxisType.Auto`` data mesh and on an
``AxisType.Explicit`` one; prints one JSON line per (variant, mesh) with the largest differences from the
1-device step and the collectives in the compiled batch-sharded forward pass."""

from __future__ import annotations

import json
import re
import sys

import jax
import numpy as np

from experiments.common.steps import compiled_functions
from experiments.downsampling.configs import mnist1d_pooling
from experiments.downsampling.train import STUDY

COLLECTIVES = re.compile(r"\b(all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter)\b")


def main(variants: list[str]) -> None:
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((3, 16, 40, 1)).astype(np.float32)
    ys = rng.integers(0, 10, (3, 16)).astype(np.int32)
    for variant in variants:
        config = mnist1d_pooling.get_config()
        config.model.downsample = variant
        config.batch_size, config.eval_batch_size = 16, 16
        results = {}
        for mesh, devices in (("one", jax.devices()[:1]), ("auto", jax.devices()), ("explicit", jax.devices())):
            config.distributed.mesh = "explicit" if mesh == "explicit" else "auto"
            fns = compiled_functions(STUDY, config, 10, (40, 1), devices)
            state, losses = fns.train_chunk(fns.init(0), fns.put_batch(xs), fns.put_batch(ys))
            forward = jax.jit(fns.apply).lower(state["params"], fns.put_eval(xs[0])).compile()
            logits = forward(state["params"], fns.put_eval(xs[0]))  # the eval forward on a batch-sharded input
            hlo = forward.as_text()
            results[mesh] = (np.asarray(losses), [np.asarray(p) for p in jax.tree.leaves(state["params"])],
                             np.asarray(logits), sorted(set(COLLECTIVES.findall(hlo))), str(logits.sharding.spec))
        ref = results["one"]
        for mesh in ("auto", "explicit"):
            got = results[mesh]
            print(json.dumps({
                "variant": variant, "mesh": mesh, "devices": len(jax.devices()),
                "losses": got[0].tolist(), "ref_losses": ref[0].tolist(),
                "loss_diff": float(np.max(np.abs(got[0] - ref[0]))),
                "param_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(got[1], ref[1], strict=True)),
                "logit_diff": float(np.max(np.abs(got[2] - ref[2]))),
                "forward_collectives": got[3], "logits_spec": got[4],
            }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
