"""Every public op has a Linen and an NNX module whose fields are the function's arguments.

The modules are generated from one table (``jaxpool._modules.OPS``). This file checks the table against the
public API without reading the table for what to expect: every function of ``jaxpool.__all__`` that takes
``inputs`` first must have ``jaxpool.linen.<Name>`` and ``jaxpool.nnx.<Name>`` (``<Name>`` spelled from the
function's name), and their Linen fields / NNX constructor parameters must equal the function's parameters
after ``inputs`` (names, order, defaults; NNX also the keyword-only split), the call-time random arguments of
``fractional_max_pool`` being replaced by the RNG fields written out below. A public function without a row
fails here. It also checks that a row added to the table gives both modules, that the indices modules equal
the brute-force reference, and that every module pickles and shows its signature in ``help()``.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import pydoc

import flax.linen as nn
import jax
import numpy as np
import pytest
from flax import nnx
from reference import pool_reference, pool_reference_winners

import jaxpool
import jaxpool.linen as jpl
import jaxpool.nnx as jpn
from jaxpool import _modules

# Public functions with no module, and why. Each must exist, and none takes ``inputs`` first.
NOT_MODULES = {
    "pool_output_shape": "a pure shape helper: it takes an input shape, not an array",
    "max_unpool": "takes two arrays (values and indices from a *_with_indices layer); call the function",
}
# Arguments a random op's module supplies at call time (a key from its RNG stream, or the evaluation samples).
CALL_TIME = {"fractional_max_pool": ("key", "samples")}
# Fields a random op's module adds after the function's: Linen (name, default), NNX (name, kind, default).
KW = inspect.Parameter.KEYWORD_ONLY
LINEN_EXTRA = {"fractional_max_pool": [("deterministic", None), ("rng_collection", "pooling")]}
NNX_EXTRA = {"fractional_max_pool": [("deterministic", KW, False), ("rng_collection", KW, "pooling"),
                                     ("rngs", KW, None)]}


def class_name(fn_name: str) -> str:
    """``max_pool_with_indices`` -> ``MaxPoolWithIndices`` (``lp`` is spelled ``LP``, as PyTorch's LPPool)."""
    return "".join("LP" if w == "lp" else w.capitalize() for w in fn_name.split("_"))


def functions_with_inputs(names: list[str]) -> list[str]:
    return [n for n in names if next(iter(inspect.signature(getattr(jaxpool, n)).parameters)) == "inputs"]


def missing_modules(names: list[str]) -> list[str]:
    """The public functions among ``names`` that take ``inputs`` but lack a table row or a module class."""
    rows = {op.fn for op in _modules.OPS.values()}
    missing = []
    for name in functions_with_inputs(names):
        fn = getattr(jaxpool, name)
        cls = class_name(name)
        if fn not in rows or not hasattr(jpl, cls) or not hasattr(jpn, cls) or _modules.OPS.get(cls) is None:
            missing.append(name)
        elif _modules.OPS[cls].fn is not fn:
            missing.append(name)
    return missing


WITH_INPUTS = functions_with_inputs(jaxpool.__all__)


def test_every_public_function_taking_inputs_has_both_modules():
    assert set(NOT_MODULES) <= set(jaxpool.__all__), "NOT_MODULES names a function that is not public"
    assert set(jaxpool.__all__) - set(WITH_INPUTS) == set(NOT_MODULES), (
        "a public function that does not take `inputs` first must be listed in NOT_MODULES with a reason")
    assert not missing_modules(jaxpool.__all__)
    assert len(WITH_INPUTS) == len(_modules.OPS) == 13  # and no row without a public function
    # a star import brings exactly the 13 module classes (no helpers or re-exported libraries)
    for family in (jpl, jpn):
        names: dict = {}
        exec(f"from {family.__name__} import *", names)
        assert sorted(k for k in names if not k.startswith("__")) == sorted(_modules.OPS), family.__name__


def test_a_public_function_missing_from_the_table_fails(monkeypatch):
    def median_pool(inputs, window_shape, strides=None):
        """A stand-in public op that has no row."""

    monkeypatch.setattr(jaxpool, "median_pool", median_pool, raising=False)
    assert missing_modules([*jaxpool.__all__, "median_pool"]) == ["median_pool"]
    with pytest.raises(TypeError, match="MedianPool is not an op of jaxpool._modules.OPS"):
        type("MedianPool", (jpl._LinenPool,), {"__module__": __name__})
    with pytest.raises(TypeError, match="MedianPool is not an op of jaxpool._modules.OPS"):
        type("MedianPool", (jpn._NnxPool,), {"__module__": __name__})


def _function_params(name: str) -> list[inspect.Parameter]:
    params = list(inspect.signature(getattr(jaxpool, name)).parameters.values())[1:]
    return [p for p in params if p.name not in CALL_TIME.get(name, ())]


@pytest.mark.parametrize("name", WITH_INPUTS)
def test_linen_fields_are_the_function_parameters(name):
    cls = getattr(jpl, class_name(name))
    assert cls.__module__ == "jaxpool.linen" and cls.__qualname__ == class_name(name)
    assert issubclass(cls, nn.Module)
    fields = [f for f in dataclasses.fields(cls) if f.name not in ("parent", "name")]
    want = [(p.name, dataclasses.MISSING if p.default is p.empty else p.default) for p in _function_params(name)]
    assert [(f.name, f.default) for f in fields] == want + LINEN_EXTRA.get(name, [])
    sig = inspect.signature(cls)  # dataclass convention: every field positional-or-keyword, parent/name last
    assert list(sig.parameters)[-2:] == ["parent", "name"]
    assert {p.kind for p in sig.parameters.values()} == {inspect.Parameter.POSITIONAL_OR_KEYWORD}


@pytest.mark.parametrize("name", WITH_INPUTS)
def test_nnx_constructor_is_the_function_signature(name):
    cls = getattr(jpn, class_name(name))
    assert cls.__module__ == "jaxpool.nnx" and cls.__qualname__ == class_name(name)
    assert issubclass(cls, nnx.Module)
    want = [(p.name, p.kind, p.default) for p in _function_params(name)] + NNX_EXTRA.get(name, [])
    init = list(inspect.signature(cls.__init__).parameters.values())
    assert init[0].name == "self"
    assert [(p.name, p.kind, p.default) for p in init[1:]] == want
    assert [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()] == want
    with pytest.raises(TypeError, match=rf"{class_name(name)}\(\): got an unexpected keyword argument 'bogus'"):
        cls(*[1] * sum(p.default is p.empty for p in _function_params(name)), bogus=1)


@pytest.mark.parametrize("name", WITH_INPUTS)
def test_help_shows_the_signature_and_modules_pickle(name):
    args = {"lp_pool": (2.0, 2), "fractional_max_pool": (2, 3), "adaptive_avg_pool": (2,),
            "adaptive_max_pool": (2,), "global_avg_pool": (), "global_max_pool": (), "blur_pool": ()}.get(name, (2,))
    for family in (jpl, jpn):
        cls = getattr(family, class_name(name))
        text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
        assert f"{cls.__name__}{inspect.signature(cls)}" in text, text[:400]  # not (*args, **kwargs)
        module = cls(*args)
        again = pickle.loads(pickle.dumps(module))
        assert type(again) is cls and repr(again) == repr(module)


def scaled_sum_pool(inputs, window_shape, scale=2.0, *, channels_first=False):
    """A test op: ``scale`` times sum pooling (stride 1, VALID)."""
    return scale * jaxpool.sum_pool(inputs, window_shape, channels_first=channels_first)


def test_a_row_added_to_the_table_gives_both_modules(monkeypatch):
    monkeypatch.setitem(_modules.OPS, "ScaledSumPool", _modules.Op(scaled_sum_pool, _modules._spec("window_shape")))

    class ScaledSumPool(jpl._LinenPool):
        """Linen module of the test op."""

    linen_cls = ScaledSumPool

    class ScaledSumPool(jpn._NnxPool):  # noqa: F811 -- the NNX twin has the same name
        """NNX module of the test op."""

    nnx_cls = ScaledSumPool
    assert [(f.name, f.default) for f in dataclasses.fields(linen_cls)][:3] == [
        ("window_shape", dataclasses.MISSING), ("scale", 2.0), ("channels_first", False)]
    assert str(inspect.signature(nnx_cls)) == "(window_shape, scale=2.0, *, channels_first=False)"
    x = np.random.default_rng(3).normal(size=(2, 5, 4, 3)).astype(np.float32)
    want = 3.0 * pool_reference(x, "sum", [2, 2])
    np.testing.assert_allclose(linen_cls([2, 2], 3.0).apply({}, x), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(nnx_cls([2, 2], 3.0)(x), want, rtol=1e-5, atol=1e-5)
    assert linen_cls([2, 2]).window_shape == nnx_cls([2, 2]).window_shape == (2, 2)  # stored as a tuple
    with pytest.raises(TypeError, match="window_shape"):  # PyTorch spelling, named
        nnx_cls(kernel_size=2)
    with pytest.raises(ValueError, match="window_shape"):  # the function's own check, at construction
        linen_cls(0)


@pytest.mark.parametrize("take_max", [True, False])
@pytest.mark.parametrize("kw", [dict(window_shape=(3, 2), strides=(2, 1), padding="SAME"),
                                dict(window_shape=2, strides=2, padding=1, ceil_mode=True, channels_first=True)])
def test_indices_modules_equal_the_reference(take_max, kw):
    x = np.random.default_rng(4).integers(-3, 4, size=(2, 7, 6, 3)).astype(np.float32)  # many ties
    name = "MaxPoolWithIndices" if take_max else "MinPoolWithIndices"
    op = "max" if take_max else "min"
    want = (pool_reference(x, op, **kw), pool_reference_winners(x, op, **kw))
    linen_out = jax.jit(getattr(jpl, name)(**kw).apply)({}, x)
    nnx_out = nnx.jit(lambda m, x: m(x))(getattr(jpn, name)(**kw), x)
    for values, indices in (linen_out, nnx_out):
        np.testing.assert_array_equal(values, want[0])
        np.testing.assert_array_equal(indices, want[1])
        assert indices.dtype == np.int32
    with pytest.raises(ValueError, match="window_shape"):
        getattr(jpl, name)(0)
    with pytest.raises(TypeError, match="strides"):
        getattr(jpn, name)(2, stride=2)
