"""The producer of a gate session, without pytest: the session's run sets, runs and cases
(``collection``), judging each case, slow ones in worker processes (``gate``, ``executor``),
the per-run summaries exchanged between processes (``summaries``), a baseline's records
(``baseline_source``), and files written
atomically under the reports' manifest (``files``). It produces records and knows nothing of
the reports. May import ``figures``, ``verdicts``, ``stats`` and ``load``.
"""
