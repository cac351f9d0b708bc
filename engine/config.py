"""The deployment's settings, read from environment variables and checked once at start.

Every process (the web workers, the scheduler, the ``infora`` command) reads the same variables
through :func:`load_settings`, so a value means the same thing everywhere. A bad value stops the
start with one :class:`ConfigurationError` naming *every* bad variable and what it expects: an
operator fixes the environment file once instead of restarting once per mistake.

``INFORA_ENV=production`` makes the checks strict: a secret key, the site's address and a real
database server are required (SQLite only with ``INFORA_ALLOW_SQLITE=1``), and logs default to JSON
lines. Messages are Swedish, like the rest of the ``infora`` command.

The SMTP variables are read by :meth:`engine.notify.email.SmtpConfig.from_env` and the reminder
defaults by :meth:`engine.reminders.ReminderPolicy.from_env`; this module only gathers their
errors with the others.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from engine.notify.email import ConfigError, SmtpConfig
from engine.persistence.database import DEFAULT_SQLITE_PATH, normalise_database_url
from engine.reminders import ReminderPolicy

ENVIRONMENTS = ("development", "production")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SCHEDULER_MODES = ("embedded", "separate")
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "bpmn"
MIN_SECRET_LENGTH = 32
PLACEHOLDER = "CHANGE-ME"
"""What deploy/infora.env.example writes where a secret belongs."""

_TRUE = ("1", "true", "yes", "on", "ja")
_FALSE = ("0", "false", "no", "off", "nej")
_SMTP_VARIABLES = (
    "INFORA_SMTP_HOST",
    "INFORA_SMTP_PORT",
    "INFORA_SMTP_SECURITY",
    "INFORA_SMTP_USERNAME",
    "INFORA_SMTP_PASSWORD",
    "INFORA_SMTP_SENDER",
    "INFORA_SMTP_TIMEOUT",
)


@dataclass(frozen=True)
class ConfigProblem:
    """One bad variable and what it should be."""

    variable: str
    message: str


class ConfigurationError(ValueError):
    """The environment holds bad settings.

    Attributes:
        problems: every bad variable found, in the order the variables are documented.
    """

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = [f"Infora kan inte starta: {len(problems)} fel i inställningarna (miljövariabler)."]
        lines += [f"  - {p.variable}: {p.message}" for p in problems]
        lines.append("Rätta variablerna (se deploy/infora.env.example) och starta igen.")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Settings:
    """The effective settings of this deployment (see ``deploy/infora.env.example``)."""

    environment: str
    database_url: str = field(repr=False)  # may hold the database password
    database_url_set: bool
    secret_key: str | None = field(repr=False)
    base_url: str
    models_dir: Path
    smtp: SmtpConfig | None
    reminder_policy: ReminderPolicy
    log_format: str
    log_level: str
    scheduler_mode: str
    scheduler_max_sleep: float | None
    secure_cookies: bool
    session_hours: int
    session_idle_minutes: int
    lockout_attempts: int
    lockout_window_minutes: int
    lockout_minutes: int
    trusted_proxies: int
    oidc_issuer: str | None
    oidc_client_id: str | None
    oidc_client_secret: str | None = field(repr=False)
    web_bind: str
    web_workers: int
    web_threads: int
    web_timeout: int
    pg_bindir: Path | None
    warnings: tuple[str, ...] = ()

    @property
    def production(self) -> bool:
        """Whether this is a production deployment (strict checks)."""
        return self.environment == "production"

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) for every setting, secrets masked, for ``infora check-config``."""
        smtp = self.smtp
        rows = [
            ("INFORA_ENV", self.environment),
            ("DATABASE_URL", _masked_url(self.database_url) + ("" if self.database_url_set else " (standard)")),
            ("INFORA_SECRET_KEY", _masked_secret(self.secret_key)),
            ("INFORA_BASE_URL", self.base_url),
            ("INFORA_MODELS_DIR", str(self.models_dir)),
            ("INFORA_SMTP_HOST", smtp.host if smtp else "(ingen: e-post hålls i utkorgen)"),
        ]
        if smtp is not None:
            rows += [
                ("INFORA_SMTP_PORT", str(smtp.port)),
                ("INFORA_SMTP_SECURITY", smtp.security),
                ("INFORA_SMTP_USERNAME", smtp.username or "-"),
                ("INFORA_SMTP_PASSWORD", _masked_secret(smtp.password)),
                ("INFORA_SMTP_SENDER", smtp.sender),
                ("INFORA_SMTP_TIMEOUT", f"{smtp.timeout:g}"),
            ]
        rows += [
            ("INFORA_REMINDER_OFFSETS", ",".join(self.reminder_policy.offsets)),
            ("INFORA_ESCALATE_AFTER", self.reminder_policy.escalate_after or "none"),
            ("INFORA_LOG_FORMAT", self.log_format),
            ("INFORA_LOG_LEVEL", self.log_level),
            ("INFORA_SCHEDULER", self.scheduler_mode),
            (
                "INFORA_SCHEDULER_MAX_SLEEP",
                f"{self.scheduler_max_sleep:g}" if self.scheduler_max_sleep else "(standard)",
            ),
            ("INFORA_SECURE_COOKIES", "1" if self.secure_cookies else "0"),
            ("INFORA_SESSION_HOURS", str(self.session_hours)),
            ("INFORA_SESSION_IDLE_MINUTES", str(self.session_idle_minutes)),
            ("INFORA_LOCKOUT_ATTEMPTS", str(self.lockout_attempts)),
            ("INFORA_LOCKOUT_WINDOW_MINUTES", str(self.lockout_window_minutes)),
            ("INFORA_LOCKOUT_MINUTES", str(self.lockout_minutes)),
            ("INFORA_TRUSTED_PROXIES", str(self.trusted_proxies)),
            ("INFORA_OIDC_ISSUER", self.oidc_issuer or "(ingen: bara lokala konton)"),
        ]
        if self.oidc_issuer:
            rows += [
                ("INFORA_OIDC_CLIENT_ID", self.oidc_client_id or "-"),
                ("INFORA_OIDC_CLIENT_SECRET", _masked_secret(self.oidc_client_secret)),
            ]
        rows += [
            ("INFORA_WEB_BIND", self.web_bind),
            ("INFORA_WEB_WORKERS", str(self.web_workers)),
            ("INFORA_WEB_THREADS", str(self.web_threads)),
            ("INFORA_WEB_TIMEOUT", str(self.web_timeout)),
            ("INFORA_PG_BINDIR", str(self.pg_bindir) if self.pg_bindir else "(PATH)"),
        ]
        return rows


def _masked_secret(value: str | None) -> str:
    if not value:
        return "(inte satt)"
    return f"****** ({len(value)} tecken)"


def _masked_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(ogiltig)"


class _Reader:
    """Reads variables and collects problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[ConfigProblem] = []
        self.warnings: list[str] = []

    def get(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def fail(self, name: str, message: str) -> None:
        self.problems.append(ConfigProblem(name, message))

    def choice(self, name: str, choices: tuple[str, ...], default: str, *, upper: bool = False) -> str:
        raw = self.get(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            self.fail(name, f"måste vara {_alternatives(choices)} (fick {raw!r}).")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.fail(name, f"måste vara 1 eller 0 (fick {raw!r}).")
        return default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            self.fail(name, f"måste vara ett heltal från {low} till {high} (fick {raw!r}).")
            return default
        return int(raw)

    def seconds(self, name: str, low: float, high: float) -> float | None:
        raw = self.get(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not low <= value <= high:
            self.fail(name, f"måste vara ett antal sekunder från {low:g} till {high:g} (fick {raw!r}).")
            return None
        return value


def _alternatives(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + " eller " + choices[-1]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check the settings from ``env`` (default: the process environment).

    Raises:
        ConfigurationError: one or more variables are bad; it lists all of them.
    """
    env = os.environ if env is None else env
    r = _Reader(env)
    environment = r.choice("INFORA_ENV", ENVIRONMENTS, "development")
    production = environment == "production"

    database_url, database_url_set = _database(r, production)
    secret_key = _secret_key(r, production)
    base_url = _base_url(r, production)
    models_dir = DEFAULT_MODELS_DIR
    if (raw_models := r.get("INFORA_MODELS_DIR")) is not None:
        models_dir = Path(raw_models)
        if not models_dir.is_dir():
            r.fail("INFORA_MODELS_DIR", f"måste vara en katalog med .bpmn-filer; {raw_models!r} finns inte.")
    smtp = _smtp(r)
    if smtp is None and production:
        r.warnings.append("INFORA_SMTP_HOST saknas: påminnelser skickas inte som e-post utan hålls i utkorgen.")
    try:
        policy = ReminderPolicy.from_env(env)
    except ValueError as err:
        r.fail("INFORA_REMINDER_OFFSETS / INFORA_ESCALATE_AFTER", f"{err.__cause__ or err} (t.ex. P7D,P1D,PT0S).")
        policy = ReminderPolicy()

    log_format = r.choice("INFORA_LOG_FORMAT", LOG_FORMATS, "json" if production else "text")
    log_level = r.choice("INFORA_LOG_LEVEL", LOG_LEVELS, "INFO", upper=True)
    scheduler_mode = r.choice("INFORA_SCHEDULER", SCHEDULER_MODES, "separate" if production else "embedded")
    max_sleep = r.seconds("INFORA_SCHEDULER_MAX_SLEEP", 0.5, 3600)

    https = base_url.startswith("https://")
    secure_cookies = r.flag("INFORA_SECURE_COOKIES", https)
    if production and https and not secure_cookies:
        r.warnings.append(
            "INFORA_SECURE_COOKIES=0 fast webbplatsen nås över https: sessionskakan kan skickas okrypterad."
        )
    if production and not https:
        r.warnings.append(
            "INFORA_BASE_URL börjar inte med https://: inloggningen går okrypterad om inte en proxy sköter TLS."
        )
    session_hours = r.integer("INFORA_SESSION_HOURS", 8, 1, 168)
    # Sign-in security; the same ranges as web/auth.py, which applies them.
    session_idle_minutes = r.integer("INFORA_SESSION_IDLE_MINUTES", 60, 0, 24 * 60)
    lockout_attempts = r.integer("INFORA_LOCKOUT_ATTEMPTS", 5, 1, 100)
    lockout_window_minutes = r.integer("INFORA_LOCKOUT_WINDOW_MINUTES", 15, 1, 24 * 60)
    lockout_minutes = r.integer("INFORA_LOCKOUT_MINUTES", 15, 1, 7 * 24 * 60)
    trusted_proxies = _trusted_proxies(r)
    oidc_issuer, oidc_client_id, oidc_client_secret = _oidc(r)

    web_bind = r.get("INFORA_WEB_BIND") or "127.0.0.1:8000"
    if not _valid_bind(web_bind):
        r.fail("INFORA_WEB_BIND", f"måste vara värd:port eller unix:/sökväg (fick {web_bind!r}).")
    web_workers = r.integer("INFORA_WEB_WORKERS", 4, 1, 64)
    web_threads = r.integer("INFORA_WEB_THREADS", 1, 1, 64)
    web_timeout = r.integer("INFORA_WEB_TIMEOUT", 60, 5, 3600)

    pg_bindir = None
    if (raw_bindir := r.get("INFORA_PG_BINDIR")) is not None:
        pg_bindir = Path(raw_bindir)
        if not (pg_bindir / "pg_dump").exists():
            r.fail(
                "INFORA_PG_BINDIR",
                f"måste vara katalogen med pg_dump och pg_restore; {raw_bindir!r} har ingen pg_dump.",
            )

    if r.problems:
        raise ConfigurationError(r.problems)
    return Settings(
        environment=environment,
        database_url=database_url,
        database_url_set=database_url_set,
        secret_key=secret_key,
        base_url=base_url,
        models_dir=models_dir,
        smtp=smtp,
        reminder_policy=policy,
        log_format=log_format,
        log_level=log_level,
        scheduler_mode=scheduler_mode,
        scheduler_max_sleep=max_sleep,
        secure_cookies=secure_cookies,
        session_hours=session_hours,
        session_idle_minutes=session_idle_minutes,
        lockout_attempts=lockout_attempts,
        lockout_window_minutes=lockout_window_minutes,
        lockout_minutes=lockout_minutes,
        trusted_proxies=trusted_proxies,
        oidc_issuer=oidc_issuer,
        oidc_client_id=oidc_client_id,
        oidc_client_secret=oidc_client_secret,
        web_bind=web_bind,
        web_workers=web_workers,
        web_threads=web_threads,
        web_timeout=web_timeout,
        pg_bindir=pg_bindir,
        warnings=tuple(r.warnings),
    )


def _database(r: _Reader, production: bool) -> tuple[str, bool]:
    name = "DATABASE_URL"
    raw = r.get("DATABASE_URL")
    if raw is None and (raw := r.get("INFORA_DATABASE_URL")) is not None:
        name = "INFORA_DATABASE_URL"
    url = normalise_database_url(raw) if raw else f"sqlite:///{DEFAULT_SQLITE_PATH}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        r.fail(name, "måste vara en databas-URL, t.ex. postgresql://infora:LÖSENORD@127.0.0.1/infora.")
        return url, raw is not None
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        r.fail(name, f"stöder PostgreSQL (postgresql://…) och SQLite (sqlite:///…), inte {backend!r}.")
    elif backend == "postgresql" and not parsed.database:
        r.fail(name, "saknar databasens namn, t.ex. postgresql://infora:LÖSENORD@127.0.0.1/infora.")
    elif backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        r.fail(name, "en SQLite-databas måste vara en fil (sqlite:////var/lib/infora/infora.sqlite3).")
    elif backend == "sqlite" and production and r.flag("INFORA_ALLOW_SQLITE", False) is False:
        r.fail(
            name if raw else "DATABASE_URL",
            "i produktion (INFORA_ENV=production) krävs PostgreSQL, t.ex. postgresql://infora:LÖSENORD@127.0.0.1/infora"
            " (en liten webbplats med en server kan välja SQLite med INFORA_ALLOW_SQLITE=1).",
        )
    return url, raw is not None


def _secret_key(r: _Reader, production: bool) -> str | None:
    # Not stripped: the key is used exactly as given.
    key = r.env.get("INFORA_SECRET_KEY") or None
    hint = "skapa en med: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
    if key is None:
        if production:
            r.fail("INFORA_SECRET_KEY", f"krävs i produktion (signerar inloggningarna); {hint}.")
        return None
    if production and len(key) < MIN_SECRET_LENGTH:
        r.fail("INFORA_SECRET_KEY", f"är för kort ({len(key)} tecken, minst {MIN_SECRET_LENGTH}); {hint}.")
    elif production and PLACEHOLDER in key:
        r.fail("INFORA_SECRET_KEY", f"är exempelvärdet ur infora.env.example; {hint}.")
    return key


def _base_url(r: _Reader, production: bool) -> str:
    raw = r.get("INFORA_BASE_URL")
    if raw is None:
        if production:
            r.fail(
                "INFORA_BASE_URL",
                "krävs i produktion: webbplatsens adress för länkar i e-post, t.ex. https://infora.region.se.",
            )
        return DEFAULT_BASE_URL
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        r.fail("INFORA_BASE_URL", f"måste vara en adress som https://infora.region.se (fick {raw!r}).")
        return DEFAULT_BASE_URL
    return raw.rstrip("/")


def _trusted_proxies(r: _Reader) -> int:
    """``INFORA_TRUSTED_PROXIES``, or its older name ``INFORA_PROXY_FIX`` (still read, so a
    deployment that set it keeps working; setting both differently is an error)."""
    trusted = r.integer("INFORA_TRUSTED_PROXIES", 0, 0, 5)
    if r.get("INFORA_PROXY_FIX") is None:
        return trusted
    alias = r.integer("INFORA_PROXY_FIX", 0, 0, 5)
    if r.get("INFORA_TRUSTED_PROXIES") is not None and alias != trusted:
        r.fail("INFORA_PROXY_FIX", f"säger {alias} men INFORA_TRUSTED_PROXIES {trusted}; sätt bara den ena.")
    return alias


def _oidc(r: _Reader) -> tuple[str | None, str | None, str | None]:
    """Single sign-on: off without an issuer; with one, the client id and secret are needed too
    and the role map must read (web/sso.py reads the rest: scopes, the group claim)."""
    issuer = r.get("INFORA_OIDC_ISSUER")
    client_id = r.get("INFORA_OIDC_CLIENT_ID")
    secret = r.env.get("INFORA_OIDC_CLIENT_SECRET") or None
    if issuer is None:
        return None, client_id, secret
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        r.fail(
            "INFORA_OIDC_ISSUER",
            f"måste vara identitetsleverantörens adress, t.ex. https://login.region.se (fick {issuer!r}).",
        )
    for name, value in (("INFORA_OIDC_CLIENT_ID", client_id), ("INFORA_OIDC_CLIENT_SECRET", secret)):
        if not value:
            r.fail(name, "krävs när INFORA_OIDC_ISSUER är satt (Inforas klient hos identitetsleverantören).")
    role_map = r.get("INFORA_OIDC_ROLE_MAP")
    if role_map is not None:
        from engine.services.sso import parse_role_map  # the one reading of the map; lazy: services import a lot

        try:
            parse_role_map(role_map)
        except ValueError as err:
            r.fail("INFORA_OIDC_ROLE_MAP", f"{err} (t.ex. infora-admins=admin,infora-koordinatorer=coordinator).")
    return issuer.rstrip("/"), client_id, secret


def _smtp(r: _Reader) -> SmtpConfig | None:
    """The SMTP settings; every bad SMTP variable is reported, not only the first.

    ``SmtpConfig.from_env`` stops at the first bad value; reading again without that variable
    (falling back to its default) finds the next one.
    """
    working = {k: v for k, v in r.env.items() if k in _SMTP_VARIABLES}
    reported: set[str] = set()
    found_error = False
    for _ in _SMTP_VARIABLES:
        try:
            config = SmtpConfig.from_env(working)
        except ConfigError as err:
            found_error = True
            setting = err.setting or "INFORA_SMTP_*"
            if setting not in reported:
                r.fail(setting, _without_prefix(str(err), setting))
                reported.add(setting)
            if setting not in working:
                break
            del working[setting]
            continue
        return None if found_error else config
    return None


def _without_prefix(message: str, setting: str) -> str:
    """The SMTP messages begin with the variable's name, which the listing already shows."""
    return message[len(setting) :].lstrip() if message.startswith(setting) else message


def _valid_bind(value: str) -> bool:
    if value.startswith("unix:"):
        return len(value) > len("unix:")
    host, sep, port = value.rpartition(":")
    return bool(sep and host and port.isdigit() and 1 <= int(port) <= 65535)
