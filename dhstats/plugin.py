"""The pytest gate: ``pytest checks/ --results ../E_2048`` — hooks, options and items only.

Everything else is :class:`dhstats.gate.Gate` (pytest-free), found in ``config.stash``:
cases come from :meth:`Gate.cases`, each test judges its case once (:func:`judge`, the
verdict is kept on the item for the report hook), the records travel on the test reports to
the controller (xdist or not) and :meth:`Gate.report` writes health.json, badges, pages.
"""
from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from . import registry
from .gate import Case, Gate, Skip
from .html_rows import LIST_LIMIT, Rows
from .layout import GATE_DIR
from .session_outputs import deferred_interrupt, example_roots
from .outputs import copy_into, publish, temp_path
from .rendered import Figure
from .results import DiscoveryError
from .settings import OPTIONS, SettingsError, parse, usable_history, writable_reports
from .verdicts import Outcome, RunOutcome, Verdict

PROPERTY = "dhstats"
_GATE = pytest.StashKey[Gate]()
_VERDICT = pytest.StashKey[object]()
_EXCHANGE = "dhstats_exchange"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dhstats", "ΔH estimator gate (dhstats)")  # --results: dhstats.layout
    parser.addini("dhstats_results", "run-set directories (like --results)", type="paths", default=[])
    parser.addini("dhstats_html_rows", "report.html lists passed and skipped tests one by one up to this many "
                  f"tests (default {LIST_LIMIT}); beyond, it counts them", default=str(LIST_LIMIT))
    for o in OPTIONS:
        kw = {"choices": list(o.choices)} if o.choices else {}
        group.addoption(o.flag, dest=f"dhstats_{o.name}", default=None, help=o.help, **kw)
        parser.addini(f"dhstats_{o.name}", o.help, default=o.default)


def _option(config: pytest.Config, name: str) -> str:
    """Command line → ini (pytest.ini / pyproject.toml) → default, resolved in one place."""
    value = config.getoption(f"dhstats_{name}")
    return str(config.getini(f"dhstats_{name}") if value is None else value).strip()


def _gate_mode(config: pytest.Config) -> bool:
    """Active when pytest is asked to run (part of) ``<rootdir>/checks``; the library's own
    tests (``pytest tests/``) load the plugin but leave it idle."""
    from .layout import packaged_gate

    root = (config.rootpath / GATE_DIR).resolve()
    start = Path(config.invocation_params.dir)
    if packaged_gate(config.args, start, bool(getattr(config.option, "pyargs", False))):
        return True
    for arg in config.args:
        p = (start / arg.split("::")[0]).resolve()
        if p == root or root in p.parents:
            return True
    return False


def _make_gate(config: pytest.Config) -> Gate:
    start = Path(config.invocation_params.dir)
    try:
        options = parse({o.name: _option(config, o.name) for o in OPTIONS}, start)
        roots = [start / r for r in config.getoption("results") or []] or config.getini("dhstats_results")
        worker = hasattr(config, "workerinput")
        if not worker:
            writable_reports(options.reports)
            usable_history(options.history)
        if not roots:
            roots = [options.reports / "example" / "E_example"] if worker else example_roots(options.reports)
        exchange = config.workerinput.get(_EXCHANGE) if worker else None
        if exchange and not os.path.isdir(exchange):  # a worker on another host (--tx ssh=…):
            exchange = None  # no shared directory, it judges the runs its pooled cases need
        return Gate(options, [Path(r) for r in dict.fromkeys(map(str, roots))], exchange=exchange)
    except (SettingsError, DiscoveryError) as exc:
        raise pytest.UsageError(f"dhstats: {exc}") from None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dhstats_case: a ΔH gate case")
    if not _gate_mode(config):
        return
    g = config.stash[_GATE] = _make_gate(config)
    controller = not hasattr(config, "workerinput")
    own_html = None
    if controller and not config.option.collectonly and getattr(config.option, "htmlpath", "missing") is None:
        # pytest-html writes in place; it writes a temporary name that the gate publishes
        config.option.htmlpath = own_html = str(temp_path(g.options.reports / "report.html"))
        config.option.self_contained_html = True
    tx = getattr(config.option, "tx", None) if controller else None
    if tx and getattr(config.option, "dist", "no") == "load" and getattr(config.option, "numprocesses", None):
        # -n N (xdist's default --dist load): N − 1 processes judge the runs ahead while this
        # one runs the tests (N in all): xdist's per-test overhead exceeds a gate test's own
        # work (docs/speed.md); an explicit --dist loadscope, or --tx (hosts), keeps xdist's
        # distribution
        config.option.dist, config.option.tx, config.option.numprocesses = "no", [], 0
        if len(g.files) < 2 * len(tx):
            g.notices.append(f"-n {len(tx)} ignored: {len(g.files)} runs (fewer than 2 per process) are judged here")
        elif not config.option.collectonly:
            helpers = max(1, len(tx) - 1)  # this process is one of the N: it runs the tests
            try:
                g.judge_ahead(helpers)  # started now: the judging overlaps collection too
            except (OSError, RuntimeError, ValueError) as exc:  # no processes here: judge in this one
                g.close()
                g.notices.append(f"-n {len(tx)}: no judging process could start ({exc}); runs judged here")
            else:
                judges = "1 process judges" if helpers == 1 else f"{helpers} processes judge"
                g.notices.append(f"-n {len(tx)}: {judges} the runs ahead, this one runs the tests")
    config.pluginmanager.register(GateHooks(g, controller, own_html), "dhstats-gate")
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlHooks(g, _html_rows(config)), "dhstats-gate-html")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(g), "dhstats-gate-xdist")
    if config.pluginmanager.has_plugin("hypothesispytest"):  # imports all of hypothesis at exit (~0.4 s)
        config.pluginmanager.unregister(name="hypothesispytest")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames or _GATE not in metafunc.config.stash:
        return
    check = metafunc.function.__name__.removeprefix("test_")
    if check != registry.INPUT and check not in registry.BY_NAME:
        raise pytest.UsageError(f"{metafunc.function.__name__}: not a dhstats check (one of {registry.NAMES})")
    cases = metafunc.config.stash[_GATE].cases(check)
    metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def gate_tests() -> dict:
    """The gate's test functions, one per registry check (plus ``test_input``), for checks/."""
    def make(name: str, doc: str):
        def test(request: pytest.FixtureRequest, case: Case) -> None:
            judge(request, case)
        test.__name__ = test.__qualname__ = f"test_{name}"
        test.__doc__ = doc
        return test

    tests = {"test_input": make(registry.INPUT, "results.json exists, parses, and every field the gate uses is valid.")}
    tests.update({f"test_{c.name}": make(c.name, c.title) for c in registry.CHECKS})
    return tests


def judge(request: pytest.FixtureRequest, case: Case) -> None:
    """A gate test's body: judge the case once (kept for the report hook), then pass, fail or skip."""
    verdict = request.config.stash[_GATE].judge(case)
    request.node.stash[_VERDICT] = verdict
    if isinstance(verdict, Skip):
        pytest.skip(verdict.reason)
    if case.check == registry.INPUT:
        if verdict.outcome == RunOutcome.ERROR:
            pytest.fail(verdict.message, pytrace=False)
        return
    if verdict.outcome == Outcome.FAILED:
        pytest.fail(f"{case.check}[{case.id}]: {verdict.message}", pytrace=False)
    if verdict.outcome == Outcome.SKIPPED:
        pytest.skip(verdict.message)


def _case(item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if isinstance(case, Case) else None


class GateHooks:
    """Hooks active only in gate mode."""

    def __init__(self, g: Gate, controller: bool, own_html: str | None = None):
        self.g, self.controller = g, controller
        self.own_html = own_html  # the temporary name pytest-html writes to (None: the user's --html)
        self.deferred = contextlib.ExitStack()  # Ctrl-C deferred from the outputs to the last line printed

    def pytest_collection_modifyitems(self, items):
        # a check with no case here (se_scaling with one run set) is not a test: drop the
        # placeholder pytest makes for an empty parameter set instead of reporting a skip
        items[:] = [item for item in items if _case(item) or "case" not in getattr(item, "fixturenames", ())]
        items.sort(key=lambda item: (0, c.order) if (c := _case(item)) else (1, 0))  # stable

    def pytest_collection_finish(self, session):
        self.g.selected = {c.key for item in session.items if (c := _case(item)) and c.key}
        self.g.forget_ahead(self.g.selected)  # runs deselected (-k) are not judged ahead
        gc.freeze()  # items live for the whole session: keep them out of the collector's scans

    def pytest_unconfigure(self, config):
        self.deferred.close()  # Ctrl-C raises again
        self.g.close()
        gc.freeze()  # and the reports: pytest's 5 gc.collect() at exit then scan nothing old (−0.3 s)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        rep = yield
        case = _case(item)
        if case is None or call.when != "call" or _VERDICT not in item.stash:
            return rep
        verdict = item.stash[_VERDICT]
        rep.user_properties.append((PROPERTY, self.g.payload(case, verdict)))
        if rep.failed and isinstance(verdict, Verdict):
            figures = self.g.images(case)
            rep.dhstats_figures = [f.wire() for f in figures]  # travels to the xdist controller
            notes = [f"{fig.caption}: {fig.note}" for fig in figures if fig.png is None]
            if notes:
                rep.sections.append(("dhstats plots", "\n".join(notes)))
        return rep

    def pytest_runtest_logreport(self, report):
        if not self.controller or report.when != "call":
            return
        for name, records in report.user_properties:
            if name == PROPERTY:
                self.g.collect(records, getattr(report, "dhstats_figures", ()), report.failed)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session):
        if not self.controller or session.config.option.collectonly:
            return (yield)
        late = self.deferred.enter_context(deferred_interrupt(self.g))  # until pytest_unconfigure
        # an unfinished session (Ctrl-C, internal error) is never a pass: its outputs say so
        self.g.interrupted = self.g.interrupted or session.exitstatus in _UNFINISHED
        self.g.report(html=bool(getattr(session.config.option, "htmlpath", None)))
        if self.g.interrupted:
            session.exitstatus = pytest.ExitCode.INTERRUPTED  # also when Ctrl-C came during finish
        elif self.g.health and self.g.health["exit"]["status"] and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # an invalid run no test reported
        result = yield  # pytest-html writes its report (trylast) in here
        html = getattr(session.config.option, "htmlpath", None)
        if html and Path(html).exists():
            self._publish_html(session, Path(html))
        if late and not self.g.interrupted:
            self.g.notices.append("dhstats: Ctrl-C while the outputs were written: every case had run, "
                                  "the outputs were completed first")
        return result

    def _publish_html(self, session, html: Path) -> None:
        """``reports/report.html``: the temporary file pytest-html wrote, renamed; or, when the
        user gave ``--html PATH``, a copy of it (their file stays where they asked, on any
        filesystem). An occupied ``reports/report.html`` (a directory) is named in the
        outputs' problems; the exit status stays the gate's."""
        final = self.g.options.reports / "report.html"
        try:
            if self.own_html is not None and html == Path(self.own_html):
                publish(html, final)
                for plugin in session.config.pluginmanager.get_plugins():  # pytest-html's closing line
                    if Path(getattr(plugin, "_report_path", "")) == html:
                        plugin._report_path = final
            else:
                copy_into(html, final)
        except OSError as exc:
            where = f"; the report is at {html}" if html.exists() else ""
            self.g.output_errors.append(f"dhstats: {final} not written: {exc.strerror or exc}{where}")
        else:
            self.g.written.insert(0, final)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter):
        index_teardowns(terminalreporter)
        result = yield  # pytest's failures and short summary first: the gate's table comes last
        if self.g.health is not None:
            from .terminal import summary_lines

            terminalreporter.section("dhstats gate")
            for line in summary_lines(self.g.health, self.g.written) + self.g.notices + self.g.output_errors:
                terminalreporter.write_line(line)
        return result


class HtmlHooks:
    """pytest-html integration (registered only when pytest-html is active)."""

    def __init__(self, g: Gate, limit: int = LIST_LIMIT):
        self.g, self.limit = g, limit
        self.rows: Rows | None = None
        self.session = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        """pytest-html 4.2 inserts the environment table (pytest-metadata: CI variables such
        as a branch name, which may hold markup) with innerHTML: escape it before it is read."""
        self.session = session
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pragma: no cover - pytest-html requires pytest-metadata
            return
        if metadata_key in session.config.stash:
            session.config.stash[metadata_key] = _escaped(session.config.stash[metadata_key])

    def _rows(self) -> Rows:
        """The row policy (:mod:`dhstats.html_rows`), fixed at the first row: by then the
        tests are collected (here or, under xdist, by the first worker)."""
        if self.rows is None:  # pytest-html's report data: its outcome counts (no public hook)
            counts = next((d for p in self.session.config.pluginmanager.get_plugins()
                           if hasattr(d := getattr(p, "_report", None), "outcomes") and hasattr(d, "add_test")), None)
            self.rows = Rows(self.session.testscollected, counts, self.limit)
        return self.rows

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        if report.passed and report.when == "call":  # before pytest-html reads them (trylast)
            report.extras = []

    def pytest_html_results_table_row(self, report, cells):
        self._rows().row(report, cells)

    def pytest_html_results_table_html(self, report, data):
        Rows.log(report, data)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        rep = yield
        figures = [Figure.of(f) for f in getattr(rep, "dhstats_figures", None) or ()]
        if figures:
            from markupsafe import Markup
            from pytest_html import extras

            rep.extras = list(getattr(rep, "extras", [])) + [
                extras.png(fig.png, name=fig.caption) if fig.png
                else extras.html(str(Markup("<p>{}: {}</p>").format(fig.caption, fig.note)))
                for fig in figures]
        return rep

    def pytest_html_report_title(self, report):
        report.title = "dhstats gate: " + ", ".join(rs.name for rs in self.g.run_sets)

    def pytest_html_results_summary(self, prefix, summary, postfix, session=None):
        if self.g.health is not None:
            try:
                from .session_outputs import summary_section

                prefix.append(summary_section(self.g))
            except Exception as exc:  # noqa: BLE001 - reporting never ends a session
                self.g.output_errors.append(f"dhstats: the report.html summary not written: {type(exc).__name__}: {exc}")
        if self.rows is not None and (note := self.rows.note()):
            summary.append(note)


def index_teardowns(terminalreporter) -> None:
    """pytest's failure summary looks up each failure's teardown reports by scanning every
    report of the session (``TerminalReporter._get_teardown_reports``): O(failures × tests),
    minutes for 5 000 invalid runs. Same look-up, same output, from an index built once (the
    reports are complete when the summary starts); left alone if pytest has no such method."""
    if not callable(getattr(terminalreporter, "_get_teardown_reports", None)):
        return
    index: dict[str, list] | None = None

    def teardown_reports(nodeid: str) -> list:
        nonlocal index
        if index is None:
            index = {}
            for rep in terminalreporter.getreports(""):
                if getattr(rep, "when", None) == "teardown":
                    index.setdefault(rep.nodeid, []).append(rep)
        return list(index.get(nodeid, ()))

    terminalreporter._get_teardown_reports = teardown_reports


def _html_rows(config: pytest.Config) -> int:
    text = str(config.getini("dhstats_html_rows")).strip()
    try:
        return int(text)
    except ValueError:
        raise pytest.UsageError(f"dhstats: ini dhstats_html_rows: a number of tests, got {text!r}") from None


_UNFINISHED = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)


def _escaped(value):
    """Every string in a nested dict/list, HTML-escaped (markupsafe)."""
    from markupsafe import escape

    if isinstance(value, dict):
        return {str(escape(k)): _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return str(escape(value)) if isinstance(value, str) else value


class XdistHooks:
    """pytest-xdist: each run's cases on one worker, in order; run summaries shared through
    an exchange directory that the controller creates and removes."""

    def __init__(self, g: Gate):
        self.g = g
        self.exchange: str | None = None

    def pytest_xdist_make_scheduler(self, config, log):
        from xdist.scheduler import LoadScopeScheduling

        class RunScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                if "[" in nodeid and f"{GATE_DIR}/" in nodeid.replace(os.sep, "/"):
                    return nodeid[nodeid.index("[") + 1: nodeid.rindex("]")].split("/eta=")[0]
                return super()._split_scope(nodeid)

        return RunScheduling(config, log)

    def pytest_configure_node(self, node):
        if self.exchange is None:
            self.exchange = tempfile.mkdtemp(prefix="dhstats-exchange-")
        node.workerinput[_EXCHANGE] = self.exchange

    def pytest_unconfigure(self, config):
        if self.exchange:
            shutil.rmtree(self.exchange, ignore_errors=True)
