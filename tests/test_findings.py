"""The finding of a failing run set (dhstats.report.findings), the interval against the band
(dhstats.verdicts.wording.against_band), leave-one-out as information (dhstats.verdicts.wording.pooled_meaning)
and the layout of pooled failures (dhstats.report.pages, dhstats.report.terminal): hand-built health.json
case dicts, exact strings."""
from __future__ import annotations

from dhstats.report import findings, pages, terminal
from dhstats.verdicts import wording


def run_case(run, eta, ratio, check="linear_agreement", outcome="failed"):
    return {"run_set": "E_2048", "run": run, "eta": eta, "check": check, "outcome": outcome, "ratio": ratio}


def pooled(eta, ratio, check="pooled_linear_agreement", **kw):
    return {"run_set": "E_2048", "run": None, "eta": eta, "check": check, "outcome": kw.pop("outcome", "failed"),
            "ratio": ratio, **kw}


def truncation(run, eta, r99, r95, r90, sigma=0.1):
    """A truncation case: Δ_S = 1 at every quantile, judged when σ_S ≤ 1/3 (|Δ_S| ≥ 3σ_S)."""
    judged = {f"{what}_S_q{q}": v for q in ("0.99", "0.95", "0.9") for what, v in (("true", 1.0), ("sigma", sigma))}
    return {"run_set": "E_2048", "run": run, "eta": eta, "check": "truncation_ratio", "outcome": "passed",
            "ratio_q0.99": r99, "ratio_q0.95": r95, "ratio_q0.9": r90, "notebook_ratio_q0.99": 9.0, **judged}


RUN_RATIOS = {"run_01": 1.31, "run_02": 1.38, "run_03": 1.44, "run_04": 1.2}


def e2048(etas=(1.6e-6, 3.2e-6)) -> dict:
    """The E_2048 situation: every run overshoots, lin+quad alike, the truncation ratio reaching 1
    once the top 5 % of |η·gdotv_i| are removed."""
    cases = []
    for eta in etas:
        for run, r in RUN_RATIOS.items():
            cases += [run_case(run, eta, r), run_case(run, eta, r - 0.01, "linquad_agreement"),
                      truncation(run, eta, 1.13, 0.985, 0.97)]
        cases += [pooled(eta, 1.34), pooled(eta, 1.33, "pooled_linquad_agreement")]
    return {"run_sets": [{"name": "E_2048"}], "cases": cases}


def test_the_finding_of_the_e2048_situation():
    f = findings.set_finding(e2048(), "E_2048")
    assert f.figure == "pooled_ratio" and f.figure_caption == "Prediction / ΔH_true per run and pooled — E_2048"
    assert f.sentence == (
        "E_2048: 3 of 4 runs above 1.25, 4 of 4 overshoot (ratios 1.20 to 1.44); pooled ratio 1.34; "
        "lin+quad agrees with ηG (1.33 vs 1.34): not curvature; the truncation ratio moves toward 1 as the "
        "largest |η·gdotv_i| are removed (1.34 → 1.13 with 1 % removed → 0.98 with 5 % removed → 0.97 with "
        "10 % removed): the bulk agrees, the excess sits in the top 1–5 % of |η·gdotv_i|.")
    # two η: whether the ratio is constant across η is not said at all
    assert "constant" not in f.sentence


def test_constant_across_eta_needs_three_eta():
    f = findings.set_finding(e2048((1.6e-6, 3.2e-6, 6.4e-6)), "E_2048")
    assert f.sentence.endswith("; the ratio is constant across the 3 η (1.34): a biased G (gdotv), not curvature.")


def test_curvature_and_a_bulk_that_is_off():
    h = e2048()
    for c in h["cases"]:
        if c["check"] == "pooled_linquad_agreement":
            c["ratio"] = 1.02
        if c["check"] == "truncation_ratio":
            c.update({"ratio_q0.99": 1.33, "ratio_q0.95": 1.35, "ratio_q0.9": 1.3})
    s = findings.set_finding(h, "E_2048").sentence
    assert "lin+quad is near 1 (1.02) where ηG is off (1.34): curvature" in s
    assert "the truncation ratio stays off as the largest |η·gdotv_i| are removed" in s and "bulk of the sequences" in s


def test_inconclusive_truncation_quantiles_say_nothing():
    h = e2048()
    for c in h["cases"]:
        if c["check"] == "truncation_ratio":
            c.update({f"sigma_S_q{q}": 0.5 for q in ("0.99", "0.95", "0.9")})  # |Δ_S| = 1 < 3·0.5
    assert "truncation" not in findings.set_finding(h, "E_2048").sentence


def test_too_imprecise_to_demonstrate_is_no_disagreement():
    # every failure is not_demonstrated and each interval holds 1 (the real E_256 at --tolerance 0.2)
    h = e2048()
    for c in h["cases"]:
        c["outcome"] = "passed"
        if c["run"] is None:
            c.update(outcome="failed", reason="not_demonstrated", ratio_lo=0.57, ratio_hi=3.4)
    assert findings.set_finding(h, "E_2048") is None
    for c in h["cases"]:
        if c["run"] is None:
            c.update(ratio_lo=1.05, ratio_hi=1.51)  # narrow, crossing 1.5, excluding 1: a disagreement to explain
    assert findings.set_finding(h, "E_2048") is not None


def test_no_finding_without_a_failing_agreement_case():
    h = e2048()
    for c in h["cases"]:
        c["outcome"] = "passed"
    assert findings.set_finding(h, "E_2048") is None and findings.set_findings(h) == []


def test_the_interval_against_the_band():
    c = pooled(3.2e-6, 1.28, outcome="passed", ratio_lo=1.12, ratio_hi=1.45, tolerance=0.5, reason="ok")
    assert wording.against_band(c) == "1.28 [1.12, 1.45] within 1 ± 0.5: demonstrated"
    c.update(outcome="failed", reason="not_demonstrated", ratio=1.34, ratio_lo=1.18, ratio_hi=1.51)
    assert wording.against_band(c) == "1.34 [1.18, 1.51] vs 1 ± 0.5: not demonstrated"
    c.update(reason="out_of_tolerance", ratio=1.62, ratio_lo=1.55, ratio_hi=None)
    assert wording.against_band(c) == "1.62 [1.55, ∞] outside 1 ± 0.5"
    assert wording.against_band({**c, "tolerance": None}) is None


def test_the_run_set_cell_under_tolerance_puts_z_in_the_detail():
    c = pooled(3.2e-6, 1.28, outcome="passed", ratio_lo=1.12, ratio_hi=1.45, tolerance=0.5, reason="ok", Z=-3.27,
               R=4, ratio_se=0.08, resolution=0.22)
    cell = pages.pooled_cell(c)
    assert cell["headline"] == ["1.28 [1.12, 1.45] within 1 ± 0.5: demonstrated"]
    assert cell["more"][0] == "difference test: Z = -3.27" and "R = 4" in cell["more"]
    assert pages.pooled_cell({**c, "tolerance": None})["headline"][0] == "Z = -3.27"


def test_leave_one_out_is_information_when_the_others_agree():
    # run_01 alone is significant; without it Z = (−1.5 − 1.2 − 0.6)/√3 = −1.905: the others point the same way
    _, meaning = wording.pooled_meaning({"run_01": -5.0, "run_02": -1.5, "run_03": -1.2, "run_04": -0.6},
                                        1, -4.15, 3.0, ())
    assert "drives it" not in meaning
    assert "without run_01 Z = −1.91; the other runs point the same way too, less precisely" in meaning


def test_the_pooled_failures_are_one_table_with_one_header():
    failed = [pooled(eta, 1.4, check=chk, ratio_lo=1.3, ratio_hi=1.51, tolerance=0.5, reason="not_demonstrated",
                     message=f"±50 % not demonstrated at η = {eta:g}: the pooled ratio sits at 1.4\npooled ratio …")
              for eta in (1.6e-6, 3.2e-6, 6.4e-6) for chk in ("pooled_linear_agreement", "pooled_linquad_agreement")]
    groups = pages.findings(failed, {})
    assert len(groups) == 1 and len(groups[0]["cases"]) == 6
    assert groups[0]["headline"] == ("6 pooled cases failed (E_2048): agreement within 1 ± 0.5 judged by TOST "
                                     "(interval of the pooled ratio against the band)")
    row = groups[0]["cases"][0]
    assert row["numbers"] == ["1.4 [1.3, 1.51] vs 1 ± 0.5: not demonstrated"]
    assert row["first_line"] == "±50 % not demonstrated at η = 1.6e-06: the pooled ratio sits at 1.4"


def test_counts_read_right():
    assert terminal._written(["/r/runs/E_1/run_01.html", "/r/badges/a.svg"]) == ["/r/runs/ (1 run page)",
                                                                                   "/r/badges/ (1 badge)"]


def test_run_pages_link_back_to_the_report():
    from health_records import health

    h = health()
    page = pages.render_run_page(h, ("E_256", "run_01"), report="report.html")
    assert '<a href="../../report.html">' in page
    assert "report.html" not in pages.render_run_page(h, ("E_256", "run_01"))  # no report.html written: no link


def test_the_pooled_interval_caption_matches_the_settings():
    from dhstats.figures import gallery as plots

    cases = [pooled(eta, 1.4, ratio_lo=1.3, ratio_hi=1.5, interval_alpha=0.05, R=4) for eta in (1.6e-6, 3.2e-6)]
    plain = plots.render("pooled_interval", cases, where="E_2048")
    assert plain.caption == "Pooled prediction / ΔH_true with its 1 − 2α interval — E_2048" and plain.png
    banded = plots.render("pooled_interval", [{**c, "tolerance": 0.5} for c in cases], where="E_2048")
    assert banded.caption == ("Pooled prediction / ΔH_true with its 1 − 2α interval against the tolerance band "
                              "1 ± 0.5 — E_2048")


def test_the_terminal_says_where_the_figure_is():
    from health_records import health

    h = health()
    lines = terminal.summary_lines(h, ["reports/report.html", "reports/health.json"])
    assert "  see the figure 'Prediction / ΔH_true per run and pooled — E_256' at the top of report.html" in lines
    alone = " ".join(ln.strip() for ln in terminal.summary_lines(h, ["reports/health.json"]))
    assert ("see the figure 'Prediction / ΔH_true per run and pooled — E_256' (no report.html in this session; "
            "draw it with: dhstats plot --results") in alone and "--figure pooled_ratio)" in alone


def test_a_finding_speaks_of_the_eta_where_the_set_fails():
    """The prediction breaks down at the largest η only (the example run set): the finding
    reads the runs there ("at η = 0.000256: every run overshoots … 1.3"), not their median over
    every η (≈ 1.05, "0 of 3 runs above 1.25", which reads as healthy)."""
    from health_records import case

    etas = (4e-6, 1.6e-5, 6.4e-5, 2.56e-4)
    cases = [case("E_x", f"run_0{r}", eta, "linear_agreement", "failed" if eta == etas[-1] else "passed",
                  ratio=1.3 if eta == etas[-1] else 1.02, z=-4.5 if eta == etas[-1] else 0.1)
             for r in (1, 2, 3) for eta in etas]
    f = findings.set_finding({"k": 3.0, "cases": cases}, "E_x")
    assert f.sentence.startswith("E_x: at η = 0.000256: every run overshoots — 3 of 3 runs above 1.25 (ratio")
    assert "1.30" in f.sentence and "1.02" not in f.sentence.split(";")[0]


def test_a_ratio_near_1_with_an_interval_almost_as_wide_as_the_band_is_imprecision():
    """E_512 at η = 8e-7 under --tolerance 0.5: 1.02 [0.669, 1.53] is no wider than the band but
    sits at 1, not near 1.5: too imprecise (runs at ratio 1), never "near the bound 1.5"."""
    from dhstats.verdicts.pooling import not_demonstrated

    central = not_demonstrated(4, 8e-7, 1.02, 0.669, 1.53, 0.26, 0.5, 0.05, (512,) * 4)
    assert not central.narrow and "too imprecise" in central.headline and "near the bound" not in central.headline
    near = not_demonstrated(4, 3.2e-6, 1.34, 1.18, 1.51, 0.1, 0.5, 0.05, (2048,) * 4)
    assert near.narrow and "sits at 1.34, near the bound 1.5" in near.headline
