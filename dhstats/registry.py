"""The one list of checks (``shared/spec/checks.md``, "Checks").

Everything that enumerates checks derives from :data:`CHECKS`: the gate's test functions
and case ids (:mod:`dhstats.plugin`), judging (:mod:`dhstats.gate`), health.json counts,
badges, the terminal table and the run pages. A check's ``scope`` says what one case is:

* ``case`` — one (run set, run, η);
* ``run`` — one (run set, run), ``eta`` null;
* ``run_set`` — one (run set, η) (pooled checks) or one run set (``se_scaling``), ``run`` null.

One judge signature per scope: ``judge(ctx, entry)`` for a case, ``judge(ctx)`` for a run
(:class:`~dhstats.verdicts.RunContext`), ``judge(records, settings)`` for a run set
(:class:`~dhstats.verdicts.RunSetRecords`: the per-run records of the checks it ``pools``).
``figures`` names the plots of a failing case, most telling first (see
:func:`dhstats.plots.figure`); ``headline`` the numbers a report's table cell shows;
``estimator`` ties the agreement checks of one prediction (per run and pooled) together.
``baseline`` marks the checks against a baseline (:mod:`dhstats.baseline`): they have cases
only under ``--baseline``, and judge the records of the matched baseline set beside the run set's.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from . import agreement, baseline, run_checks, runsets
from .results import InvalidRun, Run
from .settings import Settings
from .verdicts import RunContext, RunOutcome, RunSetRecords, RunVerdict, Verdict, crashed, run_verdict


class Scope(StrEnum):
    CASE = "case"
    RUN = "run"
    RUN_SET = "run_set"


@dataclass(frozen=True)
class Check:
    name: str
    scope: Scope
    short: str  # terminal-table column header
    title: str  # words, for captions and summaries
    judge: Callable
    figures: tuple[str, ...] = ()
    per_eta: bool = True  # run-set checks: one case per η (pooled) or one per set, judged across sets
    pools: tuple[str, ...] = ()  # run-set checks: the per-run checks whose records it judges
    headline: tuple[tuple[str, str], ...] = ()  # (number, label) for table cells; "prefix*": every such number
    estimator: str | None = None  # agreement checks: "linear" or "linquad" (per run and pooled)
    baseline: bool = False  # a check against a baseline (cases only under --baseline)


CHECKS: tuple[Check, ...] = (
    Check("consistency", Scope.CASE, "consist", "internal consistency of the file",
          run_checks.check_consistency, ("contributions",)),
    Check("snis_weights", Scope.CASE, "weights", "SNIS weights normalised",
          run_checks.check_snis_weights, ("weights",)),
    Check("snis_reliability", Scope.CASE, "reliab", "SNIS reliability (ESS, Pareto k̂)",
          run_checks.check_snis_reliability, ("weights",), headline=(("ess_fraction", "ESS/n"), ("khat", "k̂"))),
    Check("se_consistency", Scope.RUN, "se", "reported SEs vs measured SEs",
          run_checks.check_se_consistency, ("sigma_comparison",), per_eta=False, headline=(("rho_*", "ρ({})"),)),
    Check("linear_agreement", Scope.CASE, "linear", "linear prediction ηG vs ΔH_true",
          agreement.check_linear_agreement, ("delta_h_vs_eta", "ratio_vs_eta", "contributions", "errors"),
          estimator="linear"),
    Check("linquad_agreement", Scope.CASE, "linquad", "lin+quad prediction vs ΔH_true",
          agreement.check_linquad_agreement, ("delta_h_vs_eta", "ratio_vs_eta", "contributions", "errors"),
          estimator="linquad"),
    Check("truncation_ratio", Scope.CASE, "trunc", "truncation ratio on the bulk of sequences",
          run_checks.check_truncation_ratio, ("truncation_sweep", "clip_sweep", "contributions"),
          headline=(("ratio_q*", "r@{}"),)),
    Check("pooled_linear_agreement", Scope.RUN_SET, "pool-lin", "linear prediction pooled over runs",
          agreement.check_pooled_linear_agreement, ("pooled_ratio", "pooled_interval"),
          pools=("linear_agreement", "linquad_agreement"), estimator="linear"),
    Check("pooled_linquad_agreement", Scope.RUN_SET, "pool-lq", "lin+quad prediction pooled over runs",
          agreement.check_pooled_linquad_agreement, ("pooled_ratio", "pooled_interval"),
          pools=("linquad_agreement",), estimator="linquad"),
    Check("se_scaling", Scope.RUN_SET, "scaling", "σ scales as 1/√E across run sets",
          runsets.check_se_scaling, ("sigma_vs_e",), per_eta=False, pools=("linear_agreement",),
          headline=(("ratio_sigma_g", "ratio_sigma_g"), ("ratio_sigma_true", "ratio_sigma_true"))),
    Check("baseline_linear_ratio", Scope.RUN_SET, "base-lin", "linear pooled ratio against the baseline",
          baseline.check_baseline_linear_ratio, ("baseline_ratio",), pools=("linear_agreement", "linquad_agreement"),
          headline=(("z", "z"), ("resolution", "±")), baseline=True),
    Check("baseline_linquad_ratio", Scope.RUN_SET, "base-lq", "lin+quad pooled ratio against the baseline",
          baseline.check_baseline_linquad_ratio, ("baseline_ratio",), pools=("linquad_agreement",),
          headline=(("z", "z"), ("resolution", "±")), baseline=True),
    Check("baseline_efficiency", Scope.RUN_SET, "base-eff", "σ·√E against the baseline",
          baseline.check_baseline_efficiency, ("baseline_ratio",), per_eta=False, pools=("linear_agreement",),
          headline=(("ratio_sigma_g", "ratio_sigma_g"), ("ratio_sigma_true", "ratio_sigma_true")), baseline=True),
)
BY_NAME: dict[str, Check] = {c.name: c for c in CHECKS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
INPUT = "input"  # the per-run validity case (not a check: invalid input makes a run an error)
POOLED: tuple[Check, ...] = tuple(c for c in CHECKS if c.scope == Scope.RUN_SET and c.per_eta and not c.baseline)
ACROSS_SETS: tuple[Check, ...] = tuple(c for c in CHECKS if c.scope == Scope.RUN_SET and not c.per_eta
                                       and not c.baseline)
BASELINE: tuple[Check, ...] = tuple(c for c in CHECKS if c.baseline)
POOLED_INPUTS: tuple[str, ...] = tuple(dict.fromkeys(p for c in CHECKS for p in c.pools))  # in run summaries


@dataclass(frozen=True)
class Estimator:
    """One prediction's agreement checks: per run (``case``) and pooled over runs (``pooled``)."""

    name: str  # "linear" or "linquad"
    case: str
    pooled: str


ESTIMATORS: tuple[Estimator, ...] = tuple(
    Estimator(c.estimator, c.name, next(p.name for p in POOLED if p.estimator == c.estimator))
    for c in CHECKS if c.estimator and c.scope == Scope.CASE)


def figure_inputs(figure: str) -> tuple[str, ...]:
    """The per-run checks whose records a run-set figure draws: what its check pools."""
    return next(c.pools for c in CHECKS if figure in c.figures and c.scope == Scope.RUN_SET)


def records_for(c: Check, run_set: str, eta: float | None, cases_of: Callable[[str], Iterable[Mapping]],
                run_sets: Sequence[str], baseline_of: Callable[[str, float | None], dict | None] | None = None
                ) -> RunSetRecords:
    """What run-set check ``c`` judges for (``run_set``, ``eta``): the case dicts of the checks
    it pools — of ``run_set`` at ``eta`` for a pooled check, of every run set (``cases_of(name)``)
    for a check across sets; for a check against a baseline, of ``run_set`` (at ``eta`` when
    per η) and ``baseline_of(run_set, eta)``, the matched baseline set's records."""
    by_set = {}
    for name in [run_set] if c.per_eta or c.baseline else run_sets:
        cases = [x for x in cases_of(name) if not c.per_eta or x["eta"] == eta]
        by_set[name] = {p: [x for x in cases if x["check"] == p] for p in c.pools}
    base = baseline_of(run_set, eta) if c.baseline and baseline_of is not None else None
    return RunSetRecords(run_set, eta, by_set, base)


def check(name: str) -> Check:
    """The check called ``name`` (KeyError with the known names otherwise)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a dhstats check (one of {', '.join(NAMES)})") from None


def evaluate_run(run: Run, settings: Settings = Settings()) -> list[Verdict]:
    """Every case and per-run verdict of one valid run, in registry order (per-η checks by
    ascending η). Run-set checks are judged by the gate from these records."""
    ctx = RunContext(run, settings)
    out: list[Verdict] = []
    for c in CHECKS:
        if c.scope == Scope.RUN:
            out.append(_judged(c, ctx, None))
        elif c.scope == Scope.CASE:
            out.extend(_judged(c, ctx, e) for e in run.entries)
    return out


def _judged(c: Check, ctx: RunContext, entry) -> Verdict:
    """``c.judge`` of one case; a check that raises fails that case (:func:`crashed`)."""
    try:
        return c.judge(ctx) if entry is None else c.judge(ctx, entry)
    except Exception as exc:  # noqa: BLE001 - a bug in one check must not cost the others
        f = ctx.run.file
        return crashed(c.name, f.run_set, f.run, None if entry is None else entry.eta, exc)


def evaluate(loaded: Run | InvalidRun, settings: Settings = Settings()) -> tuple[RunVerdict, list[Verdict]]:
    """Run verdict plus all its verdicts (none for an invalid run). A check that raises fails
    its case with reason ``internal_error`` (:func:`evaluate_run`); a crash outside the checks
    (the run's σ's) makes the run an error carrying the exception, never a lost run or a pass."""
    rv = run_verdict(loaded)
    if isinstance(loaded, InvalidRun):
        return rv, []
    try:
        with np.errstate(all="ignore"):  # overflow/invalid give inf/NaN, which never pass
            return rv, evaluate_run(loaded, settings)
    except Exception as exc:  # a bug in a check must not hide the other runs
        f = loaded.file
        return RunVerdict(f.run_set, f.run, str(f.path), RunOutcome.ERROR,
                          f"{f.display}: internal error while checking: {exc!r}"), []
