"""Every figure of the reports and of ``dhstats plot``, drawn with matplotlib's object-oriented
API (only the drawing modules import matplotlib, and beyond them only the notebook's
``explore``): the figure record and the lists of figure names,
importable without matplotlib (``rendered``), figures by name and their captions
(``gallery``: ``figure``, ``render``), shared axes and PNG rendering (``base``) and the
figures per case (``case``), per run (``run``) and per run set or session (``sets``,
``equivalence``, ``baseline``). May import ``verdicts``, ``stats`` and ``load``.
"""
