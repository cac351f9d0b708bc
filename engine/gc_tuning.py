"""The garbage collector's tuning for a process that serves one request after another.

A request builds thousands of short-lived objects (a case's task tree) that die with it. With
CPython's default threshold the young generation is collected several times per completion, and
the older generations often enough to walk the whole heap. The web workers tune it once they have
loaded the application (deploy/gunicorn.conf.py); bench/completion_cpu.py does the same, so that
its figures are the workers'.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
"""Allocations (net of frees) between collections of the young generation (CPython: 700)."""


def tune_collector() -> None:
    """Freeze what the process has built so far (modules, the application, its caches) out of the
    collector's reach and collect the young generation every ``YOUNG_THRESHOLD`` allocations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)
