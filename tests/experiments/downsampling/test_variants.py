"""The variants that test the mechanisms (learned_conv, convpool, blur_only, none_dilated, none_same_head):
parameter counts, receptive fields and FLOPs derived by hand, the learned downsampling layer and blur_only
against NumPy, the dilated convolution against torch, and the measured receptive field in result.json."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch

from experiments.common.metrics import flops_per_example, receptive_field
from experiments.downsampling.layers import Conv
from experiments.downsampling.models import (
    CNN1D,
    CNN2D,
    VARIANTS,
    downsample_layers,
    init_params,
    matched_dilations,
    stage_output_spatial,
)
from experiments.downsampling.train import train_and_evaluate
from tests.reference import blur_reference

NEW = ("learned_conv", "convpool", "blur_only", "none_dilated", "none_same_head")


def test_variant_list_keeps_the_seven_and_adds_the_new_ones() -> None:
    assert VARIANTS[:4] == ("max_pool", "avg_pool", "lp_pool", "blur_pool")
    assert set(VARIANTS) == {"max_pool", "avg_pool", "lp_pool", "blur_pool", "strided_conv", "subsample", "none",
                             *NEW}  # fmt: skip
    assert len(VARIANTS) == 12


# MNIST-1D net (channels 20, 2 stages, input 40): conv1 1->20 k3 = 1*20*3 + 20 = 80; conv2 20->20 k3 =
# 20*20*3 + 20 = 1220; the extra downsampling conv of learned_conv / convpool is another 20->20 k3 = 1220 per
# stage; head: (positions * 20) * 10 + 10 with 10 positions (40 -> 20 -> 10, or every 4th of 40) = 2010, or
# 40 positions (no downsampling) = 8010.
PARAMS_1D = {
    "learned_conv": 80 + 1220 + 2 * 1220 + 2010,  # 5750
    "convpool": 80 + 1220 + 2 * 1220 + 2010,  # 5750, the same as learned_conv by design
    "blur_only": 80 + 1220 + 2010,  # 3310, max pooling's (the blur has no weights)
    "none_dilated": 80 + 1220 + 8010,  # 9310, none's (dilation adds no weights)
    "none_same_head": 80 + 1220 + 2010,  # 3310, max pooling's head on a full-resolution net
}
# 2-D net, widths (4, 8): per stage two 3x3 convs, 9*1*4+4 = 40 and 9*4*4+4 = 148, then 9*4*8+8 = 296 and
# 9*8*8+8 = 584; head 8*10+10 = 90 (global mean): 1158. learned_conv / convpool add a 3x3 conv per stage:
# 9*4*4+4 = 148 and 9*8*8+8 = 584.
PARAMS_2D = {
    "learned_conv": 40 + 148 + 148 + 296 + 584 + 584 + 90,  # 1890
    "convpool": 40 + 148 + 148 + 296 + 584 + 584 + 90,
    "blur_only": 40 + 148 + 296 + 584 + 90,  # 1158
    "none_dilated": 40 + 148 + 296 + 584 + 90,
    "none_same_head": 40 + 148 + 296 + 584 + 90,
}


def _count(params) -> int:  # noqa: ANN001
    return sum(int(np.size(a)) for a in jax.tree_util.tree_leaves(params))


@pytest.mark.parametrize("variant", NEW)
def test_param_counts_by_hand(variant: str) -> None:
    p1 = init_params(CNN1D(variant), (40, 1), seed=0)
    assert _count(p1) == PARAMS_1D[variant]
    p2 = init_params(CNN2D(variant, widths=(4, 8)), (28, 28, 1), seed=0)
    assert _count(p2) == PARAMS_2D[variant]
    if variant == "none_same_head":  # the head reads max pooling's 10 positions x 20 channels
        assert p1["params"]["Dense_0"]["kernel"].shape == (200, 10)


# Receptive field of one feature the head reads, by the recurrence r += (k - 1) * j, then j *= s, per layer
# of kernel k and stride s (r = j = 1 at the input; a 2/2 pool is k = 2, s = 2; a dilated conv has k - 1
# replaced by (k - 1) * d). MNIST-1D (conv k3 per stage):
#   max/avg/lp: conv 3, pool 4 (j 2), conv 4+4 = 8, pool 8+2 = 10.
#   blur_pool: conv 3, max 2/1 4, blur f4 s2 4+3 = 7 (j 2), conv 11, max 2/1 13, blur 13+3*2 = 19.
#   convpool: conv 3, extra conv 5, pool 6 (j 2), conv 10, extra conv 14, pool 16.
#   learned_conv: conv 3, extra conv s2 5 (j 2), conv 9, extra conv s2 13.
#   blur_only: conv 3, blur f4 s2 6 (j 2), conv 10, blur 10+3*2 = 16.
#   strided_conv / subsample: conv 3 (j 2), conv 3+2*2 = 7.
#   none: 3, 5. none_dilated: dilations (1, 3): 1+2*1 = 3, 3+2*3 = 9 (max pooling's 10 is even, a stack of
#   odd kernels gives odd fields). none_same_head: none's 5 (the readout only drops positions).
RF_1D = {"max_pool": 10, "avg_pool": 10, "lp_pool": 10, "blur_pool": 19, "convpool": 16, "learned_conv": 13,
         "blur_only": 16, "strided_conv": 7, "subsample": 7, "none": 5, "none_dilated": 9,
         "none_same_head": 5}  # fmt: skip
# 2-D (two 3x3 convs per stage, 2 stages), per dim:
#   max/avg/lp: 3, 5, pool 6 (j 2), 10, 14, pool 16.
#   blur_pool: 3, 5, max 6, blur 9 (j 2), 13, 17, max 19, blur 25.
#   convpool: 3, 5, extra 7, pool 8 (j 2), 12, 16, extra 20, pool 22.
#   learned_conv: 3, 5, extra s2 7 (j 2), 11, 15, extra s2 19.
#   blur_only: 3, 5, blur 8 (j 2), 12, 16, blur 22.
#   strided_conv / subsample: 3, s2 5 (j 2), 9, 13.
#   none: 3, 5, 7, 9. none_dilated: dilations (1, 2, 2, 2): 3, 7, 11, 15 (max pooling's 16, less one).
RF_2D = {"max_pool": 16, "avg_pool": 16, "lp_pool": 16, "blur_pool": 25, "convpool": 22, "learned_conv": 19,
         "blur_only": 22, "strided_conv": 13, "subsample": 13, "none": 9, "none_dilated": 15,
         "none_same_head": 9}  # fmt: skip


def test_matched_dilations_by_hand() -> None:
    assert matched_dilations([(3,), (3,)]) == (1, 3)  # 1 + 2*1 + 2*3 = 9 <= 10
    assert matched_dilations([(3, 3), (3, 3)]) == (1, 2, 2, 2)  # 1 + 2*(1+2+2+2) = 15 <= 16
    # Three 1-D stages: max pooling 3, 4, 8, 10, 18, 22 (j 8 at the end) -> 21 with (1, 3, 6); each dilation
    # is at most the field so far (1, 3, 9), so no input sample inside is skipped.
    assert matched_dilations([(3,)] * 3) == (1, 3, 6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_receptive_field_by_hand(variant: str) -> None:
    m1 = CNN1D(variant)
    p1 = init_params(m1, (40, 1), seed=0)
    assert receptive_field(lambda p, x: m1.apply(p, x, features_only=True), p1, (40, 1)) == (RF_1D[variant],)
    m2 = CNN2D(variant, widths=(4, 8))
    p2 = init_params(m2, (28, 28, 1), seed=0)
    rf = RF_2D[variant]
    assert receptive_field(lambda p, x: m2.apply(p, x, features_only=True), p2, (28, 28, 1)) == (rf, rf)


def test_receptive_field_rejects_no_inputs() -> None:
    with pytest.raises(ValueError, match="num_inputs=0"):
        receptive_field(lambda p, x: x, {}, (5, 1), num_inputs=0)


@pytest.mark.parametrize("variant", ["learned_conv", "convpool", "blur_only"])
def test_output_size_is_max_poolings(variant: str) -> None:
    # 40 -> 20 (MNIST-1D), 28x28 -> 14x14: (40 + 2 - 3) // 2 + 1 = 20 for the k3 s2 p1 conv,
    # (40 + 1 + 2 - 4) // 2 + 1 = 20 for the blur f4 with reflect padding (1, 2).
    assert stage_output_spatial(variant, (40,)) == stage_output_spatial("max_pool", (40,)) == (20,)
    assert stage_output_spatial(variant, (28, 28)) == stage_output_spatial("max_pool", (28, 28)) == (14, 14)


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """Cross-correlation by loops, zero padding 1: x (L, Cin), w (3, Cin, Cout) -> (L_out, Cout)."""
    xp = np.pad(x, ((1, 1), (0, 0)))
    out = [sum(xp[i + t] @ w[t] for t in range(3)) + b for i in range(0, len(x), stride)]
    return np.stack(out)


def test_learned_conv_downsamples_with_its_own_weights() -> None:
    """One stage, 2 channels, length 6: conv -> ReLU -> (own conv, stride 2) -> ReLU, against loops; and the
    result is not the subsampled first layer (what strided_conv computes)."""
    model = CNN1D("learned_conv", channels=2, num_stages=1)
    params = init_params(model, (6, 1), seed=0)
    w0 = np.array([[[1.0, -1.0]], [[2.0, 0.5]], [[-1.0, 1.0]]], np.float32)  # (3, 1, 2)
    b0 = np.array([0.5, -0.25], np.float32)
    w1 = np.array([[[1.0, 0.0], [-2.0, 1.0]], [[0.5, 1.0], [1.0, -1.0]], [[0.0, 2.0], [1.0, 0.5]]], np.float32)
    b1 = np.array([-1.0, 0.25], np.float32)
    p = params["params"]
    assert set(p) == {"Conv_0", "Conv_1", "Dense_0"} and p["Conv_1"]["kernel"].shape == (3, 2, 2)
    p["Conv_0"] = {"kernel": w0, "bias": b0}
    p["Conv_1"] = {"kernel": w1, "bias": b1}
    x = np.array([1.0, -2.0, 3.0, 0.5, -1.0, 2.0], np.float32)[:, None]
    h = np.maximum(_conv1d(x, w0, b0, 1), 0)
    expected = np.maximum(_conv1d(h, w1, b1, 2), 0)  # (3, 2)
    got = np.asarray(model.apply(params, x[None], features_only=True))[0]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # By hand, position 0 of channel 0: h[0] = relu(0*w0[0] + 1*w0[1] + (-2)*w0[2] + b0) = relu(4.5, -1.75)
    # = (4.5, 0); h[1] = relu(1*w0[0] - 2*w0[1] + 3*w0[2] + b0) = relu(-5.5, 0.75) = (0, 0.75);
    # out[0, 0] = relu(h[0] @ w1[1][:, 0] + h[1] @ w1[2][:, 0] + b1[0]) = relu(4.5*0.5 + 0.75*1 - 1) = 2.
    assert got[0, 0] == pytest.approx(2.0)
    assert got.shape == h[::2].shape and not np.allclose(got, h[::2])


def test_blur_only_against_numpy() -> None:
    """blur_only's layer: blur [1, 3, 3, 1]/8 with reflect padding (1, 2), every second position, no max."""
    (layer,) = downsample_layers("blur_only", 1, 2.0, 4)
    x = np.array([0.0, 8.0, 0.0, 0.0, 16.0], np.float32)[None, :, None]
    # Reflect-padded (1 left, 2 right, the edge not repeated): [8 | 0 8 0 0 16 | 0 0]; ceil(5/2) = 3 outputs,
    # windows at padded positions 0, 2, 4: (8*1 + 0*3 + 8*3 + 0*1)/8 = 4, (8*1 + 0*3 + 0*3 + 16*1)/8 = 3,
    # (0*1 + 16*3 + 0*3 + 0*1)/8 = 6. A max before it (blur_pool) would give other values.
    by_hand = [4.0, 3.0, 6.0]
    np.testing.assert_allclose(np.asarray(layer.apply({}, x))[0, :, 0], by_hand, rtol=1e-6)
    x2 = np.random.default_rng(0).standard_normal((2, 6, 5, 3)).astype(np.float32)
    (layer2,) = downsample_layers("blur_only", 2, 2.0, 4)
    np.testing.assert_allclose(np.asarray(layer2.apply({}, x2)), blur_reference(x2, 2, 4), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n,dilation,stride", [(1, 3, 1), (1, 2, 2), (2, 2, 1)])
def test_dilated_conv_matches_torch(n: int, dilation: int, stride: int) -> None:
    rng = np.random.default_rng(1)
    spatial = (13,) if n == 1 else (9, 10)
    x = rng.standard_normal((2, *spatial, 3)).astype(np.float32)
    conv = Conv(4, kernel_size=3, strides=stride, padding=dilation, dilation=dilation)
    params = init_params(conv, x.shape[1:], seed=0)
    out = np.asarray(conv.apply(params, x))
    w = params["params"]["kernel"]
    tw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (-1, -2), (0, 1))))
    tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    fn = torch.nn.functional.conv1d if n == 1 else torch.nn.functional.conv2d
    ref = fn(tx, tw, torch.from_numpy(params["params"]["bias"].copy()), stride=stride, padding=dilation,
             dilation=dilation).numpy()  # fmt: skip
    np.testing.assert_allclose(out, np.moveaxis(ref, 1, -1), rtol=1e-5, atol=1e-5)


# Forward FLOPs per example of the MNIST-1D nets, by hand: a conv computing L_out positions of C_out from
# k * C_in inputs is a matmul, 2 * L_out * k * C_in * C_out, plus L_out * C_out bias adds; a ReLU 1 per
# element; a 2/2 max 1 per output; the blur (4 taps) 4 multiplies + 3 adds per output; the head
# 2 * inputs * 10 + 10.
#   conv1 (L 40, 1 -> 20): 2*40*3*20 + 800 = 5600; conv 20 -> 20 at L 40: 2*40*60*20 + 800 = 96800, at L 20:
#   48400, at L 10: 24200.
FLOPS_1D = {
    # conv1, relu 800, extra conv s2 (L 20) 48400, relu 400, conv2 48400, relu 400, extra s2 (L 10) 24200,
    # relu 200, head 4010
    "learned_conv": 5600 + 800 + 48400 + 400 + 48400 + 400 + 24200 + 200 + 4010,  # 132410
    # conv1, relu, extra conv 96800, relu 800, max 400, conv2 48400, relu 400, extra 48400, relu 400, max 200
    "convpool": 5600 + 800 + 96800 + 800 + 400 + 48400 + 400 + 48400 + 400 + 200 + 4010,  # 206210
    # conv1, relu, blur 7*400, conv2, relu, blur 7*200, head
    "blur_only": 5600 + 800 + 2800 + 48400 + 400 + 1400 + 4010,  # 63410
    # conv1, relu, conv2 at L 40, relu, head 2*800*10 + 10
    "none_dilated": 5600 + 800 + 96800 + 800 + 16010,  # 120010
    "none_same_head": 5600 + 800 + 96800 + 800 + 4010,  # 108010
    "max_pool": 5600 + 800 + 400 + 48400 + 400 + 200 + 4010,  # 59810
}


@pytest.mark.parametrize("variant", sorted(FLOPS_1D))
def test_flops_1d_by_hand(variant: str) -> None:
    """XLA's count is the hand count, plus what fusion recomputes and the one-channel convolution's form:
    XLA fuses a conv's input producers (ReLU, pooling) into each of the im2col slices and counts them again,
    and it counts the first layer's per-tap dots (``layers.Conv`` with one input channel) as 3 dots of
    contraction 1 plus 2 tap sums (7200 instead of 5600) unless it fuses them; up to 9 % in all here."""
    model = CNN1D(variant)
    xla = flops_per_example(model.apply, init_params(model, (40, 1), seed=0), (40, 1))
    assert FLOPS_1D[variant] <= xla <= 1.09 * FLOPS_1D[variant]


def test_result_json_carries_the_receptive_field(tiny_config, tmp_path) -> None:  # noqa: ANN001
    tiny_config.model.downsample = "none_dilated"
    result = train_and_evaluate(tiny_config, tmp_path / "run")
    assert result["receptive_field"] == 9 and result["num_params"] == PARAMS_1D["none_dilated"]
