"""Multiplicity: Holm–Bonferroni over the z-checks of a session (``--holm ALPHA``).

Each agreement check is one family — its per-run cases on z, and the pooled check over it on
Z — judged at family-wise level α instead of |z| ≤ k (:func:`dhstats.stats.stats.holm_reject`).

What Holm does not re-judge, and why:

* pooled cases judged by the TOST under ``--tolerance`` (their verdict is the TOST's alone,
  checks.md "Equivalence"; a significant Z inside the tolerance passes);
* pooled cases that failed ``heterogeneous``: heterogeneity is not a test of the shared bias
  that Holm controls but of whether one pooled ratio exists at all; it keeps its threshold
  2Φ(−k) at the session's k (k still applies there), and such a case stays failed and is not
  counted in the pooled family;
* cases that failed as not finite or with an internal error.

A resolution is stated at the critical |z| that judged the case (checks.md, "Honest
colours"): Holm's for the case of rank j (0-based, ascending p) in a family of m,
z_{1 − α/(2(m − j))} (:func:`dhstats.stats.equivalence.holm_z`); a case of the family left out of
it (heterogeneous, not finite, or skipped with a resolution: a pooled case of one run) at the
family's most stringent, rank 0. TOST-judged pooled
cases keep the resolution of the difference test at k (information only: the TOST decides).
"""
from __future__ import annotations

import math
from dataclasses import replace

from dhstats.stats import equivalence, stats
from dhstats.verdicts import registry
from dhstats.verdicts.agreement import agreement_message
from dhstats.verdicts.pooling import pooled_message
from dhstats.verdicts.case_numbers import ABSENT, present
from dhstats.verdicts.verdicts import Outcome, Reason, Verdict


def apply_holm(verdicts: list[Verdict], alpha: float) -> list[Verdict]:
    """Holm–Bonferroni over all judged cases of each z-check (per-case checks on z, pooled
    checks on Z): a case fails iff its two-sided p-value is rejected at family-wise level
    ``alpha`` (k is then not used). A NaN z fails (its NaN p is always rejected, see
    :func:`stats.holm_reject`); cases that already failed as not finite stay failed."""
    out = list(verdicts)
    families = [(e.case, False, e.estimator) for e in registry.estimators()] + \
        [(e.pooled, True, e.estimator) for e in registry.estimators()]
    for check, pooled, estimator in families:
        mine = [i for i, v in enumerate(out) if v.check == check and v.outcome != Outcome.SKIPPED
                and not (pooled and v.numbers.tolerance is not ABSENT)]  # judged by TOST alone
        idx = [i for i in mine if out[i].reason not in _KEPT]
        p = [stats.two_sided_p(_z(out[i].numbers.Z if pooled else out[i].numbers.z)) for i in idx]
        m = len(idx)
        finite = sorted((pi, j) for j, pi in enumerate(p) if not math.isnan(pi))
        rank = {j: r for r, (_, j) in enumerate(finite)}
        for j, (i, pi, rejected) in enumerate(zip(idx, p, stats.holm_reject(p, alpha))):
            v = out[i]
            z_crit = equivalence.holm_z(alpha, m, rank.get(j, 0))
            res = _at(v, z_crit)
            rule = (f"{'rejected' if rejected else 'not rejected'} by Holm–Bonferroni over "
                    f"{m} cases at α = {alpha:g}, p = {pi:.3g} (critical |z| = {z_crit:.3g})")
            message = (pooled_message(bool(rejected), v.detail, rule, "a bias shared by the runs of this run set", res)
                       if pooled else agreement_message(bool(rejected), v.detail, rule, estimator.meaning, res))
            out[i] = replace(v, outcome=Outcome.FAILED if rejected else Outcome.PASSED,
                             reason=Reason.OUT_OF_BOUNDS if rejected else Reason.OK, message=message,
                             numbers=replace(v.numbers, k=ABSENT, p_value=pi, holm_alpha=alpha, z_critical=z_crit,
                                             **_resolution_field(v, res)))
        kept = [i for i in mine if out[i].reason in _KEPT]  # stay failed
        unjudged = [i for i, v in enumerate(out) if v.check == check and v.outcome == Outcome.SKIPPED
                    and v.numbers.resolution is not ABSENT]  # e.g. a pooled case of one run
        for i in kept + unjudged:  # resolution at the family's rank 0
            v = out[i]
            z_crit = equivalence.holm_z(alpha, max(m, 1), 0)
            out[i] = replace(v, numbers=replace(v.numbers, holm_alpha=alpha, z_critical=z_crit,
                                                **_resolution_field(v, _at(v, z_crit))))
    return out


_KEPT = (Reason.NOT_FINITE, Reason.INTERNAL_ERROR, Reason.HETEROGENEOUS)  # failed, not re-judged


def _at(v: Verdict, z_crit: float) -> float | None:
    """The case's resolution restated at ``z_crit`` (None: none, or ∞)."""
    res, k = present(v.numbers.resolution), present(v.numbers.k)
    if res is None or k is None:
        return res
    return equivalence.resolution_at(res, k, z_crit)


def _resolution_field(v: Verdict, res: float | None) -> dict:
    return {} if v.numbers.resolution is ABSENT else {"resolution": res}


def _z(z) -> float:
    return math.nan if z is ABSENT or z is None else z
