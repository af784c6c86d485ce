"""The research notebook ``docs/pooling_explained.ipynb`` runs top to bottom and is committed with outputs.

Executed with ``nbclient`` on the ``python3`` kernel that ``ipykernel`` provides in this environment (both in the
``test`` extra), a fresh kernel per run, so a broken cell fails the build (nbclient raises
``CellExecutionError``). The issue asks for at most 3 minutes on the 2-core CI machine; the test allows 6 (shared
machines are noisy). To re-execute and store the outputs:
``jupyter execute --inplace docs/pooling_explained.ipynb`` (nbclient's command-line tool; or its
``NotebookClient`` as below, then ``nbformat.write``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbclient  # the test extra's: missing means a failure, not a skipped notebook
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "pooling_explained.ipynb"


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _stdout(nb) -> str:
    return "".join(o.get("text", "") for c in _code_cells(nb) for o in c.outputs if o.output_type == "stream")


def _check_outputs(nb) -> None:
    code = _code_cells(nb)
    assert code and all(c.outputs for c in code)  # every code cell prints or draws something
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # shrink + shift, receptive fields, ablation curves
    text = _stdout(nb)
    # Receptive field of the central output: 2d + 1 after d 3x3 convs; 2 r + 2 after each further 2x2/2 pool.
    assert re.search(r"conv only:\s+3x3 5x5 7x7 9x9\n", text), text
    assert re.search(r"conv \+ 2x2 pool:\s+4x4 10x10 22x22 46x46\n", text), text
    assert "same gradients: True" in text  # jaxpool.max_pool and flax.linen.max_pool in the CNN
    accuracies = [float(a) for a in re.findall(r"^\| \w+ pool \| ([\d.]+) %", text, flags=re.M)]
    assert len(accuracies) == 2 and all(10 < a <= 100 for a in accuracies), text  # above chance (10 classes)


def test_committed_notebook_has_outputs_and_figures():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    _check_outputs(nb)
    sources = "".join(c.source for c in _code_cells(nb))
    assert "import experiments" not in sources and "from experiments" not in sources  # public APIs only


def test_notebook_runs_top_to_bottom():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in _code_cells(nb):
        cell.outputs = []
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(ROOT)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell on any error
    elapsed = time.perf_counter() - start
    _check_outputs(nb)
    assert elapsed < 360, elapsed
