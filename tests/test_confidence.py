"""What a green is worth (dhstats.report.confidence) and how badges show it: run-set resolution,
low-resolution checks, confidence, the one sentence per run set — on hand-built records."""
from __future__ import annotations

from health_records import case, run

from dhstats.report import badges, confidence, terminal
from dhstats.report.health import build_health
from dhstats.verdicts.registry import NAMES
from dhstats.load.settings import Settings

ETAS = (1e-6, 2e-6, 4e-6)


def _health(pooled_res=(1.9, 1.8, 2.1), run_res=3.0, trunc_skipped=3, settings=Settings(), failed=False,
            etas=ETAS):
    """E_256 of 4 runs: per-run linear cases (resolution run_res) and pooled linear cases
    (resolutions pooled_res by η); one run's truncation_ratio: 4 cases, trunc_skipped skipped."""
    runs = [run("E_256", f"run_0{i}") for i in range(1, 5)]
    cases = [case("E_256", f"run_0{i}", eta, "linear_agreement", "passed", resolution=run_res, z=0.1)
             for i in range(1, 5) for eta in etas]
    cases += [case("E_256", "run_01", 1e-6 * (j + 1), "truncation_ratio",
                   "skipped" if j < trunc_skipped else "passed", reason="inconclusive" if j < trunc_skipped else "ok")
              for j in range(4)]
    cases += [case("E_256", None, eta, "pooled_linear_agreement", "failed" if failed and eta == ETAS[0] else "passed",
                   resolution=r, Z=0.5) for eta, r in zip(etas, pooled_res)]
    sets = [{"name": "E_256", "path": "/data/E_256", "E": 256, "runs": 4}]
    return build_health(settings, ["/data/E_256"], runs, cases, run_sets=sets, generated="2026-12-02T22:00:00Z")


def test_run_set_resolution_is_the_worst_eta_of_pooled_cases_and_names_it():
    h = _health()
    # the worst η (4e-06: ±210 %), not the median over η (±190 %); no lin+quad case: left out
    assert h["run_sets"][0]["resolution"] == {"linear": 2.1}
    assert h["run_sets"][0]["resolution_eta"] == {"linear": 4e-6}
    # 10× off at 2 of 5 η under an inflated σ there: the median (±7.2 %) would call it resolved
    h = _health(pooled_res=(0.072, 0.07, 0.075, 9.0, 8.0), etas=(1e-6, 2e-6, 4e-6, 8e-6, 1.6e-5))
    assert h["run_sets"][0]["resolution"] == {"linear": 9.0} and h["confidence"] == "low_resolution"
    assert "a bias under ±900 % would go unseen (worst η: 8e-06)" in confidence.run_set_sentence(h, h["run_sets"][0])
    # no pooled case with a resolution: the per-run cases' (median over runs, then the worst η)
    h = _health(pooled_res=(None,) * 3)  # null = ∞ (Σ ΔH_true/σ = 0)
    assert h["run_sets"][0]["resolution"] == {"linear": None}
    assert confidence.set_resolution(h["cases"], "E_256")["linear"] == float("inf")
    assert confidence.run_set_sentence(h, h["run_sets"][0]) == (
        "E_256: no disagreement found, but no bias of any size could be seen (Σ ΔH_true/σ = 0)")


def test_low_resolution_checks_confidence_and_badges():
    h = _health()
    assert confidence.low_resolution(h, "linear_agreement") == "resolves ±210 %"  # its pooled cases, worst η
    assert confidence.low_resolution(h, "pooled_linear_agreement") == "resolves ±210 %"
    assert confidence.low_resolution(h, "truncation_ratio") == "3 of 4 inconclusive"
    assert h["confidence"] == "low_resolution" and h["exit"]["status"] == 0
    by = {b.filename: b for b in badges.badges(h, with_trend=False)}
    assert (by["linear_agreement.svg"].value, by["linear_agreement.svg"].colour) == ("12/12 · resolves ±210 %",
                                                                                     badges.AMBER)
    assert by["truncation_ratio.svg"].value == "1/1 · 3 of 4 inconclusive"
    assert (by["estimator-health.svg"].value, by["estimator-health.svg"].colour) == (
        "16 passed · low resolution", badges.AMBER)


def test_resolved_when_fine_enough_and_failed_when_any_case_fails():
    h = _health(pooled_res=(0.3, 0.4, 0.45), trunc_skipped=2)
    assert h["confidence"] == "resolved" and all(confidence.low_resolution(h, n) is None for n in NAMES)
    assert badges.health_badge(h).colour == badges.GREEN
    h = _health(settings=Settings(resolution_warn=2.5))  # the threshold is the setting's
    assert confidence.low_resolution(h, "linear_agreement") is None
    h = _health(failed=True)
    assert h["confidence"] == "failed" and confidence.low_resolution(h, "pooled_linear_agreement") is None
    assert badges.health_badge(h).colour == badges.RED


def test_run_set_sentence():
    h = _health()
    assert confidence.run_set_sentence(h, h["run_sets"][0]) == (
        "E_256: no disagreement found, but a bias under ±210 % would go unseen (worst η: 4e-06); ≈ 71 runs, or "
        "E ≈ 4 500 at 4 runs, would resolve ±50 %")  # (2.1/0.5)² = 17.64: 4·17.64 → 71 runs, 256·17.64 = 4 516
    h = _health(pooled_res=(0.3, 0.4, 0.45))
    assert confidence.run_set_sentence(h, h["run_sets"][0]) == (
        "E_256: no disagreement found; a bias of ±45 % or more would have been detected (80 % power) "
        "(worst η: 4e-06)")


def test_terminal_says_it_in_one_line_per_run_set():
    h = _health()
    lines = terminal.summary_lines(h)
    assert lines[lines.index("what a pass is worth (bias detected with 80 % power):") + 1] == \
        confidence.run_set_sentence(h, h["run_sets"][0])
    assert lines[-1] == "dhstats gate: no failures, 3 skipped · low resolution (exit status 0)"


def test_faint_runs_are_named_in_the_run_set_sentence():
    # (ΔH_true/σ_1)² at η = 1e-6: run_01..03 → 100 each, run_04 → 4: share 4/304 = 1.3 % < 5 %
    def health(t4):
        runs = [run("E_256", f"run_0{i}") for i in range(1, 5)]
        cases = [case("E_256", f"run_0{i}", 1e-6, "linear_agreement", "passed", z=0.1, delta_h_true=1.0,
                      sigma=0.1 if i < 4 else 1.0 / t4, resolution=3.84 * (0.1 if i < 4 else 1.0 / t4))
                 for i in range(1, 5)]
        cases.append(case("E_256", None, 1e-6, "pooled_linear_agreement", "passed", resolution=0.6, Z=0.5))
        sets = [{"name": "E_256", "path": "/data/E_256", "E": 256, "runs": 4}]
        return build_health(Settings(), ["/data/E_256"], runs, cases, run_sets=sets)

    h = health(2.0)
    assert confidence.faint_runs(h["cases"], "E_256", "linear_agreement", 1e-6) == [("run_04", 1.92)]
    assert confidence.run_set_sentence(h, h["run_sets"][0]).endswith(
        "would resolve ±50 %; run_04 resolves nothing on its own (±190 %): under 5 % of the pooled weight "
        "Σ(ΔH_true/σ_1)²")
    h = health(4.0)  # 16/316 = 5.1 %: not faint
    assert confidence.faint_runs(h["cases"], "E_256", "linear_agreement", 1e-6) == []
    assert "resolves nothing" not in confidence.run_set_sentence(h, h["run_sets"][0])


def test_a_failing_set_says_its_failure_and_what_its_passes_miss_as_two_facts():
    """"4 cases failed, but a bias under …" joined two facts as if one qualified the other:
    a failing set's sentence separates them ("1 case failed; a bias under ±210 % …")."""
    h = _health(failed=True)
    sentence = confidence.run_set_sentence(h, h["run_sets"][0])
    assert sentence.startswith("E_256: 1 case failed; a bias under ±210 % would go unseen (worst η: 4e-06)")
    assert ", but" not in sentence
    h = _health(failed=True, pooled_res=(None,) * 3)
    assert confidence.run_set_sentence(h, h["run_sets"][0]) == (
        "E_256: 1 case failed; no bias of any size could be seen (Σ ΔH_true/σ = 0)")
