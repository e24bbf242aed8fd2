"""The pytest gate: ``pytest checks/ --results ../E_2048`` — hooks, options and items only.

Everything else is a pytest-free :class:`dhstats.session.Session` in ``config.stash``: its
producer (:class:`dhstats.gate.gate.Gate`) names and judges the cases (:func:`judge`: once per
test, kept on the item for the report hook); the records travel on the test reports to the
controller, where its consumer (:class:`dhstats.report.session.SessionOutputs`) writes them.
pytest-html and pytest-xdist are met in :mod:`dhstats.pytest_plugin.pytest_html_adapter` and
:mod:`dhstats.pytest_plugin.xdist_adapter`.
"""
from __future__ import annotations

import contextlib
import gc
from pathlib import Path

import pytest

from dhstats.pytest_plugin import pytest_html_adapter, xdist_adapter
from dhstats.verdicts import registry
from dhstats.gate.collection import Case, Skip
from dhstats.report.health import now_utc
from dhstats.report.history import usable_history
from dhstats.pytest_plugin.layout import EARLY_OPTIONS, ENTRY_POINT, GATE_DIR, declare_ini
from dhstats.gate.example import EXAMPLE_DIR, example_roots
from dhstats.gate.files import writable_reports
from dhstats.gate.lock import ReportsLock
from dhstats.pytest_plugin.pytest_internals import index_teardowns
from dhstats.report.plan import in_progress_files
from dhstats.load.results import DiscoveryError
from dhstats.session import Session
from dhstats.report.session import abandon, begin, deferred_interrupt
from dhstats.load.settings import OPTION, OPTIONS, SettingsError, parse, winning_text
from dhstats.verdicts.verdicts import Outcome, RunOutcome, Verdict

PROPERTY = "dhstats"
_GATE = pytest.StashKey[Session]()
_VERDICT = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("dhstats", "ΔH estimator gate (dhstats)")  # --results: dhstats.pytest_plugin.layout
    if not pluginmanager.has_plugin(ENTRY_POINT):  # else the entry point declared the ini keys
        declare_ini(parser)
    for o in OPTIONS:
        kw = {"choices": list(o.choices)} if o.choices else {"metavar": o.metavar}
        if o.name not in EARLY_OPTIONS:  # a path option is declared by dhstats.pytest_plugin.layout
            group.addoption(*o.flags, dest=f"dhstats_{o.name}", default=None, help=o.argparse_help, **kw)


def _verdict_session(config: pytest.Config) -> bool:
    """A session that judges and writes a verdict (not --collect-only, --help, --version,
    --fixtures, --markers): only such a session holds the reports directory."""
    o = config.option
    return not any(getattr(o, name, False) for name in ("collectonly", "help", "version", "showfixtures",
                                                         "show_fixtures_per_test", "markers"))


def _option(config: pytest.Config, name: str) -> str:
    """Command line → ini (pytest.ini / pyproject.toml; an alias's key after the name's) →
    default: :func:`dhstats.load.settings.winning_text`."""
    o = OPTION[name]
    return winning_text(o, config.getoption(f"dhstats_{name}"), {key: config.getini(key) for key in o.ini_keys})


def _gate_mode(config: pytest.Config) -> bool:
    """Active when pytest is asked to run (part of) ``<rootdir>/checks``; the library's own
    tests (``pytest tests/``) load the plugin but leave it idle."""
    from dhstats.pytest_plugin.layout import packaged_gate

    root = (config.rootpath / GATE_DIR).resolve()
    start = Path(config.invocation_params.dir)
    if packaged_gate(config.args, start, bool(getattr(config.option, "pyargs", False))):
        return True
    for arg in config.args:
        p = (start / arg.split("::")[0]).resolve()
        if p == root or root in p.parents:
            return True
    return False


def inifile(config: pytest.Config) -> Path | None:
    """The configuration file in force (None: none; ``dhstats gate``'s empty placeholder is none)."""
    from dhstats.pytest_plugin.layout import NO_CONFIGURATION

    return None if config.inipath in (None, NO_CONFIGURATION) else config.inipath


def _example(reports: Path) -> list[Path]:
    try:
        return example_roots(reports)
    except OSError as exc:
        raise SettingsError(f"the embedded example run set could not be written to {reports} "
                            f"({exc.strerror or exc}); give --results DIR") from None


def _make_gate(config: pytest.Config) -> Session:
    start = Path(config.invocation_params.dir)
    try:
        options = parse({o.name: _option(config, o.name) for o in OPTIONS}, start, inifile(config))
        roots = [start / r for r in config.getoption("results") or []] or config.getini("dhstats_results")
        worker = hasattr(config, "workerinput")
        lock = begun = None
        if not worker:
            writable_reports(options.reports)
            usable_history(options.history)
            if _verdict_session(config):  # one session per reports directory: before anything is written there
                command, started = ["pytest", *config.invocation_params.args], now_utc()
                prepared = in_progress_files(started, command, bool(options.history))  # rendered before the lock
                lock = ReportsLock(options.reports, command, options.lock_timeout)
        try:
            if lock is not None:  # at once: the previous verdict becomes "in progress"
                begun = begin(options, lock, command, started, prepared)
            if not roots:
                roots = [options.reports / EXAMPLE_DIR / "E_example"] if worker else _example(options.reports)
            exchange = xdist_adapter.worker_exchange(config)
            s = Session(options, [Path(r) for r in dict.fromkeys(map(str, roots))], exchange=exchange)
            if begun is not None:
                s.outputs.adopt(begun)
        except BaseException as exc:
            if begun is not None:  # the history says this session ended without a verdict
                abandon(options, begun, f"{type(exc).__name__}: {exc}")
            if lock is not None:
                lock.release()
            raise
        return s
    except (SettingsError, DiscoveryError) as exc:
        raise pytest.UsageError(f"dhstats: {exc}") from None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dhstats_case: a ΔH gate case")
    if not _gate_mode(config):
        return
    s = config.stash[_GATE] = _make_gate(config)
    controller = not hasattr(config, "workerinput")
    own_html = None
    if controller:  # pytest-html's report under a temporary name; -n N as judging processes
        own_html = pytest_html_adapter.claim_report(config, s.outputs)
        xdist_adapter.judge_ahead_instead(config, s)
    config.pluginmanager.register(GateHooks(s, controller, own_html), "dhstats-gate")
    pytest_html_adapter.register(config, s.outputs)
    xdist_adapter.register(config, s)
    if config.pluginmanager.has_plugin("hypothesispytest"):  # imports all of hypothesis at exit (~0.4 s)
        config.pluginmanager.unregister(name="hypothesispytest")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrises each ``test_<check>(case)`` of checks/test_gate.py with the check's cases
    (ids like ``E_2048/run_01/eta=1.6e-06``); a ``test_<name>`` that is no check is a usage error."""
    if "case" not in metafunc.fixturenames or _GATE not in metafunc.config.stash:
        return
    check = metafunc.function.__name__.removeprefix("test_")
    if check != registry.INPUT and check not in registry.BY_NAME:
        raise pytest.UsageError(f"{metafunc.function.__name__}: not a dhstats check (one of {registry.NAMES})")
    cases = metafunc.config.stash[_GATE].gate.collection.cases(check)
    metafunc.parametrize("case", cases, ids=[c.id for c in cases], indirect=True)


class GateCase:
    """What a gate test receives: its :class:`~dhstats.gate.collection.Case` (``case.case``) and
    :meth:`judge`, the whole body of the test."""

    def __init__(self, request: pytest.FixtureRequest, case: Case):
        self.request, self.case = request, case

    def judge(self) -> None:
        """Judge the case: the test passes, fails with the numbers, or skips with the reason."""
        judge(self.request, self.case)


@pytest.fixture
def case(request: pytest.FixtureRequest) -> GateCase:
    """The case of a gate test, parametrised by :func:`pytest_generate_tests`."""
    if not hasattr(request, "param"):
        raise pytest.UsageError(f"{request.node.name}: a dhstats gate test, collected while the gate is "
                                "not active (run `pytest checks/` or `dhstats gate`)")
    return GateCase(request, request.param)


def judge(request: pytest.FixtureRequest, case: Case) -> None:
    """A gate test's body: judge the case once (kept for the report hook), then pass, fail or skip."""
    verdict = request.config.stash[_GATE].gate.judge(case)
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

    def __init__(self, s: Session, controller: bool, own_html: str | None = None):
        self.g, self.out, self.controller = s.gate, s.outputs, controller
        self.session = s
        self.own_html = own_html  # the temporary name pytest-html writes to (None: the user's --html)
        self.deferred = contextlib.ExitStack()  # Ctrl-C deferred from the outputs to the last line printed

    def pytest_collection_modifyitems(self, items):
        # a check with no case here (se_scaling with one run set) is not a test: drop the
        # placeholder pytest makes for an empty parameter set instead of reporting a skip
        items[:] = [item for item in items if _case(item) or "case" not in getattr(item, "fixturenames", ())]
        items.sort(key=lambda item: (0, c.order) if (c := _case(item)) else (1, 0))  # stable

    def pytest_deselected(self, items):
        if self.controller:  # a deselected case is not a passed one: health.json counts and lists it
            for item in items:
                if (c := _case(item)) is not None:
                    self.out.deselect(c.check, c.id)

    def pytest_collection_finish(self, session):
        self.g.selected = {c.key for item in session.items if (c := _case(item)) and c.key}
        self.g.executor.forget(self.g.selected)  # runs deselected (-k) are not judged ahead
        gc.freeze()  # items live for the whole session: keep them out of the collector's scans

    def pytest_unconfigure(self, config):
        self.deferred.close()  # Ctrl-C raises again
        self.g.close()
        self.out.release()  # the next session may write the reports directory
        pytest_html_adapter.remove_temporary(self.own_html)  # a report pytest-html did not finish
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
                self.out.collect(records, getattr(report, "dhstats_figures", ()), report.failed)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session):
        if not self.controller or not _verdict_session(session.config):
            return (yield)
        out = self.out
        late = self.deferred.enter_context(deferred_interrupt(out))  # until pytest_unconfigure
        # an unfinished session (Ctrl-C, internal error) is never a pass: its outputs say so
        out.interrupted = out.interrupted or session.exitstatus in _UNFINISHED
        self.session.report(html=bool(getattr(session.config.option, "htmlpath", None)),
                            exit_status=int(session.exitstatus))
        if out.interrupted:
            session.exitstatus = pytest.ExitCode.INTERRUPTED  # also when Ctrl-C came during finish
        elif out.health and out.health["exit"]["status"] and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # an invalid run no test reported, an output
        report_failed, result = None, None
        try:
            result = yield  # pytest-html writes its report (trylast) in here
        except OSError as exc:  # pytest-html's write failed (a full disk): named, never the end of the outputs
            report_failed = f"{type(exc).__name__}: {exc}"
        if report_failed is None:  # a report pytest-html did not finish is never published
            report_failed = pytest_html_adapter.publish_report(session, out, self.own_html)
        status = out.finish(report_failed)  # the history line, with the final status; the lock released
        if status and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # an output not written
        if late and not out.interrupted:
            out.notices.append("dhstats: Ctrl-C while the outputs were written: every case had run, "
                                  "the outputs were completed first")
        return result

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter):
        index_teardowns(terminalreporter)
        result = yield  # pytest's failures and short summary first: the gate's table comes last
        out = self.out
        if out.health is not None:
            from dhstats.report.terminal import summary_lines

            terminalreporter.section("dhstats gate")
            for line in summary_lines(out.health, out.written) + out.notices + out.output_errors:
                terminalreporter.write_line(line)
        return result


_UNFINISHED = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
