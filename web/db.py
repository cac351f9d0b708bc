"""One session per request: commit when the view succeeded, roll back otherwise (the edge owns
the transaction; services only flush)."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session, sessionmaker

from engine.persistence.database import begin_write

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_session(*, write: bool = False) -> Session:
    """The request's session. A request that may change data (a POST, or ``write=True``) starts
    its transaction as a write transaction, before it reads anything: on SQLite writers then queue
    at the start instead of failing on a stale read snapshot half-way."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions["infora.sessions"]
        g.db_session = factory()
        if write or request.method in WRITE_METHODS:
            begin_write(g.db_session)
            g.db_wrote = True
    session: Session = g.db_session
    return session


def _close(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is None:
        return
    committed = False
    try:
        if exc is None and session.in_transaction():
            session.commit()
            committed = True
        else:
            session.rollback()
    finally:
        session.close()
    scheduler = current_app.extensions.get("infora.scheduler")
    if committed and g.pop("db_wrote", False) and scheduler is not None:
        # The embedded scheduler recomputes its next wake-up at once (due times may have moved).
        scheduler.wake()


def init_app(app: Flask) -> None:
    """Register the per-request session handling."""
    app.teardown_request(_close)
