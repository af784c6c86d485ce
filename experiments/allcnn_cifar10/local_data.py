"""Loaders for a CIFAR-10 copy a user already has on disk (python batches or binary), read without running
any code from the files.

Every loader returns a ``LocalDataset`` of raw uint8 images, channels last ``(N, 32, 32, 3)``, and int32
labels in ``[0, 10)``. Nothing is normalised here (``input_pipeline.py`` preprocesses). Shapes, dtypes,
label ranges and record counts are checked; a missing or malformed file raises ``FileNotFoundError`` /
``ValueError`` naming the path and the layout expected. The formats are the publisher's:
https://www.cs.toronto.edu/~kriz/cifar.html.

CIFAR-10 python batches are pickles. They are read by ``_CifarUnpickler``, whose ``find_class`` resolves
only an allow-list: the NumPy array reconstruction names and five builtin type constructors; any other
global is refused before it is looked up, so a pickle that would run code raises
``pickle.UnpicklingError`` and nothing runs.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

#: (train, test) record counts of the full datasets, for ``expect_counts``.
FULL_COUNTS = {"cifar10": (50_000, 10_000)}
NUM_CLASSES = 10
_CIFAR_PIXELS = 3 * 32 * 32
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_PY_LAYOUT = (
    "a CIFAR-10 python batch: a pickled dict with 'data' (uint8 ndarray (N, 3072), rows of 1024 red, "
    "1024 green, 1024 blue pixels) and 'labels' (N ints in 0..9), keys bytes or str"
)
_BIN_LAYOUT = "CIFAR-10 binary batch: records of 1 label byte (0..9) then 3072 pixel bytes (R, G, B planes)"


@dataclasses.dataclass(frozen=True)
class LocalDataset:
    """A dataset read from local files, raw pixels in host memory.

    Attributes:
      name: "cifar10".
      x_train: uint8, ``(N_train, H, W, C)`` channels last, pixels 0..255 as stored.
      y_train: int32, ``(N_train,)``, labels in ``[0, num_classes)``.
      x_test: uint8, ``(N_test, H, W, C)``.
      y_test: int32, ``(N_test,)``.
      label_names: one name per class (from the copy's meta file, else "0".."9").
      num_classes: 10.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    label_names: tuple[str, ...]
    num_classes: int = NUM_CLASSES

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, ``(H, W, C)``."""
        return tuple(self.x_train.shape[1:])


def _np_global(name: str) -> Any:
    reconstruct = np.zeros(0).__reduce__()[0]  # numpy's own _reconstruct, without importing numpy.core
    return {"_reconstruct": reconstruct, "ndarray": np.ndarray, "dtype": np.dtype}[name]


#: (module, name) -> object: everything a CIFAR-10 python batch may reference. Python 2's cPickle wrote the
#: real files with protocol 2; their only globals are the three NumPy names (dicts, lists, ints and strings
#: have their own opcodes). NumPy 2 spells the module ``numpy._core.multiarray``. The builtin type
#: constructors cover Python 3 writers (``__builtin__`` is the Python 2 spelling, as ``fix_imports`` maps).
_ALLOWED: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _np_global("_reconstruct") for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(m, t.__name__): t for m in ("builtins", "__builtin__") for t in (dict, list, bytes, int, str)},
}


class UnsafePickleError(pickle.UnpicklingError):
    """A CIFAR-10 pickle referenced a global outside the allow-list (the message names file and global)."""


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler resolving only ``_ALLOWED``; every other global (and any persistent id) is refused."""

    def __init__(self, file: io.BufferedIOBase, path: Path) -> None:
        super().__init__(file, encoding="bytes")  # Python 2 str -> bytes, as the CIFAR-10 page advises
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        allowed = sorted({f"{m}.{n}" for m, n in _ALLOWED})
        raise UnsafePickleError(
            f"{self._path}: refused to unpickle global '{module}.{name}'; a CIFAR-10 python batch may only "
            f"reference {allowed}. The file is not a genuine CIFAR-10 batch and may try to run code."
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._path}: refused persistent id {pid!r} in a CIFAR-10 python batch")


def _refuse_extension_opcodes(raw: bytes, path: Path) -> None:
    """Refuse EXT1/2/4 before loading: they resolve through copyreg's process-wide extension cache, which may
    hand back a callable without calling ``find_class``."""
    for op, arg, pos in pickletools.genops(raw):
        if op.name.startswith("EXT"):
            raise UnsafePickleError(f"{path}: refused extension-registry opcode {op.name} (code {arg}) at byte {pos}")


def _open_existing(path: Path, layout: str) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; expected {layout}")
    return path.read_bytes()


def _unpickle(path: Path, layout: str) -> dict[str, Any]:
    """A CIFAR-10 pickle as a dict with str keys, read by the restricted unpickler."""
    raw = _open_existing(path, layout)
    try:
        _refuse_extension_opcodes(raw, path)
        obj = _CifarUnpickler(io.BytesIO(raw), path).load()
    except UnsafePickleError:
        raise
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: unreadable pickle ({exc}); expected {layout}") from exc
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError, MemoryError) as exc:
        raise ValueError(f"{path}: unreadable pickle ({type(exc).__name__}: {exc}); expected {layout}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: pickle holds {type(obj).__name__}, not a dict; expected {layout}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _labels(values: Any, count: int, path: Path, layout: str) -> np.ndarray:
    """Labels as int32 ``(count,)`` after checking they are integers in ``[0, 10)``."""
    try:
        y = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged or odd nesting
        raise ValueError(f"{path}: labels unreadable ({exc}); expected {layout}") from exc
    if y.shape != (count,) or y.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: labels have shape {y.shape} and dtype {y.dtype}, expected {count} integers; expected {layout}"
        )
    if count and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: labels span [{y.min()}, {y.max()}], outside 0..9; expected {layout}")
    return y.astype(np.int32)


def _cifar_images(flat: np.ndarray) -> np.ndarray:
    """``(N, 3072)`` rows of R, G, B planes -> ``(N, 32, 32, 3)`` channels last, contiguous."""
    return np.ascontiguousarray(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _check_counts(ds: LocalDataset, expect: tuple[int, int] | None, where: Path) -> LocalDataset:
    got = (len(ds.y_train), len(ds.y_test))
    if expect is not None and got != tuple(expect):
        raise ValueError(f"{where}: found (train, test) = {got} records, expect_counts={tuple(expect)}")
    return ds


def _read_py_batch(path: Path, per_batch: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path, _PY_LAYOUT)
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path}: keys {sorted(map(str, batch))} lack 'data'/'labels'; expected {_PY_LAYOUT}")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != (per_batch, _CIFAR_PIXELS):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(
            f"{path}: 'data' is {desc}, expected uint8 ({per_batch}, {_CIFAR_PIXELS}) (num_cases_per_batch "
            f"from batches.meta); expected {_PY_LAYOUT}"
        )
    return _cifar_images(data), _labels(batch["labels"], per_batch, path, _PY_LAYOUT)


def load_cifar10_python(directory: str | Path, *, expect_counts: tuple[int, int] | None = None) -> LocalDataset:
    """CIFAR-10 from the python-batch folder (``cifar-10-batches-py/``), read with a restricted unpickler.

    Layout (cs.toronto.edu/~kriz/cifar.html): ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``,
    each a protocol-2 pickle of a dict with ``data`` (uint8 ``(N, 3072)``: 1024 red, 1024 green, 1024 blue
    pixels, row-major) and ``labels`` (N ints), and ``batches.meta`` with ``label_names`` (10 names) and
    ``num_cases_per_batch`` (N, 10000 in the real files). The unpickler resolves only the NumPy array
    reconstruction names (``numpy.core.multiarray._reconstruct``, ``numpy._core.multiarray._reconstruct``,
    ``numpy.ndarray``, ``numpy.dtype``) and builtins ``dict, list, bytes, int, str``; anything else is
    refused before it is imported or called.

    Args:
      directory: the folder holding the seven files.
      expect_counts: if given, the required ``(train, test)`` record totals, e.g.
        ``FULL_COUNTS["cifar10"]``; by default only each batch's agreement with ``batches.meta`` is checked.

    Returns:
      A ``LocalDataset`` named "cifar10": uint8 ``(5 N, 32, 32, 3)`` / ``(N, 32, 32, 3)`` images (HWC,
      RGB) and int32 labels in ``[0, 10)``, train batches in order 1..5.

    Raises:
      FileNotFoundError: a file is missing (the message names it and the layout).
      UnsafePickleError: (a ``pickle.UnpicklingError``) a pickle references a global outside the
        allow-list, a persistent id or an extension-registry (EXT) opcode; the message names the file and
        what was refused.
      ValueError: a malformed file (unreadable pickle, wrong keys, dtype, shape, record count or a label
        outside 0..9), or totals differing from ``expect_counts``.
    """
    root = Path(directory)
    meta_layout = "batches.meta: a pickled dict with 'label_names' (10 names) and 'num_cases_per_batch' (int)"
    meta = _unpickle(root / "batches.meta", meta_layout)
    names, per_batch = meta.get("label_names"), meta.get("num_cases_per_batch")
    if not isinstance(names, list) or len(names) != NUM_CLASSES or type(per_batch) is not int or per_batch < 1:
        raise ValueError(
            f"{root / 'batches.meta'}: got label_names={names!r}, num_cases_per_batch={per_batch!r}; "
            f"expected {meta_layout}"
        )
    label_names = tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)
    train = [_read_py_batch(root / f, per_batch) for f in _CIFAR_TRAIN]
    x_test, y_test = _read_py_batch(root / "test_batch", per_batch)
    x_train, y_train = np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])
    return _check_counts(LocalDataset("cifar10", x_train, y_train, x_test, y_test, label_names), expect_counts, root)


def _read_bin_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(_open_existing(path, _BIN_LAYOUT), dtype=np.uint8)
    if raw.size == 0 or raw.size % (1 + _CIFAR_PIXELS):
        raise ValueError(f"{path}: {raw.size} bytes is not a positive multiple of 3073; expected {_BIN_LAYOUT}")
    records = raw.reshape(-1, 1 + _CIFAR_PIXELS)
    return _cifar_images(records[:, 1:]), _labels(records[:, 0], len(records), path, _BIN_LAYOUT)


def load_cifar10_binary(directory: str | Path, *, expect_counts: tuple[int, int] | None = None) -> LocalDataset:
    """CIFAR-10 from the binary folder (``cifar-10-batches-bin/``).

    Layout (cs.toronto.edu/~kriz/cifar.html): ``data_batch_1.bin`` .. ``data_batch_5.bin`` and
    ``test_batch.bin``, each a run of 3073-byte records (1 label byte, then 3072 pixel bytes: the red,
    green and blue 32x32 planes, row-major), 10000 records per file in the real set; optional
    ``batches.meta.txt`` with one class name per line.

    Args:
      directory: the folder holding the six ``.bin`` files.
      expect_counts: if given, the required ``(train, test)`` record totals (see ``FULL_COUNTS``); by
        default the six files must only hold the same number of records each, as the real ones do.

    Returns:
      A ``LocalDataset`` named "cifar10" (as ``load_cifar10_python``); label names from
      ``batches.meta.txt``, or "0".."9" when it is absent.

    Raises:
      FileNotFoundError: a ``.bin`` file is missing.
      ValueError: a file's size is not a positive multiple of 3073, files differ in record count, a label
        is outside 0..9, ``batches.meta.txt`` does not hold 10 names, or totals differ from ``expect_counts``.
    """
    root = Path(directory)
    batches = [_read_bin_batch(root / f"{f}.bin") for f in (*_CIFAR_TRAIN, "test_batch")]
    counts = [len(b[1]) for b in batches]
    if len(set(counts)) != 1:
        raise ValueError(
            f"{root}: record counts {counts} of data_batch_1..5.bin, test_batch.bin differ; "
            f"expected the same count in every {_BIN_LAYOUT}"
        )
    label_names = tuple(str(i) for i in range(NUM_CLASSES))
    meta = root / "batches.meta.txt"
    if meta.is_file():
        label_names = tuple(s.strip() for s in meta.read_text("latin1").splitlines() if s.strip())
        if len(label_names) != NUM_CLASSES:
            raise ValueError(f"{meta}: {len(label_names)} names, expected 10 class names, one per line")
    x_train, y_train = np.concatenate([b[0] for b in batches[:5]]), np.concatenate([b[1] for b in batches[:5]])
    ds = LocalDataset("cifar10", x_train, y_train, *batches[5], label_names=label_names)
    return _check_counts(ds, expect_counts, root)


#: name -> (loader, standard folder or file under ``root``).
LOCAL_LOADERS = {
    "cifar10_py": (load_cifar10_python, "cifar-10-batches-py"),
    "cifar10_bin": (load_cifar10_binary, "cifar-10-batches-bin"),
}


def load_local_dataset(name: str, root: str | Path, *, expect_counts: tuple[int, int] | None = None) -> LocalDataset:
    """Load a local dataset by format name.

    Args:
      name: one of ``LOCAL_LOADERS``: "cifar10_py", "cifar10_bin".
      root: the dataset's folder, or its parent holding the standard name (``cifar-10-batches-py``,
        ``cifar-10-batches-bin``).
      expect_counts: passed to the loader (see ``FULL_COUNTS``).

    Returns:
      The ``LocalDataset`` (see the individual loaders for layouts).

    Raises:
      ValueError: an unknown ``name`` (the message lists the allowed ones), or the loader's errors.
      FileNotFoundError: ``root`` or a file under it is missing.
    """
    if name not in LOCAL_LOADERS:
        raise ValueError(f"name={name!r} is not one of {sorted(LOCAL_LOADERS)}")
    loader, standard = LOCAL_LOADERS[name]
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"root={str(root)!r} does not exist; expected the {name} folder or its parent")
    if standard and (root / standard).exists():
        root = root / standard
    return loader(root, expect_counts=expect_counts)
