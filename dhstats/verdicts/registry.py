"""The one list of checks (``shared/spec/checks.md``, "Checks").

Everything that enumerates checks reads this registry when it runs (:func:`checks` and the
functions derived from it; nothing keeps a copy, so :func:`register` adds a check everywhere):
the gate's test functions and case ids (:mod:`dhstats.pytest_plugin.plugin`), judging (:mod:`dhstats.gate.gate`),
health.json counts, badges, the terminal table and the run pages. A check's ``scope`` says what one case is:

* ``case`` — one (run set, run, η);
* ``run`` — one (run set, run), ``eta`` null;
* ``run_set`` — one (run set, η) (pooled checks) or one run set (``se_scaling``), ``run`` null.

One judge signature per scope: ``judge(ctx, entry)`` for a case, ``judge(ctx)`` for a run
(:class:`~dhstats.verdicts.verdicts.RunContext`), ``judge(records, settings)`` for a run set
(:class:`~dhstats.verdicts.verdicts.RunSetRecords`: the per-run records of the checks it ``pools``).
A judge returns a :class:`~dhstats.verdicts.verdicts.Judgement` (outcome, reason, message, numbers);
:meth:`Check.verdict` stamps the check's name and the case's location on it, so a check's
name is spelled here only.
``figures`` names the plots of a failing case, most telling first (see
:func:`dhstats.figures.gallery.figure`); ``headline`` the numbers a report's table cell shows;
``kept`` the numbers (beyond ``headline``) that a case which did not fail keeps in health.json:
those read back from it — by the run-set figures (``dhstats plot --health``) and by a baseline
comparison against a health.json (:func:`written_numbers`).
``estimator`` (a :class:`dhstats.verdicts.agreement.Estimator` object) ties the checks of one prediction
(per run, pooled, against a baseline) together (:func:`estimators`).
``baseline`` marks the checks against a baseline (:mod:`dhstats.verdicts.baseline`): they have cases
only under ``--baseline``, and judge the records of the matched baseline set beside the run set's.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from dhstats.verdicts import agreement, baseline, pooling, run_checks, runsets
from dhstats.verdicts.agreement import Estimator
from dhstats.load.results import InvalidRun, Run
from dhstats.load.settings import Settings
from dhstats.verdicts.verdicts import RunContext, RunOutcome, RunSetRecords, RunVerdict, Verdict, crashed, run_verdict


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
    judge: Callable  # returns a Judgement: outcome, reason, message, numbers (no name, no location)
    figures: tuple[str, ...] = ()
    per_eta: bool = True  # run-set checks: one case per η (pooled) or one per set, judged across sets
    pools: tuple[str, ...] = ()  # run-set checks: the per-run checks whose records it judges, its own first
    headline: tuple[tuple[str, str], ...] = ()  # (number, label) for table cells; "prefix*": every such number
    kept: tuple[str, ...] = ()  # numbers read back from health.json beyond the headline (see written_numbers)
    estimator: Estimator | None = None  # agreement and comparison checks: the prediction they judge
    baseline: bool = False  # a check against a baseline (cases only under --baseline)

    def verdict(self, *args) -> Verdict:
        """:attr:`judge` of one case — ``(ctx, entry)`` for a case, ``(ctx)`` for a run,
        ``(records, settings)`` for a run set — stamped with this check's name and the case's
        location (run set, run, η): the only place a verdict is given its check's name."""
        if self.scope == Scope.RUN_SET:
            records = args[0]
            return self.judge(*args).at(self.name, records.run_set, None, records.eta if self.per_eta else None)
        ctx, entry = args[0], args[1] if self.scope == Scope.CASE else None
        f = ctx.run.file
        return self.judge(*args).at(self.name, f.run_set, f.run, None if entry is None else entry.eta)


# What a per-run agreement case keeps in health.json when it did not fail: z and its resolution,
# the σ's sources (checks.md, "Outputs"), the per-run ratio and its SE (the run-set figures) and
# what a baseline comparison against this health.json reads (baseline.RUN_NUMBERS);
# linear_agreement adds what se_scaling and baseline_efficiency read (runsets.SCALING_NUMBERS,
# also the σ-vs-E figure's).
_AGREEMENT_KEPT = ("z", "resolution", "ratio", "ratio_se", "sigma_source", "sigma_true_source") + baseline.RUN_NUMBERS

_CHECKS: list[Check] = [
    Check("consistency", Scope.CASE, "consist", "internal consistency of the file",
          run_checks.check_consistency, ("contributions",)),
    Check("snis_weights", Scope.CASE, "weights", "SNIS weights normalised",
          run_checks.check_snis_weights, ("weights",)),
    Check("snis_reliability", Scope.CASE, "reliab", "SNIS reliability (ESS, Pareto k̂)",
          run_checks.check_snis_reliability, ("weights",), headline=(("ess_fraction", "ESS/n"), ("khat", "k̂"))),
    Check("se_consistency", Scope.RUN, "se", "reported SEs vs measured SEs",
          run_checks.check_se_consistency, ("sigma_comparison",), per_eta=False, headline=(("rho_*", "ρ({})"),)),
    Check("linear_agreement", Scope.CASE, "linear", "linear prediction ηG vs ΔH_true",
          agreement.LINEAR.judge_case, ("delta_h_vs_eta", "ratio_vs_eta", "contributions", "errors"),
          kept=_AGREEMENT_KEPT + runsets.SCALING_NUMBERS, estimator=agreement.LINEAR),
    Check("linquad_agreement", Scope.CASE, "linquad", "lin+quad prediction vs ΔH_true",
          agreement.LINQUAD.judge_case, ("delta_h_vs_eta", "ratio_vs_eta", "contributions", "errors"),
          kept=_AGREEMENT_KEPT, estimator=agreement.LINQUAD),
    Check("truncation_ratio", Scope.CASE, "trunc", "truncation ratio on the bulk of sequences",
          run_checks.check_truncation_ratio, ("truncation_sweep", "clip_sweep", "contributions"),
          headline=(("ratio_q*", "r@{}"),)),
    Check("pooled_linear_agreement", Scope.RUN_SET, "pool-lin", "linear prediction pooled over runs",
          agreement.LINEAR.judge_pooled, ("pooled_ratio", "pooled_interval"),
          pools=("linear_agreement", "linquad_agreement"), estimator=agreement.LINEAR),
    Check("pooled_linquad_agreement", Scope.RUN_SET, "pool-lq", "lin+quad prediction pooled over runs",
          agreement.LINQUAD.judge_pooled, ("pooled_ratio", "pooled_interval"),
          pools=("linquad_agreement",), estimator=agreement.LINQUAD),
    Check("se_scaling", Scope.RUN_SET, "scaling", "σ scales as 1/√E across run sets",
          runsets.check_se_scaling, ("sigma_vs_e",), per_eta=False, pools=("linear_agreement",),
          headline=(("ratio_sigma_g", "ratio_sigma_g"), ("ratio_sigma_true", "ratio_sigma_true"))),
    Check("baseline_linear_ratio", Scope.RUN_SET, "base-lin", "linear pooled ratio against the baseline",
          baseline.check_baseline_ratio, ("baseline_ratio",), pools=("linear_agreement", "linquad_agreement"),
          headline=(("z", "z"), ("resolution", "±")), estimator=agreement.LINEAR, baseline=True),
    Check("baseline_linquad_ratio", Scope.RUN_SET, "base-lq", "lin+quad pooled ratio against the baseline",
          baseline.check_baseline_ratio, ("baseline_ratio",), pools=("linquad_agreement",),
          headline=(("z", "z"), ("resolution", "±")), estimator=agreement.LINQUAD, baseline=True),
    Check("baseline_efficiency", Scope.RUN_SET, "base-eff", "σ·√E against the baseline",
          baseline.check_baseline_efficiency, ("baseline_ratio",), per_eta=False, pools=("linear_agreement",),
          headline=(("ratio_sigma_g", "ratio_sigma_g"), ("ratio_sigma_true", "ratio_sigma_true")), baseline=True),
]
INPUT = "input"  # the per-run validity case (not a check: invalid input makes a run an error)


def register(check: Check) -> Check:
    """Add ``check`` at the end of the registry: everything that enumerates checks reads the
    registry when it runs (nothing keeps a copy), so this one call gives the check its cases,
    counts, badge, table column and page rows. ValueError for a name already registered."""
    if check.name in names() or check.name == INPUT:
        raise ValueError(f"{check.name!r} is already a dhstats check")
    _CHECKS.append(check)
    return check


def unregister(name: str) -> None:
    """Remove the check called ``name`` (KeyError when there is none)."""
    _CHECKS.remove(check(name))


def written_numbers(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The numbers a case of check ``name`` that did not fail keeps in health.json, as
    ``(names, prefixes)``: its headline's numbers (a headline ``"prefix*"`` keeps every number
    starting with ``prefix``) and its ``kept`` numbers. Unknown check: none."""
    try:
        c = check(name)
    except KeyError:
        return (), ()
    names = tuple(n for n, _ in c.headline if not n.endswith("*")) + c.kept
    return names, tuple(n[:-1] for n, _ in c.headline if n.endswith("*"))


def checks() -> tuple[Check, ...]:
    """Every check, in registry order."""
    return tuple(_CHECKS)


def names() -> tuple[str, ...]:
    return tuple(c.name for c in _CHECKS)


def by_name() -> dict[str, Check]:
    return {c.name: c for c in _CHECKS}


def pooled() -> tuple[Check, ...]:
    """The run-set checks judged per η (pooled over a set's runs), not against a baseline."""
    return tuple(c for c in _CHECKS if c.scope == Scope.RUN_SET and c.per_eta and not c.baseline)


def across_sets() -> tuple[Check, ...]:
    """The run-set checks judged once per set, across run sets (se_scaling)."""
    return tuple(c for c in _CHECKS if c.scope == Scope.RUN_SET and not c.per_eta and not c.baseline)


def baseline_checks() -> tuple[Check, ...]:
    """The checks against a baseline."""
    return tuple(c for c in _CHECKS if c.baseline)


def ratio_comparisons() -> tuple[Check, ...]:
    """The checks of an estimator's pooled ratio against a baseline's (their ``estimator`` set)."""
    return tuple(c for c in baseline_checks() if c.estimator is not None)


def pooled_inputs() -> tuple[str, ...]:
    """The per-run checks some run-set check pools (their records are kept in run summaries)."""
    return tuple(dict.fromkeys(p for c in _CHECKS for p in c.pools))


@dataclass(frozen=True)
class EstimatorChecks:
    """One estimator (:class:`dhstats.verdicts.agreement.Estimator`) and the names of its checks: per
    run (``case``), pooled over runs (``pooled``) and against a baseline (``comparison``)."""

    estimator: Estimator
    case: str
    pooled: str
    comparison: str | None = None

    @property
    def name(self) -> str:  # "linear" or "linquad"
        return self.estimator.name


def estimators() -> tuple[EstimatorChecks, ...]:
    """Each estimator with a per-run check, with the names of its checks (registry order)."""
    def named(candidates, est: Estimator) -> str | None:
        return next((p.name for p in candidates if p.estimator is est), None)

    return tuple(EstimatorChecks(c.estimator, c.name, named(pooled(), c.estimator),
                                 named(baseline_checks(), c.estimator))
                 for c in _CHECKS if c.estimator is not None and c.scope == Scope.CASE)


def estimator(name: str) -> EstimatorChecks:
    """The estimator called ``name`` ("linear", "linquad") with its checks' names."""
    return next(e for e in estimators() if e.name == name)


def estimator_of(check_name: str) -> EstimatorChecks | None:
    """The estimator whose per-run, pooled or comparison check is ``check_name`` (None: none)."""
    return next((e for e in estimators() if check_name in (e.case, e.pooled, e.comparison)), None)


_LIVE = {"CHECKS": checks, "NAMES": names, "BY_NAME": by_name, "POOLED": pooled, "ACROSS_SETS": across_sets,
         "BASELINE": baseline_checks, "POOLED_INPUTS": pooled_inputs, "ESTIMATORS": estimators}


def __getattr__(attr: str):
    """``registry.CHECKS``, ``NAMES``, ``BY_NAME``, ``POOLED``, ``ACROSS_SETS``, ``BASELINE``,
    ``POOLED_INPUTS``, ``ESTIMATORS``: the functions above, read at each access (never a copy)."""
    if attr in _LIVE:
        return _LIVE[attr]()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def figure_inputs(figure: str) -> tuple[str, ...]:
    """The per-run checks whose records a run-set figure draws: what its check pools."""
    return next(c.pools for c in _CHECKS if figure in c.figures and c.scope == Scope.RUN_SET)


def records_for(c: Check, run_set: str, eta: float | None, cases_of: Callable[[str], Iterable[Mapping]],
                run_sets: Sequence[str], baseline_of: Callable[[str, float | None], dict | None] | None = None
                ) -> RunSetRecords:
    """What run-set check ``c`` judges for (``run_set``, ``eta``): the case dicts of the checks
    it pools — of ``run_set`` at ``eta`` for a pooled check, of every run set (``cases_of(name)``)
    for a check across sets; for a check against a baseline, of ``run_set`` (at ``eta`` when
    per η) and ``baseline_of(run_set, eta)``, the matched baseline set's records; and the names
    of its estimator's checks (:class:`EstimatorChecks`)."""
    by_set = {}
    for name in [run_set] if c.per_eta or c.baseline else run_sets:
        cases = [x for x in cases_of(name) if not c.per_eta or x["eta"] == eta]
        by_set[name] = {p: [x for x in cases if x["check"] == p] for p in c.pools}
    base = baseline_of(run_set, eta) if c.baseline and baseline_of is not None else None
    est = None if c.estimator is None else next((e for e in estimators() if e.estimator is c.estimator), None)
    return RunSetRecords(run_set, eta, by_set, base, c.pools, est)


def pooled_verdict(name: str, run_set: str, eta: float, cases: Sequence[Mapping], k: float,
                   companion: Sequence[Mapping] = (), *, tolerance: float | None = None,
                   alpha: float = 0.05) -> Verdict:
    """The verdict of the pooled agreement check ``name`` of ``run_set`` at ``eta`` from its runs'
    case dicts (:func:`dhstats.verdicts.pooling.pooled_agreement` of the check's estimator, stamped)."""
    c = check(name)
    return pooling.pooled_agreement(c.estimator, eta, cases, k, companion, tolerance=tolerance,
                                      alpha=alpha).at(name, run_set, None, eta)


def judged_by(judge: Callable) -> Check:
    """The check whose judge is ``judge`` (for code that reads one check's cases by what it
    computes, e.g. :func:`dhstats.verdicts.run_checks.check_truncation_ratio`, not by its name)."""
    return next(c for c in _CHECKS if c.judge == judge)


def check(name: str) -> Check:
    """The check called ``name`` (KeyError with the known names otherwise)."""
    for c in _CHECKS:
        if c.name == name:
            return c
    raise KeyError(f"{name!r} is not a dhstats check (one of {', '.join(names())})")


def evaluate_run(run: Run, settings: Settings = Settings()) -> list[Verdict]:
    """Every case and per-run verdict of one valid run, in registry order (per-η checks by
    ascending η). Run-set checks are judged by the gate from these records."""
    ctx = RunContext(run, settings)
    out: list[Verdict] = []
    for c in checks():
        if c.scope == Scope.RUN:
            out.append(_judged(c, ctx, None))
        elif c.scope == Scope.CASE:
            out.extend(_judged(c, ctx, e) for e in run.entries)
    return out


def _judged(c: Check, ctx: RunContext, entry) -> Verdict:
    """:meth:`Check.verdict` of one case; a check that raises fails that case (:func:`crashed`)."""
    try:
        return c.verdict(ctx) if entry is None else c.verdict(ctx, entry)
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
