"""Tests of dhstats.verdicts.display: verdicts, run sets and health documents as HTML tables in Jupyter,
with every name and message escaped."""
from __future__ import annotations

from pathlib import Path

from dhstats.notebook import frames
from dhstats.verdicts.display import HealthDocument, html_table
from dhstats.verdicts.verdicts import Outcome, RunOutcome, RunVerdict, Verdict

from builders import make_run


def test_html_reprs_escape_markup_in_names():
    evil = "<script>alert(1)</script>&"
    v = Verdict("linear_agreement", Outcome.FAILED, f"z too large for {evil}", evil, evil, 1e-6, {"z": 4.0})
    rv = RunVerdict(evil, evil, "/p", RunOutcome.ERROR, f"{evil}: invalid")
    run = make_run(n=3, seed=1, run=evil)
    rs = frames.RunSet(evil, Path(evil), (run,))
    health = HealthDocument({"run_sets": [{"name": evil, "E": 3}], "runs": [rv.to_dict()],
                             "cases": [v.to_dict()], "counts": {"cases": {"failed": 1}}})
    for html in (v._repr_html_(), rv._repr_html_(), rs._repr_html_(), health._repr_html_()):
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in html
        assert html.startswith("<table")


def test_verdict_html_shows_its_numbers():
    v = Verdict("linear_agreement", Outcome.PASSED, "ok", "E_1", "run_01", 2e-6, {"z": 0.123456, "R": 3})
    html = v._repr_html_()
    assert "<td" in html and "0.1235" in html and "linear_agreement" in html and "passed" in html



def test_html_table_cells_and_health_counts():
    html = html_table(["a", "b"], [(1.234567, None), (True, "x\ny")], "cap")
    assert "<td style" in html and "1.235" in html and "yes" in html and "x<br>y" in html
    doc = HealthDocument({"counts": {"cases": {"total": 3, "passed": 2, "failed": 1}},
                          "cases": [{"check": "c1", "outcome": "passed"}, {"check": "c1", "outcome": "failed"},
                                    {"check": "c2", "outcome": "passed"}]})
    assert doc.by_check() == [("c1", 1, 1, 0), ("c2", 1, 0, 0)]
    assert [c["outcome"] for c in doc.failed()] == ["failed"]
    assert "cases total" in doc._repr_html_()
