"""One access line per request, with a request id that follows the request through every log line.

The id comes from the reverse proxy's ``X-Request-ID`` header when it sends a sane one (so nginx's
log and ours share it), or is made here; the response echoes it, so a person reporting an error can
quote it. The line carries method, path, status, duration and the signed-in user's id; secrets in a
path (the calendar feed's token) are replaced before logging. Health probes log at DEBUG so the
load balancer's polling does not drown the real traffic.

gunicorn's own access log stays off (``deploy/gunicorn.conf.py``): this is the access log.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.config import Settings
from engine.logging_setup import configure_logging, request_id

log = logging.getLogger("infora.access")
_INCOMING_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
# View arguments that are credentials: their values never reach a log.
_SECRET_ARGS = ("token", "secret")
QUIET_PATHS = frozenset({"/health"})


def _start() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    request_id.set(g.request_id)


def _logged_path() -> str:
    path = request.path
    for name in _SECRET_ARGS:
        value = (request.view_args or {}).get(name)
        if isinstance(value, str) and value:
            path = path.replace(value, "***")
    return path


def _finish(response: Response) -> Response:
    rid = g.get("request_id")
    if rid is None:  # a request that failed before the first hook ran
        rid = g.request_id = uuid.uuid4().hex
    response.headers["X-Request-ID"] = rid
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    actor = g.get("actor")
    path = _logged_path()
    fields = {
        "method": request.method,
        "path": path,
        "status": response.status_code,
        "duration_ms": duration_ms,
        "user_id": getattr(actor, "user_id", None),
    }
    level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
    log.log(level, "%s %s %s %s ms", request.method, path, response.status_code, duration_ms,
            extra={"fields": fields})  # fmt: skip
    return response


def _clear(_exc: BaseException | None) -> None:
    request_id.set(None)


def init_app(app: Flask, settings: Settings) -> None:
    """Configure logging from the settings and register the access line; trust the reverse
    proxies' ``X-Forwarded-*`` headers when ``INFORA_TRUSTED_PROXIES`` says there are any (the
    client's address for the sign-in limits, https for secure cookies)."""
    if not app.testing:
        configure_logging(settings.log_format, settings.log_level)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    # Put first in each list: the before-hook runs before all others, and the after- and teardown
    # hooks (which Flask runs in reverse order) run last, seeing the final status.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request_funcs.setdefault(None, []).insert(0, _finish)
    app.teardown_request_funcs.setdefault(None, []).insert(0, _clear)
