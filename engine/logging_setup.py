"""Logs as text for people at a terminal or as JSON lines for a log collector.

One handler on the root logger writes every line to standard error (systemd's journal keeps it).
``INFORA_LOG_FORMAT=json`` gives one JSON object per line with ``time`` (UTC, ISO 8601),
``level``, ``logger`` and ``message``, the request id of the web request the line belongs to (so a
failure can be followed through every line of its request), and any fields passed as
``extra={"fields": {...}}``: the web's access line (method, path, status, duration, user) and the
scheduler's pass line (what it fired and sent) use them. The text format prints the same fields as
``key=value`` after the message.

No Flask here: the web layer sets the request id through :data:`request_id`.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, TextIO

request_id: ContextVar[str | None] = ContextVar("infora_request_id", default=None)
"""The id of the web request being served in this thread (None outside a request)."""

_HANDLER_NAME = "infora"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            entry["request_id"] = rid
        for key, value in _fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-05-04 10:00:00,123 INFO infora.access GET /inkorg 200 … request_id=… status=200``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _fields(record)
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            extras = {"request_id": rid, **extras}
        if not extras:
            return line
        first, newline, rest = line.partition("\n")
        pairs = " ".join(f"{key}={value}" for key, value in extras.items())
        return f"{first} {pairs}{newline}{rest}"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of each line (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``json`` or ``text``)."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


SPIFF_LOGGERS = ("spiff", "spiff.task", "spiff.workflow", "spiff.data", "spiff.dmn")


def configure_logging(log_format: str = "text", level: str = "INFO") -> logging.Handler:
    """Send every log line to standard error in ``log_format``, from ``level`` up.

    Idempotent: a second call replaces Infora's handler instead of adding another, and handlers
    others installed (a test runner's) stay.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(make_formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
    # Lines that say nothing in a running service, or say it twice: the development server's
    # request lines (the application writes its own access lines), Alembic's (plugins loaded, the
    # dialect of every health check's schema look-up; a service never migrates) and APScheduler's
    # "job executed" for every wake-up (the scheduler writes one line per pass), and SpiffWorkflow's
    # line for every task state change and every workflow it builds (a dozen or more per completed
    # task: the audit log is the case history; at INFO they cost a third of a completion's time in
    # the load run). Each of SpiffWorkflow's loggers gets its own level because it decides from
    # ``logger.level`` itself (not the effective level) whether to copy task data into every line.
    for noisy in ("werkzeug", "alembic", "apscheduler", *SPIFF_LOGGERS):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
