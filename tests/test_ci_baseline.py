"""docs/ci.md, "Pull requests against the main branch": the shell steps of its two recipes run
for real against two local sessions — the default branch's (its health.json the artifact the
download step fetches, served by stand-ins for ``gh`` and ``curl``) and the pull request's."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builders import scale_gdotv
from dhstats import simulate

yaml = pytest.importorskip("yaml")  # dev extra (pyproject: pyyaml)
pytestmark = pytest.mark.slow

CI_MD = Path(__file__).resolve().parents[1] / "docs" / "ci.md"
SECTION = "## Pull requests against the main branch"
ETAS = (8e-7, 1.6e-6, 3.2e-6)
GITHUB = {"github.token": "t", "github.repository": "o/r", "github.event.repository.default_branch": "main"}
GITLAB = {"CI_JOB_TOKEN": "t", "CI_API_V4_URL": "https://gitlab.invalid/api/v4", "CI_PROJECT_ID": "1",
          "CI_DEFAULT_BRANCH": "main"}


def recipes() -> tuple[dict, dict]:
    text = CI_MD.read_text(encoding="utf-8").split(SECTION, 1)[1]
    github, gitlab = (yaml.safe_load(b) for b in re.findall(r"```yml\n(.*?)```", text, re.S))
    return github, gitlab


def steps(recipe: dict) -> list[str]:
    """The shell the recipe runs (GitHub ``run:`` steps, GitLab ``script:`` lines), without the
    install; GitHub's ``${{ … }}`` expressions substituted."""
    out = []
    for job in recipe.get("jobs", recipe).values():
        out += [str(s["run"]) for s in job.get("steps", []) if "run" in s]
        out += [str(line) for line in job.get("script", [])]
    out = [s for s in out if "pip install" not in s]
    return [re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: GITHUB[m.group(1)], s) for s in out]


def stand_ins(bin_dir: Path, artifact: Path) -> None:
    """``gh`` and ``curl`` that serve ``artifact`` (the default branch's reports) instead of the
    network; ``dhstats`` this interpreter's."""
    bin_dir.mkdir()
    scripts = {
        "gh": f"""#!/bin/sh
if [ "$1 $2" = "run list" ]; then echo 4242; exit 0; fi
if [ "$1 $2" = "run download" ] && [ "$3" = 4242 ]; then
  while [ $# -gt 0 ]; do [ "$1" = --dir ] && dir=$2; shift; done
  mkdir -p "$dir" && cp -r '{artifact}'/. "$dir"/ && exit 0
fi
echo "gh stand-in: unexpected $*" >&2; exit 1
""",
        "curl": f"""#!/bin/sh
case "$*" in *"jobs/artifacts/main/raw/reports/health.json?job=estimator-health"*) ;; *) exit 22;; esac
while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
cp '{artifact}/health.json' "$out"
""",
        "dhstats": f"#!/bin/sh\nexec '{sys.executable}' -m dhstats \"$@\"\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)


def shell(repo: Path, bin_dir: Path, lines: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(GITLAB, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run(["bash", "-e", "-c", "\n".join(lines)], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def main_branch(tmp_path_factory):
    """The default branch's session: its reports as upload-artifact stores them (flattened)."""
    root = tmp_path_factory.mktemp("main")
    for name, n in (("E_2048", 48), ("E_256", 32)):  # as tests/test_ci_docs.py: a passing gate
        simulate.write_run_set(root / "data", name=name, runs=2, n=n, seed=n, etas=ETAS, defects=["shard_mean_se"])
    bin_dir = root / "bin"
    stand_ins(bin_dir, root / "artifact")
    gate = [s for s in steps(recipes()[0]) if s.startswith("dhstats gate")][0].replace(
        " --baseline baseline/health.json", "")
    proc = shell(root, bin_dir, [gate])
    assert proc.returncode == 0, proc.stdout[-3000:]
    (root / "artifact").mkdir()
    for name in ("health.json", "report.html", "badges", "runs"):
        src = root / "reports" / name
        if src.is_dir():
            shutil.copytree(src, root / "artifact" / name)
        elif src.exists():
            shutil.copy(src, root / "artifact" / name)
    return root


def pull_request(main: Path, tmp: Path, factor: float) -> Path:
    """A checkout of the pull request: the main branch's runs, E_256's gdotv × ``factor``."""
    repo = tmp / "pr"
    shutil.copytree(main / "data", repo / "data")
    scale_gdotv(repo / "data" / "E_256", factor)
    return repo


@pytest.mark.parametrize("recipe", ["github", "gitlab"])
@pytest.mark.parametrize("factor, status", [(1.0, 0), (3.0, 1)])
def test_recipe_runs_the_gate_against_the_default_branchs_health_json(main_branch, tmp_path, recipe, factor, status):
    import json

    repo = pull_request(main_branch, tmp_path, factor)
    lines = steps(recipes()[0 if recipe == "github" else 1])
    assert any("--baseline baseline/health.json" in s for s in lines)
    proc = shell(repo, main_branch / "bin", lines)
    assert proc.returncode == status, proc.stdout[-3000:] + proc.stderr[-2000:]
    h = json.loads((repo / "reports" / "health.json").read_text())
    assert h["baseline"]["kind"] == "health" and h["baseline"]["source"].endswith("baseline/health.json")
    assert h["baseline"]["matched"] == {"E_2048": "E_2048", "E_256": "E_256"} and h["baseline"]["unmatched"] == []
    moved = {(c["run_set"], c["check"]) for c in h["cases"] if c.get("reason") == "moved"}
    if factor == 1.0:  # the same runs: z = 0, no outcome changes
        assert not moved and h["baseline"]["changes"] == []
        assert all(c.get("z") in (0.0, None) for c in h["cases"] if c["check"].startswith("baseline_"))
    else:
        assert moved == {("E_256", "baseline_linear_ratio"), ("E_256", "baseline_linquad_ratio")}
        assert "against the baseline (health: " in proc.stdout
