"""The producer of a gate session: run sets → verdict records, without pytest.

:class:`Gate` names the cases (:class:`dhstats.gate.collection.Collection`), judges each run once
(here, or ahead in judging processes: :class:`dhstats.gate.executor.Executor`), pools the runs'
records into run-set verdicts (summaries in memory or shared between xdist workers:
:class:`dhstats.gate.summaries.Summaries`), applies Holm under ``--holm`` and draws the figures of
failing cases within ``--max-plots``. What it hands on, per test, is :class:`Records`; the
consumer (:mod:`dhstats.report.session`) turns them into health.json and the reports, and
:class:`dhstats.session.Session` joins the two. The gate imports nothing of the report layer.

How it stays fast and correct:

* **Collection is a scan, not a parse** (:mod:`dhstats.gate.collection`).
* **Each file is parsed once per process that judges it.** Cases come run by run; the first
  case of a run loads and judges the whole run, later ones read the cached verdicts; the
  cache holds one run. Under ``--holm`` every z is needed first: all runs are judged up front
  (verdicts kept, arrays dropped).
* **Run-set cases are judged from records**, not arrays: each judged run leaves a summary
  (the case dicts of the checks that run-set checks pool); runs no process judges
  (``-k pooled``) are judged where needed.
* **Plots only for failures**, within ``--max-plots`` per session (under ``-n`` the judging
  processes draw them from the same budget; per worker under xdist's own ``--dist``).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from dhstats.verdicts import registry
from dhstats.verdicts.holm import apply_holm
from dhstats.gate.baseline_source import open_baseline
from dhstats.gate.collection import Case, Collection, Skip
from dhstats.load.duplicates import DuplicateIndex, Fingerprint, duplicate_run
from dhstats.gate.executor import Executor, figure_keys, render_failure
from dhstats.verdicts.registry import INPUT, evaluate
from dhstats.figures.rendered import Figure
from dhstats.load.results import MAX_ETAS, InvalidRun, Run, RunFile, RunKey, load_fingerprinted, load_run
from dhstats.verdicts.runsets import run_set_size
from dhstats.load.settings import SessionOptions
from dhstats.gate.summaries import Summaries
from dhstats.verdicts.verdicts import Outcome, RunOutcome, RunVerdict, Verdict, crashed


class Evaluation:
    """One run, loaded and judged: its run verdict and its verdicts keyed by (check, η)."""

    def __init__(self, loaded: Run | InvalidRun | None, rv: RunVerdict, verdicts: list[Verdict]):
        self.loaded = loaded
        self.run_verdict = rv
        self.verdicts = {(v.check, v.eta): v for v in verdicts}
        self.images: dict[tuple[str, float | None], Figure] = {}  # (figure, η or None) → rendered
        self.reported = False  # the run verdict travels once, on the first case of the run

    def summary(self) -> dict:
        """What run-set checks need of this run: the case dicts of the checks they pool."""
        cases = [v.to_dict() for (check, _), v in self.verdicts.items() if check in registry.POOLED_INPUTS]
        return {"outcome": str(self.run_verdict.outcome), "cases": cases}


class Gate:
    """The producer of a gate session: run sets → verdict records. ``options`` from
    :func:`dhstats.load.settings.parse`; ``roots`` the run-set directories; ``exchange`` the
    directory through which xdist workers share run summaries (None: one process). The
    records go to the consumer (:class:`dhstats.report.session.SessionOutputs`), which
    turns them into health.json and the reports; :class:`dhstats.session.Session` joins the two."""

    def __init__(self, options: SessionOptions, roots: Iterable[str | os.PathLike], *,
                 exchange: str | os.PathLike | None = None):
        self.options = options
        self.settings = options.settings
        baseline = None if options.baseline is None else open_baseline(options.baseline, options)
        self.collection = Collection(roots, options, baseline)
        self.executor = Executor(options.max_plots)
        self.summaries = Summaries(exchange)
        self.selected: set[RunKey] = {f.key for f in self.collection.files}  # runs some process judges
        self._current: tuple[RunKey, Evaluation] | None = None
        self._holm: dict[RunKey, Evaluation] | None = None
        self._run_verdicts: dict[RunKey, RunVerdict] = {}  # every run judged in this process
        self._set_verdicts: dict[tuple[str, str, float | None], Verdict] = {}
        self._plot_run: tuple[RunKey, Run | InvalidRun] | None = None
        self._set_images_cache: dict[tuple, tuple[str, list]] = {}
        self._fingerprints: dict[RunKey, Fingerprint | None] = {}  # runs parsed here or shared with us
        self._duplicates = DuplicateIndex()  # the first run of each fingerprint among runs [0, _indexed)
        self._indexed = 0

    def judge_ahead(self, processes: int) -> None:
        """Judge every run in ``processes`` judging processes while this one runs the tests."""
        self.executor.start(processes, self.collection.files, self.settings, self.options.max_file_bytes)

    def close(self) -> None:
        """Stop the judging processes (if any)."""
        self.executor.close()

    # ------------------------------------------------------------------ judging runs
    def evaluation(self, f: RunFile) -> Evaluation:
        """The run's verdicts; loads and judges it on first use (one run cached at a time)."""
        if self.settings.holm is not None:
            return self._holm_evaluations()[f.key]
        if self._current is None or self._current[0] != f.key:
            self._current = (f.key, self._evaluate(f))
        return self._current[1]

    def _evaluate(self, f: RunFile, keep_arrays: bool = True) -> Evaluation:
        """Load and judge a run here, or take what a judging process did (its arrays stay
        there: figures reload the run). A run that repeats an earlier one of the session
        (:meth:`_duplicate_of`) is invalid input, ``duplicate_run``: nothing else of it counts."""
        result = self.executor.result(f.key)
        loaded, images = None, {}
        if result is None:
            loaded, fp = load_fingerprinted(f, max_bytes=self.options.max_file_bytes)
            self._share_fingerprint(f, fp)
            rv, verdicts = evaluate(loaded, self.settings)
            etas = loaded.etas if isinstance(loaded, Run) else ()
        else:
            rv, verdicts, etas, images, fp = result
            fp = Fingerprint.of(fp)
            self._share_fingerprint(f, fp)
        first = self._duplicate_of(f, fp)
        if first is not None:
            loaded, images, etas = duplicate_run(f, *first), {}, ()
            rv, verdicts = evaluate(loaded, self.settings)
        missed = tuple(e for e in etas if e not in self.collection.etas(f))
        if rv.outcome == RunOutcome.OK and missed:
            why = (f"{len(etas)} true.entries η values: at most {MAX_ETAS} per run are checked"
                   if len(etas) > MAX_ETAS else f"true.entries η {', '.join(map(repr, missed))} not found by the "
                   "collection scan; these cases were not checked")
            rv = RunVerdict(rv.run_set, rv.run, rv.path, RunOutcome.ERROR, f"{f.display}: {why}")
            verdicts = []
        ev = Evaluation(loaded if keep_arrays else None, rv, verdicts)
        self._run_verdicts[f.key] = rv
        ev.images.update(images)
        self.summaries.put(f.key, ev.summary())
        return ev

    def _share_fingerprint(self, f: RunFile, fp: Fingerprint | None) -> None:
        """Keep a run's fingerprint, and share it with other xdist workers."""
        self._fingerprints[f.key] = fp
        self.summaries.put(f.key, {"fingerprint": None if fp is None else fp.to_dict()}, kind="fingerprint")

    def _duplicate_of(self, f: RunFile, fp: Fingerprint | None) -> tuple[RunKey, str] | None:
        """The earlier run of the session that ``f`` repeats, and how (:mod:`dhstats.load.duplicates`).
        Decided against every run before ``f`` in session order, whichever process parsed
        them, so that the answer is the same serial, under -n and under xdist."""
        position = self.collection.order[f.key]
        while self._indexed < position:
            e = self.collection.files[self._indexed]
            fe = self._fingerprint_of(e)
            if self._duplicates.match(e, fe) is None:
                self._duplicates.add(e, fe)
            self._indexed += 1
        hit = self._duplicates.match(f, fp)
        # judged after a later run (xdist's order), f is in the index already: it matches itself
        return None if hit is None or hit[0] == f.key else hit

    def _fingerprint_of(self, e: RunFile) -> Fingerprint | None:
        """An earlier run's fingerprint: parsed here, by a judging process, by another xdist
        worker (shared as soon as parsed), else read here now. Never waited for: xdist orders
        its work by size (``--loadscope-reorder``), so an earlier run may come last, behind a
        worker's pooled cases that wait for this one."""
        if e.key in self._fingerprints:
            return self._fingerprints[e.key]
        ahead = self.executor.peek(e.key)
        if ahead is not None:
            self._fingerprints[e.key] = Fingerprint.of(ahead[4])
        elif (shared := self.summaries.get(e.key, expected=False, kind="fingerprint")) is not None:
            self._fingerprints[e.key] = Fingerprint.of(shared.get("fingerprint"))
        else:
            judgeable = self.collection.judgeable(e)
            self._share_fingerprint(e, load_fingerprinted(e, max_bytes=self.options.max_file_bytes)[1]
                                    if judgeable else None)
        return self._fingerprints[e.key]

    def _holm_evaluations(self) -> dict[RunKey, Evaluation]:
        """--holm needs every z of a check before judging any case: judge all runs first
        (one parse each, verdicts kept, arrays dropped), then Holm over every case and every
        pooled case of each z-check."""
        if self._holm is None:
            evs = {f.key: self._evaluate(f, keep_arrays=False) for f in self.collection.files}
            pooled = [self._judge_set(case.check, case.run_set, case.eta)
                      for c in registry.POOLED for case in self.collection.cases(c.name)]
            every = [v for ev in evs.values() for v in ev.verdicts.values()] + pooled
            for v in apply_holm(every, self.settings.holm):
                if v.run is None:
                    self._set_verdicts[(v.check, v.run_set, v.eta)] = v
                else:
                    evs[RunKey(v.run_set, v.run)].verdicts[(v.check, v.eta)] = v
            self._holm = evs
        return self._holm

    def run_verdict(self, f: RunFile) -> RunVerdict:
        """The run's verdict: from its judging in this process, else judged now (a run none of
        whose cases ran here: deselected, or its worker died)."""
        if f.key not in self._run_verdicts:
            self._evaluate(f, keep_arrays=False)
        return self._run_verdicts[f.key]

    def run_of(self, f: RunFile, ev: Evaluation) -> Run | None:
        """The run's arrays for figures (reloaded, one run kept, when judging dropped them:
        under --holm, or judged by another process)."""
        if isinstance(ev.loaded, Run):
            return ev.loaded
        if ev.loaded is None:
            if self._plot_run is None or self._plot_run[0] != f.key:
                self._plot_run = (f.key, load_run(f, max_bytes=self.options.max_file_bytes))
            run = self._plot_run[1]
            return run if isinstance(run, Run) else None
        return None

    # ------------------------------------------------------------------ judging run sets
    def summary(self, f: RunFile) -> dict:
        """A run's summary (:class:`dhstats.gate.summaries.Summaries`): judged here, or by another
        xdist worker; a run nobody judged (deselected, or a worker died) is judged now."""
        summary = self.summaries.get(f.key, expected=f.key in self.selected)
        if summary is None:
            self._evaluate(f, keep_arrays=False)
            summary = self.summaries.get(f.key, expected=False)
        return summary

    def set_cases(self, run_set: str) -> list[dict]:
        """The per-run case records of ``run_set`` that run-set checks pool."""
        return [c for f in self.collection.run_set(run_set).files for c in self.summary(f)["cases"]]

    def set_verdict(self, check: str, run_set: str, eta: float | None) -> Verdict:
        """A run-set case's verdict (cached; under --holm with Holm applied)."""
        key = (check, run_set, eta)
        if key not in self._set_verdicts:
            if self.settings.holm is not None:
                self._holm_evaluations()  # fills the pooled verdicts, Holm applied
            if key not in self._set_verdicts:
                self._set_verdicts[key] = self._judge_set(check, run_set, eta)
        return self._set_verdicts[key]

    def _judge_set(self, check: str, run_set: str, eta: float | None) -> Verdict:
        """A run-set case judged from its runs' records (:func:`dhstats.verdicts.registry.records_for`);
        a check that raises fails that case (:func:`dhstats.verdicts.verdicts.crashed`)."""
        try:
            c = registry.check(check)
            records = registry.records_for(c, run_set, eta, self.set_cases,
                                           [rs.name for rs in self.collection.run_sets], self._baseline_records)
            return c.verdict(records, self.settings)
        except Exception as exc:  # noqa: BLE001 - a bug in one check must not cost the others
            return crashed(check, run_set, None, eta, exc)

    def _baseline_records(self, run_set: str, eta: float | None) -> dict | None:
        """The matched baseline set's records for a check against the baseline (None: unmatched)."""
        col = self.collection
        partner = None if col.matching is None else col.matching.matched.get(run_set)
        return None if partner is None else col.baseline.records(partner, eta)

    # ------------------------------------------------------------------ one case
    def judge(self, case: Case) -> Verdict | RunVerdict | Skip:
        """The case's verdict (its RunVerdict for ``input``), or why it has none."""
        if case.file is None:
            v = self.set_verdict(case.check, case.run_set, case.eta)
            if getattr(v.numbers, "reference", None) == case.run_set and v.outcome != Outcome.FAILED:
                return Skip(f"{case.run_set} is the reference of {case.check} (the largest E): the other run sets "
                            "are judged against it; it is not a case")
            return v
        ev = self.evaluation(case.file)
        if case.check == INPUT:
            return ev.run_verdict
        if ev.run_verdict.outcome == RunOutcome.ERROR:
            return Skip(f"run input is invalid: see input[{case.id}]")
        v = ev.verdicts.get((case.check, case.eta))
        if v is None:
            return Skip(f"η={case.eta!r} was found by the collection scan but is not a true.entries η "
                        "(an 'eta' key elsewhere in the file)")
        return v

    def payload(self, case: Case, verdict) -> dict:
        """The records a case's report carries to the consumer (:class:`Records`, as a dict):
        the run's verdict (once per run, on whichever of its cases comes first) and the case's."""
        run = None
        if case.file is not None:
            ev = self.evaluation(case.file)
            if not ev.reported:
                ev.reported = True
                run = ev.run_verdict.to_dict()
        return Records(run, verdict.to_dict() if isinstance(verdict, Verdict) else None).wire()

    # ------------------------------------------------------------------ figures (failing cases only)
    def images(self, case: Case) -> list:
        """Figures of a failing case (:class:`dhstats.figures.rendered.Figure`), most telling first
        (the check's ``figures`` in the registry), rendered once each (:func:`render_failure`)
        while the session's ``--max-plots`` budget lasts; a judging process renders its runs'
        failures itself, from the same budget. Run-set figures, drawn from records, are
        outside the budget."""
        if case.file is None:
            return self._set_images(case, registry.check(case.check).figures)
        ev = self.evaluation(case.file)
        keys = figure_keys(case.check, case.eta)
        missing = [k for k in keys if k not in ev.images]
        budget = self.executor.budget
        if missing:
            spent = 0 <= budget[0] < len(missing)
            run = None if spent else self.run_of(case.file, ev)
            if run is None and not spent:
                return []
            if spent or not render_failure(run, ev.verdicts.values(), keys, ev.images, self.settings, budget):
                where = f"--results {self.collection.run_set(case.run_set).path} --run {case.file.run}"
                where += "" if case.eta is None else f" --eta {case.eta!r}"
                return [Figure("plots omitted", None, "the --max-plots budget of this session is spent; render "
                               f"them with: dhstats plot {where}")]
        return [ev.images[k] for k in keys]

    def _set_images(self, case: Case, names) -> list:
        """Figures of a failing run-set case, drawn from records. A set's figure (every η, both
        estimators) is attached to its first failing case only; the others carry none (no note
        repeated under every pooled failure: the report's finding shows the figure first)."""
        key = (case.run_set, tuple(names))
        if key in self._set_images_cache:
            return []
        images = self.executor.draw_set(names, self._set_figure_data(case), case.run_set)
        self._set_images_cache[key] = (f"{case.check}[{case.id}]", images)
        return images

    def _set_figure_data(self, case: Case):
        """A run-set figure's input: for a check across sets every set's E and records; for a
        pooled check the run set's records and its pooled verdicts."""
        if registry.check(case.check).baseline:  # the comparison's cases of this set (health-like)
            return {"settings": self.settings.to_dict(),
                    "cases": [self.set_verdict(b.name, x.run_set, x.eta).to_dict() for b in registry.BASELINE
                              if b.per_eta for x in self.collection.cases(b.name) if x.run_set == case.run_set]}
        if not registry.check(case.check).per_eta:
            every = {rs.name: self.set_cases(rs.name) for rs in self.collection.run_sets}
            return {"run_sets": [{"name": name, "E": run_set_size(cs)} for name, cs in every.items()],
                    "cases": [c for cs in every.values() for c in cs]}
        return self.set_cases(case.run_set) + [self.set_verdict(c.name, x.run_set, x.eta).to_dict()
                                               for c in registry.POOLED for x in self.collection.cases(c.name)
                                               if x.run_set == case.run_set]


@dataclass(frozen=True)
class Records:
    """What one test report carries from the producer to the consumer: the run's verdict
    (on the first reported case of each run) and the case's verdict, as health.json dicts.
    Travels as a plain dict (:meth:`wire`), so that xdist can serialise it."""

    run: dict | None = None
    case: dict | None = None

    def wire(self) -> dict:
        return {"run": self.run, "case": self.case}

    @classmethod
    def of(cls, wired: dict) -> "Records":
        return cls(wired.get("run"), wired.get("case"))


__all__ = ["Gate", "Evaluation", "Records"]
