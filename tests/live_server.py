"""A real server on 127.0.0.1 for tests that speak HTTP (the browser tests, the API contract test).

``serve`` runs a WSGI app under werkzeug's threaded server on a free port and, when done, waits
until no request is inside the app any more: werkzeug's request threads are daemon threads, which
``server_close()`` does not join, and a request still running (one a browser gave up on when its
context closed) would hand its database connection back to an engine already disposed: on
PostgreSQL a ResourceWarning (an error here) when that connection is garbage-collected. Flask
closes the request's session before it returns the response body, so the count ends there (not at
``close()`` of the body, which werkzeug skips when the client has gone; the middleware reads and
closes each body itself, so no file it was sending is left open either).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from werkzeug.serving import make_server


class InFlight:
    """WSGI middleware counting the requests inside the application."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.active = 0
        self.changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.changed:
            self.active += 1
        try:
            body: Iterable[bytes] = self.app(environ, start_response)
            # Read the body here and close it: werkzeug skips close() when the client has gone
            # (a browser dropping a static file's connection), and the file left open was a
            # ResourceWarning (an error here) whenever the collector found it.
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        finally:
            with self.changed:
                self.active -= 1
                self.changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.active == 0, timeout)


@contextmanager
def serve(app: Any, name: str = "live-server") -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port, threaded); yields the base URL without a trailing
    slash. Fails the test when a request is still inside the app 10 s after the block."""
    requests = InFlight(app)
    server = make_server("127.0.0.1", 0, requests, threaded=True)
    # A short poll interval: shutdown() waits for the serving loop to notice (0.5 s by default).
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        if not requests.wait_idle(timeout=10):
            pytest.fail("the live server was still handling a request 10 s after the test", pytrace=False)
