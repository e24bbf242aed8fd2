"""A gate session's outputs under hostile conditions, end to end (``pytest checks/`` in a
subprocess): Ctrl-C, odd ``--history`` files, symbolic links and occupied paths inside the
reports directory, ``--html``, odd run names. Every file a test makes is inside its tmp_path.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from test_plugin import NOISE, checkout, gate, health, write_run  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow
pytest_plugins = ["pytester"]


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (not following links): kind, content or link target."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[str(p.relative_to(root))] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[str(p.relative_to(root))] = ("file", p.read_bytes())
            else:
                out[str(p.relative_to(root))] = ("other", stat.S_IFMT(st.st_mode))
    return out


@pytest.fixture
def healthy(checkout) -> Path:  # noqa: F811 - the fixture imported above
    """``../E_64``: six healthy runs (every case passes)."""
    root = checkout.parent / "E_64"
    for i in range(1, 7):
        write_run(root, f"run_{i:02d}", n=64, seed=20 + i, **NOISE)
    return root


INTERRUPT_PLUGIN = """
import os, signal
seen = []
def pytest_runtest_call(item):
    seen.append(item.nodeid)
    if len(seen) == {after}:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the session
"""


def _interrupting(pytester, checkout, after: int) -> str:  # noqa: F811
    (checkout / "ctrl_c.py").write_text(INTERRUPT_PLUGIN.format(after=after))
    return "ctrl_c"


# --------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_is_never_a_pass(pytester, checkout, healthy):  # noqa: F811
    plugin = _interrupting(pytester, checkout, after=5)
    result = gate(pytester, checkout, "--results", "../E_64", "-p", plugin)  # cwd is on sys.path
    out = result.stdout.str()
    assert result.ret == 2, out[-3000:]  # pytest's own status for an interrupted session
    assert "exit status 0" not in out and "Traceback" not in out + result.stderr.str()
    h = health(checkout)
    assert h["exit"]["status"] == 2 and h["exit"]["summary"].startswith("interrupted")
    assert h["interrupted"] is True
    # every run found is listed; those no case reported are named, not judged after Ctrl-C
    listed = {r["run"] for r in h["runs"]} | {r["run"] for r in h["not_judged"]}
    assert listed == {f"run_{i:02d}" for i in range(1, 7)}
    assert h["not_judged"] and all(r["message"] for r in h["not_judged"])
    badge = (checkout / "reports" / "badges" / "estimator-health.svg").read_text()
    assert "interrupted" in badge and "#4C1" not in badge.upper()  # not green
    (line,) = [json.loads(ln) for ln in (checkout / "reports" / "history.jsonl").read_text().splitlines()]
    assert line["exit"]["status"] == 2 and line["interrupted"] is True
    assert "interrupted" in out.splitlines()[-1] or "exit status 2" in out
