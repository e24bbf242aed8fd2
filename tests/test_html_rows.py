"""report.html's rows (dhstats.report.html_rows): passed rows compact, skipped rows their reason,
failures whole, and beyond ``dhstats_html_rows`` tests passed/skipped rows counted, not
listed. Unit tests on stand-in reports, then the gate in a subprocess with the page opened in
headless Chromium (tests/browser.py; skipped without Chromium)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from browser import chromium, dump_dom

from dhstats import simulate
from dhstats.report.html_rows import Rows, folds_as, skip_reason

from paths import PROJECT_ROOT

REPO = PROJECT_ROOT


def report(when="call", outcome="passed", nodeid="t::a", **kw):
    return SimpleNamespace(when=when, outcome=outcome, nodeid=nodeid, **kw)


class Counts:
    """Stands in for pytest-html's report data: assigning ``outcomes`` adds one."""

    def __init__(self):
        self.added: list[str] = []

    @property
    def outcomes(self):
        return self.added

    @outcomes.setter
    def outcomes(self, outcome):
        self.added.append(outcome)


def test_folds_as():
    assert folds_as(report()) == "passed"
    assert folds_as(report(outcome="skipped")) == "skipped"
    assert folds_as(report(when="setup", outcome="skipped")) == "skipped"
    assert folds_as(report(outcome="failed")) is None
    assert folds_as(report(when="setup", outcome="failed")) is None
    assert folds_as(report(when="setup")) is None and folds_as(report(when="teardown")) is None
    assert folds_as(report(outcome="skipped", wasxfail="")) is None


def test_rows_fold_beyond_the_limit_and_count_what_they_fold():
    counts = Counts()
    rows = Rows(tests=4, counts=counts, limit=3)
    cells = {name: ["<td>x</td>"] for name in ("pass", "pass-down", "skip", "fail", "fail-down")}
    rows.row(report(nodeid="a"), cells["pass"])
    rows.row(report(when="teardown", nodeid="a"), cells["pass-down"])
    rows.row(report(when="setup", outcome="skipped", nodeid="b"), cells["skip"])
    rows.row(report(outcome="failed", nodeid="c"), cells["fail"])
    rows.row(report(when="teardown", nodeid="c"), cells["fail-down"])
    assert cells == {"pass": [], "pass-down": [], "skip": [], "fail": ["<td>x</td>"], "fail-down": ["<td>x</td>"]}
    assert counts.added == ["passed", "skipped"] and rows.folded == {"passed": 1, "skipped": 1}
    assert rows.note() == ("<p>1 passed and 1 skipped tests are counted in the outcome filters but not listed: "
                           "more than 3 tests (ini dhstats_html_rows). Every verdict is in health.json, every "
                           "failing run has its page, and failures are listed in full.</p>")


def test_rows_list_everything_up_to_the_limit_or_without_counts():
    for rows in (Rows(tests=3, counts=Counts(), limit=3), Rows(tests=5000, counts=None, limit=3)):
        cells = ["<td>x</td>"]
        rows.row(report(), cells)
        assert cells == ["<td>x</td>"] and rows.note() is None


def test_log_passed_empty_skipped_reason_failed_whole():
    passed, skipped, failed = ["No log output captured."], ["('/a/plugin.py', 151, 'Skipped: &lt;x&gt;')\n"], ["E  boom"]
    Rows.log(report(), passed)
    Rows.log(report(outcome="skipped", longrepr=("/a/plugin.py", 151, "Skipped: <x> & y")), skipped)
    Rows.log(report(outcome="failed"), failed)
    assert (passed, skipped, failed) == ([], ["Skipped: &lt;x&gt; &amp; y"], ["E  boom"])
    kept = ["captured"]
    Rows.log(report(when="teardown"), kept)
    Rows.log(report(outcome="skipped", wasxfail="reason"), kept)
    assert kept == ["captured"]
    assert skip_reason(report(outcome="skipped", longrepr="text")) is None


# --------------------------------------------------------------------------- in Chromium

USER_EXTRA = '''
import pytest
from pytest_html import extras


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        rep.extras = list(getattr(rep, "extras", [])) + [extras.url("https://example.invalid/u", name="user-link")]
'''


def gate_report(tmp_path: Path, *extra: str) -> tuple[str, str]:
    """The gate on a healthy run and a run with a biased gdotv (its agreement cases fail, with
    figures), with a plugin that gives every test a link extra: (pytest's output, report DOM)."""
    root = tmp_path / "E_128"
    for run, defects in (("run_01", ()), ("run_02", ("biased_gdotv",))):
        path = root / run / "results.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(simulate.dumps_run(simulate.simulate_run(128, (8e-7, 3.2e-6), seed=1, defects=defects)))
    (tmp_path / "userextra.py").write_text(USER_EXTRA)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "pytest", "checks/", "--results", str(root), "--reports",
                           str(tmp_path / "reports"), "-p", "no:cacheprovider", "-p", "userextra", "-q", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, dump_dom(tmp_path / "reports" / "report.html")


def tbodies(dom: str) -> dict[str, list[str]]:
    """Each rendered test's <tbody> markup, by outcome class."""
    out: dict[str, list[str]] = {}
    for m in re.finditer(r'<tbody class="results-table-row (\w+)"[^>]*>(.*?)</tbody>', dom, re.S):
        out.setdefault(m.group(1), []).append(m.group(2))
    return out


def pytest_counts(stdout: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped)", stdout.splitlines()[-1])}


needs_chromium = pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed")


@pytest.mark.slow
@needs_chromium
def test_report_lists_passed_rows_compact_and_failed_rows_whole(tmp_path):
    stdout, dom = gate_report(tmp_path)
    rows, counts = tbodies(dom), pytest_counts(stdout)
    assert len(rows["passed"]) == counts["passed"] > 0 and len(rows["failed"]) == counts["failed"] > 0
    for body in rows["passed"]:  # no log, no extras: neither the user's link nor a figure
        assert 'class="log"' not in body and "user-link" not in body and "data:image/png" not in body
    for body in rows["failed"]:  # everything: the message in the log, the user's link
        assert 'class="log"' in body and "user-link" in body
        assert re.search(r"\[E_128/(run_02|eta=)", body), body[:300]  # the biased run, or pooled
    assert sum("data:image/png" in body for body in rows["failed"]) >= 1  # the figures
    assert "counted in the outcome filters" not in dom


@pytest.mark.slow
@needs_chromium
def test_report_beyond_the_limit_counts_passed_and_skipped_rows(tmp_path):
    stdout, dom = gate_report(tmp_path, "-o", "dhstats_html_rows=1")
    rows, counts = tbodies(dom), pytest_counts(stdout)
    assert set(rows) == {"failed"} and len(rows["failed"]) == counts["failed"]
    assert f'{counts["passed"]} Passed' in dom and f'{counts.get("skipped", 0)} Skipped' in dom
    assert all('class="log"' in body and "user-link" in body for body in rows["failed"])
    assert f'{counts["passed"]} passed' in dom and "counted in the outcome filters" in dom
