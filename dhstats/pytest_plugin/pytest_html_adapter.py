"""pytest-html integration of the gate (registered by :mod:`dhstats.pytest_plugin.plugin` only when
pytest-html is active): the gate's own ``report.html`` name and its publication, the results
table's rows (:mod:`dhstats.report.html_rows`), failed cases' figures as extras, the escaped
environment table, the title and the gate's summary section."""
from __future__ import annotations

from pathlib import Path

import pytest

from dhstats.report.session import SessionOutputs
from dhstats.report.html_rows import LIST_LIMIT, Rows
from dhstats.gate.files import copy_into, publish, temp_path
from dhstats.pytest_plugin.pytest_internals import html_outcome_counts, html_report_moved
from dhstats.report.plan import record_published
from dhstats.figures.rendered import Figure


def claim_report(config: pytest.Config, out: SessionOutputs) -> str | None:
    """Without ``--html``, pytest-html writes in place, to a temporary name that the gate
    publishes (:func:`publish_report`): that name, or None (``--html`` given, or no pytest-html)."""
    if config.option.collectonly or getattr(config.option, "htmlpath", "missing") is not None:
        return None
    config.option.htmlpath = own_html = str(temp_path(out.options.reports / "report.html"))
    config.option.self_contained_html = True
    return own_html


def register(config: pytest.Config, out: SessionOutputs) -> None:
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlHooks(out, _html_rows(config)), "dhstats-gate-html")


def publish_report(session, out: SessionOutputs, own_html: str | None) -> str | None:
    """``reports/report.html``: the temporary file pytest-html wrote, renamed; or, when the
    user gave ``--html PATH``, a copy of it (their file stays where they asked, on any
    filesystem); listed in the manifest with its bytes' fingerprint. Returns why it could not
    be published (an occupied ``reports/report.html``, a full disk), None when it was (or
    when there is no report to publish); the caller names it and marks the verdict."""
    html = getattr(session.config.option, "htmlpath", None)
    if not html or not Path(html).exists():
        return None if not html or own_html is None else "pytest-html wrote no report"
    html, final = Path(html), out.options.reports / "report.html"
    try:
        if own_html is not None and html == Path(own_html):
            publish(html, final)
            html_report_moved(session.config, html, final)  # pytest-html's closing line
        else:
            copy_into(html, final)
    except OSError as exc:
        where = f"; the report is at {html}" if html.exists() and own_html is None else ""
        return f"{exc.strerror or exc}{where}"
    out.written.insert(0, final)
    try:
        record_published(out.options.reports, "report.html")
    except Exception as exc:  # noqa: BLE001 - the manifest only loses an entry: nothing deleted later
        out.notices.append(f"dhstats: report.html not listed in the manifest: {exc}")
    return None


def remove_temporary(own_html: str | None) -> None:
    """The temporary name pytest-html was given, if it is still there (its write failed, or
    the session ended before publication): temporary files never outlive their session."""
    if own_html is not None:
        try:
            Path(own_html).unlink()
        except OSError:
            pass


class HtmlHooks:
    """pytest-html integration (registered only when pytest-html is active)."""

    def __init__(self, out: SessionOutputs, limit: int = LIST_LIMIT):
        self.out, self.limit = out, limit
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
        """The row policy (:mod:`dhstats.report.html_rows`), fixed at the first row: by then the
        tests are collected (here or, under xdist, by the first worker)."""
        if self.rows is None:  # pytest-html's report data: its outcome counts (no public hook)
            counts = html_outcome_counts(self.session.config)
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
                extras.png(fig.base64, name=fig.caption) if fig.png
                else extras.html(str(Markup("<p>{}: {}</p>").format(fig.caption, fig.note)))
                for fig in figures]
        return rep

    def pytest_html_report_title(self, report):
        report.title = "dhstats gate: " + ", ".join(rs.name for rs in self.out.collection.run_sets)

    def pytest_html_results_summary(self, prefix, summary, postfix, session=None):
        if self.out.health is not None:
            try:
                prefix.append(self.out.summary_section())
            except Exception as exc:  # noqa: BLE001 - reporting never ends a session
                self.out.output_errors.append(f"dhstats: the report.html summary not written: {type(exc).__name__}: {exc}")
        if self.rows is not None and (note := self.rows.note()):
            summary.append(note)


def _html_rows(config: pytest.Config) -> int:
    text = str(config.getini("dhstats_html_rows")).strip()
    try:
        return int(text)
    except ValueError:
        raise pytest.UsageError(f"dhstats: ini dhstats_html_rows: a number of tests, got {text!r}") from None


def _escaped(value):
    """Every string in a nested dict/list, HTML-escaped (markupsafe)."""
    from markupsafe import escape

    if isinstance(value, dict):
        return {str(escape(k)): _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return str(escape(value)) if isinstance(value, str) else value
