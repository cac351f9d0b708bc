"""The scheduler (DESIGN decision 4): the database holds every due time; one pass fires what is
due, each item in its own transaction; APScheduler wakes the pass at the earliest due time."""

from engine.scheduler.passes import PassResult, SchedulerSettings, next_due_at, run_pass

__all__ = ["PassResult", "SchedulerSettings", "next_due_at", "run_pass"]
