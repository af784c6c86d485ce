"""What every study's input pipeline hands the trainer: a ``Dataset`` in host memory, plus the dataset
cache they share.

Generated or parsed arrays are cached as ``.npz`` files under one directory (the config's
``data.cache_dir``, else ``$JAXPOOL_CACHE``, else ``~/.cache/jaxpool``), written atomically. ``read_npz``
checks every member's ``.npy`` header against the bytes the member holds before NumPy allocates anything, so a
truncated file or a header claiming 2**40 elements is a ``ValueError`` naming the path, never
``zipfile.BadZipFile`` or ``MemoryError``; a cache file that fails it is rebuilt (one line on stderr says
so), never trusted.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
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


def _check_member(path: Path, archive: zipfile.ZipFile, key: str) -> None:
    """Refuse member ``key.npy`` unless its header's shape x itemsize is exactly the data it holds."""
    try:
        info = archive.getinfo(key + ".npy")
    except KeyError:
        raise ValueError(f"{path}: no array {key!r} in the file (it holds {archive.namelist()})") from None
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"{path}: array {key!r} has .npy format version {version}; expected 1.0 or 2.0")
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
        held = info.file_size - f.tell()
    if dtype.hasobject:
        raise ValueError(f"{path}: array {key!r} holds Python objects (dtype {dtype}); refused")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed != held:
        raise ValueError(
            f"{path}: array {key!r} claims shape {shape} of {dtype} ({claimed} bytes) but holds {held} bytes"
        )


def read_npz(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of the ``.npz`` file ``path``, each header checked before any array is allocated.

    Args:
      path: an ``.npz`` file written by ``np.savez`` (or ``savez_compressed``).
      keys: the member arrays to read.

    Returns:
      ``{key: array}`` as stored.

    Raises:
      ValueError: naming ``path`` and the cause, when the file is missing or unreadable, is not a zip file
        or is truncated, lacks a key, holds object arrays, a member's header claims more or fewer bytes than
        the member holds (checked before allocation: a forged shape of 2**40 elements is refused here), or
        a member's data fails its CRC.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            for key in keys:
                _check_member(path, archive, key)
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in keys}
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as e:
        if isinstance(e, ValueError) and str(e).startswith(f"{path}: "):
            raise
        raise ValueError(f"{path}: damaged or unreadable .npz file ({type(e).__name__}: {e})") from e


def load_cached(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Arrays ``keys`` from an ``.npz`` cache file (via ``read_npz``), or None when it is missing or damaged
    (the caller then rebuilds it; a damaged file is named on stderr with the cause)."""
    if not path.exists():
        return None
    try:
        return read_npz(path, keys)
    except ValueError as e:
        print(f"cache file damaged, rebuilding it: {e}", file=sys.stderr, flush=True)
        return None


def save_cached(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to the ``.npz`` file ``path`` atomically (a temporary file, flushed, renamed)."""
    atomic_save(path, lambda tmp: np.savez(tmp, **arrays))
