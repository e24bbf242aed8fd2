"""The notebook's tables, corrected (pandas DataFrames, one row per run × η).

Column names of ``shared/seed`` are kept where they exist. Where the notebook's number is
wrong, the corrected one takes the name and the notebook's stays beside it as
``notebook_<name>``:

* ``se_linear``: η·σ_G with σ_G = √n·std(gdotv) (the notebook used η·se_shard, too small by
  num_shards); ``se_true``: the paired delta-method σ_true (the notebook used std(c)/√n of
  contributions dominated by a zero-sum term); ``z`` and ``within_ksigma`` at k = --sigma.
"""
from __future__ import annotations

import math
import statistics

import pandas as pd

from dhstats.stats import stats
from dhstats.stats import truncation as trunc
from dhstats.notebook.frames import Frame, per_sequence_frame, runs_of
from dhstats.load.results import Run
from dhstats.verdicts import registry
from dhstats.verdicts.case_numbers import present
from dhstats.verdicts.runsets import run_set_size, scaling_medians
from dhstats.stats.series import eta_curve, sequence_series
from dhstats.load.settings import Settings
from dhstats.verdicts.verdicts import RunContext

TABLES = ("summary", "standard_errors", "agreement", "pooled", "scaling", "truncation", "filtered_estimates",
          "per_sequence")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` for CSV files: every text cell starting with ``=``, ``+``, ``-``, ``@``,
    a tab or a carriage return gets a leading ``'`` so that a spreadsheet shows it as text
    instead of running it as a formula (OWASP, "CSV Injection"); numbers stay numbers. Names
    come from directory names (a run set named ``=HYPERLINK(…)``)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for v in out[col]]
    return out


def _valid(runs) -> list[Run]:
    """The valid runs of ``runs``: a list of runs, a run set, or a list of run sets."""
    return [r for r in runs_of(runs) if isinstance(r, Run)]


def _ratio(a, b):
    return a / b if (a is not None and b not in (None, 0.0)) else math.nan


def summary_table(runs) -> pd.DataFrame:
    """The notebook's ``summary_df``: predictions vs ΔH_true and their ratios."""
    rows = []
    for run in _valid(runs):
        for p in eta_curve(run):
            rows.append({
                "run_set": run.file.run_set, "run": run.file.run, "eta": p.eta,
                "delta_true": p.delta_true, "delta_linear": p.delta_linear,
                "delta_linquad": p.delta_linquad,
                "linear_over_true": _ratio(p.delta_linear, p.delta_true),
                "linquad_over_true": _ratio(p.delta_linquad, p.delta_true),
            })
    return Frame(rows)


def _value(sigma) -> float | None:
    return None if sigma is None else sigma.value


def _source(sigma) -> str:
    return "" if sigma is None else sigma.source


def standard_errors_table(runs, settings: Settings = Settings()) -> pd.DataFrame:
    """The notebook's ``se_df`` plus every σ the gate uses and where each comes from."""
    rows = []
    for run in _valid(runs):
        q = run.quadratic
        for e, p in zip(run.entries, eta_curve(run, settings)):
            s = p.sigmas
            rows.append({
                "run_set": run.file.run_set, "run": run.file.run, "eta": e.eta,
                "delta_true": e.delta_h_true, "delta_linear": p.delta_linear,
                "se_linear_raw": run.se_shard,
                "se_linear_notebook": None if run.se_shard is None else run.se_shard * e.eta,
                "se_linear_jackknife": None if run.se_jackknife is None else run.se_jackknife * e.eta,
                "se_gdotv_raw": None if q is None else q.se_gdotv,
                "se_vHvv": None if q is None else q.se_vhvv,
                "num_shards": run.num_shards,
                "sigma_G": _value(s.g), "sigma_G_source": _source(s.g),
                "sigma_Q": _value(s.q), "sigma_Q_source": _source(s.q),
                "se_linear": s.prediction_linear,
                "se_true": _value(s.true), "se_true_source": _source(s.true),
                "sigma_lin": _value(s.linear), "sigma_lin_source": _source(s.linear),
                "sigma_lq": _value(s.linquad), "sigma_lq_source": _source(s.linquad),
                "ess_true": e.ess,
                "ess": stats.kish_ess(e.normalized_weights),
            })
    return Frame(rows)


def agreement_table(runs, settings: Settings = Settings()) -> pd.DataFrame:
    """``agreement_df`` with the gate's z (σ of the difference, paired when the run allows:
    ``sigma_source``) beside the notebook's 1σ verdict."""
    rows = []
    k = settings.k
    for run in _valid(runs):
        for e, p in zip(run.entries, eta_curve(run, settings)):
            s, seq = p.sigmas, sequence_series(run, e)
            nb_true = stats.notebook_se_true(seq.true)
            nb_lin = (run.se_shard or 0.0) * e.eta
            diff = p.delta_linear - p.delta_true
            nb_comb = math.hypot(nb_true, nb_lin)
            z = stats.agreement_z(p.delta_linear, p.delta_true, s.linear.value) if s.linear else math.nan
            row = {
                "run_set": run.file.run_set, "run": run.file.run, "eta": e.eta,
                "delta_true": p.delta_true, "delta_linear": p.delta_linear, "diff": diff,
                "se_true": _value(s.true), "se_true_source": _source(s.true), "se_linear": s.prediction_linear,
                "combined_se": _value(s.linear), "sigma_source": _source(s.linear), "z": z,
                "within_ksigma": bool(abs(z) <= k) if s.linear else None,
                "notebook_se_true": nb_true, "notebook_se_linear": nb_lin,
                "notebook_combined_se": nb_comb,
                "notebook_within_1sigma": bool(abs(diff) <= nb_comb) if nb_comb > 0 else None,
            }
            if p.delta_linquad is not None and s.linquad is not None:
                row.update(delta_linquad=p.delta_linquad, sigma_linquad=s.linquad.value,
                           sigma_linquad_source=s.linquad.source,
                           z_linquad=stats.agreement_z(p.delta_linquad, p.delta_true, s.linquad.value))
            rows.append(row)
    return Frame(rows)


def _agreement_cases(runs, settings: Settings) -> list[dict]:
    """The gate's agreement verdicts of every valid run, as health.json case dicts."""
    out = []
    for run in _valid(runs):
        ctx = RunContext(run, settings)
        for e in run.entries:
            out += [registry.check(est.case).verdict(ctx, e).to_dict() for est in registry.ESTIMATORS]
    return out


def _pooled(cases: list[dict], settings: Settings) -> list:
    """The pooled verdicts of the runs' agreement case dicts, judged by the registry's pooled
    checks exactly as in the gate (:func:`dhstats.verdicts.registry.records_for`): one per (run set, η,
    pooled check), in run-set, η, check order."""
    inputs = set(registry.POOLED_INPUTS)
    at = sorted({(c["run_set"], c["eta"]) for c in cases if c["check"] in inputs})
    sets = sorted({run_set for run_set, _ in at})

    def of(name: str) -> list[dict]:
        return [c for c in cases if c["run_set"] == name]

    return [check.verdict(registry.records_for(check, run_set, eta, of, sets), settings)
            for run_set, eta in at for check in registry.POOLED]


def set_document(runs, settings: Settings = Settings()) -> dict:
    """A health.json-like dict judged here — run sets with E, their runs' agreement cases and
    the pooled cases — for the run-set figures when no health.json is given."""
    cases = _agreement_cases(runs, settings)
    sizes = [{"run_set": run.file.run_set, "run": run.file.run, "n": run.n} for run in _valid(runs)]
    names = list(dict.fromkeys(s["run_set"] for s in sizes))
    sets = {name: run_set_size(s for s in sizes if s["run_set"] == name) for name in names}
    cases += [{**v.to_dict(), "E": sets[v.run_set]} for v in _pooled(cases, settings)]
    return {"run_sets": [{"name": k, "E": v} for k, v in sets.items()], "cases": cases}


def pooled_table(runs, settings: Settings = Settings()) -> pd.DataFrame:
    """One row per (run set, η, estimator): the gate's pooled check — R runs, Stouffer Z, the
    pooled ratio Σw·prediction / Σw·ΔH_true (Stouffer's weights w = 1/σ_1), its SE and 1 − 2α
    interval, the runs' heterogeneity Q and its p-value, the resolution (smallest relative bias
    detected with 80 % power; empty: ∞ or none), under --tolerance δ the TOST statistics, outcome
    and reason (:func:`dhstats.verdicts.pooling.pooled_agreement`: the same numbers as health.json's)."""
    estimator = {est.pooled: est.name for est in registry.ESTIMATORS}
    rows = [{"run_set": v.run_set, "eta": v.eta, "estimator": estimator[v.check],
             "R": v.numbers.R, "Z": present(v.numbers.Z), "ratio": present(v.numbers.ratio),
             "ratio_se": present(v.numbers.ratio_se), "ratio_lo": present(v.numbers.ratio_lo),
             "ratio_hi": present(v.numbers.ratio_hi), "heterogeneity_q": present(v.numbers.heterogeneity_q),
             "heterogeneity_p": present(v.numbers.heterogeneity_p), "resolution": present(v.numbers.resolution),
             "tolerance": settings.tolerance, "tost_lo": present(v.numbers.tost_lo),
             "tost_hi": present(v.numbers.tost_hi), "outcome": str(v.outcome), "reason": str(v.reason)}
            for v in _pooled(_agreement_cases(runs, settings), settings)]
    return Frame(rows)


def scaling_table(runs, settings: Settings = Settings()) -> pd.DataFrame:
    """One row per run set: E, the medians σ_G·√E and σ_true·√E/η (:func:`scaling_medians`)
    and their ratios to the largest-E set's (the se_scaling check, judged by the registry)."""
    (check,) = registry.ACROSS_SETS
    cases = _agreement_cases(runs, settings)
    sets = sorted({c["run_set"] for c in cases})
    rows = []
    for name in sets:
        records = registry.records_for(check, name, None, lambda s: [c for c in cases if c["run_set"] == s], sets)
        v = check.verdict(records, settings)
        m = scaling_medians(records.of(check.pools[0]))
        rows.append({"run_set": name, "E": m["E"], "sigma_g_sqrt_e": m["m_g"],
                     "sigma_true_sqrt_e_over_eta": statistics.median(m["m_true"].values()) if m["m_true"] else None,
                     "reference": present(v.numbers.reference), "ratio_sigma_g": present(v.numbers.ratio_sigma_g),
                     "ratio_sigma_true": present(v.numbers.ratio_sigma_true), "outcome": str(v.outcome)})
    return Frame(rows)


def truncation_table(runs, settings: Settings = Settings()) -> pd.DataFrame:
    """``trunc_df``: the notebook's truncated sums per keep-quantile, plus the gate's
    re-estimated L_S, Δ_S, σ_S, ratio and whether |Δ_S| ≥ kσ_S (checks.md)."""
    rows = []
    for run in _valid(runs):
        if run.gdotv is None:
            continue
        for e in run.entries:
            s = sequence_series(run, e)
            for q in settings.keep_quantiles:
                row = {"run_set": run.file.run_set, "run": run.file.run, "eta": e.eta}
                row.update(trunc.truncation_summary(q, s.linear, s.true, s.linquad))
                if e.h_base is not None:
                    t = trunc.truncation(e.eta, run.gdotv, e.normalized_weights, e.token_counts,
                                         e.h_new, e.h_base, e.base_entropy, q, settings.k)
                    row.update(linear_S=t.linear, true_S=t.true, sigma_S=t.sigma, ratio=t.ratio,
                               conclusive=t.conclusive, notebook_ratio=t.notebook_ratio)
                rows.append(row)
    return Frame(rows)


def filtered_estimates_table(runs, keep_quantiles=(0.99, 0.95), clip_thresholds=(5e-4, 1e-4)) -> pd.DataFrame:
    """The notebook's ``compare_filtered_estimates`` for every run and η: raw totals, then
    sums after truncation at each keep-quantile and after clipping at each threshold."""
    rows = []
    for run in _valid(runs):
        if run.gdotv is None:
            continue
        for e, p in zip(run.entries, eta_curve(run)):
            s = sequence_series(run, e)
            base = {"run_set": run.file.run_set, "run": run.file.run, "eta": e.eta}
            rows.append({**base, "strategy": "raw", "delta_true": p.delta_true,
                         "delta_linear": p.delta_linear, "delta_linquad": p.delta_linquad})
            for q in keep_quantiles:
                t = trunc.truncation_summary(q, s.linear, s.true, s.linquad)
                rows.append({**base, "strategy": f"truncate@{q}", "delta_true": t["delta_true_trunc"],
                             "delta_linear": t["delta_linear_trunc"], "delta_linquad": t.get("delta_linquad_trunc")})
            for c in clip_thresholds:
                t = trunc.clip_summary(c, s.linear, s.true, s.linquad)
                rows.append({**base, "strategy": f"clip@{c}", "delta_true": t["delta_true_clip"],
                             "delta_linear": t["delta_linear_clip"], "delta_linquad": t.get("delta_linquad_clip")})
    return Frame(rows)


def baseline_table(runs, baseline, settings: Settings = Settings()) -> pd.DataFrame:
    """One row per comparison case against ``baseline`` (a
    :class:`dhstats.gate.baseline_source.BaselineSource`): the gate's checks against a baseline,
    judged by the registry as in the gate — both sides' pooled ratio and SE, z, the resolution
    of the comparison (ratio units), under --baseline-tolerance the TOST statistics, outcome
    and reason (:mod:`dhstats.verdicts.baseline`)."""
    cases = _agreement_cases(runs, settings)
    sets = list(dict.fromkeys(c["run_set"] for c in cases))
    matched = baseline.match(sets).matched

    def of(name: str) -> list[dict]:
        return [c for c in cases if c["run_set"] == name]

    def theirs(name: str, eta):
        return baseline.records(matched[name], eta) if name in matched else None

    rows = []
    for name in sets:
        if name not in matched:
            continue
        common = sorted({c["eta"] for c in of(name)} & set(baseline.set_etas.get(matched[name], ())))
        for check in registry.BASELINE:
            for eta in common if check.per_eta else [None]:
                v = check.verdict(registry.records_for(check, name, eta, of, sets, theirs), settings).to_dict()
                rows.append({"run_set": name, "baseline_run_set": matched[name], "eta": eta, "check": check.name,
                             **{k: v.get(k) for k in ("ratio", "ratio_se", "baseline_ratio", "baseline_ratio_se", "z",
                                                      "resolution", "ratio_sigma_g", "ratio_sigma_true", "tolerance",
                                                      "tost_lo", "tost_hi")},
                             "outcome": v["outcome"], "reason": v["reason"]})
    return pd.DataFrame(rows)


def all_tables(runs, settings: Settings = Settings()) -> dict[str, pd.DataFrame]:
    """Every table of :data:`TABLES` (what ``dhstats tables`` writes, one CSV each)."""
    return {
        "summary": summary_table(runs),
        "standard_errors": standard_errors_table(runs, settings),
        "agreement": agreement_table(runs, settings),
        "pooled": pooled_table(runs, settings),
        "scaling": scaling_table(runs, settings),
        "truncation": truncation_table(runs, settings),
        "filtered_estimates": filtered_estimates_table(runs),
        "per_sequence": per_sequence_frame(runs),  # one row per (run, η, sequence)
    }
