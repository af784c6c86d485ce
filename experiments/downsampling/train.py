"""Training of the downsampling study: its optimizer, its step, and ``train_and_evaluate``.

``build_steps`` describes one optax step of the CNNs in ``models.py`` (cross-entropy, Adam or SGD, PyTorch's
default initialisation drawn with NumPy); ``STUDY`` bundles it with this study's config validation and
input pipeline for ``common/`` (the trainer, the sweep runner, the CLI). A chunk of steps runs as one
``lax.scan``.

    from experiments.downsampling import train
    from experiments.downsampling.configs import mnist1d_pooling
    result = train.train_and_evaluate(mnist1d_pooling.get_config(), "runs/one")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import optax

from experiments.common import trainer
from experiments.common.metrics import cross_entropy
from experiments.common.steps import StepFunctions
from experiments.common.study import Study
from experiments.downsampling.input_pipeline import load_data
from experiments.downsampling.models import create_model, init_params
from experiments.downsampling.validation import validate_config


def make_optimizer(optimizer: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """The optax optimizer of the config's ``optimizer`` section.

    ``adam``: ``optax.adam(learning_rate)`` (b1 0.9, b2 0.999, eps 1e-8: ``torch.optim.Adam``'s
    defaults); ``sgd``: ``optax.sgd(learning_rate, momentum)``.

    Raises:
      ValueError: for another ``optimizer.name``.
    """
    if optimizer.name == "adam":
        return optax.adam(optimizer.learning_rate)
    if optimizer.name == "sgd":
        return optax.sgd(optimizer.learning_rate, momentum=optimizer.momentum or None)
    raise ValueError(f"optimizer.name={optimizer.name!r} is not one of ['adam', 'sgd']")


def build_steps(config: ml_collections.ConfigDict, num_classes: int, example_shape: Sequence[int]) -> StepFunctions:
    """This study's ``Study.build_steps``: state ``{"params", "opt_state"}``, one optax step per batch.

    Args:
      config: a validated config of this study (``model``, ``optimizer``).
      num_classes: number of logits.
      example_shape: one example's shape ``(*spatial, channels)``.

    Returns:
      ``StepFunctions`` with ``scan=True``; ``init(seed)`` draws the parameters with ``models.init_params``;
      ``features`` is the models' ``features_only`` map (the head's input before the flatten/global mean).
    """
    model = create_model(config.model, num_classes)
    tx = make_optimizer(config.optimizer)
    init_opt = jax.jit(tx.init)

    def init(seed: int) -> dict[str, Any]:
        params = jax.device_put(init_params(model, example_shape, seed))
        return {"params": params, "opt_state": init_opt(params)}

    def step(state: dict[str, Any], x: jax.Array, y: jax.Array) -> tuple[dict[str, Any], jax.Array]:
        loss, grads = jax.value_and_grad(lambda p: cross_entropy(model.apply(p, x), y))(state["params"])
        # optax's bias correction mixes Python floats and int32 counts, which strict dtype
        # promotion (used by the test suite) rejects; our own code stays strict.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt_state": opt_state}, loss

    def features(params: Any, x: jax.Array) -> jax.Array:
        return model.apply(params, x, features_only=True)

    return StepFunctions(init=init, step=step, apply=model.apply, scan=True, features=features)


#: The downsampling study as ``common/`` calls it.
STUDY = Study(name="downsampling", validate=validate_config, load_data=load_data, build_steps=build_steps)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """Train one config of this study into the run folder ``workdir``: ``common.trainer.train_and_evaluate``
    with ``STUDY`` (see there for the folder's contents, the result and the errors)."""
    return trainer.train_and_evaluate(STUDY, config, workdir)
