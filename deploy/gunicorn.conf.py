"""gunicorn settings for Infora in production.

    gunicorn --config deploy/gunicorn.conf.py

Everything comes from the same environment variables as the rest of Infora (``engine.config``):
``INFORA_WEB_BIND``, ``INFORA_WEB_WORKERS``, ``INFORA_WEB_THREADS``, ``INFORA_WEB_TIMEOUT``,
``INFORA_LOG_FORMAT``, ``INFORA_LOG_LEVEL``. Bad settings stop gunicorn before it forks, with every
bad variable listed (exit status 2), instead of workers failing to boot one after the other.

Choices:
- sync workers (one request at a time per process) unless ``INFORA_WEB_THREADS`` is above 1
  (then gthread). A request is CPU-bound (a completion: 5-7 ms of Python, under 1 ms waiting on
  the database), so threads add GIL hand-overs, not concurrency; and a gthread worker keeps the
  keep-alive connections it accepted, so a request waits behind its worker's others while another
  worker is idle. Measured with bench/load_run.py (``--stream --rate 160``, 4 workers, 2 cores):
  sync kept up with 160 completions/s at a client p95 of 139 ms (server p95 24 ms); gthread with
  4 threads reached 157/s at 246 ms (server 83 ms); gthread with 1 thread fell behind (142/s, 454
  ms). nginx in front buffers slow clients, as gunicorn's documentation asks for sync workers.
  SpiffWorkflow objects never cross requests either way (each one loads its own case).
- preload off: each worker imports the application itself and keeps its own cache of compiled
  model versions (engine/services/versions.py); a HUP (``systemctl reload``) then loads new code
  worker by worker without dropping requests.
- the workers' heartbeat file on /dev/shm (gunicorn's advice): on a disk every heartbeat, several
  per request, is a write; measured at ~0.25 ms per request on this project's test machine.
- garbage collection tuned in each worker (``post_worker_init``): what the worker built at start
  (modules, the application, its caches) is frozen out of the collector's reach, and the young
  generation is collected every 20,000 allocations instead of 700. A completion allocates
  thousands of short-lived objects (the case's task tree) that die with the request; with the
  default threshold the young generation was collected several times per completion, and the
  older generations often enough to walk the whole heap (the collector took 0.33 ms per
  completion in an earlier profile; the gain of this tuning alone was not measured apart).
- gunicorn's access log off: the application writes one access line per request with the request
  id, the user and the duration (web/request_log.py). gunicorn's own messages go to standard
  error in the same format. gunicorn counts its access log as on whenever a logging configuration
  is given (as it is for JSON logs) and then formats every request's access fields for a logger
  with no handler; ``logger_class`` skips that (1.5 % of a busy worker's CPU in a py-spy profile of
  bench/load_run.py).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from engine.config import ConfigurationError, load_settings
from engine.gc_tuning import tune_collector

try:
    _settings = load_settings()
except ConfigurationError as err:
    print(err, file=sys.stderr)
    sys.exit(2)

wsgi_app = "web:create_app()"
bind = [_settings.web_bind]
worker_class = "sync" if _settings.web_threads == 1 else "gthread"
workers = _settings.web_workers
threads = _settings.web_threads
# A worker silent this long is killed and replaced (a request stuck on a lock, a runaway import).
timeout = _settings.web_timeout
# On a stop or reload, requests in flight get this long to finish.
graceful_timeout = 30
# nginx keeps connections to us open; a little longer than its keepalive_timeout to the upstream.
keepalive = 5
preload_app = False
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
proc_name = "infora-web"


class ApplicationAccessLog(Logger):  # type: ignore[misc]
    """gunicorn's logger, leaving the access lines to the application (web/request_log.py)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Nothing: the application has written the request's access line."""


logger_class = ApplicationAccessLog
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
if _settings.log_format == "json":
    # Merged into gunicorn's defaults key by key: "root" and both handler names are replaced, so
    # the application's own handler (set up by create_app) is the only one on the root logger.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": _settings.log_level, "handlers": []},
        "formatters": {"json": {"()": "engine.logging_setup.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": _settings.log_level, "propagate": False},
            "gunicorn.access": {"handlers": [], "propagate": False},
        },
    }

# Only the local reverse proxy may tell gunicorn the original scheme; the application itself trusts
# X-Forwarded-For/-Proto as far as INFORA_TRUSTED_PROXIES says (werkzeug's ProxyFix).
forwarded_allow_ips = "127.0.0.1,::1"

# gunicorn's control socket lives in systemd's RuntimeDirectory (/run/infora); without one (a
# start by hand) it is off rather than written into the home directory.
if os.environ.get("RUNTIME_DIRECTORY"):
    control_socket = os.path.join(os.environ["RUNTIME_DIRECTORY"].split(":")[0], "gunicorn.ctl")
else:
    control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """Tune the collector once the worker has loaded the application (see the module's notes)."""
    tune_collector()
