"""What a person sees in report.html and the run pages, measured in headless Chromium's
layout (tests/browser.py :func:`probe`): figures whole inside pytest-html's viewer, failure
cells that carry cause and remedy whole.

The gate runs once (subprocess) on two simulated run sets: E_64 with a biased gdotv and the
producer's shard-mean SEs (agreement, pooled and se_consistency failures), E_128 healthy.
Skipped without Chromium.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from browser import chromium, probe

from dhstats import simulate

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (apt-get install chromium)")]

# For every image pytest-html's viewer shows: the part of the picture painted inside the
# <img> box (object-fit) and where that box sits in the viewer's viewport (overflow hidden).
MEDIA = """
return [...document.querySelectorAll('.media-container__viewport img')].map(img => {
  const r = img.getBoundingClientRect(), v = img.closest('.media-container__viewport').getBoundingClientRect();
  return {fit: getComputedStyle(img).objectFit, w: r.width, h: r.height, nw: img.naturalWidth, nh: img.naturalHeight,
          top: r.top - v.top, bottom: v.bottom - r.bottom, left: r.left - v.left, right: v.right - r.right};
}).filter(m => m.w > 0 && m.h > 0);
"""


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONBREAKPOINT"))}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("seen")
    simulate.write_run_set(tmp, name="E_64", runs=3, n=64, seed=5, defects=["biased_gdotv", "shard_mean_se"])
    simulate.write_run_set(tmp, name="E_128", runs=2, n=128, seed=6)
    out = tmp / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest", "checks/", "--results", str(tmp / "E_64"),
                           "--results", str(tmp / "E_128"), "--reports", str(out), "-p", "no:cacheprovider", "-q"],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def painted(m: dict) -> tuple[float, float]:
    """Width and height at which the picture is painted in its <img> box (CSS object-fit)."""
    sx, sy = m["w"] / m["nw"], m["h"] / m["nh"]
    if m["fit"] == "cover":
        s = max(sx, sy)
    elif m["fit"] in ("contain", "scale-down"):
        s = min(sx, sy) if m["fit"] == "contain" else min(sx, sy, 1.0)
    elif m["fit"] == "none":
        s = 1.0
    else:  # fill: the whole picture, stretched
        return m["w"], m["h"]
    return m["nw"] * s, m["nh"] * s


def test_figures_in_the_viewer_are_whole(reports):
    """No figure loses its edges (title, axis multiplier) in pytest-html's viewer: the picture is
    painted inside its <img> box, undistorted, and the box inside the viewport."""
    media = probe(reports / "report.html", MEDIA)
    assert len(media) >= 3, media
    for m in media:
        w, h = painted(m)
        assert w <= m["w"] + 0.5 and h <= m["h"] + 0.5, f"picture cut by object-fit {m['fit']}: {m}"
        assert abs(w / h - m["nw"] / m["nh"]) < 0.02 * m["nw"] / m["nh"], f"picture distorted: {m}"
        assert min(m["top"], m["bottom"], m["left"], m["right"]) >= -0.5, f"<img> outside the viewport: {m}"
        assert w >= 0.8 * min(m["nw"], 600), f"figure shrunk to {w:.0f} px: {m}"
