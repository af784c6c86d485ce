"""Models of the downsampling study: im2col convolution vs torch, hand-derived shapes and parameter counts,
init bounds, flax.linen pooling as a second oracle, and a few training steps per variant that must lower the
loss. Only the convolution test needs torch."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.common.steps import batch_indices, compiled_functions
from experiments.downsampling.input_pipeline import load_dataset
from experiments.downsampling.layers import Conv
from experiments.downsampling.models import (
    CNN1D,
    CNN2D,
    POOLINGS,
    VARIANTS,
    downsample_layers,
    init_params,
    stage_output_spatial,
)
from experiments.downsampling.train import STUDY
from experiments.downsampling.validation import validate_config


@pytest.mark.parametrize("channels", [1, 3])  # 1: the per-tap branch of layers.Conv; 3: im2col
@pytest.mark.parametrize("n,stride", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_conv_matches_torch(n: int, stride: int, channels: int) -> None:
    torch = pytest.importorskip("torch", reason="torch is the oracle for the im2col convolution")
    rng = np.random.default_rng(0)
    spatial = (11,) if n == 1 else (9, 8)
    x = rng.standard_normal((2, *spatial, channels)).astype(np.float32)
    conv = Conv(5, kernel_size=3, strides=stride, padding=1)
    params = conv.init(jax.random.key(0), x)
    out = np.asarray(conv.apply(params, x))
    w = np.asarray(params["params"]["kernel"])  # (*k, in, out)
    b = np.asarray(params["params"]["bias"])
    tw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (-1, -2), (0, 1))))  # (out, in, *k)
    tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    fn = torch.nn.functional.conv1d if n == 1 else torch.nn.functional.conv2d
    ref = fn(tx, tw, torch.from_numpy(b.copy()), stride=stride, padding=1).numpy()
    np.testing.assert_allclose(out, np.moveaxis(ref, 1, -1), rtol=1e-5, atol=1e-5)


# Hand-derived: conv1 1*3*20+20 = 80, conv2 20*3*20+20 = 1220, head (10 positions * 20) * 10 + 10; the
# downsampling convs of learned_conv/convpool 2 * 1220 (test_variants.py has the new variants' arithmetic).
FULL_HEAD_1D = 80 + 1220 + 40 * 20 * 10 + 10
PARAMS_1D = {v: 80 + 1220 + 2010 for v in VARIANTS} | {"none": FULL_HEAD_1D, "none_dilated": FULL_HEAD_1D} | {
    v: 80 + 1220 + 2 * 1220 + 2010 for v in ("learned_conv", "convpool")
}
# Hand-derived, widths (4, 8): 9*1*4+4 + 9*4*4+4 + 9*4*8+8 + 9*8*8+8 + 8*10+10 = 1158 for all, and
# 9*4*4+4 + 9*8*8+8 = 732 more for the downsampling convs of learned_conv/convpool.
PARAMS_2D = {v: 40 + 148 + 296 + 584 + 90 for v in VARIANTS} | {
    v: 40 + 148 + 296 + 584 + 90 + 148 + 584 for v in ("learned_conv", "convpool")
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_cnn1d_shapes_and_param_counts(variant: str) -> None:
    model = CNN1D(variant)
    x = np.zeros((3, 40, 1), np.float32)
    params = init_params(model, (40, 1), seed=0)
    assert model.apply(params, x).shape == (3, 10)
    assert sum(p.size for p in jax.tree_util.tree_leaves(params)) == PARAMS_1D[variant]
    flax_shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    assert jax.tree_util.tree_map(lambda a: a.shape, flax_shapes) == jax.tree_util.tree_map(
        lambda a: a.shape, params
    )


# Length after one stage, by hand: 7 -> pool 2/2: 3; stride-2 conv k3 p1: 4; subsample: 4;
# max 2/1 (6) then blur f4 reflect (1, 2) stride 2: (6 + 3 - 4) // 2 + 1 = 3; none: 7.
@pytest.mark.parametrize(
    "variant,size",
    [
        ("max_pool", 3),
        ("avg_pool", 3),
        ("lp_pool", 3),
        ("strided_conv", 4),
        ("subsample", 4),
        ("blur_pool", 3),
        ("none", 7),
    ],
)
def test_one_stage_on_odd_length(variant: str, size: int) -> None:
    assert stage_output_spatial(variant, (7,)) == (size,)  # (7 - 2) // 2 + 1 etc., by hand in the table
    model = CNN1D(variant, channels=2, num_stages=1)
    params = init_params(model, (7, 1), seed=0)
    assert model.apply(params, np.zeros((1, 7, 1), np.float32)).shape == (1, 10)
    assert params["params"]["Dense_0"]["kernel"].shape == (size * 2, 10)


@pytest.mark.parametrize("variant", VARIANTS)
def test_cnn2d_shapes_and_param_counts(variant: str) -> None:
    model = CNN2D(variant, widths=(4, 8))
    params = init_params(model, (12, 12, 1), seed=0)
    assert model.apply(params, np.zeros((2, 12, 12, 1), np.float32)).shape == (2, 10)
    assert sum(p.size for p in jax.tree_util.tree_leaves(params)) == PARAMS_2D[variant]


def test_init_is_pytorch_default() -> None:
    """Weights and biases uniform in +-1/sqrt(fan_in): bounds hold and the variance is bound^2/3."""
    params = init_params(CNN1D("none", channels=64), (40, 1), seed=3)["params"]
    for layer, fan_in in [("Conv_0", 3), ("Conv_1", 3 * 64), ("Dense_0", 40 * 64)]:
        bound = 1 / math.sqrt(fan_in)
        for name in ("kernel", "bias"):
            values = params[layer][name]
            assert values.dtype == np.float32 and np.abs(values).max() <= bound
        k = params[layer]["kernel"]
        assert abs(k.var() / (bound**2 / 3) - 1) < 5 * math.sqrt(0.8 / k.size)  # ~5 sigma
    # The Flax initialisers declared on the modules have the same bounds.
    flax_params = CNN1D("none", channels=64).init(jax.random.key(0), jnp.zeros((1, 40, 1)))
    k = np.asarray(flax_params["params"]["Conv_1"]["kernel"])
    assert np.abs(k).max() <= 1 / math.sqrt(192) and np.abs(k).max() > 0.95 / math.sqrt(192)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_learns(variant: str, tiny_config) -> None:  # noqa: ANN001
    """Thirty Adam steps on 200 MNIST-1D examples lower the training loss, for every variant."""
    tiny_config.model.downsample = variant
    data = load_dataset(tiny_config.data)
    fns = compiled_functions(STUDY, tiny_config, 10, data.input_shape, jax.devices())
    state = fns.init(0)
    idx = batch_indices(0, 30, tiny_config.batch_size, len(data.y_train), 0, False)
    state, losses = fns.train_chunk(
        state, fns.put_batch(data.x_train[idx]), fns.put_batch(data.y_train[idx])
    )
    losses = np.asarray(losses)
    assert losses.shape == (30,) and np.all(np.isfinite(losses))
    assert abs(losses[0] - math.log(10)) < 0.5  # near-uniform predictions at PyTorch-style init
    assert losses[-4:].mean() < 0.75 * losses[:4].mean()


# The variants whose downsampling point holds a pooling layer; the others (strided_conv, learned_conv and the
# none variants) build the same code with either pooling, so comparing them would compare the code with itself.
POOLED = [v for v in VARIANTS if downsample_layers(v, 1, 2.0, 4)]


def test_pooled_variants_are_those_with_a_pooling_layer() -> None:
    assert POOLED == ["max_pool", "avg_pool", "lp_pool", "blur_pool", "convpool", "blur_only", "subsample"]


@pytest.mark.parametrize(
    "name,variant",
    # --runslow: convpool (max_pool's 2/2 layer after one more conv) and subsample (a 1-wide max window, stride 2)
    [pytest.param("cnn1d", v, marks=pytest.mark.slow if v in ("convpool", "subsample") else ()) for v in POOLED]
    + [("cnn2d", "avg_pool"), ("cnn2d", "blur_pool")],
)
def test_ablation_models_with_flax_pooling_match_jaxpool(name: str, variant: str) -> None:
    """flax.linen pooling (the benchmark's baseline) as the oracle: same logits and gradients."""
    shape = (40, 1) if name == "cnn1d" else (12, 12, 1)
    x = np.abs(np.random.default_rng(0).standard_normal((3, *shape))).astype(np.float32)
    a, b = (CNN1D(variant, pooling=p) if name == "cnn1d" else CNN2D(variant, (4, 8), pooling=p) for p in POOLINGS)
    params = init_params(a, shape, seed=0)
    la, ga = jax.jit(jax.value_and_grad(lambda p: a.apply(p, x).sum()))(params)
    lb, gb = jax.jit(jax.value_and_grad(lambda p: b.apply(p, x).sum()))(params)
    np.testing.assert_allclose(float(la), float(lb), rtol=1e-6)
    for u, w in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(w), atol=1e-5)


def test_mnist1d_bfloat16_option_trains_with_float32_params(tiny_config) -> None:  # noqa: ANN001
    """``model.dtype="bfloat16"`` on the MNIST-1D study (the conftest's tiny config): 30 Adam steps."""
    tiny_config.model.dtype = "bfloat16"
    validate_config(tiny_config)
    data = load_dataset(tiny_config.data)
    fns = compiled_functions(STUDY, tiny_config, 10, data.input_shape, jax.devices())
    idx = batch_indices(0, 30, tiny_config.batch_size, len(data.y_train), 0, False)
    state, losses = fns.train_chunk(fns.init(0), fns.put_batch(data.x_train[idx]), fns.put_batch(data.y_train[idx]))
    losses = np.asarray(losses)
    assert losses.dtype == np.float32 and np.all(np.isfinite(losses))
    assert losses[-4:].mean() < 0.75 * losses[:4].mean()
    assert {p.dtype for p in jax.tree_util.tree_leaves(state["params"])} == {jnp.dtype(jnp.float32)}
    tiny_config.model.dtype = "float16"
    with pytest.raises(ValueError, match=r"model.dtype='float16'"):
        validate_config(tiny_config)
