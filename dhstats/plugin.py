"""The pytest gate: ``pytest checks/ --results ../E_2048``.

A thin layer over :mod:`dhstats.verdicts` (judging), :mod:`dhstats.plots` and
:mod:`dhstats.report` (outputs). How it works, and why:

* **Collection is cheap and identical everywhere.** Cases are named from a regex scan of
  each file's η values (:func:`dhstats.results.scan_etas`), not from a parse, so xdist
  workers collect the same items without each parsing every file.
* **Each file is parsed once per process.** Items are ordered run by run (and kept together
  on one xdist worker by :func:`run_scheduling`); the first case of a run loads and judges
  the whole run, later cases read the cached verdicts, and the cache holds one run only.
* **Plots only for failures**, rendered once per (run, η) while the run is cached and
  attached to the pytest-html report; per-run pages reuse the same images.
* **health.json is the source of truth**: every case's verdict record travels on its test
  report (``user_properties``), so the controller writes health.json, badges, per-run pages
  and the terminal table from the same records, with or without xdist.
"""
from __future__ import annotations

import base64
import gc
import os
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

from .results import DiscoveryError, InvalidRun, Run, RunFile, discover, load_run, scan_etas
from .verdicts import CHECKS, RUN_CHECKS, Outcome, RunVerdict, Settings, Verdict, apply_holm, case_id, evaluate

PROPERTY = "dhstats"
GATE_DIR = "checks"

# name: (help, default as written on the command line / ini)
OPTIONS = {
    "sigma": ("k: a case fails when |z| > k (default 3)", "3"),
    "holm": ("judge z-checks by Holm–Bonferroni at family-wise level ALPHA instead of |z| ≤ k", ""),
    "ratio_bounds": ("LO,HI for the truncation ratio (default 0.5,2)", "0.5,2"),
    "keep_quantiles": ("keep-quantiles of the truncation check (default 0.99,0.95,0.90)", "0.99,0.95,0.90"),
    "min_ess_fraction": ("minimum ESS/n (default 0.1)", "0.1"),
    "khat_max": ("maximum Pareto k̂ (default: min(1 − 1/log10 n, 0.7))", "auto"),
    "se_ratio_bounds": ("LO,HI for reported/measured SE (default 1/3,3)", "1/3,3"),
    "reported_se": ("convention of the producer's reported SEs: total or shard-mean (×num_shards)", "total"),
    "max_plots": ("figures rendered per process for failing cases (default 40, ≈ 1.5 s; "
                  "-1: no limit; 0: none); later failures name the `dhstats plot` command", "40"),
    "reports": ("directory for report.html, health.json, runs/, badges/ (default reports/, "
                "relative to where pytest was started)", "reports"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dhstats", "ΔH estimator gate (dhstats)")
    group.addoption("--results", action="append", default=None, metavar="DIR",
                    help="run-set directory holding run_*/results.json (repeatable); "
                         "default: the embedded example run set")
    parser.addini("dhstats_results", "run-set directories (like --results)", type="paths", default=[])
    for name, (text, default) in OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        kw = {"choices": ["total", "shard-mean"]} if name == "reported_se" else {}
        group.addoption(flag, dest=f"dhstats_{name}", default=None, help=text, **kw)
        parser.addini(f"dhstats_{name}", text, default=default)


def _option(config: pytest.Config, name: str) -> str:
    """CLI → ini (pytest.ini / pyproject.toml) → default, resolved in one place."""
    value = config.getoption(f"dhstats_{name}")
    if value is None:
        value = config.getini(f"dhstats_{name}")
    return str(value).strip()


def _number(text: str, what: str) -> float:
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise pytest.UsageError(f"--{what.replace('_', '-')}: {text!r} is not a number")
    return value


def _numbers(text: str, what: str, count: int | None = None) -> tuple[float, ...]:
    values = tuple(_number(t.strip(), what) for t in text.replace(";", ",").split(",") if t.strip())
    if count is not None and len(values) != count:
        raise pytest.UsageError(f"--{what.replace('_', '-')}: expected {count} numbers, got {text!r}")
    return values


def settings_from(config: pytest.Config) -> Settings:
    holm = _option(config, "holm")
    khat = _option(config, "khat_max")
    ratio = _numbers(_option(config, "ratio_bounds"), "ratio_bounds", 2)
    se_ratio = _numbers(_option(config, "se_ratio_bounds"), "se_ratio_bounds", 2)
    quantiles = _numbers(_option(config, "keep_quantiles"), "keep_quantiles")
    s = Settings(
        sigma=_number(_option(config, "sigma"), "sigma"),
        holm=_number(holm, "holm") if holm else None,
        ratio_bounds=ratio,
        keep_quantiles=quantiles,
        min_ess_fraction=_number(_option(config, "min_ess_fraction"), "min_ess_fraction"),
        khat_max=None if khat in ("", "auto") else _number(khat, "khat_max"),
        se_ratio_bounds=se_ratio,
        reported_se=_option(config, "reported_se"),
    )
    problems = []
    if not s.sigma > 0:
        problems.append("--sigma must be > 0")
    if s.holm is not None and not 0 < s.holm < 1:
        problems.append("--holm ALPHA must be in (0, 1)")
    for name, (lo, hi) in (("--ratio-bounds", ratio), ("--se-ratio-bounds", se_ratio)):
        if not 0 < lo < hi:
            problems.append(f"{name}: need 0 < LO < HI")
    if not quantiles or not all(0 < q <= 1 for q in quantiles):
        problems.append("--keep-quantiles: each must be in (0, 1]")
    if s.reported_se not in ("total", "shard-mean"):
        problems.append("--reported-se: total or shard-mean")
    if problems:
        raise pytest.UsageError("; ".join(problems))
    return s


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One gate test: a check of a run (at one η, or per run / input)."""

    check: str  # a CHECKS name or "input"
    file: RunFile
    eta: float | None
    order: int  # position of the run in discovery order (groups items run by run)

    @property
    def id(self) -> str:
        return case_id(self.file.results, self.file.run, self.eta)


class Evaluation:
    """One run, loaded and judged: verdicts keyed by (check, η)."""

    def __init__(self, loaded: Run | InvalidRun, rv: RunVerdict, verdicts: list[Verdict],
                 scanned: tuple[float, ...]):
        self.loaded = loaded
        self.verdicts = {(v.check, v.eta): v for v in verdicts}
        self.images: dict[float | None, list[tuple[str, str]]] = {}
        self.run_reported = False  # the run verdict travels on the first report of the run
        missed = tuple(e for e in loaded.etas if e not in scanned) if isinstance(loaded, Run) else ()
        if rv.outcome == "ok" and missed:
            rv = RunVerdict(rv.results, rv.run, rv.path, "error",
                            f"{loaded.file.display}: true.entries η {', '.join(map(repr, missed))} "
                            "not found by the collection scan; these cases were not checked")
        self.run_verdict = rv


class Gate:
    """Per-process gate state (one per pytest config, workers included)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.settings = settings_from(config)
        start = Path(config.invocation_params.dir)
        self.reports = (start / _option(config, "reports")).resolve()
        self.is_worker = hasattr(config, "workerinput")
        self.plot_budget = int(_number(_option(config, "max_plots"), "max_plots"))
        self.roots = self._roots(config, start)
        try:
            self.files = discover(self.roots)
        except DiscoveryError as exc:
            raise pytest.UsageError(f"--results: {exc}")
        self._scanned: dict[str, tuple[float, ...]] = {}
        self._current: tuple[str, Evaluation] | None = None
        self._holm: dict[str, Evaluation] | None = None
        self._plot_run: tuple[str, Run | InvalidRun] | None = None  # --holm: one reloaded run
        # controller side
        self.records: list[dict] = []
        self.run_records: dict[str, dict] = {}  # run key → run verdict record
        self.figures: dict[str, dict[str, str]] = {}
        self.health: dict | None = None
        self.written: list[Path] = []

    def _roots(self, config, start: Path) -> list[Path]:
        given = config.getoption("results")
        if given:
            return [(start / r).resolve() for r in given]
        from_ini = config.getini("dhstats_results")
        if from_ini:
            return [Path(p).resolve() for p in from_ini]
        example = self.reports / "example"
        if not self.is_worker:
            write_example(example)
        return [example / "E_example"]

    # ---- collection
    def etas(self, f: RunFile) -> tuple[float, ...]:
        if f.key not in self._scanned:
            self._scanned[f.key] = scan_etas(f.path)
        return self._scanned[f.key]

    def cases(self, check: str) -> list[Case]:
        out = []
        for order, f in enumerate(self.files):
            if check == "input" or check in RUN_CHECKS:
                out.append(Case(check, f, None, order))
            else:
                out.extend(Case(check, f, eta, order) for eta in self.etas(f))
        return out

    # ---- judging
    def evaluation(self, f: RunFile) -> Evaluation:
        """The run's verdicts; loads and judges it on first use (one run cached at a time)."""
        if self.settings.holm is not None:
            if self._holm is None:
                self._holm = self._evaluate_all()
            return self._holm[f.key]
        if self._current is None or self._current[0] != f.key:
            loaded = load_run(f)
            self._current = (f.key, Evaluation(loaded, *evaluate(loaded, self.settings), self.etas(f)))
        return self._current[1]

    def _evaluate_all(self) -> dict[str, Evaluation]:
        """--holm needs every z of a check before judging any case: judge all runs first
        (one parse each), keep only the verdicts, then apply Holm–Bonferroni."""
        evs, every = {}, []
        for f in self.files:
            loaded = load_run(f)
            rv, verdicts = evaluate(loaded, self.settings)
            ev = evs[f.key] = Evaluation(loaded, rv, verdicts, self.etas(f))
            if isinstance(loaded, Run):
                ev.loaded = None  # keep verdicts only; reloaded for plots if a case fails
            every.extend(verdicts)
        for v in apply_holm(every, self.settings.holm):
            evs[f"{v.results}/{v.run}"].verdicts[(v.check, v.eta)] = v
        return evs

    def _run(self, f: RunFile, ev: Evaluation) -> Run | None:
        if isinstance(ev.loaded, Run):
            return ev.loaded
        if ev.loaded is None:  # --holm: arrays were dropped; keep one reloaded run
            if self._plot_run is None or self._plot_run[0] != f.key:
                self._plot_run = (f.key, load_run(f))
            run = self._plot_run[1]
            return run if isinstance(run, Run) else None
        return None

    def judge(self, case: Case) -> Verdict | RunVerdict | None:
        """The case's verdict (a RunVerdict for ``input``); None when the case has none: its
        run is invalid, or its η came from an ``"eta"`` key outside ``true.entries``."""
        ev = self.evaluation(case.file)
        if case.check == "input":
            return ev.run_verdict
        if ev.run_verdict.outcome == "error":
            return None
        return ev.verdicts.get((case.check, case.eta))

    # ---- figures (failing cases only)
    def images(self, case: Case) -> list[tuple[str, str]] | str:
        """PNG figures (title, base64) of a failing case, rendered once per (run, η) and once
        per run (ΔH vs η), while ``--max-plots`` lasts; else a note saying how to get them."""
        ev = self.evaluation(case.file)
        run = self._run(case.file, ev)
        if run is None:
            return []
        from . import plots

        def render(figs: dict) -> list[tuple[str, str]]:
            self.plot_budget -= len(figs)
            return [(title, _b64(plots.to_png(fig))) for title, fig in figs.items()]

        wanted = ([] if None in ev.images else [None]) + ([] if case.eta is None or case.eta in ev.images else [case.eta])
        cost = sum(1 if eta is None else 4 for eta in wanted)
        if self.plot_budget >= 0 and cost > self.plot_budget:
            root = case.file.path.parent.parent
            eta = "" if case.eta is None else f" --eta {case.eta!r}"
            return (f"plots omitted: the --max-plots budget of this process is spent; "
                    f"render them with: dhstats plot --results {root} --run {case.file.run}{eta}")
        for eta in wanted:
            if eta is None:
                ev.images[None] = render({f"ΔH vs η — {run.file.key}": plots.delta_h_vs_eta(run, self.settings)})
            else:
                figs = plots.case_figures(run, eta, self.settings)
                ev.images[eta] = render({f"{name} — {case.id}": fig for name, fig in figs.items()})
        return ev.images.get(case.eta, []) + ev.images[None] if case.eta is not None else ev.images[None]


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def write_example(directory: Path) -> None:
    """(Re)write the embedded example run set atomically (safe if several processes race)."""
    from . import simulate

    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".example-", dir=directory.parent))
    simulate.write_example(tmp)
    old = directory.with_name(directory.name + f".old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


_GATE_KEY = pytest.StashKey["Gate"]()


def gate(config: pytest.Config) -> Gate:
    return config.stash[_GATE_KEY]


def _gate_mode(config: pytest.Config) -> bool:
    """The gate is active when pytest is asked to run (part of) ``<rootdir>/checks``; the
    library's own tests (``pytest tests/``) load the plugin but leave it idle."""
    root = (config.rootpath / GATE_DIR).resolve()
    start = Path(config.invocation_params.dir)
    for arg in config.args:
        p = (start / arg.split("::")[0]).resolve()
        if p == root or root in p.parents:
            return True
    return False


# --------------------------------------------------------------------------- hooks


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dhstats_case: a ΔH gate case")
    if not _gate_mode(config):
        return
    g = Gate(config)
    config.stash[_GATE_KEY] = g
    if not g.is_worker and not config.option.collectonly:
        if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
            config.option.htmlpath = str(g.reports / "report.html")
            config.option.self_contained_html = True
    config.pluginmanager.register(GateHooks(g), "dhstats-gate")
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlHooks(g), "dhstats-gate-html")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "dhstats-gate-xdist")
    # hypothesis' plugin imports all of hypothesis in its terminal summary (~0.4 s); the
    # gate runs no hypothesis test, so it is not needed here.
    if config.pluginmanager.has_plugin("hypothesispytest"):
        config.pluginmanager.unregister(name="hypothesispytest")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames or _GATE_KEY not in metafunc.config.stash:
        return
    check = metafunc.function.__name__.removeprefix("test_")
    if check not in CHECKS and check != "input":
        raise pytest.UsageError(f"{metafunc.function.__name__}: not a dhstats check (one of {CHECKS})")
    cases = gate(metafunc.config).cases(check)
    metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def judge(case: Case):
    """Called by each gate test: fail/skip/pass the case from its verdict."""
    g = _ACTIVE[0]
    v = g.judge(case)
    if case.check == "input":
        if v.outcome == "error":
            pytest.fail(v.message, pytrace=False)
        return v
    if v is None:
        if g.evaluation(case.file).run_verdict.outcome == "error":
            pytest.skip(f"run input is invalid: see input[{case.file.key}]")
        pytest.skip(f"η={case.eta!r} was found by the collection scan but is not a true.entries η "
                    "(an 'eta' key elsewhere in the file)")
    if v.outcome == Outcome.FAILED:
        pytest.fail(f"{case.check}[{case.id}]: {v.message}", pytrace=False)
    if v.outcome == Outcome.SKIPPED:
        pytest.skip(v.message)
    return v


_ACTIVE: list[Gate] = []  # the gate of the running session (one per process)


def run_scheduling(config, log):
    """xdist scheduler: one work unit per run (all its cases on one worker, in order)."""
    from xdist.scheduler import LoadScopeScheduling

    class RunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if "[" in nodeid and f"{GATE_DIR}/" in nodeid.replace(os.sep, "/"):
                param = nodeid[nodeid.index("[") + 1: nodeid.rindex("]")]
                return param.split("/eta=")[0]
            return super()._split_scope(nodeid)

    return RunScheduling(config, log)


class GateHooks:
    """Hooks active only in gate mode."""

    def __init__(self, g: Gate):
        self.g = g
        _ACTIVE[:] = [g]

    def pytest_collection_finish(self, session):
        # Items live for the whole session: move them out of the garbage collector's sight
        # so its full collections (and pytest's 5 gc.collect() at exit) scan only new objects.
        gc.freeze()

    def pytest_unconfigure(self, config):
        gc.freeze()

    def pytest_collection_modifyitems(self, items):
        def key(item):
            case = _case(item)
            return (0, case.order) if case else (1, 0)

        items.sort(key=key)  # stable: within a run, checks keep their file order

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        rep = yield
        case = _case(item)
        if case is None or call.when != "call":
            return rep
        record = self.g.judge(case)
        ev = self.g.evaluation(case.file)
        if not ev.run_reported:  # whichever case of the run runs first (-k may deselect input)
            ev.run_reported = True
            rep.user_properties.append((PROPERTY, {"kind": "run", **ev.run_verdict.to_dict()}))
        if case.check == "input":
            return rep
        if record is not None:
            rep.user_properties.append((PROPERTY, {"kind": "case", **record.to_dict()}))
        if rep.failed and record is not None:
            figures = self.g.images(case)
            if isinstance(figures, str):
                rep.sections.append(("dhstats plots", figures))
            else:
                rep.dhstats_figures = figures  # travels to the xdist controller
        return rep

    def pytest_runtest_logreport(self, report):
        if self.g.is_worker or report.when != "call":
            return
        for name, value in report.user_properties:
            if name != PROPERTY:
                continue
            if value["kind"] == "run":
                self.g.run_records[f"{value['results']}/{value['run']}"] = value
            else:
                self.g.records.append(value)
                if report.failed:
                    figs = self.g.figures.setdefault(f"{value['results']}/{value['run']}", {})
                    for title, b64 in getattr(report, "dhstats_figures", ()):
                        figs.setdefault(title, b64)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        if self.g.is_worker or session.config.option.collectonly:
            return
        self.g.health = write_outputs(self.g)

    def pytest_terminal_summary(self, terminalreporter):
        if self.g.health is None:
            return
        from .report import summary_lines

        terminalreporter.section("dhstats gate")
        for line in summary_lines(self.g.health, self.g.written):
            terminalreporter.write_line(line)

class HtmlHooks:
    """pytest-html integration (registered only when pytest-html is active)."""

    def __init__(self, g: Gate):
        self.g = g

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        rep = yield
        figures = getattr(rep, "dhstats_figures", None)
        if figures:
            from pytest_html import extras

            rep.extras = list(getattr(rep, "extras", [])) + [extras.png(b64, name=t) for t, b64 in figures]
        return rep

    def pytest_html_report_title(self, report):
        report.title = "dhstats gate: " + ", ".join(r.name for r in self.g.roots)

    def pytest_html_results_summary(self, prefix, summary, postfix, session=None):
        from .report import summary_html

        health = self.g.health or _health(self.g)
        prefix.append(summary_html(health, _page_links(health)))


class XdistHooks:
    """pytest-xdist integration: keep each run's cases on one worker, in order."""

    def pytest_xdist_make_scheduler(self, config, log):
        return run_scheduling(config, log)


def _case(item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if isinstance(case, Case) else None


def _sort_key(g: Gate):
    order = {f.key: i for i, f in enumerate(g.files)}
    checks = {c: i for i, c in enumerate(CHECKS)}

    def key(rec):
        eta = rec.get("eta")
        return (order.get(f"{rec['results']}/{rec['run']}", 1 << 30), checks.get(rec.get("check"), 99),
                -1.0 if eta is None else eta)

    return key


def _health(g: Gate) -> dict:
    """health.json from the records that travelled on the test reports, in discovery order."""
    from .report import build_health

    key = _sort_key(g)
    runs = sorted(g.run_records.values(), key=key)
    bad_runs = {f"{r['results']}/{r['run']}" for r in runs if r["outcome"] == "error"}
    cases = sorted((r for r in g.records if f"{r['results']}/{r['run']}" not in bad_runs), key=key)
    strip = lambda r: {k: v for k, v in r.items() if k != "kind"}  # noqa: E731
    return build_health(g.settings, [str(r) for r in g.roots], [strip(r) for r in runs], [strip(c) for c in cases])


def _page_links(health: dict) -> dict[str, str]:
    from .report import needs_page, run_label, run_page_relpath

    links = {}
    for r in health["runs"]:
        cases = [c for c in health["cases"] if c["results"] == r["results"] and c["run"] == r["run"]]
        if needs_page(r, cases):
            links[run_label(r["results"], r["run"])] = run_page_relpath(r["results"], r["run"])
    return links


def write_outputs(g: Gate) -> dict:
    """health.json, badges and per-run pages, from the collected verdict records."""
    from .report import write_reports

    health = _health(g)
    written = write_reports(g.reports, health, lambda results, run: list(g.figures.get(f"{results}/{run}", {}).items()))
    html = getattr(g.config.option, "htmlpath", None)
    pages = [p for p in written if p.suffix == ".html"]
    g.written = ([Path(html)] if html else []) + [written[0]] + pages + [g.reports / "badges"]
    return health
