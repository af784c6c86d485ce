"""Local CIFAR-10 copies: tiny files written in the published layouts (python and binary batches) load back to
the values written; malformed files raise errors naming the path; and pickles that try to run code are refused
without running anything.

The pixel layouts are encoded here with explicit loops straight from the format descriptions (CIFAR-10: per
record, 1024 red, 1024 green, 1024 blue bytes, each plane row-major),
independently of the loader's reshapes. The CIFAR-10 python batches are written opcode by opcode as Python 2's
cPickle (protocol 2) wrote the real files: Python 2 ``str`` keys as SHORT_BINSTRING, NumPy arrays through
``numpy.core.multiarray._reconstruct``. (Python 3's ``pickle.dumps(protocol=2)`` cannot write those bytes: it
encodes ``bytes`` through the global ``_codecs.encode``, which the allow-list refuses; see the test below.)
"""

from __future__ import annotations

import copyreg
import os
import pickle
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from experiments.allcnn_cifar10.local_data import (
    FULL_COUNTS,
    UnsafePickleError,
    load_cifar10_binary,
    load_cifar10_python,
    load_local_dataset,
)

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def _py2_pickle(obj: Any) -> bytes:
    """Protocol-2 bytes as Python 2's cPickle wrote them (memo opcodes left out; loading ignores them)."""
    out = bytearray(b"\x80\x02")

    def put(o: Any) -> None:
        if o is None:
            out.extend(b"N")
        elif isinstance(o, int) and 0 <= o < 256:
            out.extend(b"K" + bytes([o]))
        elif isinstance(o, int) and 0 <= o < 65536:
            out.extend(b"M" + o.to_bytes(2, "little"))
        elif isinstance(o, int):
            out.extend(b"J" + o.to_bytes(4, "little", signed=True))
        elif isinstance(o, bytes):  # a Python 2 str
            out.extend((b"U" + bytes([len(o)]) if len(o) < 256 else b"T" + len(o).to_bytes(4, "little")) + o)
        elif isinstance(o, tuple):
            out.extend(b"(")
            for v in o:
                put(v)
            out.extend(b"t")
        elif isinstance(o, list):
            out.extend(b"](")
            for v in o:
                put(v)
            out.extend(b"e")
        elif isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                put(k)
                put(v)
            out.extend(b"u")
        elif isinstance(o, np.ndarray):  # ndarray.__reduce__ of NumPy 1.x under Python 2
            assert o.dtype == np.uint8 and o.flags.c_contiguous
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            put((0,))
            put(b"b")
            out.extend(b"\x87R(")  # TUPLE3, REDUCE, MARK for the state tuple
            put(1)
            put(o.shape)
            out.extend(b"cnumpy\ndtype\n")
            put((b"u1", 0, 1))
            out.extend(b"R")
            put((3, b"|", None, None, None, -1, -1, 0))
            out.extend(b"b\x89")  # BUILD the dtype; NEWFALSE (not Fortran order)
            put(o.tobytes())
            out.extend(b"tb")
        else:
            raise TypeError(type(o))

    put(obj)
    return bytes(out + b".")


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    """NHWC uint8 images -> (N, 3072) rows: 1024 red, 1024 green, 1024 blue bytes, each plane row-major."""
    rows = np.zeros((len(images), 3072), np.uint8)
    for n in range(len(images)):
        for ch in range(3):
            for r in range(32):
                for c in range(32):
                    rows[n, ch * 1024 + r * 32 + c] = images[n, r, c, ch]
    return rows


def _split(seed: int, n: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int32)
    labels[:2] = [0, 9]
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), labels


def _write_cifar_py(root: Path, n: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "batches.meta").write_bytes(
        _py2_pickle({b"num_cases_per_batch": n, b"label_names": NAMES, b"num_vis": 3072})
    )
    written = {}
    for i, name in enumerate([*TRAIN, "test_batch"]):
        x, y = _split(i, n, (32, 32, 3))
        batch = {
            b"batch_label": b"batch %d" % i,
            b"labels": [int(v) for v in y],
            b"data": _cifar_rows(x),
            b"filenames": [b"img_%d.png" % j for j in range(n)],
        }
        (root / name).write_bytes(_py2_pickle(batch))
        written[name] = (x, y)
    return written


def _write_cifar_bin(root: Path, n: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate([*TRAIN, "test_batch"]):
        x, y = _split(10 + i, n, (32, 32, 3))
        rows = _cifar_rows(x)
        (root / f"{name}.bin").write_bytes(b"".join(bytes([int(y[k])]) + rows[k].tobytes() for k in range(n)))
        written[name] = (x, y)
    (root / "batches.meta.txt").write_text("\n".join(s.decode() for s in NAMES) + "\n\n")
    return written


def _check(
    ds: Any,
    name: str,
    train: list[tuple[np.ndarray, np.ndarray]],
    test: tuple[np.ndarray, np.ndarray],
    hwc: tuple[int, int, int],
) -> None:
    assert ds.name == name and ds.input_shape == hwc and ds.num_classes == 10
    assert ds.x_train.dtype == ds.x_test.dtype == np.uint8 and ds.y_train.dtype == ds.y_test.dtype == np.int32
    np.testing.assert_array_equal(ds.x_train, np.concatenate([x for x, _ in train]).reshape(-1, *hwc))
    np.testing.assert_array_equal(ds.y_train, np.concatenate([y for _, y in train]))
    np.testing.assert_array_equal(ds.x_test, test[0].reshape(-1, *hwc))
    np.testing.assert_array_equal(ds.y_test, test[1])


def _raises(exc: type[Exception], path: Path, *fragments: str) -> Any:
    return pytest.raises(exc, match=re.escape(str(path)) + ".*" + ".*".join(map(re.escape, fragments)))


# ---------------------------------------------------------------- values written come back


def test_cifar10_python_batches_load_the_values_written(tmp_path: Path) -> None:
    written = _write_cifar_py(tmp_path / "cifar-10-batches-py")
    ds = load_cifar10_python(tmp_path / "cifar-10-batches-py")
    _check(ds, "cifar10", [written[b] for b in TRAIN], written["test_batch"], (32, 32, 3))
    assert ds.label_names == tuple(s.decode() for s in NAMES) and len(ds.y_train) == 15
    # Hand check of the plane layout: pixel (row 1, col 2, green) of test image 0 is byte 1024 + 32 + 2.
    row = _cifar_rows(written["test_batch"][0])[0]
    assert ds.x_test[0, 1, 2, 1] == row[1024 + 1 * 32 + 2] == written["test_batch"][0][0, 1, 2, 1]
    again = load_local_dataset("cifar10_py", tmp_path)  # the parent folder works too
    np.testing.assert_array_equal(again.x_train, ds.x_train)


@pytest.mark.parametrize("protocol", [3, 4])
def test_cifar10_python_batches_pickled_by_python3_load(tmp_path: Path, protocol: int) -> None:
    """Python 3 pickles (str keys, NumPy 2's ``numpy._core`` spelling) use only allowed globals."""
    _write_cifar_py(tmp_path)
    x, y = _split(99, 3, (32, 32, 3))
    data = pickle.dumps({"data": _cifar_rows(x), "labels": [int(v) for v in y]}, protocol=protocol)
    assert int(np.__version__.split(".")[0]) < 2 or b"numpy._core.multiarray" in data
    (tmp_path / "test_batch").write_bytes(data)
    ds = load_cifar10_python(tmp_path)
    np.testing.assert_array_equal(ds.x_test, x)
    np.testing.assert_array_equal(ds.y_test, y)


def test_cifar10_binary_batches_load_the_values_written(tmp_path: Path) -> None:
    written = _write_cifar_bin(tmp_path / "cifar-10-batches-bin")
    ds = load_local_dataset("cifar10_bin", tmp_path)
    _check(ds, "cifar10", [written[b] for b in TRAIN], written["test_batch"], (32, 32, 3))
    assert ds.label_names[0] == "airplane" and ds.label_names[9] == "truck"


class _Payload:
    """Unpickling this runs ``call(*args)``; every variant would create the marker file."""

    def __init__(self, call: Any, args: tuple[Any, ...]) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.call, self.args


def _payloads(marker: Path) -> dict[str, _Payload]:
    return {
        "os.system": _Payload(os.system, (f"touch {shlex.quote(str(marker))}",)),
        "eval": _Payload(eval, (f"open({str(marker)!r}, 'w').close()",)),
        "subprocess": _Payload(subprocess.call, (["touch", str(marker)],)),
        "exec": _Payload(exec, (f"open({str(marker)!r}, 'w').close()",)),
    }


@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize("kind", ["os.system", "eval", "subprocess", "exec"])
def test_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path: Path, kind: str, protocol: int) -> None:
    _write_cifar_py(tmp_path)
    marker = tmp_path / "PWNED"
    evil = pickle.dumps({"data": _payloads(marker)[kind], "labels": [0]}, protocol=protocol)  # str keys: no globals
    (tmp_path / "data_batch_3").write_bytes(evil)
    with pytest.raises(pickle.UnpicklingError, match="refused to unpickle global") as info:
        load_cifar10_python(tmp_path)
    assert isinstance(info.value, UnsafePickleError)
    message = str(info.value)
    assert str(tmp_path / "data_batch_3") in message and "refused to unpickle global" in message
    builtins = "__builtin__" if protocol < 3 else "builtins"  # pickle's Python 2 spellings below protocol 3
    subproc = "commands" if protocol < 3 else "subprocess"
    refused = {"os.system": f"{os.system.__module__}.system", "eval": f"{builtins}.eval", "exec": f"{builtins}.exec"}
    assert f"'{refused.get(kind, subproc + '.call')}'" in message, message
    assert not marker.exists()
    pickle.loads(evil)  # control: an ordinary unpickler does run the payload
    assert marker.exists()


def test_extension_registry_and_persistent_ids_are_refused(tmp_path: Path) -> None:
    """EXT1 fetches a callable from copyreg's process-wide cache without asking find_class once an ordinary
    unpickler has resolved that code; the loader refuses EXT opcodes outright. Persistent ids are refused too."""
    _write_cifar_py(tmp_path)
    marker = tmp_path / "PWNED"
    copyreg.add_extension("builtins", "eval", 240)
    try:
        evil = b"\x80\x02\x82\xf0" + pickle.dumps(f"open({str(marker)!r}, 'w').close()", 2)[2:-1] + b"\x85R."
        pickle.loads(evil)  # an ordinary unpickler runs it, and caches code 240 -> eval
        assert marker.exists()
        marker.unlink()
        (tmp_path / "test_batch").write_bytes(evil)
        with _raises(UnsafePickleError, tmp_path / "test_batch", "refused extension-registry opcode EXT1 (code 240)"):
            load_cifar10_python(tmp_path)
        assert not marker.exists()
    finally:
        copyreg.remove_extension("builtins", "eval", 240)
    (tmp_path / "test_batch").write_bytes(b"\x80\x02U\x02idQ.")  # BINPERSID
    with _raises(UnsafePickleError, tmp_path / "test_batch", "persistent id"):
        load_cifar10_python(tmp_path)


def test_python3_protocol2_bytes_need_codecs_encode_which_is_refused(tmp_path: Path) -> None:
    """Python 3 writes bytes at protocol 2 via ``_codecs.encode``; the real (Python 2) files never do."""
    _write_cifar_py(tmp_path)
    x, y = _split(5, 3, (32, 32, 3))
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": _cifar_rows(x), b"labels": list(y)}, protocol=2))
    with _raises(UnsafePickleError, tmp_path / "data_batch_1", "'_codecs.encode'"):
        load_cifar10_python(tmp_path)


# ---------------------------------------------------------------- malformed files name the path


def _py_batch(n: int = 3, **over: Any) -> bytes:
    x, y = _split(7, n, (32, 32, 3))
    batch = {b"data": _cifar_rows(x), b"labels": [int(v) for v in y], **{k.encode(): v for k, v in over.items()}}
    return _py2_pickle({k: v for k, v in batch.items() if v is not None})


@pytest.mark.parametrize(
    ("content", "exc", "fragment"),
    [
        (None, FileNotFoundError, "file not found"),
        (_py_batch()[:-40], ValueError, "unreadable pickle"),
        (b"not a pickle at all", ValueError, "unreadable pickle"),
        (_py2_pickle([1, 2]), ValueError, "not a dict"),
        (_py_batch(labels=None), ValueError, "lack 'data'/'labels'"),
        (_py_batch(labels=[0, 1, 10]), ValueError, "outside 0..9"),
        (_py_batch(labels=[0, 1]), ValueError, "expected 3 integers"),
        (_py_batch(labels=[0, [1, 2], 3]), ValueError, "labels unreadable"),
        (_py_batch(labels=[0, b"1", 2]), ValueError, "expected 3 integers"),
        (_py_batch(n=4), ValueError, "expected uint8 (3, 3072)"),
        (_py_batch(data=[1, 2, 3]), ValueError, "'data' is list"),
    ],
)
def test_malformed_cifar10_python_batch(tmp_path: Path, content: bytes | None, exc: type, fragment: str) -> None:
    _write_cifar_py(tmp_path)
    target = tmp_path / "data_batch_2"
    target.unlink() if content is None else target.write_bytes(content)
    with _raises(exc, target, fragment, "expected"):
        load_cifar10_python(tmp_path)


def test_cifar10_python_meta_is_checked(tmp_path: Path) -> None:
    _write_cifar_py(tmp_path)
    (tmp_path / "batches.meta").write_bytes(_py2_pickle({b"num_cases_per_batch": 3, b"label_names": NAMES[:9]}))
    with _raises(ValueError, tmp_path / "batches.meta", "10 names"):
        load_cifar10_python(tmp_path)


@pytest.mark.parametrize(
    ("edit", "exc", "fragment"),
    [
        (lambda p: p.unlink(), FileNotFoundError, "file not found"),
        (lambda p: p.write_bytes(p.read_bytes()[:-1]), ValueError, "not a positive multiple of 3073"),
        (lambda p: p.write_bytes(b""), ValueError, "0 bytes"),
        (lambda p: p.write_bytes(b"\x0a" + p.read_bytes()[1:]), ValueError, "outside 0..9"),
    ],
)
def test_malformed_cifar10_binary_batch(tmp_path: Path, edit: Any, exc: type, fragment: str) -> None:
    _write_cifar_bin(tmp_path)
    edit(tmp_path / "data_batch_4.bin")
    with _raises(exc, tmp_path / "data_batch_4.bin", fragment):
        load_cifar10_binary(tmp_path)


def test_cifar10_binary_counts_must_agree(tmp_path: Path) -> None:
    _write_cifar_bin(tmp_path)
    path = tmp_path / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:3073])
    with _raises(ValueError, tmp_path, "[3, 3, 3, 3, 3, 1]"):
        load_cifar10_binary(tmp_path)
    _write_cifar_bin(tmp_path / "full")
    with _raises(ValueError, tmp_path / "full", "(15, 3)", "expect_counts=(50000, 10000)"):
        load_cifar10_binary(tmp_path / "full", expect_counts=FULL_COUNTS["cifar10"])


def test_dispatcher_rejects_unknown_names_and_missing_roots(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"name='cifar100' is not one of \['cifar10_bin', 'cifar10_py'"):
        load_local_dataset("cifar100", tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope"))):
        load_local_dataset("cifar10_py", tmp_path / "nope")
