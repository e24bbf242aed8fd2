"""Where the tests (and bench scripts) find the shared material: ``../shared`` beside the
project root (spec, real producer files). Tests that need it skip with ``needs_real`` when it
is absent, so a fresh clone runs the rest."""
from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
REAL = SHARED / "data" / "real"  # E_256/ and E_512/, four run_*/results.json each


def real_file(run_set: str = "E_256", run: str = "run_01") -> Path:
    """One real producer file, ``../shared/data/real/<run_set>/<run>/results.json``."""
    return REAL / run_set / run / "results.json"


needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real not present")
