"""What every study's input pipeline hands the trainer: a ``Dataset`` in host memory, plus the dataset
cache they share.

Generated or parsed arrays are cached as ``.npz`` files under one directory (the config's
``data.cache_dir``, else ``$JAXPOOL_CACHE``, else ``~/.cache/jaxpool``), written atomically; an unreadable
cache file is rebuilt, never trusted.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from experiments.common.io import atomic_save


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A classification dataset held in host memory.

    Attributes:
      name: dataset name ("mnist1d", "mnist", "cifar10").
      x_train: float32, ``(N_train, *spatial, channels)``, channels last.
      y_train: int32, ``(N_train,)``, labels in ``[0, num_classes)``.
      x_test: float32, ``(N_test, *spatial, channels)``.
      y_test: int32, ``(N_test,)``.
      num_classes: number of classes (10 for every dataset here).
      test_canvas: optional float32 ``(N_test, *(spatial + 2 S), channels)``: each test example inside a
        larger canvas of real content, the example itself in the middle (``test_canvas[:, S:-S, ..., :]`` is
        ``x_test``); the shift test that does not wrap around crops windows of it
        (``common.metrics.crop_shift_consistency``). None when the study has no canvas.
      canvas_margin: S, the canvas's margin on each side of every spatial axis (0 without a canvas).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = 10
    test_canvas: np.ndarray | None = None
    canvas_margin: int = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, ``(*spatial, channels)``."""
        return tuple(self.x_train.shape[1:])


def cache_dir(configured: str = "") -> Path:
    """The directory for cached datasets.

    Args:
      configured: the config's ``data.cache_dir``; empty means ``$JAXPOOL_CACHE`` or
        ``~/.cache/jaxpool``.

    Returns:
      The directory as an absolute ``Path`` (not created here).
    """
    chosen = configured or os.environ.get("JAXPOOL_CACHE", "") or "~/.cache/jaxpool"
    return Path(chosen).expanduser().resolve()


def load_cached(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Arrays ``keys`` from an ``.npz`` cache file, or None when it is missing or unreadable (the caller
    then rebuilds it)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in keys}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None


def save_cached(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to the ``.npz`` file ``path`` atomically (a temporary file, flushed, renamed)."""
    atomic_save(path, lambda tmp: np.savez(tmp, **arrays))
