"""The fake-device subprocess helper reruns a subprocess once on XLA:CPU's stuck-collective exit, never otherwise."""

from __future__ import annotations

import sys
from pathlib import Path

import fake_devices


def _counting(path: Path, fail_first_with: str, code: int) -> list[str]:
    """A command that counts its runs in ``path`` and fails its first run with ``code`` and that stderr."""
    script = (f"import sys; from pathlib import Path; p = Path({str(path)!r}); "
              f"n = int(p.read_text()) if p.exists() else 0; p.write_text(str(n + 1)); "
              f"sys.stderr.write({fail_first_with!r} if n == 0 else ''); sys.exit({code} if n == 0 else 0)")
    return [sys.executable, "-c", script]


def test_stuck_collective_runs_again(tmp_path: Path) -> None:
    count = tmp_path / "n"
    proc = fake_devices.run(_counting(count, "[id=3] Termination timeout for `all-to-all` of 40 seconds", 134))
    assert proc.returncode == 0 and count.read_text() == "2"


def test_other_failures_are_not_rerun(tmp_path: Path) -> None:
    count = tmp_path / "n"
    proc = fake_devices.run(_counting(count, "AssertionError: cell differs", 1))
    assert proc.returncode == 1 and count.read_text() == "1" and "cell differs" in proc.stderr


def test_flags_name_the_device_count() -> None:
    assert fake_devices.xla_flags(8) == "--xla_force_host_platform_device_count=8"
