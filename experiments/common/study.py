"""The one interface between ``common/`` and a study: what the trainer, the sweep runner and the CLI call.

A study (``experiments/<study>/train.py``) builds one ``Study`` from its own functions: its config
validation, its input pipeline and its step builder. ``common/`` never imports a study and never looks at
model or dataset names; it calls these fields. A ``Study`` holds only module-level functions, so it pickles
by reference (the sweep's worker processes receive it that way).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections

from experiments.common import distributed
from experiments.common.config import check_finite
from experiments.common.data import Dataset
from experiments.common.steps import StepFunctions


def no_step_key(config: ml_collections.ConfigDict) -> tuple[Any, ...]:
    """The default ``Study.step_key``: the compiled step depends on no field beyond ``model``,
    ``optimizer`` and the batch sizes."""
    del config
    return ()


@dataclasses.dataclass(frozen=True)
class Study:
    """A study as ``common/`` sees it.

    Attributes:
      name: the study's name (part of the compiled-functions cache key and of messages).
      validate: ``validate(config, num_devices)``: raise ``ValueError`` naming the field, its value and what
        is allowed, for the first problem of a study config (before any data is read or anything compiled).
        It checks the study's own fields and calls ``common.config.check_training``.
      load_data: ``load_data(config) -> Dataset``.
      build_steps: ``build_steps(config, num_classes, example_shape) -> StepFunctions`` (not yet compiled;
        ``common.steps.compiled_functions`` compiles and caches them).
      step_key: ``step_key(config) -> tuple`` of JSON-able values: the config fields outside ``model``,
        ``optimizer`` and the batch sizes that ``build_steps`` reads (they join the cache key).
    """

    name: str
    validate: Callable[[ml_collections.ConfigDict, int], None]
    load_data: Callable[[ml_collections.ConfigDict], Dataset]
    build_steps: Callable[[ml_collections.ConfigDict, int, Sequence[int]], StepFunctions]
    step_key: Callable[[ml_collections.ConfigDict], tuple[Any, ...]] = no_step_key

    def check_launch(self, config: ml_collections.ConfigDict) -> None:
        """The checks that start no JAX runtime (every number finite, the ``distributed`` section): what can
        run before ``jax.distributed.initialize``. :meth:`check` does the rest (the study's ``validate`` may
        trace layers, which starts the runtime).

        Raises:
          ValueError: naming the field, its value and what is allowed.
        """
        check_finite(config)
        distributed.validate(config)

    def check(self, config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
        """Validate ``config`` for this study: every number finite, the ``distributed`` section, then the
        study's ``validate``.

        Args:
          config: a study config.
          num_devices: devices a batch is split over.

        Raises:
          ValueError: naming the field, its value and what is allowed.
        """
        self.check_launch(config)
        self.validate(config, num_devices)
