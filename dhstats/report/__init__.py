"""The consumer of a gate session: the records of one session and the writing of its outputs
(``session``), which files a session writes and writing them (``plan``), health.json and the
history (``health``, ``history``), confidence and resolution sentences (``confidence``),
badges (``badges``), the run pages and report.html's summary (``pages``, ``html_rows``,
``templates/``), the finding of a failing run set (``findings``), the comparison with a
baseline (``against_baseline``) and the terminal summary (``terminal``). May import ``gate``, ``figures``,
``verdicts``, ``stats`` and ``load``.
"""
