"""Hand-built health.json records shared by the report-layer tests (test_health, test_badges,
test_pages, test_terminal, test_outputs). Counts are worked out by hand in :func:`records`."""
from __future__ import annotations

import base64

from dhstats.report.health import build_health
from dhstats.load.settings import Settings

EVIL_RUN = "run_<img src=x onerror=alert(1)>"
EVIL_MSG = "ratio outside [0.5, 2] <script>alert(1)</script> at q = 0.99"
ETAS = (1e-06, 2e-06)
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PNG = base64.b64decode(PNG_B64)  # a 1×1 PNG file\'s bytes (rendered.Figure.png)


def case(results, run, eta, check, outcome, message="", reason=None, **numbers):
    reason = reason or {"failed": "out_of_bounds", "skipped": "missing_field"}.get(outcome, "ok")
    return {"run_set": results, "run": run, "eta": eta, "check": check, "outcome": outcome, "reason": reason,
            "message": message, **numbers}


def run(results, name, outcome="ok", message="", problems=()):
    return {"run_set": results, "run": name, "path": f"/data/{results}/{name}/results.json", "outcome": outcome,
            "message": message, "problems": list(problems)}


def problem(file, json_path, reason, message):
    return {"file": file, "json_path": json_path, "reason": reason, "message": message}


def records():
    """Run set E_256 with three runs and run set E_512 with one:

    * E_256/run_01 (ok): consistency 2P; linear_agreement 1P 1F (η = 2e-06, z = 4.2);
      se_consistency 1S (per run);
    * E_256/<EVIL_RUN> (ok): truncation_ratio 1F (EVIL_MSG, one NaN number);
    * E_256/run_03: invalid input, no cases;
    * E_512/run_01 (ok): consistency 1P;
    * run set E_256: pooled_linear_agreement 2P (η = 1e-06, 2e-06; Z = 1.2, 0.4);
      se_scaling over {E_256, E_512}: 1F for E_256 (ratio 2.5), 1P for E_512.

    Totals: 11 cases — 7 passed (3 consistency, 1 linear, 2 pooled, 1 se_scaling), 3 failed
    (linear, truncation, se_scaling), 1 skipped; 4 runs — 3 ok, 1 invalid.
    """
    runs = [
        run("E_256", "run_01"),
        run("E_256", EVIL_RUN),
        run("E_256", "run_03", "error", "E_256/run_03/results.json: invalid input (2 problems)\n"
            "entries[0].eta: must be > 0\nentries[1]: <b>missing</b> h_new",
            (problem("E_256/run_03/results.json", "entries[0].eta", "out_of_range", "must be > 0"),
             problem("E_256/run_03/results.json", "entries[1]", "missing", "<b>missing</b> h_new"))),
        run("E_512", "run_01"),
    ]
    a = ("E_256", "run_01")
    cases = [case(*a, eta, "consistency", "passed", "sums hold.") for eta in ETAS]
    cases.append(case(*a, ETAS[0], "linear_agreement", "passed", "|z| ≤ 3.", z=0.5, sigma=1e-3, n=256))
    cases.append(case(*a, ETAS[1], "linear_agreement", "failed", "|z| = 4.2 > 3: ηG misses ΔH_true.",
                      z=4.2, sigma=1e-3, n=256, ratio=1.5, ratio_se=0.1, sigma_g_source="reported",
                      sigma_true_source="approximate"))
    cases.append(case(*a, None, "se_consistency", "skipped", "no per-sequence data."))
    cases.append(case("E_256", EVIL_RUN, ETAS[0], "truncation_ratio", "failed", EVIL_MSG,
                      **{"ratio_q0.99": 5.1, "ratio_q0.95": float("nan")}))
    cases.append(case("E_512", "run_01", ETAS[0], "consistency", "passed", "sums hold."))
    for eta, z in zip(ETAS, (1.2, 0.4)):
        cases.append(case("E_256", None, eta, "pooled_linear_agreement", "passed", "pooled |Z| ≤ 3.", Z=z, R=2.0,
                          k=2, z_runs={"run_01": z}, ratio=1.01, ratio_se=0.02, E=256))
    cases.append(case("E_256", None, None, "se_scaling", "failed", "σ·√E ratio 2.5 outside [0.5, 2].", E=256,
                      reference="E_512", ratio_sigma_g=2.5, bounds=[0.5, 2.0]))
    cases.append(case("E_512", None, None, "se_scaling", "passed", "the reference run set.", E=512,
                      reference="E_512", ratio_sigma_g=1.0, bounds=[0.5, 2.0]))
    return runs, cases


def health(paths=("/data/E_256", "/data/E_512"), **kw):
    runs, cases = records()
    return build_health(Settings(), list(paths), runs, cases, generated="2026-11-25T21:30:00Z", **kw)
