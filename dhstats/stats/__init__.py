"""The statistics, as numpy kernels on loaded runs, with no threshold and no verdict: sums,
SNIS ratios and standard errors (``stats``), every σ with its source (``sigmas``), the
per-sequence series and η curves (``series``), equivalence tests and resolution
(``equivalence``), the runs a TOST needs at an observed ratio (``tost_power``), the comparison
of two pooled ratios (``comparison``), the truncation ratio (``truncation``) and PSIS k̂
(``psis``). May import
``load`` only.
"""
