"""Settings from the environment: development defaults, strict production checks, every bad variable
listed at once, secrets never printed. (``infora check-config``, create_app and ``infora scheduler``
with bad settings: tests/web/test_health_and_logs.py.)"""

from __future__ import annotations

import pytest

from engine.config import ConfigurationError, load_settings, normalise_database_url

SECRET = "s" * 48
PRODUCTION = {
    "INFORA_ENV": "production",
    "DATABASE_URL": "postgresql://infora:db-l0senord@db.region.se:5432/infora",
    "INFORA_SECRET_KEY": SECRET,
    "INFORA_BASE_URL": "https://infora.region.se/",
}


def _problems(env: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    return {p.variable: p.message for p in caught.value.problems}


def test_development_defaults_need_nothing() -> None:
    settings = load_settings({})
    assert settings.environment == "development" and not settings.production
    assert settings.database_url == "sqlite:///instance/infora.sqlite3" and not settings.database_url_set
    assert settings.secret_key is None  # create_app keeps one in instance/secret_key
    assert (settings.log_format, settings.log_level, settings.scheduler_mode) == ("text", "INFO", "embedded")
    assert settings.base_url == "http://127.0.0.1:5000" and settings.smtp is None
    assert (settings.web_workers, settings.session_hours, settings.secure_cookies) == (4, 8, False)


def test_production_with_the_required_variables() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.production
    assert settings.database_url.startswith("postgresql+psycopg://infora:db-l0senord@db.region.se")
    assert settings.base_url == "https://infora.region.se"
    # Production defaults: JSON logs, the scheduler as its own process, secure cookies over https.
    assert (settings.log_format, settings.scheduler_mode, settings.secure_cookies) == ("json", "separate", True)
    assert any("INFORA_SMTP_HOST" in w for w in settings.warnings)


def test_production_refuses_to_start_without_a_secret_key_base_url_and_database_server() -> None:
    problems = _problems({"INFORA_ENV": "production"})
    assert set(problems) == {"DATABASE_URL", "INFORA_SECRET_KEY", "INFORA_BASE_URL"}
    assert "PostgreSQL" in problems["DATABASE_URL"] and "INFORA_ALLOW_SQLITE=1" in problems["DATABASE_URL"]
    assert "secrets.token_urlsafe" in problems["INFORA_SECRET_KEY"]


def test_sqlite_in_production_only_when_allowed_and_a_short_secret_is_refused() -> None:
    env = {**PRODUCTION, "DATABASE_URL": "sqlite:////var/lib/infora/infora.sqlite3"}
    assert set(_problems(env)) == {"DATABASE_URL"}
    assert load_settings({**env, "INFORA_ALLOW_SQLITE": "1"}).database_url.startswith("sqlite:")
    assert set(_problems({**PRODUCTION, "INFORA_SECRET_KEY": "kort"})) == {"INFORA_SECRET_KEY"}
    example = _problems({**PRODUCTION, "INFORA_SECRET_KEY": "CHANGE-ME-TO-A-LONG-RANDOM-STRING"})
    assert "exempelvärdet" in example["INFORA_SECRET_KEY"]


def test_every_bad_variable_is_listed_at_once_with_what_is_expected() -> None:
    env = {
        "INFORA_ENV": "staging",
        "DATABASE_URL": "mysql://x@y/z",
        "INFORA_BASE_URL": "infora.region.se",
        "INFORA_MODELS_DIR": "/finns/inte",
        "INFORA_SMTP_HOST": "smtp.region.se",
        "INFORA_SMTP_PORT": "hundra",
        "INFORA_SMTP_SECURITY": "ssl",
        "INFORA_SMTP_SENDER": "inte en adress",
        "INFORA_REMINDER_OFFSETS": "en vecka",
        "INFORA_LOG_FORMAT": "xml",
        "INFORA_LOG_LEVEL": "chatty",
        "INFORA_SCHEDULER": "cron",
        "INFORA_SCHEDULER_MAX_SLEEP": "-1",
        "INFORA_SECURE_COOKIES": "kanske",
        "INFORA_SESSION_HOURS": "0",
        "INFORA_TRUSTED_PROXIES": "many",
        "INFORA_WEB_BIND": "8000",
        "INFORA_WEB_WORKERS": "0",
        "INFORA_WEB_THREADS": "x",
        "INFORA_WEB_TIMEOUT": "1",
    }
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    problems = {p.variable: p.message for p in caught.value.problems}
    assert set(problems) == {
        "INFORA_ENV", "DATABASE_URL", "INFORA_BASE_URL", "INFORA_MODELS_DIR", "INFORA_SMTP_PORT",
        "INFORA_SMTP_SECURITY", "INFORA_SMTP_SENDER", "INFORA_REMINDER_OFFSETS / INFORA_ESCALATE_AFTER",
        "INFORA_LOG_FORMAT", "INFORA_LOG_LEVEL", "INFORA_SCHEDULER", "INFORA_SCHEDULER_MAX_SLEEP",
        "INFORA_SECURE_COOKIES", "INFORA_SESSION_HOURS", "INFORA_TRUSTED_PROXIES", "INFORA_WEB_BIND",
        "INFORA_WEB_WORKERS", "INFORA_WEB_THREADS", "INFORA_WEB_TIMEOUT",
    }  # fmt: skip
    assert problems["INFORA_ENV"] == "måste vara development eller production (fick 'staging')."
    assert "starttls, tls eller none" in problems["INFORA_SMTP_SECURITY"]
    assert "från 1 till 64" in problems["INFORA_WEB_WORKERS"]
    text = str(caught.value)
    assert text.startswith("Infora kan inte starta: 19 fel")
    assert "  - INFORA_SMTP_PORT: " in text and "deploy/infora.env.example" in text


def test_smtp_settings_are_read_by_the_e_mail_module() -> None:
    env = {"INFORA_SMTP_HOST": "smtp.region.se", "INFORA_SMTP_SECURITY": "tls", "INFORA_SMTP_USERNAME": "infora",
           "INFORA_SMTP_PASSWORD": "smtp-hemlis", "INFORA_SMTP_SENDER": "Infora <infora@region.se>"}  # fmt: skip
    smtp = load_settings(env).smtp
    assert smtp is not None and (smtp.host, smtp.port, smtp.security) == ("smtp.region.se", 465, "tls")
    assert set(_problems({"INFORA_SMTP_HOST": "smtp", "INFORA_SMTP_USERNAME": "u"})) == {"INFORA_SMTP_PASSWORD"}


def test_secrets_are_masked_when_the_settings_are_shown() -> None:
    env = {**PRODUCTION, "INFORA_SMTP_HOST": "smtp.region.se", "INFORA_SMTP_USERNAME": "infora",
           "INFORA_SMTP_PASSWORD": "smtp-hemlis"}  # fmt: skip
    shown = dict(load_settings(env).describe())
    text = repr(load_settings(env)) + repr(shown)
    for secret in (SECRET, "db-l0senord", "smtp-hemlis"):
        assert secret not in text
    assert shown["INFORA_SECRET_KEY"] == "****** (48 tecken)"
    assert shown["DATABASE_URL"] == "postgresql+psycopg://infora:***@db.region.se:5432/infora"


def test_hosting_style_database_urls_get_the_psycopg_driver() -> None:
    assert normalise_database_url("postgres://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    assert normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert load_settings({"INFORA_DATABASE_URL": "postgres://u@h/d"}).database_url == "postgresql+psycopg://u@h/d"


def test_sign_in_security_and_single_sign_on_settings_are_checked_with_the_others() -> None:
    problems = _problems(
        {"INFORA_OIDC_ISSUER": "login.region.se", "INFORA_LOCKOUT_ATTEMPTS": "0", "INFORA_SESSION_IDLE_MINUTES": "x",
         "INFORA_TRUSTED_PROXIES": "1", "INFORA_PROXY_FIX": "2", "INFORA_OIDC_ROLE_MAP": "infora-admins=superuser"}
    )  # fmt: skip
    assert set(problems) == {
        "INFORA_OIDC_ISSUER", "INFORA_OIDC_CLIENT_ID", "INFORA_OIDC_CLIENT_SECRET", "INFORA_LOCKOUT_ATTEMPTS",
        "INFORA_SESSION_IDLE_MINUTES", "INFORA_PROXY_FIX", "INFORA_OIDC_ROLE_MAP",
    }  # fmt: skip
    assert "superuser" in problems["INFORA_OIDC_ROLE_MAP"]
    settings = load_settings(
        {"INFORA_OIDC_ISSUER": "https://login.region.se/", "INFORA_OIDC_CLIENT_ID": "infora",
         "INFORA_OIDC_CLIENT_SECRET": "oidc-hemlis", "INFORA_PROXY_FIX": "1"}
    )  # fmt: skip
    assert (settings.oidc_issuer, settings.trusted_proxies) == ("https://login.region.se", 1)
    shown = dict(settings.describe())
    assert shown["INFORA_OIDC_CLIENT_SECRET"] == "****** (11 tecken)" and "oidc-hemlis" not in repr(settings)
    assert (settings.lockout_attempts, settings.lockout_window_minutes, settings.lockout_minutes) == (5, 15, 15)


def test_the_environment_file_example_documents_every_variable() -> None:
    """Every variable Infora reads (engine/ and web/) has a line in deploy/infora.env.example."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    example = (root / "deploy" / "infora.env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    read = set()
    for folder in ("engine", "web"):
        for path in (root / folder).rglob("*.py"):
            read |= set(
                re.findall(r"\b((?:INFORA_[A-Z0-9_]*[A-Z0-9])|DATABASE_URL)\b", path.read_text(encoding="utf-8"))
            )
    internal = {"INFORA_LOCKOUT_POLICY"}  # web/auth.py's app.config key, not a variable
    assert sorted(read - documented - internal) == []
