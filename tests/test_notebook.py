"""docs/notebooks/analysis.ipynb is analysis.py (the reviewed jupytext source) executed: same
cells, figures and tables in its outputs, no error, and no statistic computed in its cells.
(.ci/run executes the notebook itself: docs/notebooks/execute.py.)"""
from __future__ import annotations

import re

import pytest

from paths import PROJECT_ROOT

jupytext = pytest.importorskip("jupytext", reason="the dev extras (jupytext, nbformat) are not installed")
nbformat = pytest.importorskip("nbformat")

HERE = PROJECT_ROOT / "docs" / "notebooks"
SOURCE, EXECUTED = HERE / "analysis.py", HERE / "analysis.ipynb"
# What would be a statistic computed by hand (or data read by hand) in a cell.
HAND_MADE = re.compile(r"\b(std|sqrt|var|mean|median|sum|json|numpy|np|open|quantile|hypot)\b")


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_executed_notebook_has_the_sources_cells():
    source = jupytext.read(SOURCE, fmt="py:percent")
    executed = nbformat.read(EXECUTED, as_version=4)
    assert _cells(executed) == _cells(source), \
        "analysis.ipynb is not analysis.py: run `python docs/notebooks/execute.py`"


def test_outputs_show_figures_and_tables_and_no_error():
    nb = nbformat.read(EXECUTED, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")  # every cell ran
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    tables = [o for o in outputs if "<table" in o.get("data", {}).get("text/html", "")]
    assert len(figures) >= 4 and len(tables) >= 3
    text = EXECUTED.read_text(encoding="utf-8")
    assert not re.findall(r"/(?:work|tmp|home|root|Users)/", text)  # no machine path in what is committed


def test_no_statistic_is_computed_in_a_cell():
    code = [c.source for c in jupytext.read(SOURCE, fmt="py:percent").cells if c.cell_type == "code"]
    found = sorted({m for src in code for m in HAND_MADE.findall(re.sub(r"#.*", "", src))})
    assert found == []
    assert any("frames." in src for src in code) and any("explore." in src for src in code)


def _execute(*args: str):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, str(HERE / "execute.py"), *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env=env, timeout=900)


@pytest.mark.slow
def test_execute_refuses_a_data_path_that_is_not_there(tmp_path):
    """A mistyped --data is a usage error (exit 2, the path named), never the example analysed."""
    for bad in (tmp_path / "E_2048", tmp_path):
        done = _execute("--data", str(bad), "--out", "-")
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"--data: {bad}: " in done.stderr and "executed" not in done.stdout


@pytest.mark.slow
def test_execute_takes_a_run_set_directory_as_well_as_its_parent(tmp_path):
    """--data E_64 (one run set, as docs/notebooks/README.md shows) runs every cell."""
    pytest.importorskip("nbclient")
    from dhstats import simulate

    simulate.write_run_set(tmp_path, name="E_64", runs=2, n=64, seed=5, etas=(8e-7, 1.6e-6, 3.2e-6))
    done = _execute("--data", str(tmp_path / "E_64"), "--out", "-")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data: E_64" in done.stderr and done.stdout.startswith("executed ")
