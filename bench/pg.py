"""A throw-away PostgreSQL server on 127.0.0.1 for the benchmarks (the approach of
``scripts/with_postgres.sh``): the newest installed server's ``initdb`` in a temporary directory, run
as the postgres user when we are root (initdb refuses root), on a free port, removed afterwards.

Unlike the test script's server this one keeps PostgreSQL's durability defaults (``fsync`` and
``synchronous_commit`` on): the benchmarks report production figures, and a commit that is not
flushed is not a commit a region could rely on. Only memory is sized up (shared buffers) as any
production set-up would be.

Use: ``with throwaway_postgres() as server: url = server.url``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SETTINGS = {
    "max_connections": "200",
    "shared_buffers": "1GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    # Production tuning for SSD storage and a database that fits in memory: index lookups are
    # nearly as cheap as sequential reads (the default 4 assumes spinning disks).
    "random_page_cost": "1.1",
    "effective_cache_size": "12GB",
    "log_min_messages": "warning",
}


@dataclass(frozen=True)
class PgServer:
    """A running throw-away server."""

    bindir: Path
    datadir: Path
    port: int
    database: str

    @property
    def url(self) -> str:
        """The SQLAlchemy URL (psycopg 3) of the benchmark database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    def psql(self, sql: str) -> str:
        """Run SQL with psql as the superuser; returns its unaligned output."""
        done = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                self.database,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise SystemExit("PostgreSQL is not installed (make system-deps installs it).")
    return found[-1].parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_postgres(command: list[str]) -> None:
    line = " ".join(shlex.quote(part) for part in command)
    if os.geteuid() == 0:
        subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", f"cd / && {line}"], check=True, stdout=subprocess.DEVNULL
        )
    else:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


@contextmanager
def throwaway_postgres(database: str = "infora_bench", settings: dict[str, str] | None = None) -> Iterator[PgServer]:
    """Start a fresh server with an empty database; stop it and delete its files at the end."""
    bindir = _bindir()
    datadir = Path(tempfile.mkdtemp(prefix="infora-bench-pg."))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    port = free_port()
    options = " ".join(f"-c {k}={v}" for k, v in {**DEFAULT_SETTINGS, **(settings or {})}.items())
    started = False
    try:
        _as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-l",
                str(datadir / "log"),
                "-w",
                "-o",
                f"-h 127.0.0.1 -p {port} -k {datadir} {options}",
                "start",
            ]
        )
        started = True
        _as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database])
        yield PgServer(bindir, datadir, port, database)
    finally:
        if started:
            with suppress(subprocess.CalledProcessError):
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"])
        shutil.rmtree(datadir, ignore_errors=True)


if __name__ == "__main__":
    with throwaway_postgres() as server:
        print(server.url, server.psql("SELECT version()").strip())
