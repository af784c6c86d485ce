"""Fixtures for the experiment-side tests: a tiny, fast MNIST-1D config and a shared data cache."""

from __future__ import annotations

from pathlib import Path

import ml_collections
import pytest

from experiments.downsampling.configs import mnist1d_pooling


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dataset cache directory for the whole session (tiny pools are generated once)."""
    return tmp_path_factory.mktemp("data_cache")


@pytest.fixture
def tiny_config(data_cache: Path) -> ml_collections.ConfigDict:
    """The MNIST-1D study shrunk to seconds: 600-example pool, 200 train (and sweep.train_size), 100 test, 40 steps."""
    config = mnist1d_pooling.get_config()
    config.data.pool_size = 600
    config.data.train_size = 200
    config.sweep.train_size = (200,)  # the default sizes need a larger pool
    config.data.test_size = 100
    config.data.cache_dir = str(data_cache)
    config.batch_size = 50
    config.eval_batch_size = 100
    config.num_steps = 40
    config.eval_every = 20
    config.checkpoint_every = 20
    config.shift.passes = 2
    config.progress_bar = False
    return config
