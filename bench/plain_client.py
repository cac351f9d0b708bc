"""The load run's light client (``load_run.py --stream --rate R --client plain``).

One gevent greenlet per user, each working down its inbox page at an even pace (a completion
started every ``interval`` seconds, never catching up in a burst; a race lost to another user, a
409, is followed at once by the next task), timing each request around the HTTP exchange alone,
with less of its own work around it than locust's users. It writes the same request log as the
locust users, so the load run's checks and figures read it unchanged.

Why a second client: at an offered 50 completions/s, with the machine three-quarters idle, locust
reported a completion p95 of 103 ms where the server timed 22 ms, so locust's own loop was in its
figure. At an offered 150/s this client saw p50 36 / p95 309 ms where the server timed 15 / 29 ms:
there, with the machine 87 % busy, the tail is requests queueing for a worker, not the client.

Run by load_run.py: ``python bench/plain_client.py BASE TOKENS_FILE LOG INTERVAL SECONDS ADOPT``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_run import form_values


def main() -> None:
    base, tokens_file, log_path = sys.argv[1:4]
    interval, seconds, adopt = (float(v) for v in sys.argv[4:7])
    tokens: list[str] = json.loads(Path(tokens_file).read_text())
    address = urlsplit(base)
    deadline = time.monotonic() + seconds
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 — open for the process's life

    def record(**values: Any) -> None:
        log.write(json.dumps(values, separators=(",", ":")) + "\n")

    def call(
        client: HTTPClient, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes, float, float]:
        at, started = time.time(), time.perf_counter()
        try:
            response = client.request(method, path, body=body, headers=headers)
            status, data = response.status_code, response.read()
        except (OSError, gevent.Timeout):
            status, data = 0, b""
        return status, data, (time.perf_counter() - started) * 1000, at

    def user(number: int) -> None:
        gevent.sleep(number * interval / len(tokens))  # spread the users over one interval
        client = HTTPClient(address.hostname or "127.0.0.1", address.port, connection_timeout=30, network_timeout=60)
        headers = {"Authorization": f"Bearer {tokens[number]}", "Content-Type": "application/json"}
        rng = random.Random(number)
        forms: dict[str, Any] = {}
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            status, data, ms, at = call(client, "GET", "/api/v1/tasks?page_size=20", headers)
            record(op="inbox", status=status, ms=round(ms, 2), t=at, user=number)
            items = json.loads(data)["items"] if status == 200 else []
            if not items:
                gevent.sleep(0.5)
                continue
            for item in items:
                if time.monotonic() >= deadline:
                    break
                task_id, step = item["task_id"], item["step"]
                if step not in forms:
                    status, data, ms, at = call(client, "GET", f"/api/v1/tasks/{task_id}", headers)
                    record(op="open", status=status, ms=round(ms, 2), t=at, user=number, task=task_id)
                    if status != 200:
                        continue
                    forms[step] = json.loads(data)["form"]
                now = time.monotonic()
                start = max(next_at, now)
                gevent.sleep(start - now)
                next_at = start + interval
                body = json.dumps({"data": form_values(forms[step], rng, adopt)}).encode()
                status, data, ms, at = call(client, "POST", f"/api/v1/tasks/{task_id}/complete", headers, body)
                if status == 409:
                    # Somebody else completed it first: a person moves on to the next task at once,
                    # so a lost race takes no completion's place in the offered stream.
                    next_at = start
                done = json.loads(data) if status == 200 else None
                record(
                    op="complete",
                    status=status,
                    ms=round(ms, 2),
                    t=at,
                    user=number,
                    task=task_id,
                    case=done["case_id"] if done else None,
                    version=done["case_version"] if done else None,
                )
        client.close()

    gevent.joinall([gevent.spawn(user, n) for n in range(len(tokens))])
    log.close()


if __name__ == "__main__":
    main()
