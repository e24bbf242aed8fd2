"""Terminal summary (dhstats.report.terminal): the runs × checks table, pooled verdicts, totals in
health.json's words, exit summary last, ≤ 120 columns, no control characters."""
from __future__ import annotations

from health_records import EVIL_RUN, case, health, run

from dhstats.report import terminal
from dhstats.report.health import build_health
from dhstats.verdicts.registry import CHECKS, Scope
from dhstats.load.settings import Settings


def test_summary_lines():
    lines = terminal.summary_lines(health(), ["reports/health.json"])
    assert lines[0] == "dhstats estimator health (|z| ≤ 3)"
    assert lines[1] == "1 finding (one per failing run set):" and lines[2].startswith("E_256: ")
    lines = lines[lines.index(next(ln for ln in lines if ln.startswith("run "))) - 1:]
    header = lines[1].split()
    assert header == ["run"] + [c.short for c in CHECKS if c.scope != Scope.RUN_SET]
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[2:7]}
    #            consist weights reliab se  linear  linquad trunc
    assert rows["E_256/run_01"] == ["2P", "-", "-", "1S", "1P1F", "-", "-"]
    assert rows["E_256/run_03"] == ["ERR"] * 7
    assert rows["E_512/run_01"] == ["1P", "-", "-", "-", "-", "-", "-"]
    assert rows["total"] == ["3P", "-", "-", "1S", "1P1F", "-", "1F"]
    assert "  E_256 pool-lin: 2/2 passed · max |Z| 1.2 at η=1e-06" in lines
    assert "  E_256 scaling: failed (σ ratio 2.5)" in lines
    assert lines[-3] == "pytest ran 15 tests = 11 cases + 4 input tests, one per run"
    assert lines[-2] == "11 cases: 7 passed, 3 failed, 1 skipped; 4 runs: 3 valid, 1 invalid"
    assert lines[-1] == "dhstats gate: 3 failed, 1 invalid run (exit status 1)"
    assert all(len(ln) <= terminal.WIDTH for ln in lines)


def test_long_and_hostile_names_fit_and_are_printable():
    name = "run_\x1b[31mred\x1b[0m_" + "x" * 300
    runs = [run("E_1", name), run("E_1", EVIL_RUN)]
    cases = [case("E_1", name, 1e-6, "consistency", "failed", "x")]
    lines = terminal.summary_lines(build_health(Settings(), ["/d/E_1"], runs, cases), ["/r/" + "y" * 300])
    assert all(len(ln) <= terminal.WIDTH for ln in lines)
    assert not any("\x1b" in ln for ln in lines)
    assert any("\\x1b[31m" in ln and "…" in ln for ln in lines)


def test_holm_rule_in_title():
    h = health()
    h["settings"] = {**h["settings"], "holm": 0.05}
    assert terminal.summary_lines(h)[0] == "dhstats estimator health (Holm–Bonferroni α = 0.05)"


def test_pooled_line_failures_first():
    cases = [case("E_1", None, eta, "pooled_linear_agreement", o, Z=z)
             for eta, o, z in ((1e-6, "passed", 0.5), (2e-6, "failed", 4.1), (4e-6, "skipped", None))]
    assert terminal.pooled_line(cases) == "failed at η=2e-06 (Z=4.1) · 1/2 passed · 1 skipped"


def test_cell():
    assert terminal.cell({"passed": 3, "failed": 1, "skipped": 1}) == "3P1F1S"
    assert terminal.cell({}) == "-"


def test_the_reference_set_of_se_scaling_is_named_not_counted():
    runs, cases = [run("E_256", "run_01"), run("E_512", "run_01")], [
        case("E_256", None, None, "se_scaling", "passed", "ratio 1.1.", E=256, reference="E_512", ratio_sigma_g=1.1)]
    h = build_health(Settings(), ["/d/E_256", "/d/E_512"], runs, cases)
    lines = terminal.summary_lines(h)
    assert "  E_256 scaling: passed (σ ratio 1.1)" in lines
    assert "  E_512 scaling: reference set (largest E), not a case" in lines
    assert h["counts"]["checks"]["se_scaling"]["total"] == 1
    assert lines[-3] == "pytest ran 4 tests = 1 case + 2 input tests, one per run + the se_scaling reference"
