"""All-CNN on CIFAR-10: exact parameter counts and stage shapes derived by hand from the paper's layer
table, jaxpool vs flax.linen pooling, bfloat16 compute, the optimizer's schedule and weight decay by
hand, augmentation against a NumPy loop, preprocessing, the local-copy loader, config validation, and
a few training steps per variant on synthetic CIFAR-shaped data."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments.allcnn_cifar10 import train as _allcnn_steps
from experiments.allcnn_cifar10.configs import allcnn_cifar10
from experiments.allcnn_cifar10.input_pipeline import fit_zca, gcn, preprocess
from experiments.allcnn_cifar10.input_pipeline import load_cifar10 as load_dataset
from experiments.allcnn_cifar10.models import VARIANTS, AllCNN, init_variables
from experiments.allcnn_cifar10.train import STUDY, train_and_evaluate
from experiments.allcnn_cifar10.validation import validate_config
from experiments.common.metrics import count_params
from experiments.common.steps import compiled_functions


def conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


# The paper's Model C, layer by layer (kernel, in, out), biases included.
BASE_LAYERS = [(3, 3, 96), (3, 96, 96), (3, 96, 192), (3, 192, 192), (3, 192, 192), (1, 192, 192), (1, 192, 10)]
# ConvPool-CNN-C adds a 3x3 conv per stage; All-CNN-C replaces each pool by a 3x3/2 conv of the same width.
EXTRA_LAYERS = [(3, 96, 96), (3, 192, 192)]
BASE = sum(conv(*layer) for layer in BASE_LAYERS)
WITH_EXTRA = BASE + sum(conv(*layer) for layer in EXTRA_LAYERS)
EXPECTED_PARAMS = {"max_pool": BASE, "strided_conv": BASE, "convpool": WITH_EXTRA, "allconv": WITH_EXTRA}


def test_hand_derived_counts_are_the_issues_figures() -> None:
    assert BASE == 2688 + 83040 + 166080 + 331968 + 331968 + 37056 + 1930 == 954_730
    assert WITH_EXTRA == BASE + 83040 + 331968 == 1_369_738


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_parameter_counts_are_exact(variant: str) -> None:
    model = AllCNN(variant)
    variables = init_variables(model, (32, 32, 3), seed=0)
    assert set(variables) == {"params"}
    assert count_params(variables) == EXPECTED_PARAMS[variant]
    flax_shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert count_params(flax_shapes["params"]) == EXPECTED_PARAMS[variant]


def test_batch_norm_replaces_biases_and_its_statistics_are_not_parameters() -> None:
    variables = init_variables(AllCNN("max_pool", batch_norm=True), (32, 32, 3), seed=0)
    # Six BN'd convs (all but the classifier) lose their biases and gain a scale and a shift each.
    bn_channels = 96 + 96 + 192 + 192 + 192 + 192
    assert count_params(variables) == BASE - bn_channels + 2 * bn_channels == 955_690
    assert count_params(variables["batch_stats"]) == 2 * bn_channels
    stats = jax.tree_util.tree_leaves_with_path(variables["batch_stats"])
    for path, value in stats:
        assert np.all(value == (1.0 if path[-1].key == "var" else 0.0))


# Hand-derived: pad-1 3x3 convs keep 32; 3x3/2 pool or conv with padding 1: (32 + 2 - 3) // 2 + 1 = 16,
# then 8; the valid 3x3 conv: 8 - 3 + 1 = 6; the 1x1 convs keep 6; the global average leaves (B, 10).
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_stage_shapes(variant: str) -> None:
    model = AllCNN(variant)
    variables = init_variables(model, (32, 32, 3), seed=0)
    logits, state = jax.eval_shape(
        lambda v, x: model.apply(v, x, mutable=["intermediates"]), variables, jnp.zeros((2, 32, 32, 3))
    )
    inter = state["intermediates"]
    assert inter["stage1"][0].shape == (2, 16, 16, 96)
    assert inter["stage2"][0].shape == (2, 8, 8, 192)
    assert inter["head"][0].shape == (2, 6, 6, 10)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32


def test_base_model_by_hand_on_a_tiny_input() -> None:
    """1x1 widths make the net a chain of scalars: check the pooling and the global average by hand."""
    model = AllCNN("max_pool", widths=(1, 1), num_classes=1, final_relu=False)
    variables = init_variables(model, (9, 9, 1), seed=0)
    variables = jax.tree_util.tree_map(np.zeros_like, variables)
    for layer in variables["params"].values():
        k = layer["kernel"].shape[0]
        layer["kernel"][k // 2, k // 2, 0, 0] = 1.0  # identity convolution
    x = np.arange(81, dtype=np.float32).reshape(1, 9, 9, 1)
    # Identity convs, ReLU of non-negative values. Pool 3x3/2 with padding 1 on 9x9 -> 5x5: window i
    # covers rows 2i-1 .. 2i+1, and x[r, c] = 9 r + c grows with r and c, so its maximum is the bottom-right
    # element inside the image; again 5x5 -> 3x3; the valid 3x3 conv keeps the centre of 3x3 -> 1x1.
    p1 = np.array([[x[0, min(2 * i + 1, 8), min(2 * j + 1, 8), 0] for j in range(5)] for i in range(5)])
    p2 = np.array([[p1[min(2 * i + 1, 4), min(2 * j + 1, 4)] for j in range(3)] for i in range(3)])
    out = model.apply(variables, x)
    assert out.shape == (1, 1) and float(out[0, 0]) == p2[1, 1] == 9 * 7 + 7


def test_jaxpool_and_flax_pooling_give_the_same_model() -> None:
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype(np.float32)
    variables = init_variables(AllCNN("max_pool"), (32, 32, 3), seed=1)
    ours = AllCNN("max_pool").apply(variables, x)
    flax_ = AllCNN("max_pool", pooling="flax").apply(variables, x)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(flax_), rtol=1e-6, atol=1e-6)


def test_bfloat16_compute_keeps_float32_params_and_logits() -> None:
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype(np.float32)
    variables = init_variables(AllCNN("allconv"), (32, 32, 3), seed=2)
    f32 = np.asarray(jax.jit(AllCNN("allconv").apply)(variables, x))
    bf16_model = AllCNN("allconv", dtype="bfloat16")
    logits = jax.jit(bf16_model.apply)(variables, x)
    assert logits.dtype == jnp.float32
    # bfloat16 keeps 8 significant bits; through 9 layers the logits stay within a few percent.
    assert np.max(np.abs(np.asarray(logits) - f32)) < 0.05 * np.max(np.abs(f32)) + 1e-3
    grads = jax.jit(jax.grad(lambda p: bf16_model.apply({"params": p}, x).sum()))(variables["params"])
    assert {g.dtype for g in jax.tree_util.tree_leaves(grads)} == {jnp.dtype(jnp.float32)}


def allcnn_config(variant: str = "allconv") -> ml_collections.ConfigDict:
    config = allcnn_cifar10.get_config()
    config.model.downsample = variant
    config.data.synthetic = True
    config.data.train_size, config.data.test_size = 16, 8
    config.data.preprocess = "standardize"
    config.batch_size, config.eval_batch_size = 8, 8
    config.num_steps, config.eval_every, config.checkpoint_every = 2, 1, 2
    config.shift.passes = 1
    config.progress_bar = False
    return config


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_synthetic_training_steps_run_and_lower_the_loss(variant: str) -> None:
    """Five SGD steps on one 8-image synthetic batch (dropout off so the steps are comparable, and a
    learning rate of 1e-3: without BatchNorm the default 1e-2 overshoots on a batch this small)."""
    config = allcnn_config(variant)
    config.model.input_dropout = config.model.dropout = 0.0
    config.optimizer.learning_rate = 1e-3
    validate_config(config)
    data = load_dataset(config.data)
    assert data.x_train.shape == (16, 32, 32, 3) and data.x_train.dtype == np.float32
    fns = compiled_functions(STUDY, config, 10, data.input_shape, jax.devices())
    state = fns.init(0)
    xs = np.ascontiguousarray(np.broadcast_to(data.x_train[:8], (5, 8, 32, 32, 3)))
    ys = np.ascontiguousarray(np.broadcast_to(data.y_train[:8], (5, 8)))
    state, losses = fns.train_chunk(state, fns.put_batch(xs), fns.put_batch(ys))
    losses = np.asarray(losses)
    assert losses.shape == (5,) and np.all(np.isfinite(losses))
    assert losses[-1] < losses[0] - 0.1
    assert int(state["step"]) == 5
    assert count_params(state["params"]) == EXPECTED_PARAMS[variant]


def test_chunking_does_not_change_the_run() -> None:
    """Dropout and augmentation keys depend on (seed, step) only: 2 steps in one chunk == 1 + 1."""
    config = allcnn_config("max_pool")
    config.model.batch_norm = True
    config.model.dtype = "bfloat16"
    config.data.augment = True
    data = load_dataset(config.data)
    fns = compiled_functions(STUDY, config, 10, data.input_shape, jax.devices())
    xs, ys = data.x_train.reshape(2, 8, 32, 32, 3), data.y_train.reshape(2, 8)
    one, losses_one = fns.train_chunk(fns.init(0), fns.put_batch(xs), fns.put_batch(ys))
    half, first = fns.train_chunk(fns.init(0), fns.put_batch(xs[:1]), fns.put_batch(ys[:1]))
    two, second = fns.train_chunk(half, fns.put_batch(xs[1:]), fns.put_batch(ys[1:]))
    np.testing.assert_array_equal(np.asarray(losses_one), np.concatenate([first, second]))
    for a, b in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(two), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    params = one["params"]["params"]
    assert {p.dtype for p in jax.tree_util.tree_leaves(params)} == {jnp.dtype(jnp.float32)}
    # BatchNorm's running statistics moved away from their initial values (momentum 0.9).
    stats = jax.tree_util.tree_leaves_with_path(one["params"]["batch_stats"])
    means = [v for path, v in stats if path[-1].key == "mean"]
    assert all(np.max(np.abs(np.asarray(m))) > 0 for m in means)


def test_train_and_evaluate_one_synthetic_step(tmp_path: Path) -> None:
    """The documented smoke command's path: train.py with the default recipe (dropout, GCN + ZCA)."""
    config = allcnn_config("allconv")
    config.data.preprocess = "gcn_zca"
    config.num_steps, config.eval_every, config.checkpoint_every = 1, 1, 1
    result = train_and_evaluate(config, tmp_path / "run")
    assert result["num_params"] == 1_369_738
    assert result["final"]["step"] == 1 and math.isfinite(result["final"]["train_loss"])
    assert 0 <= result["final"]["test_acc"] <= 100 and result["flops_per_example"] > 0
    assert (tmp_path / "run" / "checkpoints").is_dir()


def test_optimizer_schedule_momentum_and_weight_decay_by_hand() -> None:
    opt = allcnn_cifar10.get_config().optimizer
    opt.decay_epochs = (2, 3)
    assert _allcnn_steps.decay_boundaries(opt, train_size=1000, batch_size=100) == [20, 30]
    params = {"c": {"kernel": np.full((2, 2), 2.0, np.float32), "bias": np.full((2,), 2.0, np.float32)}}
    grads = jax.tree_util.tree_map(np.ones_like, params)
    tx = _allcnn_steps.make_allcnn_optimizer(opt, 1000, 100)
    state = tx.init(params)
    updates = []
    with jax.numpy_dtype_promotion("standard"):
        for _ in range(32):
            u, state = tx.update(grads, state, params)
            updates.append(u)
    # Step 0: trace = g + wd * w = 1 + 1e-3 * 2 on kernels (1 on biases); update = -0.01 * trace.
    np.testing.assert_allclose(updates[0]["c"]["kernel"], -0.01 * 1.002, rtol=1e-6)
    np.testing.assert_allclose(updates[0]["c"]["bias"], -0.01, rtol=1e-6)
    # Step 1: trace = g1 + 0.9 * trace0 (weights not updated here, so g1 = g0).
    np.testing.assert_allclose(updates[1]["c"]["bias"], -0.01 * 1.9, rtol=1e-6)
    # The trace converges to g / (1 - 0.9) = 10 g; the rate drops 10x at steps 20 and 30.
    trace = lambda t: sum(0.9**k for k in range(t + 1))  # noqa: E731
    for t, lr in ((19, 0.01), (20, 0.001), (29, 0.001), (30, 0.0001), (31, 0.0001)):
        np.testing.assert_allclose(updates[t]["c"]["bias"], -lr * trace(t), rtol=1e-5)


def test_flip_and_translate_matches_a_numpy_loop() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 5, 2)).astype(np.float32)
    flips = np.array([False, True, True, False])
    shifts = np.array([[0, 0], [2, -1], [-2, 2], [1, 1]], np.int32)
    out = np.asarray(_allcnn_steps.flip_and_translate(jnp.asarray(x), jnp.asarray(flips), jnp.asarray(shifts), 2))
    ref = np.zeros_like(x)
    for b in range(4):
        for i in range(6):
            for j in range(5):
                si, sj = i - shifts[b, 0], j - shifts[b, 1]
                if 0 <= si < 6 and 0 <= sj < 5:
                    ref[b, i, j] = x[b, si, 4 - sj] if flips[b] else x[b, si, sj]
    np.testing.assert_array_equal(out, ref)
    aug = np.asarray(_allcnn_steps.random_augment(jax.random.key(0), jnp.asarray(x), 0))
    assert all(np.array_equal(aug[b], x[b]) or np.array_equal(aug[b], x[b, :, ::-1]) for b in range(4))


def test_preprocessing_values() -> None:
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (50, 4, 4, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
    tr, te = preprocess(x_train, x_test, "standardize")
    np.testing.assert_allclose(tr.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(tr.std(axis=(0, 1, 2)), 1.0, atol=1e-5)
    c = 1
    expect = (x_test[..., c] / 255.0 - (x_train[..., c] / 255.0).mean()) / (x_train[..., c] / 255.0).std()
    np.testing.assert_allclose(te[..., c], expect, atol=1e-5)
    rows = gcn(x_train.reshape(50, -1))
    np.testing.assert_allclose(rows.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(rows.std(axis=1), 1.0, atol=1e-5)
    # ZCA: with many more rows than columns and a tiny epsilon the whitened covariance is the identity.
    data = rng.standard_normal((400, 5)) @ rng.standard_normal((5, 5))
    mean, w = fit_zca(data, 1e-9)
    white = (data - mean) @ w
    np.testing.assert_allclose(white.T @ white / 400, np.eye(5), atol=1e-4)
    np.testing.assert_allclose(w, w.T, atol=1e-5)
    # Fewer rows than columns: the SVD route equals the eigendecomposition formula.
    few = rng.standard_normal((4, 9))
    _, w_svd = fit_zca(few, 0.1)
    centred = few - few.mean(axis=0)
    lam, u = np.linalg.eigh(centred.T @ centred / 4)
    np.testing.assert_allclose(w_svd, (u / np.sqrt(np.maximum(lam, 0) + 0.1)) @ u.T, atol=1e-5)


def _write_cifar_bin(root: Path, per_file: int) -> tuple[np.ndarray, np.ndarray]:
    """Six tiny binary batches (label byte, then the R, G, B planes row-major); returns all images."""
    rng = np.random.default_rng(3)
    root.mkdir(parents=True)
    images, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_file, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, per_file)
        records = b""
        for k in range(per_file):
            planes = bytes(int(x[k, r, c, ch]) for ch in range(3) for r in range(32) for c in range(32))
            records += bytes([int(y[k])]) + planes
        (root / f"{name}.bin").write_bytes(records)
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def test_local_cifar10_copy_through_the_config(tmp_path: Path) -> None:
    images, labels = _write_cifar_bin(tmp_path / "cifar-10-batches-bin", per_file=2)
    config = allcnn_config()
    config.data.synthetic = False
    config.data.root = str(tmp_path)  # the parent: the format is detected
    config.data.train_size, config.data.test_size = 10, 2
    data = load_dataset(config.data)
    np.testing.assert_array_equal(data.y_train, labels[:10])
    np.testing.assert_array_equal(data.y_test, labels[10:])
    raw = images[:10].astype(np.float64) / 255.0
    expect = (raw - raw.mean(axis=(0, 1, 2))) / raw.std(axis=(0, 1, 2))
    np.testing.assert_allclose(data.x_train, expect, atol=1e-5)
    config.data.train_size = 11
    with pytest.raises(ValueError, match=r"data.train_size=11.*\(10, 2\)"):
        load_dataset(config.data)
    config.data.root = str(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(config.data)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("model.downsample", "avg_pool", r"model.downsample='avg_pool'.*\['max_pool', 'strided_conv', 'convpool'"),
        ("model.dtype", "float16", r"model.dtype='float16'.*\['float32', 'bfloat16'\]"),
        ("model.dropout", 1.0, r"model.dropout=1.0.*\[0, 1\)"),
        ("model.name", "cnn2d", r"model.name='cnn2d'.*'allcnn'"),
        ("data.synthetic", False, r"data.root=''.*synthetic=True"),
        ("data.train_size", 60000, r"data.train_size=60000.*at most 50000"),
        ("optimizer.decay_epochs", (250, 200), r"optimizer.decay_epochs=\(250, 200\).*increasing"),
        ("optimizer.name", "adam", r"optimizer.name='adam'.*'sgd'"),
        ("data.preprocess", "zca", r"data.preprocess='zca'.*\['gcn_zca', 'standardize'\]"),
    ],
)
def test_invalid_allcnn_configs_fail_before_compute(field: str, value: object, message: str) -> None:
    config = allcnn_config()
    config.update_from_flattened_dict({field: value})
    with pytest.raises(ValueError, match=message):
        validate_config(config)


def test_the_default_config_is_the_papers_recipe() -> None:
    config = allcnn_cifar10.get_config()
    config.data.root = "somewhere"
    validate_config(config)
    assert config.num_steps * config.batch_size / 50000 == pytest.approx(350, rel=2e-3)
    assert _allcnn_steps.decay_boundaries(config.optimizer, 50000, 128) == [78125, 97656, 117188]
    assert (config.optimizer.momentum, config.optimizer.weight_decay) == (0.9, 1e-3)
    assert (config.model.input_dropout, config.model.dropout) == (0.2, 0.5)
    errors = {v: round(100 - acc[0], 2) for v, acc in config.reference.test_acc.items()}
    assert errors == {"max_pool": 9.74, "strided_conv": 10.19, "convpool": 9.31, "allconv": 9.08}


@pytest.mark.slow
def test_sweep_over_the_variants_summarises_all_four(tmp_path: Path) -> None:
    """``ablate`` + ``report`` on the All-CNN config (synthetic, one step each): every variant in the table."""
    from experiments.common import report
    from experiments.common import sweep as ablate

    config = allcnn_config()
    config.num_steps, config.eval_every, config.checkpoint_every = 1, 1, 1
    config.sweep.train_size = (16,)
    status = ablate.run_sweep(STUDY, config, tmp_path)
    assert status == {f"{v}-n16-s0": "done" for v in VARIANTS}
    table = report.write_report(tmp_path)
    for variant, params in EXPECTED_PARAMS.items():
        assert f"| {variant} | {params} |" in table
