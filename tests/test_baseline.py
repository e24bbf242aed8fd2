"""Checks against a baseline (dhstats.verdicts.baseline, dhstats.gate.baseline_source, the health.json block,
the terminal line and the badge): one test per reason on hand-built case records, per baseline
source on whole sessions (a directory of run sets, a health.json), simulated moves, and the
properties (swapping the sides flips z and no verdict; a set against itself never moves)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dhstats import simulate
from dhstats.report.against_baseline import badge_words, set_lines
from dhstats.verdicts import registry
from dhstats.verdicts.baseline import compare_efficiency, compare_ratios, outcome_changes
from dhstats.gate.baseline_source import BaselineError, match, open_baseline
from dhstats.session import Session
from dhstats.load.settings import Settings, SettingsError, parse

from builders import scale_gdotv
from paths import REAL, needs_real

K = 3.0


def side(ratio, se, truths=(1.0, 1.0), sigma_trues=(0.1, 0.1), sigmas=(0.1, 0.1), run_set="E", eta=1e-6,
         estimator="linear"):
    """A run set's cases at one η: its per-run agreement cases and its pooled case."""
    runs = [{"run_set": run_set, "run": f"run_{i:02d}", "eta": eta, "check": f"{estimator}_agreement",
             "outcome": "passed", "reason": "ok", "delta_h_true": t, "sigma_true": st_, "sigma": s, "n": 256,
             "sigma_g": 1.0}
            for i, (t, st_, s) in enumerate(zip(truths, sigma_trues, sigmas), 1)]
    pooled = {"run_set": run_set, "run": None, "eta": eta, "check": f"pooled_{estimator}_agreement",
              "outcome": "passed", "reason": "ok"}
    if ratio is not None:
        pooled.update(ratio=ratio, ratio_se=se)
    return runs + [pooled]


def judge(cand, base, settings=Settings(), check="baseline_linear_ratio"):
    return compare_ratios(registry.estimator_of(check), "E_512", 1e-6, cand, {"run_set": "E_256", "cases": base},
                          settings).at(check, "E_512", None, 1e-6)


# --------------------------------------------------------------------------- one test per reason


def test_moved_states_both_ratios_z_and_resolution():
    v = judge(side(1.45, 0.11), side(0.86, 0.08))
    assert (v.outcome, v.reason) == ("failed", "moved")
    assert v.message.startswith("the linear ratio moved from 0.86 ± 0.08 to 1.45 ± 0.11, z = 4.3")
    n = v.to_dict()
    assert n["z"] == pytest.approx(4.3378, abs=1e-4) and n["resolution"] == pytest.approx(0.5225, abs=1e-4)
    assert (n["ratio"], n["ratio_se"], n["baseline_ratio"], n["baseline_ratio_se"]) == (1.45, 0.11, 0.86, 0.08)
    assert n["baseline_run_set"] == "E_256" and n["run"] is None and n["eta"] == 1e-6


def test_no_move_says_what_would_go_unseen():
    v = judge(side(0.95, 0.11), side(0.86, 0.08))
    assert (v.outcome, v.reason) == ("passed", "ok")
    assert v.message.startswith("no move detected; a move under ±0.52 would go unseen")
    assert v.numbers["z"] == pytest.approx(0.09 / math.hypot(0.11, 0.08))


@pytest.mark.parametrize("unresolved_side", ["candidate", "baseline"])
def test_inconclusive_when_a_sides_delta_h_true_is_unresolved(unresolved_side):
    """Σ T/σ_1 = 20 vs k·√Σ(σ_true/σ_1)² = 3·√(2·25) = 21.2: unresolved (the ratios would say moved)."""
    weak = side(2.0, 0.1, truths=(1.0, 1.0), sigma_trues=(0.5, 0.5))
    strong = side(1.0, 0.1)
    cand, base = (weak, strong) if unresolved_side == "candidate" else (strong, weak)
    v = judge(cand, base)
    assert (v.outcome, v.reason) == ("skipped", "inconclusive")
    assert f"({unresolved_side}) pooled ΔH_true is unresolved" in v.message
    assert "a move under ±0.54 would go unseen" in v.message  # (3 + 0.84)·0.1·√2 on every case
    assert v.numbers["resolution"] == pytest.approx(3.8416 * math.hypot(0.1, 0.1), rel=1e-4)


def test_inconclusive_without_a_pooled_ratio():
    v = judge(side(1.0, 0.1), side(None, None))
    assert (v.outcome, v.reason) == ("skipped", "inconclusive")
    assert "has no pooled linear ratio" in v.message and v.numbers["baseline_ratio"] is None


def test_not_finite_never_passes():
    v = judge(side(1.0, 0.0), side(1.2, 0.0))  # a difference with no noise: z NaN
    assert (v.outcome, v.reason) == ("failed", "not_finite")


@pytest.mark.parametrize("cand, reason, outcome", [
    (1.05, "ok", "passed"),  # d = 0.05 ± 0.05·√2·…: demonstrated within ±0.3
    (1.6, "moved_beyond_tolerance", "failed"),
    (1.2, "not_demonstrated", "failed"),
])
def test_baseline_tolerance_is_a_tost_of_the_difference(cand, reason, outcome):
    se = 0.03 if reason != "not_demonstrated" else 0.1
    four = dict(truths=(1.0,) * 4, sigma_trues=(0.1,) * 4, sigmas=(0.1,) * 4)  # R = 2 vs 4 runs
    v = judge(side(cand, se), side(1.0, se, **four), Settings(baseline_tolerance=0.3))
    assert (v.outcome, v.reason) == (outcome, reason)
    se_d = math.hypot(se, se)
    d = cand - 1.0
    assert v.numbers["tolerance"] == 0.3
    assert v.numbers["tost_lo"] == pytest.approx((d + 0.3) / se_d)
    assert v.numbers["tost_hi"] == pytest.approx((d - 0.3) / se_d)
    if reason == "not_demonstrated":  # f = (2.926·0.1414/0.3)² = 1.90: ⌈2f⌉ = 4 and ⌈4f⌉ = 8 runs
        assert (v.numbers["runs_needed"], v.numbers["baseline_runs_needed"]) == (4.0, 8.0)
        assert "≈ 4 candidate and 8 baseline runs" in v.message


def _linear_cases(sigma_g, sigma_true, n=256, etas=(1e-6, 2e-6)):
    return [{"run_set": "E", "run": f"run_{r}", "eta": eta, "check": "linear_agreement", "outcome": "passed",
             "n": n, "sigma_g": sigma_g, "sigma_true": sigma_true * eta} for r in (1, 2) for eta in etas]


def test_efficiency_fails_when_sigma_grew():
    v = compare_efficiency("E_512", _linear_cases(1.0, 2.3), {"run_set": "E_256", "cases": _linear_cases(1.0, 1.0)},
                           Settings(), "linear_agreement")
    assert (v.outcome, v.reason) == ("failed", "out_of_bounds")
    assert "σ_true per √E grew 2.3× at η = 1e-06" in v.message and "noisier" in v.message
    assert v.numbers["ratio_sigma_true"] == pytest.approx(2.3) and v.numbers["ratio_sigma_g"] == 1.0


def test_efficiency_per_sqrt_e():
    """σ·√E is what is compared: a set of 4× the E with half the σ has not changed."""
    v = compare_efficiency("E_1024", _linear_cases(0.5, 0.5, n=1024),
                           {"run_set": "E_256", "cases": _linear_cases(1.0, 1.0)}, Settings(),
                           "linear_agreement")
    assert (v.outcome, v.reason) == ("passed", "ok")
    assert v.numbers["ratio_sigma_g"] == pytest.approx(1.0) and v.numbers["ratio_sigma_true"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- properties

ratio = st.floats(0.0, 3.0, allow_nan=False)
se = st.floats(0.01, 1.0, allow_nan=False)


@given(ratio, se, ratio, se, st.sampled_from([None, 0.2]))
def test_swapping_candidate_and_baseline_flips_z_and_no_verdict(rc, sc, rb, sb, tol):
    settings = Settings(baseline_tolerance=tol)
    ab = judge(side(rc, sc), side(rb, sb), settings)
    ba = judge(side(rb, sb), side(rc, sc), settings)
    assert (ab.outcome, ab.reason) == (ba.outcome, ba.reason)
    assert ab.numbers["z"] == pytest.approx(-ba.numbers["z"], abs=1e-12)
    assert ab.numbers["resolution"] == pytest.approx(ba.numbers["resolution"])


@given(ratio, se)
def test_a_set_compared_with_itself_never_moves(r, s):
    v = judge(side(r, s), side(r, s))
    assert v.numbers["z"] == 0.0 and v.outcome == "passed"


# --------------------------------------------------------------------------- matching and outcome changes


def test_matching_by_name_and_one_on_each_side():
    assert match(["E_512"], ["E_256"]).matched == {"E_512": "E_256"}
    m = match(["E_256", "E_1024"], ["E_256", "E_512"])
    assert m.matched == {"E_256": "E_256"}
    assert m.unmatched == [{"run_set": "E_1024", "side": "candidate"}, {"run_set": "E_512", "side": "baseline"}]


def test_outcome_changes_new_failures_first():
    def case(run, check, outcome, run_set):
        return {"run_set": run_set, "run": run, "eta": 1e-6, "check": check, "outcome": outcome, "reason": "ok"}
    before = [case("run_01", "linear_agreement", "failed", "B"), case("run_02", "linear_agreement", "passed", "B"),
              case("run_03", "linear_agreement", "passed", "B"), case("run_04", "truncation_ratio", "skipped", "B")]
    after = [case("run_01", "linear_agreement", "passed", "C"), case("run_02", "linear_agreement", "passed", "C"),
             case("run_04", "truncation_ratio", "passed", "C"), case("run_03", "linear_agreement", "failed", "C"),
             case(None, "baseline_linear_ratio", "failed", "C")]
    changes = outcome_changes(after, before, {"C": "B"}, {c.name for c in registry.baseline_checks()})
    assert [(c["run"], c["baseline_outcome"], c["outcome"]) for c in changes] == [
        ("run_03", "passed", "failed"), ("run_01", "failed", "passed"), ("run_04", "skipped", "passed")]
    assert changes[0]["baseline_run_set"] == "B"


# --------------------------------------------------------------------------- whole sessions


def sim_set(out: Path, seed: int, factor: float = 1.0) -> Path:
    root = simulate.write_run_set(out, name="E_256", runs=4, n=256, seed=seed, entropy_noise=0.01,
                                  score_noise=0.05, shape="real")
    if factor != 1.0:
        scale_gdotv(root, factor)
    return root


def session(tmp_path: Path, name: str, roots, baseline=None, **opts) -> dict:
    raw = {"reports": str(tmp_path / name), "history": "none", "max_plots": "0", **opts}
    if baseline is not None:
        raw["baseline"] = str(baseline)
    return Session(parse(raw), [str(r) for r in roots]).run()


def comparison_cases(h: dict) -> list[dict]:
    return [c for c in h["cases"] if c["check"].startswith("baseline_")]


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    out = tmp_path_factory.mktemp("sims")
    return {"base": sim_set(out / "base", 0), "scaled": sim_set(out / "scaled", 11, 1.5),
            **{f"healthy{s}": sim_set(out / f"healthy{s}", s) for s in (1, 2, 3, 4)}}


def test_scaled_gdotv_moves_at_every_eta_healthy_sets_do_not(tmp_path, sims):
    h = session(tmp_path, "scaled", [sims["scaled"]], sims["base"])
    ratio = [c for c in comparison_cases(h) if c["check"] != "baseline_efficiency"]
    assert len(ratio) == 10 and all(c["reason"] == "moved" for c in ratio)
    assert all(c["ratio"] - c["baseline_ratio"] > 0.3 for c in ratio)
    assert badge_words(h)[0].startswith("moved: ") and badge_words(h)[1] == "red"
    for name in ("healthy1", "healthy2", "healthy3", "healthy4"):
        h = session(tmp_path, name, [sims[name]], sims["base"])
        assert all(c["outcome"] == "passed" for c in comparison_cases(h)), name
        assert h["exit"]["status"] == 0


def test_outcome_changes_equal_those_between_the_two_sessions(tmp_path, sims):
    h = session(tmp_path, "cmp", [sims["scaled"]], sims["base"])
    alone = session(tmp_path, "base", [sims["base"]])
    mine = {(c["run"], c["eta"], c["check"]): c["outcome"] for c in h["cases"] if not c["check"].startswith("base")}
    theirs = {(c["run"], c["eta"], c["check"]): c["outcome"] for c in alone["cases"]}
    expected = {k: (theirs[k], v) for k, v in mine.items() if k in theirs and theirs[k] != v}
    got = {(c["run"], c["eta"], c["check"]): (c["baseline_outcome"], c["outcome"]) for c in h["baseline"]["changes"]}
    assert got == expected and got
    assert h["baseline"]["changes"][0]["outcome"] == "failed"  # new failures first


def test_a_health_json_baseline_gives_the_same_verdicts_and_numbers(tmp_path, sims):
    alone = session(tmp_path, "base", [sims["base"]])
    from_dir = session(tmp_path, "dir", [sims["scaled"]], sims["base"])
    from_json = session(tmp_path, "json", [sims["scaled"]], tmp_path / "base" / "health.json")
    assert comparison_cases(from_dir) == comparison_cases(from_json)
    assert from_dir["baseline"]["changes"] == from_json["baseline"]["changes"]
    assert (from_dir["baseline"]["kind"], from_json["baseline"]["kind"]) == ("results", "health")
    assert alone["counts"]["checks"].keys() == from_dir["counts"]["checks"].keys() - {
        "baseline_linear_ratio", "baseline_linquad_ratio", "baseline_efficiency"}


def test_terminal_line_per_matched_set_and_badge(tmp_path, sims):
    h = session(tmp_path, "healthy", [sims["healthy1"]], sims["base"])
    lines = set_lines(h)
    assert lines[0].startswith("against the baseline (results: ")
    assert lines[1].startswith("  E_256 vs E_256: linear no move at 5/5 η (a move under ±")
    value, colour = badge_words(h)
    assert value.startswith("no move · ±") and colour in ("green", "amber")
    none = session(tmp_path, "none", [sims["healthy1"]])
    assert "baseline" not in none and set_lines(none) == [] and badge_words(none) == ("no baseline", "grey")
    assert not comparison_cases(none)
    from dhstats.report.history import history_line

    assert history_line(h, None)["baseline"] == str(sims["base"]) and "baseline" not in history_line(none, None)


@pytest.mark.parametrize("doc, missing", [
    ({"schema": 2, "cases": []}, "schema 2: a baseline needs schema ≥ 3"),
    ({"schema": 3}, "no 'cases' list"),
    ({"schema": 3, "cases": [{"check": "linear_agreement", "run_set": "E", "run": "r", "eta": 1e-6}],
      "run_sets": [{"name": "E"}]}, "linear_agreement cases with delta_h_true, sigma_true, sigma"),
])
def test_an_unusable_health_json_is_a_usage_error_saying_what_is_missing(tmp_path, doc, missing):
    path = tmp_path / "health.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match=missing) as info:
        open_baseline(path, parse({"reports": str(tmp_path / "r")}))
    assert isinstance(info.value, SettingsError)  # the plugin's usage error (exit 4)


def test_a_missing_baseline_is_a_usage_error(tmp_path):
    with pytest.raises(SettingsError, match="--baseline"):
        parse({"baseline": str(tmp_path / "nowhere")})
    with pytest.raises(SettingsError, match="--baseline-tolerance"):
        parse({"baseline_tolerance": "-1"})


@pytest.mark.slow
def test_gate_exit_4_on_an_unusable_baseline(tmp_path, sims):
    import subprocess

    from paths import PROJECT_ROOT

    bad = tmp_path / "health.json"
    bad.write_text(json.dumps({"schema": 2, "cases": []}))
    out = subprocess.run([sys.executable, "-m", "pytest", "checks/", "-p", "no:cacheprovider", "--results",
                          str(sims["base"]), "--baseline", str(bad), "--reports", str(tmp_path / "r")],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 4, out.stdout + out.stderr
    assert "schema 2: a baseline needs schema ≥ 3" in out.stderr


# --------------------------------------------------------------------------- the real files


@needs_real
def test_real_files_both_sources_agree(tmp_path):
    alone = session(tmp_path, "e256", [REAL / "E_256"], reported_se="shard-mean")
    from_dir = session(tmp_path, "dir", [REAL / "E_512"], REAL / "E_256", reported_se="shard-mean")
    from_json = session(tmp_path, "json", [REAL / "E_512"], tmp_path / "e256" / "health.json", reported_se="shard-mean")
    mine = comparison_cases(from_dir)
    assert mine == comparison_cases(from_json) and len(mine) == 11
    pooled = {(c["check"], c["eta"]): c for c in alone["cases"] if c["check"].startswith("pooled_")}
    for c in mine:
        if c["check"] == "baseline_efficiency":
            continue
        base = pooled[("pooled_linear_agreement" if "linear" in c["check"] else "pooled_linquad_agreement", c["eta"])]
        assert (c["baseline_ratio"], c["baseline_ratio_se"]) == (base["ratio"], base["ratio_se"])
        assert c["z"] == pytest.approx((c["ratio"] - c["baseline_ratio"]) / math.hypot(c["ratio_se"],
                                                                                        c["baseline_ratio_se"]))
        assert f"a move under ±{c['resolution']:.2g}" in c["message"]


@needs_real
def test_real_files_inconclusive_where_e256_is_unresolved(tmp_path):
    """At k = 3.5 E_256's pooled ΔH_true at η = 8e-7 is unresolved (Σ w·T / √Σ w²σ_true² = 3.04)."""
    h = session(tmp_path, "k35", [REAL / "E_512"], REAL / "E_256", reported_se="shard-mean", sigma="3.5")
    skipped = {(c["check"], c["eta"]) for c in comparison_cases(h) if c["reason"] == "inconclusive"}
    assert skipped == {("baseline_linear_ratio", 8e-07), ("baseline_linquad_ratio", 8e-07)}


# --------------------------------------------------------------------------- report section and figure


def test_report_section_and_figure_with_the_tolerance_band(tmp_path, sims):
    from dhstats.report.pages import render_summary
    from dhstats.figures.baseline import baseline_ratio

    h = session(tmp_path, "tol", [sims["scaled"]], sims["base"], baseline_tolerance="0.2")
    assert {c["reason"] for c in comparison_cases(h) if c["check"] != "baseline_efficiency"} == {
        "moved_beyond_tolerance"}
    fig = baseline_ratio(h)
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children()}
    assert {"candidate_baseline_linear_ratio", "baseline_baseline_linear_ratio", "tolerance_baseline_linear_ratio",
            "moved_baseline_linquad_ratio"} <= gids
    html = render_summary(h)
    assert "<h3>Against the baseline</h3>" in html and "new failure: E_256 pooled_linear_agreement" in html
    assert "σ·√E passed (σ_G ×1.5" in html  # the σ ratio farthest from 1
    none = session(tmp_path, "none", [sims["base"]])
    assert "Against the baseline" not in render_summary(none)


# --------------------------------------------------------------------------- dhstats tables --baseline


def test_tables_baseline_csv_from_both_sources(tmp_path, sims):
    import pandas as pd

    from dhstats.cli import main

    session(tmp_path, "base", [sims["base"]])
    for name, baseline in (("dir", sims["base"]), ("json", tmp_path / "base" / "health.json")):
        assert main(["tables", "--results", str(sims["scaled"]), "--baseline", str(baseline),
                     "--out", str(tmp_path / name)]) == 0
    a, b = (pd.read_csv(tmp_path / name / "baseline.csv") for name in ("dir", "json"))
    pd.testing.assert_frame_equal(a, b)
    ratio = a[a["check"] != "baseline_efficiency"]
    assert len(ratio) == 10 and set(ratio["reason"]) == {"moved"}
    h = session(tmp_path, "gate", [sims["scaled"]], sims["base"])
    z = {(c["check"], c["eta"]): c["z"] for c in comparison_cases(h) if "z" in c}
    assert [z[(r.check, r.eta)] for r in ratio.itertuples()] == pytest.approx(list(ratio["z"]))
    assert main(["tables", "--results", str(sims["scaled"]), "--baseline", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "x")]) == 2


def test_unmatched_sets_are_named_never_failed():
    h = {"cases": [], "settings": {},
         "baseline": {"source": "main/health.json", "kind": "health", "matched": {},
                      "unmatched": [{"run_set": "E_1024", "side": "candidate"}, {"run_set": "E_64", "side": "baseline"}],
                      "changes": []}}
    assert set_lines(h) == ["against the baseline (health: main/health.json):",
                            "  E_1024 (candidate): no run set to compare with on the other side",
                            "  E_64 (baseline): no run set to compare with on the other side",
                            "  outcome changes: none"]
    assert badge_words(h) == ("no matched run set", "grey")


def test_efficiency_without_sigmas_is_skipped_missing_field():
    v = compare_efficiency("E_512", [], {"run_set": "E_256", "cases": _linear_cases(1.0, 1.0)}, Settings(),
                           "linear_agreement")
    assert (v.outcome, v.reason) == ("skipped", "missing_field") and "no judged σ on both sides" in v.message
