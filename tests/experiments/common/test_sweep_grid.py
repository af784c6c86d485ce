"""A sweep never runs one grid point twice: a sweep list with a repeated value, or a ``--config.*`` tuple field given
twice on the command line (absl joins two tuples into one: ``(0, 1)`` and ``(1, 2)`` become ``(0, 1, 1, 2)``),
is an error naming the field, before any run folder exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import ml_collections
import pytest

from experiments.common import sweep
from experiments.common.config import check_override_names
from experiments.downsampling.train import STUDY

CONFIG = "experiments/downsampling/configs/mnist1d_pooling.py"
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "field,values,message",
    [
        ("seed", (0, 1, 0), "config.sweep.seed=(0, 1, 0) lists 0 more than once"),
        ("seed", (0, 1, 1, 2, 2), "config.sweep.seed=(0, 1, 1, 2, 2) lists 1, 2 more than once"),
        ("downsample", ("none", "max_pool", "none"), "downsample=('none', 'max_pool', 'none') lists 'none' more"),
        ("train_size", (100, 200, 100), "config.sweep.train_size=(100, 200, 100) lists 100 more than once"),
    ],
)
def test_repeated_grid_values_are_refused_naming_the_field(
    tiny_config: ml_collections.ConfigDict, field: str, values: tuple, message: str
) -> None:
    tiny_config.sweep[field] = values
    with pytest.raises(ValueError, match=re.escape(message)):
        sweep.grid(STUDY, tiny_config)
    tiny_config.sweep[field] = tuple(dict.fromkeys(values))
    assert len(sweep.grid(STUDY, tiny_config)) == (
        len(tiny_config.sweep.seed) * len(tiny_config.sweep.downsample) * len(tiny_config.sweep.train_size)
    )


def test_a_bare_comma_list_is_refused_naming_the_sweep_field(tiny_config: ml_collections.ConfigDict) -> None:
    # --config.sweep.downsample=max_pool,strided_conv arrives as one name; the message names the sweep field
    # (not model.downsample, which the grid point would set) and the quoted tuple to write instead
    tiny_config.sweep.downsample = ("max_pool,strided_conv",)
    message = ("config.sweep.downsample=('max_pool,strided_conv',) holds 'max_pool,strided_conv', one name with "
               "commas; write the list as a quoted tuple: --config.sweep.downsample=\"('max_pool', 'strided_conv')\"")
    with pytest.raises(ValueError, match=re.escape(message)):
        sweep.grid(STUDY, tiny_config)


def test_a_field_given_twice_is_refused() -> None:
    first, second = "--config.sweep.seed=(0, 1)", "--config.sweep.seed=(1, 2)"
    argv = ["main", f"--config={CONFIG}", first, "--config.num_steps=5", second]
    message = f"--config.sweep.seed is given 2 times ({first} {second}); absl would join the tuples; give it once"
    with pytest.raises(ValueError, match=re.escape(message)):
        check_override_names(argv)
    check_override_names(argv[:-1])  # once is fine
    check_override_names([*argv[:-1], "--config.num_steps=7"])  # a scalar given twice: the last wins


def test_sweep_cli_with_seed_given_twice_stops_before_any_run(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.downsampling.main", "--sweep", f"--config={CONFIG}",
         f"--workdir={tmp_path}", "--config.sweep.seed=(0, 1)", "--config.sweep.seed=(1, 2)"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --config.sweep.seed is given 2 times (--config.sweep.seed=(0, 1) --config.sweep.seed=(1, 2)); "
        "absl would join the tuples; give it once"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spelling", ["equals", "space"])
def test_override_checks_read_both_config_spellings(spelling: str) -> None:
    # absl takes ``--config=PATH`` and ``--config PATH``; every README command uses the second
    config = [f"--config={CONFIG}"] if spelling == "equals" else ["--config", str(CONFIG)]
    with pytest.raises(ValueError, match=r"--config\.learning_rate: the config has no field 'learning_rate'; did "
                                         r"you mean config\.optimizer\.learning_rate\?"):
        check_override_names(["main", *config, "--config.learning_rate=0.1"])
    with pytest.raises(ValueError, match="given 2 times"):
        check_override_names(["main", *config, "--config.sweep.seed=0,1", "--config.sweep.seed=2"])
