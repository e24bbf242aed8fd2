"""Multiplicity: Holm–Bonferroni over the z-checks of a session (``--holm ALPHA``).

Each agreement check is one family — its per-run cases on z, and the pooled check over it on
Z — judged at family-wise level α instead of |z| ≤ k (:func:`dhstats.stats.holm_reject`).
"""
from __future__ import annotations

import math
from dataclasses import replace

from . import stats
from .agreement import POOLED, Z_CHECKS, agreement_message, pooled_message
from .verdicts import Outcome, Reason, Verdict


def apply_holm(verdicts: list[Verdict], alpha: float) -> list[Verdict]:
    """Holm–Bonferroni over all judged cases of each z-check (per-case checks on z, pooled
    checks on Z): a case fails iff its two-sided p-value is rejected at family-wise level
    ``alpha`` (k is then not used). A NaN z fails (its NaN p is always rejected, see
    :func:`stats.holm_reject`); cases that already failed as not finite stay failed."""
    out = list(verdicts)
    for check, key in [(c, "z") for c in Z_CHECKS] + [(c, "Z") for c in POOLED]:
        idx = [i for i, v in enumerate(out) if v.check == check and v.outcome != Outcome.SKIPPED
               and v.reason not in (Reason.NOT_FINITE, Reason.INTERNAL_ERROR)
               and not (check in POOLED and "tolerance" in v.numbers)]  # judged by TOST alone
        p = [stats.two_sided_p(out[i].numbers.get(key, math.nan)) for i in idx]
        for i, pi, rejected in zip(idx, p, stats.holm_reject(p, alpha)):
            v = out[i]
            numbers = {name: x for name, x in v.numbers.items() if name != "k"}
            numbers.update(p_value=pi, holm_alpha=alpha)
            rule = (f"{'rejected' if rejected else 'not rejected'} by Holm–Bonferroni over "
                    f"{len(idx)} cases at α = {alpha:g}, p = {pi:.3g}")
            detail = v.numbers["detail"]
            res = v.numbers.get("resolution")
            message = (pooled_message(bool(rejected), detail, rule, "a bias shared by the runs of this run set", res)
                       if check in POOLED else agreement_message(check, bool(rejected), detail, rule, None, res))
            out[i] = replace(v, outcome=Outcome.FAILED if rejected else Outcome.PASSED,
                             reason=Reason.OUT_OF_BOUNDS if rejected else Reason.OK,
                             message=message, numbers=numbers)
    return out
