"""CIFAR-10 for the All-CNN study: a local copy (or random CIFAR-shaped data) preprocessed into a
``common.data.Dataset``.

The images come from a copy the user already has on disk, read by ``local_data.py`` (python
batches through its restricted unpickler, or the binary format; nothing is downloaded), or, with
``data.synthetic``, from ``numpy.random.default_rng(data.synthetic_seed)``: uniform uint8 pixels and
uniform labels of the same shapes, so the full pipeline runs in CI without the dataset.

Preprocessing (``data.preprocess``), fit on the training images only:

- ``"gcn_zca"`` (the paper's, which follows Goodfellow et al. 2013's maxout setup): global contrast
  normalisation — each image as a 3072-vector minus its mean, divided by its standard deviation —
  then ZCA whitening ``(x - mean) @ W`` with ``W = U diag(1 / sqrt(lambda + eps)) U^T`` from the
  eigendecomposition ``U diag(lambda) U^T`` of the training covariance (``eps =
  data.zca_epsilon``).
- ``"standardize"``: pixels / 255, then per-channel mean 0 and std 1.

Arrays are float32 ``(N, 32, 32, 3)`` channels last, labels int32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from experiments.allcnn_cifar10.local_data import load_local_dataset
from experiments.common.data import Dataset

FORMATS = ("auto", "cifar10_py", "cifar10_bin")
PREPROCESS = ("gcn_zca", "standardize")
FULL_SIZES = (50_000, 10_000)
IMAGE_SHAPE = (32, 32, 3)


def gcn(x: np.ndarray) -> np.ndarray:
    """Global contrast normalisation: every row minus its mean, divided by its (population) std.

    Args:
      x: float ``(N, D)``.

    Returns:
      float32 ``(N, D)``; a constant row (std 0) becomes all zeros.
    """
    x = x.astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return (x / np.where(std > 0, std, 1.0)).astype(np.float32)


def fit_zca(x: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """ZCA whitening fit on the rows of ``x``.

    Args:
      x: float ``(N, D)`` training vectors.
      epsilon: added to every covariance eigenvalue (> 0; keeps near-null directions finite).

    Returns:
      ``(mean, W)``: float32 ``(D,)`` and symmetric float32 ``(D, D)``; whitened data is ``(x -
      mean) @ W``, whose covariance is ``diag(lambda / (lambda + epsilon))`` in the eigenbasis
      (the identity as ``epsilon -> 0`` for full-rank data). With fewer rows than columns the
      covariance has rank below D; then ``W`` comes from the thin SVD of the centred rows (the same
      matrix: ``1/sqrt(epsilon)`` on the null space), which is much cheaper.
    """
    x = x.astype(np.float64)
    n, d = x.shape
    mean = x.mean(axis=0)
    centred = x - mean
    if n < d:
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        gain = 1.0 / np.sqrt(s**2 / n + epsilon) - 1.0 / np.sqrt(epsilon)
        w = np.eye(d) / np.sqrt(epsilon) + (vt.T * gain) @ vt
    else:
        lam, u = np.linalg.eigh(centred.T @ centred / n)
        w = (u / np.sqrt(np.maximum(lam, 0.0) + epsilon)) @ u.T
    return mean.astype(np.float32), w.astype(np.float32)


def preprocess(
    x_train: np.ndarray, x_test: np.ndarray, method: str, zca_epsilon: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``method`` on ``x_train`` and apply it to both sets.

    Args:
      x_train: uint8 ``(N, H, W, C)`` training images.
      x_test: uint8 ``(M, H, W, C)``.
      method: one of ``PREPROCESS`` (see the module docstring).
      zca_epsilon: the ZCA regulariser (``"gcn_zca"`` only).

    Returns:
      float32 arrays of the input shapes.

    Raises:
      ValueError: for an unknown ``method``.
    """
    if method not in PREPROCESS:
        raise ValueError(f"data.preprocess={method!r} is not one of {list(PREPROCESS)}")
    if method == "standardize":
        tr = x_train.astype(np.float32) / 255.0
        mean = tr.mean(axis=(0, 1, 2), dtype=np.float64)
        std = tr.std(axis=(0, 1, 2), dtype=np.float64)
        std = np.where(std > 0, std, 1.0)

        def apply(x: np.ndarray) -> np.ndarray:
            return ((x.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)

        return apply(x_train), apply(x_test)
    flat_train = gcn(x_train.reshape(len(x_train), -1))
    mean, w = fit_zca(flat_train, zca_epsilon)

    def whiten(flat: np.ndarray) -> np.ndarray:
        return ((flat - mean) @ w).astype(np.float32)

    out_train = whiten(flat_train).reshape(x_train.shape)
    out_test = whiten(gcn(x_test.reshape(len(x_test), -1))).reshape(x_test.shape)
    return out_train, out_test


def synthetic_images(train_size: int, test_size: int, seed: int) -> tuple[np.ndarray, ...]:
    """Random CIFAR-shaped data: uniform uint8 pixels ``(N, 32, 32, 3)`` and uniform int32 labels.

    Args:
      train_size, test_size: numbers of examples.
      seed: ``numpy.random.default_rng(seed)`` draws train images, train labels, test images,
        test labels, in that order.

    Returns:
      ``(x_train, y_train, x_test, y_test)``.
    """
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, (train_size, *IMAGE_SHAPE), dtype=np.uint8)
    y_train = rng.integers(0, 10, train_size).astype(np.int32)
    x_test = rng.integers(0, 256, (test_size, *IMAGE_SHAPE), dtype=np.uint8)
    y_test = rng.integers(0, 10, test_size).astype(np.int32)
    return x_train, y_train, x_test, y_test


def _format(root: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if (root / "cifar-10-batches-py").is_dir() or (root / "data_batch_1").is_file():
        return "cifar10_py"
    if (root / "cifar-10-batches-bin").is_dir() or (root / "data_batch_1.bin").is_file():
        return "cifar10_bin"
    raise FileNotFoundError(
        f"data.root={str(root)!r} holds no CIFAR-10 copy; expected cifar-10-batches-py/ or "
        "cifar-10-batches-bin/ (or their contents: data_batch_1 .. 5 and test_batch, with or without "
        ".bin); pass --config.data.synthetic=True to run on random data"
    )


def load_cifar10(data: Any) -> Dataset:
    """CIFAR-10 (or synthetic CIFAR-shaped data), preprocessed, as the config's ``data`` says.

    Args:
      data: the ``data`` ConfigDict: ``root``, ``format`` (one of ``FORMATS``), ``synthetic``,
        ``synthetic_seed``, ``train_size`` (the first that many training images are used),
        ``test_size`` (the first that many test images), ``preprocess``, ``zca_epsilon``.

    Returns:
      A ``Dataset`` named "cifar10" of float32 ``(N, 32, 32, 3)`` images.

    Raises:
      FileNotFoundError: ``data.root`` is missing or holds no CIFAR-10 copy.
      ValueError: ``train_size``/``test_size`` exceed what the copy holds, or the loader's errors
        (malformed files, refused pickles).
    """
    if data.synthetic:
        x_train, y_train, x_test, y_test = synthetic_images(
            data.train_size, data.test_size, data.synthetic_seed
        )
    else:
        root = Path(data.root).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"data.root={data.root!r} does not exist")
        local = load_local_dataset(_format(root, data.format), root)
        have = (len(local.y_train), len(local.y_test))
        if data.train_size > have[0] or data.test_size > have[1]:
            raise ValueError(
                f"data.train_size={data.train_size}, data.test_size={data.test_size} exceed the "
                f"(train, test) = {have} images in {root}"
            )
        x_train, y_train = local.x_train[: data.train_size], local.y_train[: data.train_size]
        x_test, y_test = local.x_test[: data.test_size], local.y_test[: data.test_size]
    x_train, x_test = preprocess(x_train, x_test, data.preprocess, float(data.zca_epsilon))
    return Dataset("cifar10", x_train, y_train.astype(np.int32), x_test, y_test.astype(np.int32))


def load_data(config: ml_collections.ConfigDict) -> Dataset:
    """The study's ``Study.load_data``: ``load_cifar10(config.data)`` (the split is fixed; the seed is not
    used)."""
    return load_cifar10(config.data)
