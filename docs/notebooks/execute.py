"""Execute docs/notebooks/analysis.py (jupytext percent format) top to bottom in a fresh kernel.

    python docs/notebooks/execute.py                      # writes analysis.ipynb with its outputs
    python docs/notebooks/execute.py --data example       # the embedded example, even when ../shared is there
    python docs/notebooks/execute.py --data DIR --out -   # a run set or its parent; '-' writes nothing

The kernel is this interpreter (``sys.executable -m ipykernel_launcher``, through a kernel spec
written to a temporary directory): no installed kernel spec is needed or used. ``--data`` sets
``DHSTATS_NOTEBOOK_DATA`` for the kernel (default: ../shared/data/real when present, else the
example); a ``--data`` path that does not exist or holds no run set is a usage error (exit
status 2, nothing executed). A cell that raises stops the run: exit status 1 with the cell and
its error.
Needs the ``dev`` extras (nbclient, nbformat, ipykernel, jupytext).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "analysis.py"
KERNEL = "dhstats-python"


def read_source(path: Path = SOURCE):
    """The notebook of the percent-format source (no outputs)."""
    import jupytext

    return jupytext.read(path, fmt="py:percent")


def execute(nb, data: str | None, timeout: int = 600):
    """Run every cell of ``nb`` in a fresh kernel of this interpreter, in this directory."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / KERNEL
        spec.mkdir()
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3", "language": "python"}))
        env = dict(os.environ)
        if data is not None:  # a directory is made absolute: the kernel runs in docs/notebooks/
            env["DHSTATS_NOTEBOOK_DATA"] = data if data == "example" else str(Path(data).resolve())
        km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[tmp]))
        client = NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(HERE)}})
        # The kernel inherits the environment (PYTHONPATH, DHSTATS_NOTEBOOK_DATA).
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="'example', a run set (run_*/results.json) or its parent "
                                                "(default: ../shared/data/real when present, else the example)")
    p.add_argument("--out", default=str(HERE / "analysis.ipynb"), help="executed notebook ('-': not written)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = p.parse_args(argv)
    if args.data is not None and args.data != "example":
        from dhstats.notebook.frames import run_set_dirs

        try:
            found = run_set_dirs(args.data)
        except (OSError, ValueError) as exc:  # missing, not a directory, no run set
            p.error(f"--data: {exc}")
        print(f"data: {', '.join(d.name for d in found)}", file=sys.stderr)
    import nbformat
    from nbclient.exceptions import CellExecutionError

    start = time.perf_counter()
    nb = read_source()
    try:
        execute(nb, args.data, args.timeout)
    except CellExecutionError as exc:
        print(f"docs/notebooks/analysis.py: a cell failed:\n{exc}", file=sys.stderr)
        return 1
    if args.out != "-":
        nbformat.write(nb, args.out)
    where = "" if args.out == "-" else f" -> {args.out}"
    print(f"executed {len(nb.cells)} cells in {time.perf_counter() - start:.1f} s{where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
