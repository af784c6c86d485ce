"""The research notebook ``docs/pooling_explained.ipynb`` runs top to bottom and is committed with outputs.

Executed by ``scripts/run_notebook.py --check`` (plain nbformat-4 JSON, every code cell ``exec``-ed in order
in a fresh process with matplotlib's Agg backend), so a broken cell fails the build. The issue asks for at
most 3 minutes on the 2-core CI machine; the test allows 6 (shared machines are noisy).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "pooling_explained.ipynb"


def test_committed_notebook_has_outputs_and_figures():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] for c in code)  # every code cell prints or draws something
    images = [o for c in code for o in c["outputs"] if "image/png" in o.get("data", {})]
    assert len(images) == 3  # shrink + shift, receptive fields, ablation curves
    sources = "".join("".join(c["source"]) for c in code)
    assert "import experiments" not in sources and "from experiments" not in sources  # public APIs only


def test_notebook_runs_top_to_bottom():
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_notebook.py"), str(NOTEBOOK), "--check"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "total:" in proc.stdout
    assert time.perf_counter() - start < 360, proc.stdout
