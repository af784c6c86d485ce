"""Test configuration shared by every test module.

Tests run, as Equinox's do, with ``jax_numpy_rank_promotion="raise"`` and strict dtype promotion so silent
broadcasting or upcasting bugs surface. Hypothesis uses a small profile by default (CI has 2 cores); pass
``--hypothesis-profile=thorough`` for a larger search. Slow tests run only with ``--runslow``.
"""

from __future__ import annotations

import os

# PyTorch (an oracle here) imported with its default thread pool keeps OpenMP threads spinning after each call;
# on the 2-core CI machine, beside two xdist workers, that only takes CPU time from the tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

settings.register_profile(
    "default",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("default")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A module may start a long subprocess in the background now (test_sharding: the 8-device matrix); its
    # tests run last, so that the subprocess overlaps with the other tests instead of holding a worker.
    starters = {m: m.start_in_background for m in {getattr(i, "module", None) for i in items}
                if hasattr(m, "start_in_background")}
    for start in starters.values():
        start(config, items)
    items.sort(key=lambda item: getattr(item, "module", None) in starters)
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
