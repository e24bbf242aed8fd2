"""From numbers to outcomes: the registry of checks, the one list of their names and scopes
(``registry``), the per-run checks (``run_checks``), agreement (``agreement``: the estimators
and their per-run check) and pooled agreement with its TOST's words (``pooling``), the run-set
checks (``runsets``), Holm–Bonferroni (``holm``), the verdict records and their numbers
(``verdicts``, ``case_numbers``), the checks against a baseline (``baseline``), their words
(``wording``) and their HTML in Jupyter (``display``, used by ``Verdict._repr_html_``). May
import ``stats`` and ``load``.
"""
