r"""MNIST-1D test signals on a longer canvas, for a shift test that does not wrap around.

The circular shift test (``common.metrics.shift_consistency``) rolls each 40-sample signal, so up to ``S``
samples of one end reappear at the other: a digit near the border is cut in two, and the generator's noise
and shear trend jump where the ends meet -- inputs MNIST-1D never produces. Here each test example is
regenerated on a canvas of ``40 + 2 S`` output samples, and a shift by ``o`` is the window of 40 at offset
``S - o`` (``common.metrics.crop_shift``): a shifted input is a contiguous piece of one generated signal,
nothing wraps, and what enters at a border is generated content, not the other end of the signal.

How the canvas is made, and why its centre is the standard test set itself. ``mnist1d.data.make_dataset``
builds each example on a 72-sample scene (template_len + padding[1]): the template padded by p in [36, 60]
zeros and linearly stretched to 72 samples, scaled, rolled by k in [0, 48) (k + the digit's <= 19 samples
stays below 72, so the generator never wraps a digit), the zero (padding) samples filled with correlated
noise (Gaussian filter, sigma 2, of ``0.25 randn``), ``0.02 randn`` added everywhere, a linear shear trend
subtracted, and the scene linearly resampled to 40 samples at positions ``i * 71 / 39``; finally every
example is standardised with the mean and std of the whole dataset. ``canvas_signals`` replays that
process draw for draw with the generator's own random stream (``numpy.random.RandomState(seed)`` consumed
in make_dataset's order, then its final permutation), so the 40 centre samples of every canvas equal the
corresponding ``make_dataset`` signal (to float32 rounding; tests/experiments/downsampling/
test_mnist1d_canvas.py checks it against make_dataset). The scene is then continued on both sides by
``M = max(ceil(S * 71 / 39) + 1, 8)`` samples of what the generator puts around a digit: padding, i.e.
correlated noise (one filter over a longer raw draw whose middle 72 values are the generator's own draw and
whose next 8 values on each side are their mirror image -- what the generator's ``mode="reflect"`` filter
assumes past the ends -- so the filtered noise inside is the generator's exactly and runs on without a seam),
i.i.d. noise, and the same linear shear trend, and resampled at the same spacing for output samples
``-S .. 39 + S``. Every window is therefore a piece of
one MNIST-1D scene as the generator draws it, digit included; what a shift does change is where the digit
sits in the window (as any shift does), and a shift of up to S samples can move the end of a digit that
touches a border out of the window (the generator places digits from output sample 0 up to about 36).
The margin's noise comes from ``numpy.random.default_rng((seed, 1, example_index))``, apart from the
generator's stream, so the standard examples are untouched.
"""

from __future__ import annotations

import math

import numpy as np

from experiments.common.data import cache_dir, load_cached, save_cached

#: Half-width of the generator's noise filter (``gaussian_filter(noise, 2)``: int(4.0 * 2 + 0.5) = 8 samples).
#: The generator filters each scene alone with ``mode="reflect"``, i.e. as if the raw noise went on mirrored
#: past each end; the canvas puts exactly that mirror in the first 8 raw samples past each end and fresh
#: draws beyond, then filters the whole canvas at once, so the filtered noise inside the scene is the
#: generator's own, and it runs on smoothly across the scene's border.
_RADIUS = 8
#: Stream tag of the margin noise: ``default_rng((generator_seed, _MARGIN_STREAM, example_index))``.
_MARGIN_STREAM = 1


def _interp_matrix(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """The ``(len(new), len(old))`` matrix of linear interpolation from points ``old`` to ``new``
    (``matrix @ values == np.interp(new, old, values)``)."""
    return np.stack([np.interp(new, old, column) for column in np.eye(len(old))], axis=1)


def _draws(num_samples: int, seed: int, args: object) -> dict[str, np.ndarray]:
    """Every random number make_dataset draws, in its order: per example (class by class) the padding, the
    scale, the roll, the correlated and the i.i.d. noise and the shear; then the final permutation."""
    rng = np.random.RandomState(seed)  # the generator's set_seed(seed) stream
    low, high = args.padding
    length, n = args.template_len + high, num_samples
    out = {"pad": np.empty(n, np.int64), "scale": np.empty(n), "roll": np.empty(n, np.int64),
           "corr": np.empty((n, length)), "iid": np.empty((n, length)), "shear": np.empty(n)}  # fmt: skip
    for i in range(n):
        out["pad"][i] = low + int(rng.rand() * (high - low + 1))
        out["scale"][i] = 1 + args.scale_coeff * (rng.rand() - 0.5)
        out["roll"][i] = rng.randint(0, args.max_translation)  # what rng.choice(max_translation) draws
        out["corr"][i] = args.corr_noise_scale * rng.randn(length)
        out["iid"][i] = args.iid_noise_scale * rng.randn(length)
        out["shear"][i] = args.shear_scale * (rng.rand() - 0.5)
    out["order"] = rng.permutation(n)
    return out


def canvas_signals(num_samples: int, seed: int, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Every example of ``make_dataset(num_samples, seed)`` on a canvas of ``40 + 2 margin`` samples.

    The scene of each example (see the module docstring) is continued by ``max(ceil(margin * 71 / 39) + 1, 8)``
    samples of padding on each side -- correlated noise (see ``_RADIUS``), i.i.d. noise, the shear trend
    continued -- and resampled at output samples ``-margin .. 39 + margin``.

    Args:
      num_samples: the generator's ``num_samples`` (a positive multiple of 10).
      seed: the generator's seed.
      margin: S, output samples added on each side (>= 0).

    Returns:
      ``(canvas, y)``: float32 ``(num_samples, 40 + 2 margin)`` standardised with make_dataset's mean and
      std (of the 40-sample signals of the whole dataset), and int32 labels, both in make_dataset's shuffled
      order; ``canvas[:, margin:margin + 40]`` is make_dataset's ``x`` to float32 rounding.

    Raises:
      ValueError: if ``num_samples`` is not a positive multiple of 10 or ``margin < 0``.
    """
    if num_samples <= 0 or num_samples % 10:
        raise ValueError(f"num_samples={num_samples} must be a positive multiple of 10 (10 classes)")
    if margin < 0:
        raise ValueError(f"margin={margin} must be >= 0 (the shift test's shift.max_shift)")
    from mnist1d.data import get_dataset_args, get_templates
    from scipy.ndimage import gaussian_filter1d

    args, templates = get_dataset_args(), get_templates()
    classes = len(templates["y"])
    labels = np.repeat(templates["y"], num_samples // classes).astype(np.int32)
    d = _draws(num_samples, seed, args)
    low, high = args.padding
    length, final = args.template_len + high, args.final_seq_length
    # The template + eps, padded by p zeros and stretched to the scene's length (one matrix per p), scaled.
    scene = np.empty((num_samples, length))
    for pad in np.unique(d["pad"]):
        rows = d["pad"] == pad
        padded = np.concatenate([templates["x"][labels[rows]] + 1e-8, np.zeros((rows.sum(), pad))], axis=1)
        stretch = _interp_matrix(np.linspace(0, 1, length), np.linspace(0, 1, padded.shape[1]))
        scene[rows] = padded @ stretch.T
    scene *= d["scale"][:, None]
    scene = np.take_along_axis(scene, (np.arange(length)[None, :] - d["roll"][:, None]) % length, axis=1)
    # The scene continued by ``extra`` padding samples each side.
    step = (length - 1) / (final - 1)  # scene samples per output sample (71 / 39)
    extra = max(math.ceil(margin * step) + 1, _RADIUS)
    inner = slice(extra, extra + length)
    margin_rng = np.random.default_rng((seed, _MARGIN_STREAM))
    digit = np.zeros((num_samples, length + 2 * extra))
    digit[:, inner] = scene
    noise = args.corr_noise_scale * margin_rng.standard_normal(digit.shape)
    noise[:, inner] = d["corr"]  # the generator's own draw in the middle, mirrored next to it (see _RADIUS)
    noise[:, extra - _RADIUS : extra] = d["corr"][:, _RADIUS - 1 :: -1]
    noise[:, extra + length : extra + length + _RADIUS] = d["corr"][:, : length - _RADIUS - 1 : -1]
    filtered = gaussian_filter1d(noise, 2, axis=1)  # one filter over the whole canvas: no seam
    white = args.iid_noise_scale * margin_rng.standard_normal(digit.shape)
    white[:, inner] = d["iid"]
    position = np.arange(-extra, length + extra, dtype=np.float64)  # scene sample index
    mask = digit != 0
    signal = mask * digit + (1 - mask) * filtered + white
    signal -= d["shear"][:, None] * (-0.5 + position / (length - 1))[None, :]  # linspace(-0.5, 0.5), continued
    canvas = signal @ _interp_matrix(np.arange(-margin, final + margin) * step, position).T
    canvas, labels = canvas[d["order"]], labels[d["order"]]
    centre = canvas[:, margin : margin + final]
    return ((canvas - centre.mean()) / centre.std()).astype(np.float32), labels


def test_canvas(num_samples: int, seed: int, test_size: int, margin: int, cache: str = "") -> np.ndarray:
    """The canvases of the test set (the last ``test_size`` examples of ``make_dataset(num_samples, seed)``),
    cached under ``common.data.cache_dir``.

    Args:
      num_samples: the dataset the test set is the tail of (``data.pool_size`` for the "pool" recipe,
        ``train_size + test_size`` for "paper").
      seed: the generator seed (``data.generator_seed``).
      test_size: how many examples at the end are the test set.
      margin: S (``shift.max_shift``).
      cache: the cache directory setting.

    Returns:
      float32 ``(test_size, 40 + 2 margin, 1)``, channels last like the test set.

    Raises:
      ValueError: as ``canvas_signals``, or if ``test_size`` is not in ``[1, num_samples]``.
    """
    if not 0 < test_size <= num_samples:
        raise ValueError(f"data.test_size={test_size} must be in [1, {num_samples}]")
    path = cache_dir(cache) / f"mnist1d_canvas_n{num_samples}_seed{seed}_test{test_size}_margin{margin}.npz"
    cached = load_cached(path, ("canvas",))
    if cached is None or cached["canvas"].shape != (test_size, 40 + 2 * margin):
        canvas, _ = canvas_signals(num_samples, seed, margin)
        cached = {"canvas": canvas[num_samples - test_size :]}
        save_cached(path, cached)
    return cached["canvas"][..., None]
