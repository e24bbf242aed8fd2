"""The notebook's library: run sets, sequences and verdicts as pandas DataFrames
(``frames``), every table of ``dhstats tables`` (``tables``) and the exploration figures that
draw on a given ``ax`` (``explore``). May import every layer below the entry points:
``session``, ``report``, ``gate``, ``figures``, ``verdicts``, ``stats`` and ``load``.
"""
