# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Post-correction ΔH analysis, with dhstats
#
# The researcher's notebook (*Post-Correction ΔH Analysis*) asked, in this order: what do the
# runs predict and measure, how large are the standard errors, do prediction and measurement
# agree within them, what do truncating and clipping the largest per-sequence contributions do,
# what do the per-sequence errors look like, and how do the σ's change from a small batch E to a
# large one. This notebook asks the same questions; every number, table and figure comes from a
# `dhstats` call — the statistics the gate (`pytest checks/ --results …`) judges with.
#
# **Data.** `../shared/data/real` (relative to the project root) when it is there; otherwise the
# embedded example: runs simulated by `dhstats.simulate` in a temporary directory. The
# environment variable `DHSTATS_NOTEBOOK_DATA` chooses: `example`, a run set (`E_2048`, holding
# `run_*/results.json`) or a directory of run sets (`E_*/run_*/results.json`). In every table
# η is shown as `3.2e-06` (`dhstats.notebook.frames.Frame`) and stays a number. Regenerate the executed notebook with
# `python docs/notebooks/execute.py` (see `docs/notebooks/README.md`).

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from dhstats.notebook import frames, tables
from dhstats.notebook import explore
from dhstats.load.settings import Settings

plt.rcParams["figure.dpi"] = 80  # figures ≈ 1000 px wide in the saved notebook
pd.set_option("display.max_colwidth", None)  # messages whole
ROOT = Path.cwd().resolve().parents[1]  # this notebook lives in docs/notebooks/
REAL = ROOT.parent / "shared" / "data" / "real"
choice = os.environ.get("DHSTATS_NOTEBOOK_DATA", "")
WORK = Path(tempfile.mkdtemp(prefix="dhstats-notebook-"))  # the example's files and the gate's reports
if choice == "example" or (not choice and not REAL.is_dir()):
    run_sets = frames.example_run_sets(WORK / "data")
else:  # a run set (E_2048) or its parent; a path that is not there raises, never the example
    run_sets = frames.load_run_sets(Path(choice) if choice else REAL)
[rs.name for rs in run_sets]

# %% [markdown]
# A run set displays as a table of its runs: E (sequences per run), the η grid, which optional
# data each file carries, and any input problem (an invalid file is listed, never dropped).

# %%
run_sets[0]

# %% [markdown]
# ## 1. Summary: predictions vs the SNIS measurement
#
# The seed notebook's `summary_df`: ΔH_true measured by self-normalised importance sampling,
# the linear prediction ηG and the lin+quad prediction ηG_q + ½η²Q, and their ratios.
#
# *What the seed notebook got wrong here:* it loaded the two run sets into `runs_data_2048` and
# `runs_data_256`, then every later cell read `runs_data`, a name it never defined — so each
# cell raised `NameError` (or silently used whatever `runs_data` an earlier session had left).
# Here every table takes the run sets it tabulates.

# %%
summary = tables.summary_table(run_sets)
summary

# %% [markdown]
# ## 2. Standard errors and the shard-mean convention
#
# The producer reports `se_shard = std(c_m)/√M` over the M = `num_shards` microbatch
# contributions whose **sum** is G: the SE of the *mean* shard contribution. The SE of G itself
# is M·se_shard. The `se_consistency` check compares the reported SE with the one measured from
# the per-sequence data, σ_G = √n·std(g̃), and says when ρ·M ≈ 1 — the shard-mean convention.

# %%
health_as_reported = frames.judge(run_sets, Settings(), reports=WORK / "reports-as-reported")
frames.cases_frame(health_as_reported, checks=["se_consistency"])[
    ["run_set", "run", "outcome", "rho_se_shard", "num_shards", "message"]]

# %% [markdown]
# The gate's `--reported-se shard-mean` option multiplies every reported SE by num_shards. The
# real producer's files use that convention; the simulator writes totals.
# `frames.reported_se_convention` reads it from the files (the check's diagnosis) and the
# settings below use it. Every σ that can be measured from per-sequence data is measured, so
# the convention matters for runs without it — and for the seed's `se_linear`, shown both ways.

# %%
settings = Settings(reported_se=frames.reported_se_convention(run_sets))
print("reported SEs read as:", settings.reported_se)
standard_errors = tables.standard_errors_table(run_sets, settings)
standard_errors[["run_set", "run", "eta", "num_shards", "se_linear_notebook", "se_linear", "sigma_G_source",
                 "se_true", "se_true_source", "sigma_lin", "sigma_lin_source"]]

# %% [markdown]
# `se_linear_notebook` is the seed notebook's σ of ηG, η·se_shard: under the shard-mean
# convention it is num_shards times too small. `se_linear` = η·σ_G is the corrected one;
# `se_true` is σ_true by the paired delta method (ψ_i below); `sigma_lin` is the σ of the
# *difference* ηG − ΔH_true, which the agreement check divides by.

# %% [markdown]
# ## 3. Agreement within error bars
#
# *What the seed notebook got wrong here, three times:*
#
# 1. σ_true = std(c_i)/√n of the per-sequence split c_i. That split sums to ΔH_true, but each
#    c_i is dominated by a zero-sum part (h_base_i − T_i·H_base)/ΣT that does not shrink with η,
#    so its spread is not the sampling error of ΔH_true (and /√n is the SE of a mean, not of a
#    sum). The gate's σ_true pairs H_new with H_base (ψ_i).
# 2. The two σ's were added as if independent, √(σ_lin_pred² + σ_true²), with the mis-scaled
#    η·se_shard. ηG and ΔH_true are measured on the same sequences and correlate; the gate
#    takes σ_lin = se_sum(η·g̃_i − ψ_i), the σ of the difference itself.
# 3. A case passed when |diff| ≤ 1σ: a perfectly healthy case fails that 32 % of the time. The
#    gate's rule is |z| ≤ k, k = 3.
#
# The table puts the seed's numbers (`notebook_*`) beside the gate's for every case.

# %%
agreement = tables.agreement_table(run_sets, settings)
agreement[["run_set", "run", "eta", "diff", "combined_se", "sigma_source", "z", "within_ksigma",
           "notebook_combined_se", "notebook_within_1sigma"]]

# %% [markdown]
# One case both ways: the seed's combined σ and 1σ verdict, then the gate's paired σ and z.

# %%
agreement.iloc[[0]][["run_set", "run", "eta", "diff", "notebook_se_true", "notebook_se_linear",
                     "notebook_combined_se", "notebook_within_1sigma", "se_true", "combined_se", "z",
                     "within_ksigma"]].T

# %% [markdown]
# Each run's z across η, with the ±k band (left: linear; right: lin+quad). `ax=` draws into
# axes you arrange; `runs=`, `etas=`, `ylim=` select and frame.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True, layout="constrained")
explore.z_vs_eta(agreement, estimator="linear", k=settings.k, ax=axes[0])
explore.z_vs_eta(agreement, estimator="linquad", k=settings.k, ax=axes[1])
axes[0].set_title("linear ηG")
axes[1].set_title("lin+quad ηG_q + ½η²Q");

# %% [markdown]
# ΔH_true ± σ_true and the linear prediction (dashed) against η, for the runs of the first set.

# %%
explore.delta_h_vs_eta(agreement, runs=[f"{run_sets[0].name}/{r.file.run}" for r in run_sets[0].valid])

# %% [markdown]
# ### What a pass is worth
#
# A passing difference test only says that no disagreement was detected. Each agreement case of
# the gate carries its `resolution`: the smallest relative bias b of the prediction
# (P = (1+b)·ΔH_true) that the test at k would detect with 80 % power, (k + z_0.80)·σ_lin/|ΔH_true|.
# A resolution of 2.4 means: a prediction off by ±240 % would be caught 80 % of the time, and
# smaller biases less often — a pass here says little. `frames.judge` runs the gate's session (no pytest) and returns its health document.

# %%
health = frames.judge(run_sets, settings, reports=WORK / "reports")
frames.cases_frame(health, checks=["linear_agreement", "linquad_agreement"])[
    ["run_set", "run", "eta", "check", "outcome", "z", "resolution", "sigma_source"]]

# %% [markdown]
# ## 4. Pooled verdicts
#
# The runs of a set are independent batches. Stouffer's Z = Σ_r z_r/√R pools their z at each η,
# and the pooled ratio Σ_r w_r·prediction_r / Σ_r w_r·ΔH_true,r (the same weights w_r = 1/σ_r)
# says by how much the prediction over- or undershoots, with its SE: a shared bias too small for any one run shows up here, and the pooled
# resolution, (k + z_0.80)·√R/|Σ_r ΔH_true,r/σ_r|, is finer than any one run's.

# %%
frames.cases_frame(health, checks=["pooled_linear_agreement", "pooled_linquad_agreement"])[
    ["run_set", "eta", "check", "outcome", "R", "Z", "ratio", "ratio_se", "resolution"]]

# %% [markdown]
# The gate's whole verdict on these run sets (the document it writes as health.json): counts,
# `confidence` (`resolved`, or `low_resolution` when every case passes but could not have seen a
# large bias), each run set's resolution, invalid runs, and every failed case with its message.

# %%
health

# %% [markdown]
# ## 5. Per-sequence contributions
#
# One row per (run, η, sequence): T_i, the weight w̃_i, the seed notebook's split c_i (Σ = ΔH_true),
# η·gdotv_i (Σ = ηG), the lin+quad term η·gdotv_i + ½η²·vhvv_i, ψ_i (the paired influence,
# σ_true = √(n/(n−1)·Σψ²)), g̃_i and the normalised error |c_i − η·gdotv_i| / |ΔH_true|.
# `dhstats tables` writes the same rows to per_sequence.csv (columns: docs/tables.md).

# %%
per_sequence = frames.per_sequence_frame(run_sets)
per_sequence.head()

# %%
first = f"{run_sets[0].name}/{run_sets[0].valid[0].file.run}"
eta = run_sets[0].valid[0].etas[-1]
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
for ax, column in zip(axes, ("c", "eta_gdotv", "linquad")):
    explore.histogram(per_sequence, column, runs=[first], etas=[eta], bins=50, ax=ax)
    ax.set_title(explore.SERIES_LABELS[column])
fig.suptitle(f"Per-sequence contributions, {first}, η = {eta:.3g}");

# %% [markdown]
# ### Per-sequence error histogram
#
# The seed's `plot_normalized_abs_error`: |c_i − η·gdotv_i| / |ΔH_true|, here for every run of
# the first set at its largest η, overlaid (`bins`, `xlim` as options).

# %%
explore.histogram(per_sequence, "normalised_error", runs=[f"{run_sets[0].name}/{r.file.run}" for r in run_sets[0].valid],
                  etas=[eta], bins=60)

# %% [markdown]
# ## 6. Truncation and clipping
#
# Dropping the sequences with the largest |η·gdotv_i| (keep-quantile q). The seed's ratio
# Σ_S η·gdotv_i / Σ_S c_i (`notebook_ratio`) is not a ratio of two ΔH: c_i's zero-sum part leaves
# an arbitrary offset once sequences are dropped. The gate re-estimates both sides on the kept
# set S — L_S (per token of S) and Δ_S (a real SNIS ΔH of S, with σ_S) — and judges L_S/Δ_S only
# where |Δ_S| ≥ kσ_S (`conclusive`).

# %%
truncation = tables.truncation_table(run_sets, settings)
truncation[["run_set", "run", "eta", "keep_quantile", "kept_percent", "notebook_ratio", "linear_S", "true_S",
            "sigma_S", "ratio", "conclusive"]]

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
explore.truncation_ratios(truncation, runs=[first], ax=axes[0])
explore.clip_sweeps(per_sequence, runs=[first], etas=[eta], series=("c", "eta_gdotv", "linquad"), ax=axes[1])
axes[0].set_title(f"truncation ratio L_S/Δ_S, {first}")
axes[1].set_title(f"clip sweep, {first}, η = {eta:.3g}");

# %% [markdown]
# The seed's `compare_filtered_estimates`: raw totals, then the sums after truncation at each
# keep-quantile and after clipping at each threshold, for one run and η.

# %%
filtered = tables.filtered_estimates_table(run_sets)
filtered[(filtered.run_set == run_sets[0].name) & (filtered.run == run_sets[0].valid[0].file.run)
         & (filtered.eta == eta)]

# %% [markdown]
# ## 7. Small E vs large E
#
# Sampling noise shrinks as 1/√E: σ·√E should be the same for every run set. The `se_scaling`
# check compares each set's median σ_G·√E (and σ_true·√E/η) with the largest-E set's; a σ that
# does not scale is a mis-scaled SE.

# %%
tables.scaling_table(run_sets, settings)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
explore.sigma_vs_e(run_sets, quantity="sigma_G", settings=settings, ax=axes[0])
explore.sigma_vs_e(run_sets, quantity="sigma_true", settings=settings, ax=axes[1])
axes[0].set_title("σ_G per run")
axes[1].set_title("σ_true / η per run and η");
