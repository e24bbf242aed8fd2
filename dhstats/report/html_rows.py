"""What each test's row in report.html (pytest-html's results table) carries.

pytest-html 4 renders the table in the browser, one ``<tbody>`` per test, from a JSON blob
in the page: at 1 000 runs (32 000 tests) the blob was 24 MB and Chromium took minutes to
build the table (docs/speed.md). The gate's own summary above the table, health.json and
the run pages carry every verdict, so the rows are trimmed:

* a failed row (and any error, xfail/xpass) keeps everything: message, figures, output;
* a passed row is compact: no log, no extras;
* a skipped row's log is its reason alone (pytest's text is ``('<file>', <line>, 'Skipped: …')``);
* a session of more than ``limit`` tests (ini ``dhstats_html_rows``, default
  :data:`LIST_LIMIT`) folds its passed and skipped rows: they are counted in pytest-html's
  outcome filters (through its report data) but not listed; failures are always listed. When
  the counts cannot be kept (another pytest-html), nothing is folded.

No pytest here: the plugin's pytest-html hooks call :class:`Rows`.
"""
from __future__ import annotations

from html import escape

LIST_LIMIT = 2000  # tests up to which report.html lists passed and skipped rows one by one
FOLDED = ("passed", "skipped")


def folds_as(report) -> str | None:
    """The outcome a row is counted under when folded (``"passed"``/``"skipped"``), or None for
    a row that is always listed (failures, errors, xfail/xpass, passed setup/teardown, which
    pytest-html does not list)."""
    if hasattr(report, "wasxfail"):
        return None
    if report.when == "call" and report.outcome in FOLDED:
        return report.outcome
    if report.when == "setup" and report.outcome == "skipped":
        return "skipped"
    return None


def skip_reason(report) -> str | None:
    """A skipped report's reason (pytest keeps ``(file, line, reason)`` as its longrepr)."""
    longrepr = getattr(report, "longrepr", None)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return None


class Rows:
    """The row policy of one session. ``tests``: how many tests were collected; ``counts``:
    pytest-html's report data (its ``outcomes`` setter adds one to an outcome's count), None
    when unavailable — then no row is folded."""

    def __init__(self, tests: int, counts, limit: int = LIST_LIMIT):
        self.fold = counts is not None and tests > limit
        self.limit = limit
        self._counts = counts
        self.folded = {o: 0 for o in FOLDED}
        self._pending: set[str] = set()  # folded tests whose teardown report is still to come

    def row(self, report, cells: list) -> None:
        """``pytest_html_results_table_row``: an empty ``cells`` drops the row; a folded row
        is counted here instead (pytest-html counts only the rows it adds)."""
        if not self.fold:
            return
        outcome = folds_as(report)
        if outcome is not None:
            self.folded[outcome] += 1
            self._counts.outcomes = outcome
            self._pending.add(report.nodeid)
            cells.clear()
        elif report.when == "teardown" and report.nodeid in self._pending:
            self._pending.discard(report.nodeid)
            if report.outcome == "passed":  # pytest-html would add an empty entry for its log
                cells.clear()

    @staticmethod
    def log(report, data: list) -> None:
        """``pytest_html_results_table_html``: a passed row has no log, a skipped row its reason."""
        if hasattr(report, "wasxfail") or report.when not in ("call", "setup"):
            return
        if report.outcome == "passed" and report.when == "call":
            data.clear()
        elif report.outcome == "skipped" and (reason := skip_reason(report)) is not None:
            data[:] = [escape(reason)]

    def note(self) -> str | None:
        """The line said above the table when rows were folded (None: every row is listed)."""
        if not self.fold or not any(self.folded.values()):
            return None
        what = " and ".join(f"{n:,} {o}".replace(",", " ") for o, n in self.folded.items() if n)
        return (f"<p>{what} tests are counted in the outcome filters but not listed: more than "
                f"{self.limit:,} tests (ini dhstats_html_rows). ".replace(",", " ")
                + "Every verdict is in health.json, every failing run has its page, and "
                "failures are listed in full.</p>")


__all__ = ["FOLDED", "LIST_LIMIT", "Rows", "folds_as", "skip_reason"]
