"""Tests for dhstats.report: health.json, badges, run pages, terminal table, summary HTML.

Records are built by hand; expected counts and colours are worked out by hand in the
comments (checks.md "Outputs"; the colour rule is the brief's). HTML is checked by
structure and escaping, not by snapshot.
"""
from __future__ import annotations

import base64
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dhstats import report
from dhstats.report import (
    badge_colour,
    build_health,
    render_run_page,
    run_label,
    run_page_relpath,
    summary_html,
    summary_lines,
    write_badges,
    write_json_atomic,
    write_run_pages,
)
from dhstats.verdicts import CHECKS, Outcome, RunVerdict, Settings, Verdict

EVIL_RUN = "run_<img src=x onerror=alert(1)>"
EVIL_MSG = "ratio outside [0.5, 2] <script>alert(1)</script> at q = 0.99"
ETAS = (1e-06, 2e-06, 4e-06, 8e-06, 1.6e-05)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16  # a stand-in: only the data URI is checked
PNG_B64 = base64.b64encode(PNG).decode("ascii")

P, F, S = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED


def _records():
    """Four runs:

    * E_2048/run_01 (ok): consistency 5P; linear_agreement 3P1F1S (fails at η = 8e-06,
      z = 4.2); se_consistency 1P (per run, η None);
    * E_2048/<EVIL_RUN> (ok): consistency 1P; truncation_ratio 1F (message with <script>,
      one NaN number);
    * E_2048/run_03: invalid input, no cases;
    * E_4096/run_01 (ok): consistency 1P, se_consistency 1S.

    Totals: 15 cases, 11 passed, 2 failed, 2 skipped; 4 runs, 3 ok, 1 error.
    """
    runs = [
        RunVerdict("E_2048", "run_01", "/data/E_2048/run_01/results.json", "ok"),
        RunVerdict("E_2048", EVIL_RUN, f"/data/E_2048/{EVIL_RUN}/results.json", "ok"),
        RunVerdict(
            "E_2048", "run_03", "/data/E_2048/run_03/results.json", "error",
            "E_2048/run_03/results.json: invalid input (2 problems)\n"
            "entries[0].eta: must be > 0\nentries[1]: <b>missing</b> h_new",
            ("E_2048/run_03/results.json: entries[0].eta: must be > 0",
             "E_2048/run_03/results.json: entries[1]: <b>missing</b> h_new"),
        ),
        RunVerdict("E_4096", "run_01", "/data/E_4096/run_01/results.json", "ok"),
    ]
    a = ("E_2048", "run_01")
    cases = [Verdict("consistency", P, "sums hold.", *a, eta) for eta in ETAS]
    cases.append(Verdict("se_consistency", P, "ρ within bounds.", *a, None,
                         {"rho_se_shard": 1.02, "reported_se": "total"}))
    for eta in ETAS[:3]:
        cases.append(Verdict("linear_agreement", P, "ok.", *a, eta, {"z": 0.5, "combined_se": 1e-3}))
    cases.append(Verdict("linear_agreement", F, "|z| > k: ηG misses ΔH_true.", *a, ETAS[3],
                         {"z": 4.2, "combined_se": 1e-3, "sigma_g_source": "reported",
                          "sigma_true_source": "first-order"}))
    cases.append(Verdict("linear_agreement", S, "no σ_G.", *a, ETAS[4]))
    b = ("E_2048", EVIL_RUN)
    cases.append(Verdict("consistency", P, "sums hold.", *b, 1e-06))
    cases.append(Verdict("truncation_ratio", F, EVIL_MSG, *b, 1e-06,
                         {"ratio_q0.99": 5.1, "ratio_q0.95": float("nan")}))
    d = ("E_4096", "run_01")
    cases.append(Verdict("consistency", P, "sums hold.", *d, 1e-06))
    cases.append(Verdict("se_consistency", S, "nothing to compare: no per-sequence data.", *d, None))
    return runs, cases


@pytest.fixture
def health(tmp_path):
    runs, cases = _records()
    return build_health(Settings(), [tmp_path / "E_2048", "E_4096"], runs, cases)


# --------------------------------------------------------------------------- health.json


def test_build_health_schema(health, tmp_path):
    runs, cases = _records()
    assert set(health) == {"schema", "sigma", "settings", "results", "runs", "cases", "counts"}
    assert health["schema"] == 1
    assert health["sigma"] == 3.0
    assert health["settings"] == Settings().to_dict()
    assert health["results"] == [str(tmp_path / "E_2048"), os.path.abspath("E_4096")]
    assert all(os.path.isabs(p) for p in health["results"])
    assert health["runs"] == [r.to_dict() for r in runs]
    for r in health["runs"]:
        assert {"results", "run", "path", "outcome", "message"} <= set(r)
        assert r["outcome"] in ("ok", "error")
    # cases: same order, exact checks.md fields, eta null for per-run checks
    assert [(c["run"], c["check"], c["eta"]) for c in health["cases"]] == [(v.run, v.check, v.eta) for v in cases]
    for c in health["cases"]:
        assert list(c)[:7] == ["results", "run", "eta", "check", "outcome", "reason", "message"]
        assert c["check"] in CHECKS and c["outcome"] in ("passed", "failed", "skipped")
        assert (c["eta"] is None) == (c["check"] == "se_consistency")
    failed = [c for c in health["cases"] if c["outcome"] == "failed"]
    assert failed[0]["z"] == 4.2 and failed[0]["eta"] == 8e-06
    assert failed[1]["ratio_q0.95"] is None  # NaN → null
    assert not any(c["run"] == "run_03" for c in health["cases"])  # invalid run: no cases
    counts = health["counts"]
    assert counts["cases"] == {"total": 15, "passed": 11, "failed": 2, "skipped": 2}
    assert counts["runs"] == {"total": 4, "ok": 3, "error": 1}
    assert list(counts["checks"]) == list(CHECKS)
    assert counts["checks"]["consistency"] == {"total": 7, "passed": 7, "failed": 0, "skipped": 0}
    assert counts["checks"]["linear_agreement"] == {"total": 5, "passed": 3, "failed": 1, "skipped": 1}
    assert counts["checks"]["se_consistency"] == {"total": 2, "passed": 1, "failed": 0, "skipped": 1}
    assert counts["checks"]["snis_weights"] == {"total": 0, "passed": 0, "failed": 0, "skipped": 0}


def test_build_health_rejects_inconsistent_records():
    runs, cases = _records()
    bad_run = Verdict("consistency", P, "x", "E_2048", "run_03", 1e-06)  # run_03 is invalid
    with pytest.raises(ValueError, match="invalid run has no cases"):
        build_health(Settings(), [], runs, cases + [bad_run])
    with pytest.raises(ValueError, match="not in run_verdicts"):
        build_health(Settings(), [], runs, [Verdict("consistency", P, "x", "E_9", "r", 1e-06)])
    with pytest.raises(ValueError, match="unknown check"):
        build_health(Settings(), [], runs, [Verdict("vibes", P, "x", "E_2048", "run_01", 1e-06)])


@pytest.mark.parametrize("use_orjson", [True, False])
def test_json_nan_becomes_null(tmp_path, monkeypatch, use_orjson):
    if not use_orjson:
        monkeypatch.setattr(report, "orjson", None)
    obj = {"a": [1.5, float("nan"), {"b": float("inf")}], "t": (1, float("-inf")), 2: "two"}
    path = write_json_atomic(tmp_path / "x.json", obj)
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": [1.5, None, {"b": None}], "t": [1, None], "2": "two"}


def test_health_json_round_trip(tmp_path, health):
    path = write_json_atomic(tmp_path / "reports" / "health.json", health)
    again = json.loads(path.read_text(encoding="utf-8"))
    assert again == health
    assert again["cases"][-3]["ratio_q0.95"] is None


def test_write_json_atomic_replaces_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "health.json"
    write_json_atomic(target, {"v": 1})
    write_json_atomic(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 2}
    assert os.listdir(tmp_path) == ["health.json"]

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_json_atomic(target, {"v": 3})
    assert os.listdir(tmp_path) == ["health.json"]  # temp removed, old content intact
    assert json.loads(target.read_text()) == {"v": 2}


# --------------------------------------------------------------------------- badges


@pytest.mark.parametrize(
    "passed, total, failed, errors, colour",
    [
        (10, 10, 0, 0, "green"),
        (9, 10, 0, 0, "green"),  # 1 skipped, nothing failed
        (9, 10, 1, 0, "yellowgreen"),  # share 0.9 (boundary)
        (10, 10, 0, 1, "yellowgreen"),  # an invalid run costs the green
        (89, 100, 11, 0, "yellow"),
        (75, 100, 25, 0, "yellow"),  # 0.75 boundary
        (74, 100, 26, 0, "orange"),
        (50, 100, 50, 0, "orange"),  # 0.5 boundary
        (49, 100, 51, 0, "red"),
        (0, 0, 0, 0, "lightgrey"),
        (0, 0, 0, 2, "red"),  # every run invalid: nothing could be checked
    ],
)
def test_badge_colour_rule(passed, total, failed, errors, colour):
    assert badge_colour(passed, total, failed, errors) == colour


HEX = {"green": "#4C1", "yellowgreen": "#9ACD32", "yellow": "#DFB317", "orange": "#FE7D37",
       "red": "#E05D44", "lightgrey": "#D3D3D3"}  # anybadge's colour table


def _badge(path: Path) -> tuple[str, str]:
    """(value text, value-box fill colour) read from an anybadge SVG."""
    svg = path.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    fills = re.findall(r'<path fill="([^"]+)"', svg)  # label box, value box, gradient overlay
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    return texts[-1], fills[1].upper()


def _health_with(passed: int, failed: int, errors: int = 0) -> dict:
    runs = [RunVerdict("E", "r", "/E/r/results.json", "ok")]
    runs += [RunVerdict("E", f"bad{i}", f"/E/bad{i}/results.json", "error", "invalid") for i in range(errors)]
    cases = [Verdict("linear_agreement", P, "ok", "E", "r", float(i + 1)) for i in range(passed)]
    cases += [Verdict("linear_agreement", F, "no", "E", "r", float(100 + i)) for i in range(failed)]
    return build_health(Settings(), [], runs, cases)


def test_badges_files_and_colours(tmp_path):
    out = tmp_path / "badges"
    paths = write_badges(out, _health_with(9, 1))
    assert [p.name for p in paths] == ["estimator-health.svg"] + [f"{c}.svg" for c in CHECKS]
    assert all(p.exists() for p in paths)
    assert _badge(out / "estimator-health.svg") == ("9/10", HEX["yellowgreen"])
    assert _badge(out / "linear_agreement.svg") == ("9/10", HEX["yellowgreen"])
    assert _badge(out / "consistency.svg") == ("0/0", HEX["lightgrey"])

    write_badges(out, _health_with(10, 0))  # overwrite
    assert _badge(out / "estimator-health.svg") == ("10/10", HEX["green"])
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)  # no temp files left

    write_badges(out, _health_with(0, 0))
    assert _badge(out / "estimator-health.svg") == ("0/0", HEX["lightgrey"])

    write_badges(out, _health_with(3, 1, errors=2))  # 3/4 = 0.75 → yellow
    value, fill = _badge(out / "estimator-health.svg")
    assert value == "3/4 · 2 invalid" and fill == HEX["yellow"]


def test_badges_of_fixture(tmp_path, health):
    write_badges(tmp_path, health)
    # 11/15 = 0.733 with failures → orange; one run invalid
    assert _badge(tmp_path / "estimator-health.svg") == ("11/15 · 1 invalid", HEX["orange"])
    # 7/7 consistency, but an invalid run → yellowgreen
    assert _badge(tmp_path / "consistency.svg") == ("7/7 · 1 invalid", HEX["yellowgreen"])


# --------------------------------------------------------------------------- run pages


class _Grid(HTMLParser):
    """Rows of the first ``table.grid``: lists of (tag, class, text)."""

    def __init__(self):
        super().__init__()
        self.rows, self._in, self._cell, self._done = [], False, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("class") == "grid" and not self._done:
            self._in = True
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("td", "th"):
            self._cell = [tag, a.get("class") or "", "", a.get("title")]

    def handle_endtag(self, tag):
        if self._in and tag in ("td", "th") and self._cell:
            self.rows[-1].append(tuple(self._cell))
            self._cell = None
        elif tag == "table" and self._in:
            self._in, self._done = False, True

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data + " "


def _grid(page: str) -> list[list[tuple]]:
    p = _Grid()
    p.feed(page)
    return p.rows


def _assert_self_contained(page: str) -> None:
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r'(src|href)="(?!data:image/png;base64,|#)', page)
    for tag in re.findall(r"<img\b[^>]*>", page):
        assert re.fullmatch(r'<img alt="[^"<>]*" src="data:image/png;base64,[A-Za-z0-9+/=]+">', tag), tag


def test_write_run_pages_only_for_failures_and_errors(tmp_path, health):
    calls = []

    def figures_for(results, run):
        calls.append((results, run))
        return [("ΔH vs η <b>bold</b>", PNG_B64), ("clip sweep", PNG_B64)]

    paths = write_run_pages(tmp_path, health, figures_for)
    assert paths == [
        tmp_path / "runs" / "E_2048" / "run_01.html",
        tmp_path / "runs" / "E_2048" / f"{EVIL_RUN}.html",
        tmp_path / "runs" / "E_2048" / "run_03.html",
    ]  # E_4096/run_01 has no failure: no page
    assert calls == [("E_2048", "run_01"), ("E_2048", EVIL_RUN), ("E_2048", "run_03")]
    assert sorted(os.listdir(tmp_path / "runs")) == ["E_2048"]
    assert sorted(os.listdir(tmp_path / "runs" / "E_2048")) == sorted(p.name for p in paths)

    evil = paths[1].read_text(encoding="utf-8")
    assert "&lt;img" in evil and "<img src=x" not in evil and "onerror=alert(1)>" not in evil
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evil and "<script" not in evil
    assert "ΔH vs η &lt;b&gt;bold&lt;/b&gt;" in evil and "<b>bold" not in evil
    assert evil.count(f'src="data:image/png;base64,{PNG_B64}"') == 2
    _assert_self_contained(evil)

    invalid = paths[2].read_text(encoding="utf-8")
    assert "invalid input" in invalid
    assert "entries[1]: &lt;b&gt;missing&lt;/b&gt; h_new" in invalid and "<b>missing" not in invalid
    assert '<table class="grid">' not in invalid  # no cases, no table
    _assert_self_contained(invalid)


def test_run_page_table(health):
    run = health["runs"][0]
    cases = [c for c in health["cases"] if c["run"] == "run_01" and c["results"] == "E_2048"]
    page = render_run_page(run, cases, [("fig", PNG_B64)], health["settings"])
    rows = _grid(page)
    header = [text.strip() for _, _, text, _ in rows[0]]
    assert header == ["check"] + [f"η = {e!r}" for e in ETAS] + ["run"]
    assert [r[0][2].strip() for r in rows[1:]] == list(CHECKS)  # one row per check, CHECKS order
    by_check = {r[0][2].strip(): r[1:] for r in rows[1:]}
    lin = by_check["linear_agreement"]
    assert [cls for _, cls, _, _ in lin] == ["passed"] * 3 + ["failed", "skipped", "none"]
    tag, cls, text, title = lin[3]
    assert text.split() == ["failed", "z", "=", "4.2", "σ", "=", "0.001"]
    assert title == "|z| > k: ηG misses ΔH_true."
    se = by_check["se_consistency"]
    assert [cls for _, cls, _, _ in se] == ["none"] * 5 + ["passed"]  # per-run check: "run" column
    assert "ρ(se_shard) = 1.02" in se[-1][2]
    assert [cls for _, cls, _, _ in by_check["snis_weights"]] == ["none"] * 6
    # details list: every case with its message; σ provenance notes for the failed case
    assert page.count('<li id="case-') == len(cases)
    assert "reported, unverified" in page and "σ_true = η·σ_G" in page
    assert "|z| &gt; k: ηG misses ΔH_true." in page
    assert "Settings" in page and "<code>sigma</code>" in page
    _assert_self_contained(page)


def test_run_page_rejects_non_base64_figure(health):
    run = health["runs"][0]
    page = render_run_page(run, [], [('x" onerror="alert(1)', 'AAAA" onerror="alert(1)')], {})
    assert "onerror=\"alert" not in page and "not base64 data, omitted" in page
    _assert_self_contained(page)


def test_run_pages_survive_figure_errors(tmp_path, health):
    def figures_for(results, run):
        raise RuntimeError("matplotlib <exploded>")

    paths = write_run_pages(tmp_path, health, figures_for)
    assert len(paths) == 3
    page = paths[0].read_text(encoding="utf-8")
    assert "figures could not be drawn" in page and "&lt;exploded&gt;" in page


def test_run_page_relpath():
    assert run_page_relpath("E_2048", "run_01") == "runs/E_2048/run_01.html"
    assert run_page_relpath("E", "..") == "runs/E/_...html"  # cannot leave runs/


# --------------------------------------------------------------------------- terminal table


def test_summary_lines(health):
    written = [Path("/r/health.json"), Path("/r/runs/E_2048/run_01.html")]
    lines = summary_lines(health, written)
    assert max(len(line) for line in lines) <= 120
    assert lines[0] == "dhstats estimator health (k = 3σ)"
    assert lines[1].split() == ["run", "consist", "weights", "reliab", "se", "linear", "linquad", "trunc"]
    table = {line.split()[0]: line.split()[-7:] for line in lines[2:7] if line.split()}
    assert table["E_2048/run_01"] == ["5P", "-", "-", "1P", "3P1F1S", "-", "-"]
    assert lines[3].startswith(f"E_2048/{EVIL_RUN}")
    assert lines[3].split()[-7:] == ["1P", "-", "-", "-", "-", "-", "1F"]
    assert table["E_2048/run_03"] == ["ERR"] * 7
    assert table["E_4096/run_01"] == ["1P", "-", "-", "1S", "-", "-", "-"]
    assert table["total"] == ["7P", "-", "-", "1P1S", "3P1F1S", "-", "1F"]
    # columns line up: each cell starts under its header
    header = lines[1]
    col = header.index("linear")
    assert lines[2][col:].startswith("3P1F1S") and lines[6][col:].startswith("3P1F1S")
    assert lines[7] == "15 cases: 11 passed, 2 failed, 2 skipped; 4 runs: 3 ok, 1 invalid"
    assert lines[-3:] == ["reports written:", "  /r/health.json", "  /r/runs/E_2048/run_01.html"]


def test_summary_lines_width_and_control_chars():
    runs = [RunVerdict("E_" + "x" * 150, "run_\x1b[31mred", "/p", "ok"), RunVerdict("E", "r", "/p", "error", "bad")]
    cases = [Verdict(chk, P, "ok", runs[0].results, runs[0].run, None if chk == "se_consistency" else 1.0)
             for chk in CHECKS]
    lines = summary_lines(build_health(Settings(holm=0.05), [], runs, cases))
    assert max(len(line) for line in lines) <= 120
    assert "…" in lines[2] and lines[2].split()[0].endswith("run_\\x1b[31mred")
    assert "\x1b" not in "".join(lines)
    assert lines[0] == "dhstats estimator health (Holm–Bonferroni α = 0.05)"


# --------------------------------------------------------------------------- pytest-html summary


def test_summary_html(health, tmp_path):
    links = {run_label("E_2048", EVIL_RUN): run_page_relpath("E_2048", EVIL_RUN),
             run_label("E_2048", "run_03"): run_page_relpath("E_2048", "run_03")}
    frag = summary_html(health, links)
    assert str(tmp_path / "E_2048") in frag
    assert '<a href="runs/E_2048/run_%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html">' in frag
    assert '<a href="runs/E_2048/run_03.html">' in frag
    assert "E_2048/run_&lt;img src=x onerror=alert(1)&gt;" in frag
    assert "<img" not in frag and "<script" not in frag and "<b>missing" not in frag
    # invalid run: first message line and first problem
    assert "E_2048/run_03/results.json: invalid input (2 problems)" in frag
    assert "entries[0].eta: must be &gt; 0" in frag
    # counts per check
    rows = re.findall(r"<tr><td><code>(\w+)</code></td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>", frag)
    assert [r[0] for r in rows] == list(CHECKS)
    assert dict((r[0], tuple(map(int, r[1:]))) for r in rows)["linear_agreement"] == (3, 1, 1)
    assert "<code>sigma=3</code>" in frag
    # runs with failures, linked when a link is given, plain otherwise
    assert "<code>E_2048/run_01</code>: 1 failed (linear_agreement)" in frag
    assert "1 failed (truncation_ratio)" in frag


def test_write_reports(tmp_path, health):
    paths = report.write_reports(tmp_path, health, lambda r, n: [])
    assert paths[0] == tmp_path / "health.json"
    assert json.loads(paths[0].read_text()) == health
    assert (tmp_path / "badges" / "estimator-health.svg").exists()
    assert len([p for p in paths if p.suffix == ".html"]) == 3
