"""Single-point changes to the statistics, and which tests notice them.

    python bench/single_changes.py [--only NAME ...] [--keep DIR]

Each change (:data:`CHANGES`) is one textual edit of one line of ``dhstats`` — a rule written
``<`` for ``≤``, a median replaced by a mean, a factor dropped, a sign flipped. For each, a
copy of the project (``dhstats/``, ``tests/``, ``checks/``, the ini files; ``../shared`` linked
beside it) gets the edit and pytest runs, ``-m "not slow"``, on

* the test files that already covered that code (``files``), and
* ``tests/test_single_changes.py``, whose tests pin these rules by hand-worked numbers.

A change is *caught* when some test fails. The table gives, per change, the first failing test
of the covering files (they stop at the first: ``-x``) and every failing test of
test_single_changes.py; the closing line the caught/total of each column. Unchanged, both must
pass (checked first). Costs about 10–60 s per change on two cores.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PINNED = "tests/test_single_changes.py"


@dataclass(frozen=True)
class Change:
    name: str
    path: str  # relative to the project root
    old: str  # must occur exactly once in the file
    new: str
    files: tuple[str, ...]  # the test files that already covered it


EQUIV = ("tests/test_equivalence.py", "tests/test_verdicts.py")
TRUNC = ("tests/test_truncation.py", "tests/test_verdicts.py")
SCALING = ("tests/test_verdicts.py", "tests/test_gate.py")
AGREE = ("tests/test_verdicts.py", "tests/test_equivalence.py")
SIGMA = ("tests/test_equivalence.py", "tests/test_sigmas.py")
AMBER = ("tests/test_confidence.py", "tests/test_health.py", "tests/test_badges.py")

CHANGES: tuple[Change, ...] = (
    Change("tost: t_hi < z for t_hi < −z", "dhstats/stats/equivalence.py",
           "elif t_lo > z and t_hi < -z:", "elif t_lo > z and t_hi < z:", EQUIV),
    Change("tost sign: s = +1", "dhstats/stats/equivalence.py",
           "s = math.copysign(1.0, sum(truths)) if sum(truths) != 0 else 0.0", "s = 1.0", EQUIV),
    Change("tost sign: s from ΣP", "dhstats/stats/equivalence.py",
           "s = math.copysign(1.0, sum(truths)) if sum(truths) != 0 else 0.0",
           "s = math.copysign(1.0, sum(predictions)) if sum(predictions) != 0 else 0.0", EQUIV),
    Change("tost: out of tolerance needs both sides", "dhstats/stats/equivalence.py",
           "elif t_lo < -z or t_hi > z:", "elif t_lo < -z and t_hi > z:", EQUIV),
    Change("truncation: σ_L without ΣT/Σ_S T", "dhstats/stats/truncation.py",
           "sigma_L = float(eta * scale * se_sum(gdotv[s]))", "sigma_L = float(eta * se_sum(gdotv[s]))", TRUNC),
    Change("se_scaling: m_G a mean", "dhstats/verdicts/runsets.py",
           '"m_g": statistics.median(', '"m_g": statistics.mean(', SCALING),
    Change("se_scaling: m_true a mean", "dhstats/verdicts/runsets.py",
           "{eta: statistics.median(v)", "{eta: statistics.mean(v)", SCALING),
    Change("se_scaling: reference over η a mean", "dhstats/verdicts/runsets.py",
           "ref_all = statistics.median(", "ref_all = statistics.mean(", SCALING),
    Change("agreement: |z| = k fails", "dhstats/verdicts/agreement.py",
           "failed = not abs(z) <= k", "failed = not abs(z) < k", AGREE),
    Change("pooled: |Z| = k fails", "dhstats/verdicts/pooling.py",
           "failed = not abs(Z) <= k", "failed = not abs(Z) < k", AGREE),
    Change("snis_reliability: k̂ = k̂_max fails", "dhstats/verdicts/run_checks.py",
           "not fit.khat <= kmax", "not fit.khat < kmax", ("tests/test_verdicts.py", "tests/test_psis.py")),
    Change("runs needed: rounded, not ⌈⌉", "dhstats/stats/equivalence.py",
           "float(math.ceil(runs * factor))", "float(round(runs * factor))", EQUIV),
    Change("runs needed: z_0.80 for z_0.90", "dhstats/stats/equivalence.py",
           "+ Z_SIDE_POWER) * ratio_se / delta", "+ Z_POWER) * ratio_se / delta", EQUIV),
    Change("runs needed: without R", "dhstats/stats/equivalence.py",
           "float(math.ceil(runs * factor))", "float(math.ceil(factor))", EQUIV),
    Change("σ_c: +2c·cov", "dhstats/stats/sigmas.py",
           "var = sigma_prediction**2 - 2.0 * c * cov", "var = sigma_prediction**2 + 2.0 * c * cov", SIGMA),
    Change("σ_c: c·σ_true² for (c·σ_true)²", "dhstats/stats/sigmas.py",
           "+ (c * sigma_true) ** 2", "+ c * sigma_true ** 2", SIGMA),
    Change("σ_c paired: p + cψ", "dhstats/stats/sigmas.py",
           "np.asarray(p, dtype=np.float64) - c * np.asarray(psi", "np.asarray(p, dtype=np.float64) + c * np.asarray(psi",
           SIGMA),
    Change("amber: resolution = warn is low", "dhstats/report/confidence.py",
           "if r is not None and r > warn:", "if r is not None and r >= warn:", AMBER),
    Change("amber: half skipped is low", "dhstats/report/confidence.py",
           "if 2 * len(skipped) > len(mine):", "if 2 * len(skipped) >= len(mine):", AMBER),
    Change("amber: all skipped needed", "dhstats/report/confidence.py",
           "if 2 * len(skipped) > len(mine):", "if len(skipped) >= len(mine):", AMBER),
)


def project_copy(where: Path) -> Path:
    """The project under ``where/project`` (no .git, no outputs), ``../shared`` linked beside it."""
    root = where / "project"
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", "out", "reports", ".git")
    for name in ("dhstats", "tests", "checks"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    for name in ("conftest.py", "pytest.ini", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, root / name)
    shared = REPO.parent / "shared"
    if shared.exists():
        (where / "shared").symlink_to(shared)
    return root


def failing(root: Path, files, first: bool = False) -> tuple[int, list[str]]:
    """(exit status, failing test ids) of pytest on ``files`` in ``root`` (``first``: stop at
    the first failure)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", "--tb=no", "-rf",
           *(["-x"] if first else []), *files]
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(root),
                                                                             "PATH": "/usr/bin:/bin",
                                                                             "HOME": str(root)})
    ids = re.findall(r"^FAILED (\S+)", out.stdout, flags=re.M)
    return out.returncode, [i.split("::", 1)[1] for i in ids]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="names (substrings) of the changes to run")
    p.add_argument("--keep", help="work in this directory and keep it")
    args = p.parse_args(argv)
    changes = [c for c in CHANGES if not args.only or any(o in c.name for o in args.only)]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="single-changes-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        root = project_copy(work)
        for files in sorted({c.files for c in changes} | {(PINNED,)}):  # unchanged, each group passes
            status, ids = failing(root, files)
            if status != 0:
                print(f"unchanged, {' '.join(files)} fail (exit {status}): {ids}")
                return 2
        caught_before = caught_now = 0
        print("| change | tests that covered it: first failing | test_single_changes.py: failing |")
        print("|---|---|---|")
        for c in changes:
            path = root / c.path
            original = path.read_text()
            assert original.count(c.old) == 1, f"{c.name}: {c.old!r} occurs {original.count(c.old)} times"
            path.write_text(original.replace(c.old, c.new))
            try:
                before = failing(root, c.files, first=True)
                pinned = failing(root, [PINNED])
            finally:
                path.write_text(original)
            caught_before += before[0] != 0
            caught_now += before[0] != 0 or pinned[0] != 0
            show = lambda r: f"{len(r[1])}: " + ", ".join(r[1]) if r[1] else ("—" if r[0] == 0 else f"exit {r[0]}")  # noqa: E731
            print(f"| {c.name} | {show(before)} | {show(pinned)} |", flush=True)
        print(f"caught: {caught_before}/{len(changes)} by the tests that covered the code, "
              f"{caught_now}/{len(changes)} with test_single_changes.py")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
