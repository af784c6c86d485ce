"""MNIST-1D test canvases (experiments/downsampling/mnist1d_canvas.py): the centre is the MNIST-1D
generator's own output (checked against ``mnist1d.data.make_dataset``), the margins continue the signal
without a seam, and the study's loader hands them to the trainer; plus the seed pairing the paired tests
rely on (same seed = same data draw and batch order for every variant)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.common.steps import batch_indices
from experiments.common.sweep import grid
from experiments.downsampling import mnist1d_canvas
from experiments.downsampling.configs import mnist1d_pooling, mnist1d_pooling_full
from experiments.downsampling.input_pipeline import load_data
from experiments.downsampling.train import STUDY


@pytest.fixture(scope="module")
def generated() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = 1000, 1.0, 3
    state = np.random.get_state()
    try:
        return make_dataset(args)
    finally:
        np.random.set_state(state)


@pytest.mark.parametrize("margin", [0, 3, 8])
def test_canvas_centre_is_the_generators_output(generated, margin: int) -> None:  # noqa: ANN001
    state = np.random.get_state()[1].copy()
    canvas, y = mnist1d_canvas.canvas_signals(1000, 3, margin)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the global NumPy stream is untouched
    assert canvas.shape == (1000, 40 + 2 * margin) and canvas.dtype == np.float32
    np.testing.assert_array_equal(y, generated["y"])
    np.testing.assert_allclose(canvas[:, margin : margin + 40], generated["x"], rtol=0, atol=1e-6)


def test_canvas_margins_continue_the_signal_without_a_seam() -> None:
    """The step from the last margin sample into the signal is as small as a step between neighbouring
    noise samples; a circular shift's step from the last sample to the first is large (measured on 1000
    examples: junction steps have std 0.25, neighbouring margin samples 0.41, the wrap-around 1.83)."""
    canvas, _ = mnist1d_canvas.canvas_signals(1000, 3, 8)
    centre = canvas[:, 8:48]
    left, right = (canvas[:, 7] - canvas[:, 8]).std(), (canvas[:, 48] - canvas[:, 47]).std()
    margin_steps = np.diff(canvas[:, :8], axis=1).std()
    wrap = (centre[:, -1] - centre[:, 0]).std()
    assert left < 1.5 * margin_steps and right < 1.5 * margin_steps
    assert wrap > 3 * max(left, right)
    # The margins are fresh content (not a copy of the signal's other end) with the noise's spread.
    assert 0.5 < canvas[:, :8].std() < 1.5 and not np.allclose(canvas[:, :8], centre[:, -8:])


def test_test_canvas_is_cached_and_checks_its_arguments(tmp_path: Path) -> None:
    a = mnist1d_canvas.test_canvas(200, 5, 50, 4, str(tmp_path))
    assert a.shape == (50, 48, 1)
    assert len(list(tmp_path.glob("mnist1d_canvas_*.npz"))) == 1
    np.testing.assert_array_equal(mnist1d_canvas.test_canvas(200, 5, 50, 4, str(tmp_path)), a)  # from the cache
    np.testing.assert_array_equal(a[:, :, 0], mnist1d_canvas.canvas_signals(200, 5, 4)[0][150:])
    with pytest.raises(ValueError, match="num_samples=205"):
        mnist1d_canvas.canvas_signals(205, 5, 4)
    with pytest.raises(ValueError, match="margin=-1"):
        mnist1d_canvas.canvas_signals(200, 5, -1)
    with pytest.raises(ValueError, match="test_size=300"):
        mnist1d_canvas.test_canvas(200, 5, 300, 4, str(tmp_path))


def test_loader_gives_the_test_sets_canvas(tiny_config) -> None:  # noqa: ANN001
    data = load_data(tiny_config)
    s = tiny_config.shift.max_shift
    assert data.canvas_margin == s == 8 and data.test_canvas.shape == (100, 40 + 2 * s, 1)
    np.testing.assert_array_equal(data.test_canvas[:, s:-s], data.x_test)


def test_main_and_full_configs_sweep_paired_seeds() -> None:
    main, full = mnist1d_pooling.get_config(), mnist1d_pooling_full.get_config()
    assert tuple(main.sweep.seed) == (0, 1, 2, 3, 4) and tuple(main.sweep.train_size) == (1000, 5000)
    assert tuple(full.sweep.seed) == tuple(range(10))
    runs = grid(STUDY, main)
    seeds: dict[tuple[str, int], list[int]] = {}
    for run in runs:
        seeds.setdefault((run.config.model.downsample, run.config.data.train_size), []).append(run.config.seed)
    assert set(map(tuple, seeds.values())) == {(0, 1, 2, 3, 4)}  # every cell has every seed
    assert len(seeds) == len(main.sweep.downsample) * 2


def test_same_seed_same_data_and_batches_for_every_variant(tiny_config) -> None:  # noqa: ANN001
    """What a seed fixes does not depend on the variant: the training draw and the batch order."""
    loaded = {}
    for variant in ("max_pool", "strided_conv"):
        for seed in (0, 1):
            config = tiny_config.copy_and_resolve_references()
            config.model.downsample, config.seed = variant, seed
            data = load_data(config)
            order = batch_indices(0, config.num_steps, config.batch_size, len(data.y_train), config.seed,
                                  config.data.shuffle)  # fmt: skip
            loaded[variant, seed] = (data.x_train, data.y_train, data.x_train[order])
    for seed in (0, 1):
        for a, b in zip(loaded["max_pool", seed], loaded["strided_conv", seed], strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(loaded["max_pool", 0][0], loaded["max_pool", 1][0])  # seeds do differ
    # With shuffling the order depends on the seed, still not on the variant (batch_indices has no variant).
    assert not np.array_equal(batch_indices(0, 10, 50, 200, 0, True), batch_indices(0, 10, 50, 200, 1, True))
