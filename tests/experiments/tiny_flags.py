"""Command-line flags that shrink the MNIST-1D study to seconds, for the tests that run the CLIs."""

from __future__ import annotations

from pathlib import Path


def tiny_flags(cache: Path, *, steps: int = 20, checkpoint_every: int = 10, sweep: bool = False) -> list[str]:
    """``--config.*`` overrides: 600-example pool, 200 train, 100 test, batch 50, eval every 10 steps.

    Args:
      cache: the data cache directory (a session-wide one keeps the tiny pool generated once).
      steps: ``config.num_steps``.
      checkpoint_every: ``config.checkpoint_every`` (a multiple of 10).
      sweep: for ``--sweep``: leave out ``data.train_size``, which the grid sets (``sweep.train_size``).

    Returns:
      The flags, without ``--config=`` itself.
    """
    return [
        f"--config.data.cache_dir={cache}",
        "--config.data.pool_size=600",
        *([] if sweep else ["--config.data.train_size=200"]),
        "--config.data.test_size=100",
        "--config.batch_size=50",
        "--config.eval_batch_size=100",
        f"--config.num_steps={steps}",
        "--config.eval_every=10",
        f"--config.checkpoint_every={checkpoint_every}",
        "--config.shift.passes=1",
        "--config.progress_bar=False",
    ]
