"""Execute a Jupyter notebook's code cells top to bottom, in one namespace, and store their outputs.

A small stand-in for ``nbclient`` (not a dependency of this project): the notebook is plain nbformat-4 JSON,
each code cell is run with ``exec`` (the value of a final expression is shown as ``repr``), stdout is captured
as a stream output and every matplotlib figure shown (``plt.show()`` or left open at the end of a cell) as a
PNG ``display_data`` output. IPython magics are not supported: cells must be plain Python.

Usage:
    python scripts/run_notebook.py docs/pooling_explained.ipynb           # run and write the outputs back
    python scripts/run_notebook.py docs/pooling_explained.ipynb --check   # run only; exit 1 on any error

Prints each cell's wall time and the total.
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import io
import json
import sys
import time
import traceback
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _figures() -> list[dict]:
    outs = []
    for num in plt.get_fignums():
        buf = io.BytesIO()
        plt.figure(num).savefig(buf, format="png", dpi=80, bbox_inches="tight")
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        outs.append({"output_type": "display_data", "data": {"image/png": data, "text/plain": ["<Figure>"]},
                     "metadata": {}})
    plt.close("all")
    return outs


def run_cell(source: str, namespace: dict, count: int) -> list[dict]:
    """Run one code cell; return its nbformat outputs (stdout, figures, final expression)."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    outputs: list[dict] = []
    shown: list[dict] = []
    namespace["__show__"] = lambda *a, **k: shown.extend(_figures())
    plt.show = namespace["__show__"]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(tree, f"<cell {count}>", "exec"), namespace)
        value = eval(compile(ast.Expression(last.value), f"<cell {count}>", "eval"), namespace) if last else None
    if stdout.getvalue():
        outputs.append({"output_type": "stream", "name": "stdout", "text": stdout.getvalue().splitlines(True)})
    outputs.extend(shown + _figures())
    if value is not None:
        outputs.append({"output_type": "execute_result", "execution_count": count,
                        "data": {"text/plain": repr(value).splitlines(True)}, "metadata": {}})
    return outputs


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's jaxpool first
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--check", action="store_true", help="run only, do not write outputs back")
    args = parser.parse_args(argv)
    with open(args.notebook, encoding="utf-8") as f:
        nb = json.load(f)
    namespace: dict = {"__name__": "__main__"}
    start, count = time.perf_counter(), 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        count += 1
        t0 = time.perf_counter()
        try:
            cell["outputs"] = run_cell("".join(cell["source"]), namespace, count)
        except Exception:
            traceback.print_exc()
            print(f"cell {count} failed", file=sys.stderr)
            return 1
        cell["execution_count"] = count
        print(f"cell {count}: {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"total: {time.perf_counter() - start:.1f} s")
    if not args.check:
        with open(args.notebook, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
