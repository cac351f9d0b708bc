"""CPU per task completion and per timer firing, in one process, each beside a reference loop.

    .venv/bin/python bench/completion_cpu.py [--completions 3000] [--cases 300]

What it is for: comparing two versions of the hot path. On this project's (virtual) machine the
load run's CPU figures drift by 15-25 % within an hour (the host's other guests), more than most
changes are worth, so two load runs an hour apart do not tell which code is cheaper. Here every
completion's CPU time is followed by a fixed pure-Python reference loop's, and the figure that
matters is their ratio: a slower machine slows both. That cancels only part of the drift (a
memory-heavy completion and an arithmetic loop do not slow alike): runs of the same code have
still differed by up to 15 % in the ratio. Run both versions several times, interleaved (A, B, A,
B, ...), and compare the ratios' spreads, not two single figures.

The work is the load run's loop mix (``bench/load_run.py --mix loop``) on PostgreSQL: cases walked
to their units' first step, to Do, and past Do with the loop's timer running, with one-second
cycles so that the loop's timers fall due between rounds and are fired by this process (timed
apart). The users work their inboxes through Flask's test client, in the same order on every run
(fixed seed, fixed number of completions). Included: the API's request handling and the test
client's own work, and the garbage collector tuned as in a web worker (engine/gc_tuning.py); not
included: gunicorn, the network, the other processes.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load_run  # noqa: E402
from pg import throwaway_postgres  # noqa: E402


def reference_loop_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop (about a completion's worth)."""
    started = time.thread_time()
    total = 0
    for i in range(150_000):
        total += i * i % 7
    return (time.thread_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=3000, help="successful completions to time")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    if args.completions < 1 or args.cases < 1 or args.users < 1:
        parser.error("--completions, --cases and --users: at least 1")

    with throwaway_postgres() as pg:
        setup = load_run.populate(
            pg.url,
            cases=args.cases,
            units_per_case=3,
            users=args.users,
            cycle="PT1S",
            steps=load_run.VGR_TO_UNITS + load_run.LOOP_POSITIONS,
            later_steps=load_run.LOOP_TIMERS,
            cycle_spread=1,
        )
        os.environ.update(
            DATABASE_URL=pg.url, INFORA_SECRET_KEY="completion-cpu-" + "x" * 20, INFORA_LOG_LEVEL="WARNING"
        )
        from engine.gc_tuning import tune_collector
        from engine.services import timers
        from web import create_app

        app = create_app()
        tune_collector()  # as each web worker does once it has loaded the application
        factory = app.extensions["infora.sessions"]
        client = app.test_client()
        rng = random.Random(1)
        forms: dict[str, object] = {}
        completion_ms: list[float] = []
        reference_ms: list[float] = []
        firing_ms: list[float] = []
        refused = 0
        while len(completion_ms) < args.completions:
            done_before = len(completion_ms)
            for token in setup.tokens:
                headers = {"Authorization": f"Bearer {token}"}
                for item in client.get("/api/v1/tasks?page_size=20", headers=headers).get_json()["items"]:
                    step = item["step"]
                    if step not in forms:
                        opened = client.get(f"/api/v1/tasks/{item['task_id']}", headers=headers)
                        if opened.status_code != 200:
                            continue
                        forms[step] = opened.get_json()["form"]
                    body = {"data": load_run.form_values(forms[step], rng, 0.1)}  # type: ignore[arg-type]
                    started = time.thread_time()
                    answer = client.post(f"/api/v1/tasks/{item['task_id']}/complete", json=body, headers=headers)
                    spent = (time.thread_time() - started) * 1000
                    if answer.status_code != 200:
                        refused += 1  # another user of the same role was first (409): not timed
                        continue
                    completion_ms.append(spent)
                    reference_ms.append(reference_loop_ms())
            with factory() as session:
                due = timers.due_case_ids(session)
            for case_id in due:
                started = time.thread_time()
                with factory() as session:
                    timers.fire_case_timers(session, case_id)
                    session.commit()
                firing_ms.append((time.thread_time() - started) * 1000)
            if len(completion_ms) == done_before and not due:
                time.sleep(0.5)  # the next timers are not due yet

    completion_ms = completion_ms[: args.completions]
    reference = statistics.mean(reference_ms)
    print(
        f"Infora completion CPU: {args.completions} completions on PostgreSQL {args.cases} cases x 3 units "
        f"(the load run's loop mix), {args.users} users, one process"
    )
    print(f"  reference loop: mean {reference:.3f} ms, median {statistics.median(reference_ms):.3f} ms")
    mean = statistics.mean(completion_ms)
    print(
        f"  completion: mean {mean:.3f} ms, median {statistics.median(completion_ms):.3f} ms; "
        f"mean / reference {mean / reference:.3f}  ({refused} lost races not timed)"
    )
    if firing_ms:
        fired = statistics.mean(firing_ms)
        print(f"  timer firing: {len(firing_ms)}, mean {fired:.3f} ms; mean / reference {fired / reference:.3f}")


if __name__ == "__main__":
    main()
