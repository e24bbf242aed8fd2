"""Multiplicity: Holm–Bonferroni over the z-checks of a session (``--holm ALPHA``).

Each agreement check is one family — its per-run cases on z, and the pooled check over it on
Z — judged at family-wise level α instead of |z| ≤ k (:func:`dhstats.stats.holm_reject`).
"""
from __future__ import annotations

import math
from dataclasses import replace

from . import stats
from . import registry
from .agreement import agreement_message, pooled_message
from .case_numbers import ABSENT, present
from .verdicts import Outcome, Reason, Verdict


def apply_holm(verdicts: list[Verdict], alpha: float) -> list[Verdict]:
    """Holm–Bonferroni over all judged cases of each z-check (per-case checks on z, pooled
    checks on Z): a case fails iff its two-sided p-value is rejected at family-wise level
    ``alpha`` (k is then not used). A NaN z fails (its NaN p is always rejected, see
    :func:`stats.holm_reject`); cases that already failed as not finite stay failed."""
    out = list(verdicts)
    families = [(e.case, False) for e in registry.ESTIMATORS] + [(e.pooled, True) for e in registry.ESTIMATORS]
    for check, pooled in families:
        idx = [i for i, v in enumerate(out) if v.check == check and v.outcome != Outcome.SKIPPED
               and v.reason not in (Reason.NOT_FINITE, Reason.INTERNAL_ERROR)
               and not (pooled and v.numbers.tolerance is not ABSENT)]  # judged by TOST alone
        p = [stats.two_sided_p(_z(out[i].numbers.Z if pooled else out[i].numbers.z)) for i in idx]
        for i, pi, rejected in zip(idx, p, stats.holm_reject(p, alpha)):
            v = out[i]
            rule = (f"{'rejected' if rejected else 'not rejected'} by Holm–Bonferroni over "
                    f"{len(idx)} cases at α = {alpha:g}, p = {pi:.3g}")
            res = present(v.numbers.resolution)
            message = (pooled_message(bool(rejected), v.detail, rule, "a bias shared by the runs of this run set", res)
                       if pooled else agreement_message(check, bool(rejected), v.detail, rule, None, res))
            out[i] = replace(v, outcome=Outcome.FAILED if rejected else Outcome.PASSED,
                             reason=Reason.OUT_OF_BOUNDS if rejected else Reason.OK, message=message,
                             numbers=replace(v.numbers, k=ABSENT, p_value=pi, holm_alpha=alpha))
    return out


def _z(z) -> float:
    return math.nan if z is ABSENT or z is None else z
