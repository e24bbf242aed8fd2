"""A gate session without pytest: run sets → cases → verdicts → health.json and reports.

    from dhstats.gate import Gate
    from dhstats.settings import parse
    gate = Gate(parse({"reported_se": "shard-mean"}), ["../E_256", "../E_512"])
    health = gate.run()          # judges every case, writes reports/, returns health.json's dict

The pytest plugin (:mod:`dhstats.plugin`) drives the same object case by case: it asks
:meth:`Gate.cases` for the items, :meth:`Gate.judge` for each verdict, moves the records to
the controller (:meth:`Gate.payload` → :meth:`Gate.collect`) and calls :meth:`Gate.report`.

How it stays fast and correct:

* **Collection is a scan, not a parse.** Cases are named from a regex scan of each file's η
  values (:func:`dhstats.results.scan_etas`), identical on every xdist worker.
* **Each file is parsed once per process that judges it.** Cases come run by run; the first
  case of a run loads and judges the whole run, later ones read the cached verdicts; the
  cache holds one run. Under ``--holm`` every z is needed first: all runs are judged up front
  (verdicts kept, arrays dropped).
* **Run-set cases are judged from records**, not arrays: each judged run leaves a summary
  (its agreement case dicts); under xdist the summaries are exchanged through small files in
  a directory the controller creates (``exchange``), and a worker judging a pooled case waits
  for the runs other workers judge. Runs no process judges (``-k pooled``) are judged where
  needed.
* **Plots only for failures**, within ``--max-plots`` per session (under ``-n`` the judging
  processes draw them from the same budget; per worker under xdist's own ``--dist``).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import registry
from .agreement import POOLED, Z_CHECKS, apply_holm
from .registry import INPUT, Scope, evaluate
from .results import MAX_ETAS, InvalidRun, Run, RunFile, RunKey, discover, load_run, scan_etas
from .executor import start_judging, figure_keys, judge_file, render_failure, render_set
from .runsets import check_se_scaling, scaling_medians
from .names import safe_name
from .rendered import Figure
from .settings import SessionOptions
from .verdicts import Outcome, RunOutcome, RunVerdict, Verdict, crashed

POOL_WAIT = 600.0  # seconds a pooled case waits for another worker's runs before judging them itself


def case_id(run_set: str, run: str | None, eta: float | None) -> str:
    """``E_2048/run_01/eta=1.6e-06``; per run ``E_2048/run_01``; run set ``E_2048/eta=…`` or
    ``E_2048`` (η by repr: the shortest exact form; names by :func:`dhstats.names.safe_name`)."""
    parts = [safe_name(run_set)] + ([] if run is None else [safe_name(run)])
    return "/".join(parts) + ("" if eta is None else f"/eta={eta!r}")


@dataclass(frozen=True)
class RunSet:
    name: str
    path: Path
    files: tuple[RunFile, ...]


@dataclass(frozen=True)
class Case:
    """One gate test: a check of a run (at one η, or per run / input) or of a run set."""

    check: str  # a registry name or "input"
    run_set: str
    file: RunFile | None  # None for run-set checks
    eta: float | None
    order: int  # groups items run by run; run-set cases after every run

    @property
    def key(self) -> RunKey | None:
        return None if self.file is None else self.file.key

    @property
    def id(self) -> str:
        return case_id(self.run_set, None if self.file is None else self.file.run, self.eta)


@dataclass(frozen=True)
class Skip:
    """A case with no verdict, and why (its run is invalid; an η only the scan found)."""

    reason: str


class Evaluation:
    """One run, loaded and judged: its run verdict and its verdicts keyed by (check, η)."""

    def __init__(self, loaded: Run | InvalidRun | None, rv: RunVerdict, verdicts: list[Verdict]):
        self.loaded = loaded
        self.run_verdict = rv
        self.verdicts = {(v.check, v.eta): v for v in verdicts}
        self.images: dict[tuple[str, float | None], Figure] = {}  # (figure, η or None) → rendered
        self.reported = False  # the run verdict travels once, on the first case of the run

    def summary(self) -> dict:
        """What run-set checks need of this run: its agreement cases as health.json dicts."""
        cases = [v.to_dict() for (check, _), v in self.verdicts.items()
                 if check in Z_CHECKS]
        return {"outcome": str(self.run_verdict.outcome), "cases": cases}


class Gate:
    """One gate session. ``options`` from :func:`dhstats.settings.parse`; ``roots`` the run-set
    directories; ``exchange`` the directory through which xdist workers share run summaries
    (None: one process)."""

    def __init__(self, options: SessionOptions, roots: Iterable[str | os.PathLike], *,
                 exchange: str | os.PathLike | None = None):
        self.options = options
        self.settings = options.settings
        self.roots = [Path(r).resolve() for r in roots]
        self.files = discover(self.roots)
        self.run_sets = _run_sets(self.files)
        self.exchange = None if exchange is None else Path(exchange)
        self.plot_budget = [options.max_plots]  # figures left (−1: no limit); shared under -n (judge_ahead)
        self.selected: set[RunKey] = {f.key for f in self.files}  # runs some process judges
        self._order = {f.key: i for i, f in enumerate(self.files)}
        self._scanned: dict[RunKey, tuple[float, ...]] = {}
        self._current: tuple[RunKey, Evaluation] | None = None
        self._holm: dict[RunKey, Evaluation] | None = None
        self._summaries: dict[RunKey, dict] = {}
        self._run_verdicts: dict[RunKey, RunVerdict] = {}  # every run judged in this process
        self._set_verdicts: dict[tuple[str, str, float | None], Verdict] = {}
        self._plot_run: tuple[RunKey, Run | InvalidRun] | None = None
        self._pool = None  # judging processes (judge_ahead)
        self._set_images_cache: dict[tuple, tuple[str, list]] = {}
        self._ahead: dict[RunKey, object] = {}  # run → future of judge_file
        # controller side: what travelled on the reports
        self.run_records: dict[RunKey, dict] = {}
        self.case_records: list[dict] = []
        self.figures: dict[tuple[str, str | None], dict[str, object]] = {}
        self.health: dict | None = None
        self.written: list[Path] = []
        self.output_errors: list[str] = []
        self.notices: list[str] = []  # said at the end of the session
        self.interrupted = False  # set by the driver (Ctrl-C): outputs then say so, never a pass

    # ------------------------------------------------------------------ collection
    def etas(self, f: RunFile) -> tuple[float, ...]:
        if f.key not in self._scanned:
            self._scanned[f.key] = scan_etas(f.path, self.options.max_file_bytes)
        return self._scanned[f.key]

    def set_etas(self, rs: RunSet) -> tuple[float, ...]:
        return tuple(sorted({eta for f in rs.files for eta in self.etas(f)}))

    def cases(self, check: str) -> list[Case]:
        """The cases of ``check`` (a registry name or ``"input"``), in session order."""
        if check == INPUT:
            return [Case(INPUT, f.run_set, f, None, self._order[f.key]) for f in self.files]
        c = registry.check(check)
        base = len(self.files)
        if c.scope == Scope.RUN:
            return [Case(check, f.run_set, f, None, self._order[f.key]) for f in self.files]
        if c.scope == Scope.CASE:
            return [Case(check, f.run_set, f, eta, self._order[f.key]) for f in self.files for eta in self.etas(f)]
        if not c.per_eta:  # se_scaling: only when several run sets are checked together
            if len(self.run_sets) < 2:
                return []
            return [Case(check, rs.name, None, None, base + i) for i, rs in enumerate(self.run_sets)]
        return [Case(check, rs.name, None, eta, base + i) for i, rs in enumerate(self.run_sets)
                for eta in self.set_etas(rs)]

    def all_cases(self) -> list[Case]:
        every = [case for name in (INPUT, *registry.NAMES) for case in self.cases(name)]
        return sorted(every, key=lambda c: c.order)  # stable: within a run, registry order

    # ------------------------------------------------------------------ judging runs
    def evaluation(self, f: RunFile) -> Evaluation:
        """The run's verdicts; loads and judges it on first use (one run cached at a time)."""
        if self.settings.holm is not None:
            return self._holm_evaluations()[f.key]
        if self._current is None or self._current[0] != f.key:
            self._current = (f.key, self._evaluate(f))
        return self._current[1]

    def _evaluate(self, f: RunFile, keep_arrays: bool = True) -> Evaluation:
        """Load and judge a run here, or take what a judging process did (:meth:`judge_ahead`;
        its arrays stay there: figures reload the run)."""
        result = None
        future = self._ahead.pop(f.key, None)
        if future is not None:
            try:
                result = future.result()
            except Exception:  # noqa: BLE001 - a judging process died: judge the run here
                result = None
        loaded, images = None, {}
        if result is None:
            loaded = load_run(f, max_bytes=self.options.max_file_bytes)
            rv, verdicts = evaluate(loaded, self.settings)
            etas = loaded.etas if isinstance(loaded, Run) else ()
        else:
            rv, verdicts, etas, images = result
        missed = tuple(e for e in etas if e not in self.etas(f))
        if rv.outcome == RunOutcome.OK and missed:
            why = (f"{len(etas)} true.entries η values: at most {MAX_ETAS} per run are checked"
                   if len(etas) > MAX_ETAS else f"true.entries η {', '.join(map(repr, missed))} not found by the "
                   "collection scan; these cases were not checked")
            rv = RunVerdict(rv.run_set, rv.run, rv.path, RunOutcome.ERROR, f"{f.display}: {why}")
            verdicts = []
        ev = Evaluation(loaded if keep_arrays else None, rv, verdicts)
        self._run_verdicts[f.key] = rv
        ev.images.update(images)
        self._remember(f.key, ev.summary())
        return ev

    def judge_ahead(self, processes: int, keys: Iterable[RunKey] | None = None) -> None:
        """Judge the runs (``keys``, default all) in ``processes`` other processes, in session
        order, while this one runs the tests: what ``-n N`` does in the gate (docs/speed.md).
        Parsing and judging are most of a run's cost and need nothing from pytest; xdist's
        per-test overhead is larger than a gate test's own work."""
        import concurrent.futures
        import multiprocessing

        wanted = None if keys is None else set(keys)
        context = multiprocessing.get_context("spawn")
        self.plot_budget = context.Array("i", [self.plot_budget[0]])  # one --max-plots for the session
        self._pool = concurrent.futures.ProcessPoolExecutor(
            processes, mp_context=context, initializer=start_judging, initargs=(self.plot_budget,))
        for f in self.files:
            if wanted is None or f.key in wanted:
                self._ahead[f.key] = self._pool.submit(judge_file, f, self.settings, self.options.max_file_bytes)

    def forget_ahead(self, keep: set[RunKey]) -> None:
        """Cancel the judging of runs not in ``keep`` (deselected) that has not started."""
        for key in [k for k in self._ahead if k not in keep]:
            if self._ahead[key].cancel():
                del self._ahead[key]

    def close(self) -> None:
        """Stop the judging processes (if any)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._ahead.clear()

    def _remember(self, key: RunKey, summary: dict) -> None:
        self._summaries[key] = summary
        if self.exchange is not None:
            path = self.exchange / _exchange_name(key)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(json.dumps(summary, allow_nan=True).encode())
            os.replace(tmp, path)

    def _holm_evaluations(self) -> dict[RunKey, Evaluation]:
        """--holm needs every z of a check before judging any case: judge all runs first
        (one parse each, verdicts kept, arrays dropped), then Holm over every case and every
        pooled case of each z-check."""
        if self._holm is None:
            evs = {f.key: self._evaluate(f, keep_arrays=False) for f in self.files}
            pooled = self._pooled_verdicts_all()
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
        """A run's summary: judged here, or by another xdist worker (read from the exchange,
        waiting while a worker that was given the run has not judged it yet)."""
        if f.key in self._summaries:
            return self._summaries[f.key]
        path = None if self.exchange is None else self.exchange / _exchange_name(f.key)
        if path is not None and f.key in self.selected:
            deadline = time.monotonic() + POOL_WAIT
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        if path is not None and path.exists():
            try:
                self._summaries[f.key] = json.loads(path.read_bytes())
                return self._summaries[f.key]
            except (OSError, ValueError):
                pass
        self._evaluate(f, keep_arrays=False)  # nobody judged it (deselected, or a worker died)
        return self._summaries[f.key]

    def _set_cases(self, rs: RunSet, check: str) -> list[dict]:
        return [c for f in rs.files for c in self.summary(f)["cases"] if c["check"] == check]

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
        """A run-set case judged from its runs' records; a check that raises fails that case
        (:func:`dhstats.verdicts.crashed`), the session goes on."""
        try:
            return self._judge_records(check, run_set, eta)
        except Exception as exc:  # noqa: BLE001 - a bug in one check must not cost the others
            return crashed(check, run_set, None, eta, exc)

    def _judge_records(self, check: str, run_set: str, eta: float | None) -> Verdict:
        if check == "se_scaling":
            medians = {rs.name: scaling_medians(self._set_cases(rs, "linear_agreement")) for rs in self.run_sets}
            return check_se_scaling(run_set, medians, self.settings.scaling_bounds)
        rs = next(r for r in self.run_sets if r.name == run_set)
        cases = [c for c in self._set_cases(rs, POOLED[check]) if c["eta"] == eta]
        companion = ([c for c in self._set_cases(rs, "linquad_agreement") if c["eta"] == eta]
                     if POOLED[check] == "linear_agreement" else [])  # says whether lin+quad holds there
        return registry.check(check).judge(run_set, eta, cases, self.settings.k, companion,
                                           tolerance=self.settings.tolerance, alpha=self.settings.equivalence_alpha)

    def _pooled_verdicts_all(self) -> list[Verdict]:
        return [self._judge_set(case.check, case.run_set, case.eta)
                for name in POOLED for case in self.cases(name)]

    # ------------------------------------------------------------------ one case
    def judge(self, case: Case) -> Verdict | RunVerdict | Skip:
        """The case's verdict (its RunVerdict for ``input``), or why it has none."""
        if case.file is None:
            v = self.set_verdict(case.check, case.run_set, case.eta)
            if case.check == "se_scaling" and v.numbers.get("reference") == case.run_set and v.outcome != "failed":
                return Skip(f"{case.run_set} is the reference of se_scaling (the largest E): the other run sets are "
                            "judged against it; it is not a case")
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

    def payload(self, case: Case, verdict) -> list[dict]:
        """The records a case's report carries to the controller: the run's verdict (once per
        run, on whichever of its cases comes first) and the case's verdict."""
        out = []
        if case.file is not None:
            ev = self.evaluation(case.file)
            if not ev.reported:
                ev.reported = True
                out.append({"kind": "run", **ev.run_verdict.to_dict()})
        if isinstance(verdict, Verdict):
            out.append({"kind": "case", **verdict.to_dict()})
        return out

    # ------------------------------------------------------------------ figures (failing cases only)
    def images(self, case: Case) -> list:
        """Figures of a failing case (:class:`dhstats.rendered.Figure`), most telling first
        (the check's ``figures`` in the registry), rendered once each
        (:func:`render_failure`) while the session's ``--max-plots`` budget lasts; a judging
        process (:meth:`judge_ahead`) renders its runs' failures itself, from the same budget (a
        run it judged is not reloaded here once the budget is spent). Run-set figures, one per
        run-set case and drawn from records, are outside the budget."""
        if case.file is None:
            return self._set_images(case, registry.check(case.check).figures)
        ev = self.evaluation(case.file)
        keys = figure_keys(case.check, case.eta)
        missing = [k for k in keys if k not in ev.images]
        if missing:
            spent = 0 <= self.plot_budget[0] < len(missing)
            run = None if spent else self.run_of(case.file, ev)
            if run is None and not spent:
                return []
            if spent or not render_failure(run, ev.verdicts.values(), keys, ev.images, self.settings,
                                           self.plot_budget):
                where = f"--results {self._path_of(case.run_set)} --run {case.file.run}"
                where += "" if case.eta is None else f" --eta {case.eta!r}"
                return [Figure("plots omitted", None, "the --max-plots budget of this session is spent; render "
                               f"them with: dhstats plot {where}")]
        return [ev.images[k] for k in keys]

    def _path_of(self, run_set: str) -> Path:
        return next(rs.path for rs in self.run_sets if rs.name == run_set)

    def _set_images(self, case: Case, names) -> list:
        """Figures of a failing run-set case, drawn from the runs' agreement case dicts (by a
        judging process when there is one: it has matplotlib loaded and is idle by then). A
        set's figure (every η, both estimators) is attached to its first failing case only; the
        others name that case."""
        key = (case.run_set, tuple(names))
        if key in self._set_images_cache:  # a set's figure shows every η and both estimators: once
            first, images = self._set_images_cache[key]
            return [Figure(img.caption, None, f"shown once per run set, under {first}") for img in images]
        images = self._draw_set(case, names)
        self._set_images_cache[key] = (f"{case.check}[{case.id}]", images)
        return images

    def _draw_set(self, case: Case, names) -> list:
        every = {rs.name: [c for f in rs.files for c in self.summary(f)["cases"]] for rs in self.run_sets}
        if case.check == "se_scaling":
            sets = [{"name": name, "E": scaling_medians([c for c in cs if c["check"] == "linear_agreement"])["E"]}
                    for name, cs in every.items()]
            data = {"run_sets": sets, "cases": [c for cs in every.values() for c in cs]}
        else:
            data = every[case.run_set] + [self.set_verdict(c.check, c.run_set, c.eta).to_dict()
                                          for check in POOLED
                                          for c in self.cases(check) if c.run_set == case.run_set]
        if self._pool is not None:
            try:
                return [self._pool.submit(render_set, name, data, case.run_set).result() for name in names]
            except Exception:  # noqa: BLE001 - a judging process died: draw it here
                pass
        return [render_set(name, data, case.run_set) for name in names]

    # ------------------------------------------------------------------ controller side
    def collect(self, records: Iterable[dict], figures: Sequence = (), failed: bool = False) -> None:
        """Records (and a failing case's figures) as they arrive on a test report."""
        for rec in records:
            rec = dict(rec)
            kind = rec.pop("kind")
            if kind == "run":
                self.run_records[RunKey(rec["run_set"], rec["run"])] = rec
            else:
                self.case_records.append(rec)
                if failed and figures:  # captions name run and η: a run's page gets each figure once
                    bucket = self.figures.setdefault((rec["run_set"], rec["run"]), {})
                    for fig in map(Figure.of, figures):
                        bucket.setdefault(fig.caption, fig)

    def report(self, html: bool = False) -> dict:
        """Write health.json, badges, run pages and the history line from the collected
        records (:func:`dhstats.session_outputs.write_outputs`); returns health.json's dict."""
        from .session_outputs import write_outputs

        try:
            self.health = write_outputs(self, html)
        finally:
            self.close()
        return self.health

    def run(self) -> dict:
        """The whole session without pytest: judge every case, collect, write the outputs."""
        for case in self.all_cases():
            verdict = self.judge(case)
            failed = isinstance(verdict, Verdict) and verdict.outcome == Outcome.FAILED
            self.collect(self.payload(case, verdict), self.images(case) if failed else (), failed)
        return self.report()


def _exchange_name(key: RunKey) -> str:
    return hashlib.sha1(str(key).encode("utf-8", "surrogatepass")).hexdigest() + ".json"


def _run_sets(files: Sequence[RunFile]) -> list[RunSet]:
    """Run sets in discovery order; a run set's directory is its runs' grandparent."""
    sets: dict[str, list[RunFile]] = {}
    for f in files:
        sets.setdefault(f.run_set, []).append(f)
    return [RunSet(name, fs[0].path.parent.parent, tuple(fs)) for name, fs in sets.items()]


__all__ = ["Gate", "Case", "Skip", "RunSet", "case_id", "safe_name"]
