"""A rendered figure as the reports carry it: caption, PNG bytes, or the note saying why not.

:func:`dhstats.plots.render` makes them; the gate's failing cases, the run pages and the
pytest-html report carry them. Between pytest-xdist processes a figure travels as
:meth:`Figure.wire` (execnet serialises only plain tuples) and comes back by :meth:`Figure.of`.
The PNG is kept as bytes; :attr:`Figure.base64` is its text for the places that embed it in
HTML (``data:`` URIs of the pages, pytest-html's ``extras.png``).
"""
from __future__ import annotations

import base64 as _b64
from dataclasses import dataclass

# The figures by what one shows (names of dhstats.plots; here so that the gate can plan figures
# without importing matplotlib): one case (run, η), one run (every η), one run set or several.
CASE_FIGURES = ("contributions", "errors", "clip_sweep", "truncation_sweep", "weights")
RUN_FIGURES = ("delta_h_vs_eta", "ratio_vs_eta", "sigma_comparison")
SET_FIGURES = ("pooled_interval", "pooled_ratio", "sigma_vs_e", "ratio_vs_e", "trend", "baseline_ratio")


@dataclass(frozen=True)
class Figure:
    caption: str
    png: bytes | None  # the PNG file's bytes; None when the figure was not drawn
    note: str | None = None  # why it was not drawn (None when it was)

    @property
    def base64(self) -> str | None:
        """The PNG as base64 text (for HTML), or None when there is no PNG bytes."""
        return _b64.b64encode(self.png).decode("ascii") if isinstance(self.png, (bytes, bytearray)) else None

    def wire(self) -> tuple[str, bytes | None, str | None]:
        return (self.caption, self.png, self.note)

    @classmethod
    def of(cls, value) -> Figure:
        """A Figure from itself or from its :meth:`wire` form."""
        return value if isinstance(value, cls) else cls(*value)
