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

from paths import PROJECT_ROOT

REPO = PROJECT_ROOT
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


# Every cell of the failure tables and every finding line, as laid out: its text, and whether
# the browser cuts it (an ellipsis by text-overflow, or content wider/taller than its box).
CELLS = """
const out = [];
for (const el of document.querySelectorAll('.dhs-failures td, .dhs-finding p.finding')) {
  const cs = getComputedStyle(el), range = document.createRange();
  range.selectNodeContents(el);
  const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
  out.push({text: el.innerText, ellipsis: cs.textOverflow === 'ellipsis',
            clipped: (cs.overflow === 'hidden' || cs.overflowX === 'hidden') && el.scrollWidth > el.clientWidth + 1,
            eta: el.classList.contains('eta'), lines: lines});
}
return out;
"""


def test_failure_cells_carry_cause_and_remedy_whole(reports):
    cells = probe(reports / "report.html", CELLS, size=(1000, 2000))
    assert cells, "no failure table in report.html"
    for c in cells:
        assert not c["text"].rstrip().endswith(("…", "...")), f"a failure cell ends in an ellipsis: {c['text']!r}"
        assert not c["ellipsis"] and not c["clipped"], f"a failure cell is cut by the browser: {c}"
    findings = [c["text"] for c in cells if "use --reported-se shard-mean" in c["text"]]
    assert len(findings) == 1, findings  # the shard-mean convention, said once for all runs
    assert findings[0].startswith("3 runs: the producer reports shard-mean SEs")
    etas = [c for c in cells if c["eta"] and c["text"].strip() != "per run"]
    assert etas and all(c["lines"] == 1 for c in etas), f"η wraps in its cell: {etas}"
