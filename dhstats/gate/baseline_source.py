"""The baseline of a comparison (``--baseline PATH``): its run sets and their case records.

PATH is either

* a directory of run sets (as ``--results``: a run set's directory, or a directory whose
  sub-directories are run sets) — a collection of its own (:class:`dhstats.gate.collection.Collection`),
  judged on first use by the same code as the session's runs (:func:`dhstats.verdicts.registry.evaluate`,
  the pooled and across-set checks through :func:`dhstats.verdicts.registry.records_for`, Holm under
  ``--holm``), with the session's settings; its cases are not tests of this session; or
* a ``health.json`` of schema ≥ 3 written by an earlier session (the CI artifact of the main
  branch), whose cases are read as they are. It must carry what the comparison needs: per-run
  agreement cases with ``delta_h_true``, ``sigma_true`` and ``sigma``, and pooled cases with
  ``ratio`` and ``ratio_se``; otherwise it is a usage error saying what is missing.

Run sets are matched by name; when each side has exactly one they are matched whatever their
names (checks.md, "Comparison with a baseline").
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from dhstats.verdicts import baseline, registry
from dhstats.gate.collection import Collection
from dhstats.verdicts.holm import apply_holm
from dhstats.load.results import load_run
from dhstats.load.settings import SessionOptions, SettingsError

KINDS = ("results", "health")
NEEDED_RUN = baseline.RUN_NUMBERS  # per-run agreement cases: the unresolved test
NEEDED_POOLED = ("ratio", "ratio_se")  # pooled cases: the comparison
MAX_HEALTH_BYTES = 512 * 2**20


class BaselineError(SettingsError):
    """A ``--baseline`` that cannot be used (a usage error naming what is missing)."""


@dataclass(frozen=True)
class Matching:
    """Candidate run set → baseline run set, and the sets left without a partner."""

    matched: dict[str, str]
    unmatched: list[dict]  # {"run_set": name, "side": "candidate" | "baseline"}


def match(candidates: Sequence[str], baselines: Sequence[str]) -> Matching:
    """By name; one set on each side: matched whatever their names."""
    if len(candidates) == 1 and len(baselines) == 1:
        return Matching({candidates[0]: baselines[0]}, [])
    matched = {c: c for c in candidates if c in baselines}
    unmatched = ([{"run_set": c, "side": "candidate"} for c in candidates if c not in matched]
                 + [{"run_set": b, "side": "baseline"} for b in baselines if b not in matched.values()])
    return Matching(matched, unmatched)


@dataclass
class BaselineSource:
    """A baseline's run sets (name → η's) and, on first use, its case records (health.json dicts)."""

    source: str
    kind: str  # "results" | "health"
    set_etas: dict[str, tuple[float, ...]]
    _cases: list[dict] | None = None
    _judge: object = field(default=None, repr=False)  # results: how its cases are judged

    def cases(self) -> list[dict]:
        """Every case of the baseline (judged on first use for a directory of run sets)."""
        if self._cases is None:
            self._cases = self._judge()
        return self._cases

    def records(self, run_set: str, eta: float | None) -> dict:
        """What a check against the baseline judges of baseline set ``run_set``: its cases (at
        ``eta`` when given), ``{"run_set", "cases"}``."""
        return {"run_set": run_set, "cases": [c for c in self.cases() if c.get("run_set") == run_set
                                              and (eta is None or c.get("eta") == eta)]}

    def match(self, candidates: Sequence[str]) -> Matching:
        return match(list(candidates), list(self.set_etas))

    def describe(self) -> dict:
        """health.json's ``baseline.source`` and ``kind``."""
        return {"source": self.source, "kind": self.kind}


def open_baseline(path: Path, options: SessionOptions) -> BaselineSource:
    """The baseline at ``path`` (a directory of run sets or a health.json file); raises
    :class:`BaselineError` (a usage error) when it cannot be used."""
    path = Path(path)
    if path.is_dir():
        return _results_baseline(path, options)
    return _health_baseline(path)


# --------------------------------------------------------------------------- a directory of run sets


def _roots(path: Path) -> list[Path]:
    """``path`` itself when it holds runs, else its sub-directories that do (a directory of run sets)."""
    def has_runs(d: Path) -> bool:
        return any(x.name.startswith("run_") and x.is_dir() for x in d.iterdir())

    if (path / "results.json").exists() or has_runs(path):
        return [path]
    roots = sorted(d for d in path.iterdir() if d.is_dir() and has_runs(d))
    if not roots:
        raise BaselineError(f"--baseline: {path} holds no run set (run_*/results.json) and is not a health.json")
    return roots


def _results_baseline(path: Path, options: SessionOptions) -> BaselineSource:
    from dhstats.load.results import DiscoveryError

    try:
        collection = Collection(_roots(path), replace(options, baseline=None))
    except DiscoveryError as exc:
        raise BaselineError(f"--baseline: {exc}") from None
    set_etas = {rs.name: collection.set_etas(rs) for rs in collection.run_sets}
    return BaselineSource(str(path), "results", set_etas, None, lambda: judge_collection(collection, options))


def judge_collection(collection: Collection, options: SessionOptions) -> list[dict]:
    """Every case of a collection's runs and run sets, as the gate judges them (health.json dicts)."""
    settings = options.settings
    verdicts, by_set = [], {rs.name: [] for rs in collection.run_sets}
    for f in collection.files:
        _, vs = registry.evaluate(load_run(f, max_bytes=options.max_file_bytes), settings)
        verdicts += vs
        by_set[f.run_set] += [v.to_dict() for v in vs if v.check in registry.POOLED_INPUTS]
    names = [rs.name for rs in collection.run_sets]
    for c in (*registry.POOLED, *registry.ACROSS_SETS):
        for case in collection.cases(c.name):
            records = registry.records_for(c, case.run_set, case.eta, by_set.__getitem__, names)
            verdicts.append(c.verdict(records, settings))
    if settings.holm is not None:
        verdicts = apply_holm(verdicts, settings.holm)
    return [v.to_dict() for v in verdicts]


# --------------------------------------------------------------------------- a health.json


def _health_baseline(path: Path) -> BaselineSource:
    where = f"--baseline: {path}"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_HEALTH_BYTES + 1)
    except OSError as exc:
        raise BaselineError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_HEALTH_BYTES:
        raise BaselineError(f"{where}: larger than {MAX_HEALTH_BYTES // 2**20} MiB: not a health.json")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{where}: not a directory of run sets, nor a health.json (not JSON: {exc})") from None
    cases = usable_cases(doc, where)
    return BaselineSource(str(path), "health", health_sets(doc, where), cases)


def usable_cases(doc, where: str) -> list[dict]:
    """The cases of a baseline health.json document, after checking it can be compared with:
    schema ≥ 3, a list of cases, per-run agreement cases with :data:`NEEDED_RUN` and pooled
    cases with :data:`NEEDED_POOLED` (:class:`BaselineError` naming what is missing)."""
    if not isinstance(doc, Mapping):
        raise BaselineError(f"{where}: not a health.json (not a JSON object)")
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 3:
        raise BaselineError(f"{where}: health.json schema {schema!r}: a baseline needs schema ≥ 3 (written by a "
                            "session of this dhstats); re-run the gate on the baseline's runs")
    cases = doc.get("cases")
    if not isinstance(cases, list) or not all(isinstance(c, Mapping) for c in cases):
        raise BaselineError(f"{where}: no 'cases' list")
    cases = [dict(c) for c in cases]
    missing = []
    for check in (e.case for e in registry.ESTIMATORS):
        mine = [c for c in cases if c.get("check") == check]
        if not any(all(k in c for k in NEEDED_RUN) for c in mine):
            missing.append(f"{check} cases with {', '.join(NEEDED_RUN)}")
    for check in (e.pooled for e in registry.ESTIMATORS):
        mine = [c for c in cases if c.get("check") == check]
        if not any(all(k in c for k in NEEDED_POOLED) for c in mine):
            missing.append(f"{check} cases with {', '.join(NEEDED_POOLED)}")
    if missing:
        raise BaselineError(f"{where}: health.json lacks the numbers a comparison needs: {'; '.join(missing)}")
    return cases


def health_sets(doc: Mapping, where: str) -> dict[str, tuple[float, ...]]:
    """Run set → its η's (of its per-run agreement cases), in the document's order of run sets."""
    names = [s.get("name") for s in doc.get("run_sets") or () if isinstance(s, Mapping)]
    agreement = {e.case for e in registry.ESTIMATORS}
    etas: dict[str, set] = {str(n): set() for n in names if isinstance(n, str)}
    for c in doc.get("cases") or ():
        if isinstance(c, Mapping) and c.get("check") in agreement and isinstance(c.get("eta"), float):
            etas.setdefault(str(c.get("run_set")), set()).add(c["eta"])
    if not etas:
        raise BaselineError(f"{where}: health.json names no run set")
    return {name: tuple(sorted(e)) for name, e in etas.items()}


__all__ = ["BaselineError", "BaselineSource", "KINDS", "Matching", "match", "open_baseline", "judge_collection",
           "usable_cases"]
