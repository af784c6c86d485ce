"""The explainer's numbers: receptive fields against a brute-force index count and against the real
model's gradient support; the 4x4 views of the 8x8 example against hand-computed values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.downsampling.explain import MATRIX, STAGES_1D, downsampled_views, receptive_fields
from experiments.downsampling.models import CNN1D, init_params


def _brute_force_span(variant: str) -> list[int]:
    """Input positions one feature depends on, by explicit loops over windows (padding ignored: a
    feature in the middle of a long input)."""
    conv, downs = STAGES_1D["max_pool" if variant in ("avg_pool", "lp_pool") else variant]
    spans = []
    layers = [[conv], downs] * 2
    # Walk forward: a feature at layer output u covers layer-input positions u*s .. u*s + k - 1.
    footprint = [list(range(p, p + 1)) for p in range(200)]  # input positions of each feature
    for group in layers:
        for k, s in group:
            footprint = [
                sorted({q for w in range(k) for q in footprint[u * s + w]})
                for u in range((len(footprint) - k) // s + 1)
            ]
        spans.append(len(footprint[len(footprint) // 2]))
    return spans


@pytest.mark.parametrize(
    "variant", ["max_pool", "avg_pool", "strided_conv", "subsample", "blur_pool", "none"]
)
def test_receptive_fields_match_brute_force(variant: str) -> None:
    assert [r for _, r, _ in receptive_fields(variant)] == _brute_force_span(variant)


def test_receptive_fields_hand_values() -> None:
    assert [r for _, r, _ in receptive_fields("max_pool")] == [3, 4, 8, 10]
    assert [r for _, r, _ in receptive_fields("strided_conv")] == [3, 3, 7, 7]
    assert [r for _, r, _ in receptive_fields("none")] == [3, 3, 5, 5]
    assert receptive_fields("blur_pool")[-1] == ("down 2", 19, 4)
    with pytest.raises(ValueError, match="variant='conv'"):
        receptive_fields("conv")


@pytest.mark.parametrize(
    "variant,last,expected",
    [("avg_pool", "AvgPool_1", 10), ("strided_conv", "Conv_1", 7), ("none", "Conv_1", 5)],
)
def test_receptive_field_is_the_gradient_support_of_the_real_net(
    variant: str, last: str, expected: int
) -> None:
    """Positive weights and inputs keep every ReLU active, and avg pooling and convs pass gradient
    to every position of their windows: the support of d(feature)/d(input) is the receptive
    field."""
    model = CNN1D(variant)
    params = jax.tree_util.tree_map(np.abs, init_params(model, (40, 1), seed=0))

    def feature_map(x: jax.Array) -> jax.Array:
        _, state = model.apply(params, x, capture_intermediates=True, mutable=["intermediates"])
        return state["intermediates"][last]["__call__"][0]

    x = jnp.ones((1, 40, 1), jnp.float32)
    centre = feature_map(x).shape[1] // 2
    grad = jax.grad(lambda v: feature_map(v)[0, centre, 0])(x)
    support = np.flatnonzero(np.asarray(grad)[0, :, 0])
    assert len(support) == expected and support[-1] - support[0] + 1 == expected


def test_downsampled_views_hand_values() -> None:
    views = downsampled_views(MATRIX)
    np.testing.assert_array_equal(
        views["max pool 2x2, stride 2"], [[9, 0, 0, 3], [0, 8, 0, 5], [0, 0, 6, 7], [0, 0, 0, 8]]
    )
    # Subsampling keeps rows/columns 0, 2, 4, 6: the stroke pixels at odd positions are lost.
    np.testing.assert_array_equal(views["subsample 1x1, stride 2"], MATRIX[::2, ::2])
    shifted = downsampled_views(np.roll(MATRIX, 1, axis=1))
    assert not shifted["subsample 1x1, stride 2"].any()  # after a 1-pixel shift nothing survives
    # 3x3/2 with padding 1: output (0, 0) is the max of rows/cols -1..1 -> 9.
    assert views["max pool 3x3, stride 2, pad 1"][0, 0] == 9
    # Strided conv, output (1, 1): window rows/cols 1..3, kernel [[1,2,1],[2,4,2],[1,2,1]]/16.
    window = MATRIX[1:4, 1:4]
    kernel = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    assert views["strided conv 3x3, stride 2"][1, 1] == pytest.approx((window * kernel).sum())
