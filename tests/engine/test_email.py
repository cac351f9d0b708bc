"""The SMTP transport against real SMTP servers (aiosmtpd on 127.0.0.1): what arrives, login,
refusals, network failures and TLS as `DeliveryError` with the right ``permanent``, header injection
refused before connecting, and the settings read from the environment."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.notify import ConfigError, DeliveryError, OutgoingEmail, SmtpConfig, build_message, send_email
from tests.smtp import free_port

SUBJECT = "Påminnelse: GAP-analys färdig förfaller måndag 3 november"
TEXT = (
    "Hej Anna!\n\n"
    "Uppgiften ”GAP-analys färdig” i ärendet Höftfraktur – Sahlgrenska förfaller måndag 3 november.\n"
    "Öppna uppgiften i Infora för att slutföra den.\n"
)
HTML = (
    "<p>Hej Anna!</p>\n"
    "<p>Uppgiften <strong>GAP-analys färdig</strong> i ärendet Höftfraktur – Sahlgrenska förfaller "
    "<em>måndag 3 november</em>.</p>\n"
)
SENDER = "Infora Västra Götaland <infora@region.example>"
RECIPIENT = "anna.berg@region.example"
# One credential pair goes through smtplib's own login, the other (non-ASCII) through UTF-8 AUTH PLAIN.
CREDENTIALS = {"infora": "s3kret-pass-123", "åsa": "lösenord-åäö"}


# --- servers ---------------------------------------------------------------------------------------


RCPT_REPLIES = {"upptagen": "450 4.2.1 Brevlådan är upptagen, försök senare", "okand": "550 5.1.1 No such user"}
DATA_REPLIES = {"data-senare": "451 4.3.0 Try again later", "data-nej": "554 5.6.0 Message rejected"}


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: bytes | None
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Recorder:
    """An aiosmtpd handler that keeps what it accepts. Some recipients are refused on purpose: at RCPT
    ``upptagen`` (450) and ``okand`` (550), at DATA ``data-senare`` (451) and ``data-nej`` (554).
    aiosmtpd finds the hooks by their upper-case names."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.drop_on_quit = False

    async def handle_QUIT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.drop_on_quit:
            assert server.transport is not None
            server.transport.close()
        return "221 Bye"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = RCPT_REPLIES.get(address.partition("@")[0])
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        for rcpt in envelope.rcpt_tos:
            reply = DATA_REPLIES.get(rcpt.partition("@")[0])
            if reply is not None:
                return reply
        assert envelope.mail_from is not None
        assert isinstance(envelope.content, bytes)
        login = session.auth_data if session.authenticated else None
        assert login is None or isinstance(login, bytes)
        assert server.transport is not None
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login, tls))
        return "250 2.0.0 Accepted"


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    if not isinstance(data, LoginPassword):
        return AuthResult(success=False, handled=False)
    login, password = data.login.decode(), data.password.decode()
    ok = CREDENTIALS.get(login) == password
    return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)


@dataclass
class Server:
    port: int
    recorder: Recorder

    def config(self, **overrides: Any) -> SmtpConfig:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "none",
            "sender": SENDER,
            "timeout": 2.0,
        }
        settings.update(overrides)
        return SmtpConfig(**settings)


@contextmanager
def serve(**smtp_options: Any) -> Iterator[Server]:
    """A real SMTP server on 127.0.0.1 in a thread of its own, stopped cleanly afterwards."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, server_hostname="smtp.test", **smtp_options)
    controller.start()
    try:
        yield Server(port, recorder)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def _auth_server() -> Iterator[Server]:
    # AUTH offered without TLS (auth_required is left False: aiosmtpd warns when it is combined with
    # auth_require_tls=False, and the tests assert what logged in anyway).
    with serve(authenticator=authenticate, auth_require_tls=False) as server:
        yield server


@pytest.fixture()
def server(_auth_server: Server) -> Server:
    """Accepts mail without login, offers AUTH over plain TCP, no STARTTLS."""
    _auth_server.recorder.received.clear()
    _auth_server.recorder.drop_on_quit = False
    return _auth_server


@pytest.fixture(scope="module")
def _bare_server() -> Iterator[Server]:
    with serve() as server:
        yield server


@pytest.fixture()
def bare_server(_bare_server: Server) -> Server:
    """aiosmtpd's defaults: neither STARTTLS nor (without TLS) AUTH."""
    _bare_server.recorder.received.clear()
    return _bare_server


@dataclass
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throw-away self-signed certificate for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command makes the test certificate (make test installs it)"
    folder = tmp_path_factory.mktemp("tls")
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    options = "-x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1"
    command = [openssl, "req", *options.split(), "-addext", "subjectAltName=IP:127.0.0.1"]
    command += ["-keyout", str(files.key), "-out", str(files.cert)]
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    return files


@pytest.fixture()
def trust(tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test certificate the only trusted one: ssl.create_default_context() reads
    SSL_CERT_FILE, so the module under test needs no hook for this."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture(scope="module")
def starttls_server(tls_files: TlsFiles) -> Iterator[Server]:
    """Offers STARTTLS, and AUTH only after it (aiosmtpd's default auth_require_tls)."""
    with serve(tls_context=tls_files.server_context(), authenticator=authenticate) as server:
        yield server


@pytest.fixture(scope="module")
def implicit_tls_server(tls_files: TlsFiles) -> Iterator[Server]:
    """Speaks TLS from the first byte. aiosmtpd's auth_require_tls only counts STARTTLS, so it is off
    here: the whole connection is encrypted anyway."""
    with serve(ssl_context=tls_files.server_context(), authenticator=authenticate, auth_require_tls=False) as server:
        yield server


@pytest.fixture()
def silent_listener() -> Iterator[socket.socket]:
    """A port that accepts TCP connections (the kernel completes them) but never greets."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        yield listener


def reminder(**overrides: Any) -> OutgoingEmail:
    settings: dict[str, Any] = {"to": RECIPIENT, "subject": SUBJECT, "text": TEXT}
    settings.update(overrides)
    return OutgoingEmail(**settings)


def delivery_error(action: Callable[[], object]) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        action()
    return caught.value


def normalized(text: str) -> str:
    return text.replace("\r\n", "\n")


# --- what arrives ----------------------------------------------------------------------------------


def test_the_message_arrives_with_envelope_headers_and_both_bodies(server: Server) -> None:
    message_id = "<paminnelse-42-1@infora.region.example>"
    send_email(server.config(), reminder(html=HTML, message_id=message_id))

    [got] = server.recorder.received
    assert got.mail_from == "infora@region.example"
    assert got.rcpt_tos == [RECIPIENT]
    assert got.login is None
    assert got.raw.isascii(), "headers are RFC 2047 encoded and bodies quoted-printable: no 8BITMIME needed"
    message = got.message
    assert message["Subject"] == SUBJECT
    assert message["From"] == SENDER
    assert message["To"] == RECIPIENT
    assert message["Message-ID"] == message_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "sv"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert normalized(plain.get_content()) == TEXT
    assert normalized(html.get_content()) == HTML
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_plain_text_only_with_a_generated_message_id_and_a_display_name(server: Server) -> None:
    to = "Åsa Öberg <asa.oberg@region.example>"
    send_email(server.config(), reminder(to=to))
    send_email(server.config(), reminder(to=to))

    first, second = server.recorder.received
    assert first.rcpt_tos == ["asa.oberg@region.example"]
    message = first.message
    assert message["To"] == to
    assert message.get_content_type() == "text/plain"
    assert normalized(message.get_content()) == TEXT
    assert re.fullmatch(r"<[^<>@\s]+@region\.example>", message["Message-ID"])
    assert message["Message-ID"] != second.message["Message-ID"]


def test_a_failing_quit_after_acceptance_is_no_error(server: Server) -> None:
    """The server took the message; raising now would make the outbox send it twice."""
    server.recorder.drop_on_quit = True
    send_email(server.config(), reminder())
    assert len(server.recorder.received) == 1


def test_a_message_id_without_angle_brackets_gets_them(server: Server) -> None:
    message = build_message(server.config(), reminder(message_id="utkorg-7@infora.example"))
    assert message["Message-ID"] == "<utkorg-7@infora.example>"


# --- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["infora", "åsa"], ids=["ascii-smtplib-login", "non-ascii-utf8-plain"])
def test_right_credentials_log_in_and_deliver(server: Server, username: str) -> None:
    send_email(server.config(username=username, password=CREDENTIALS[username]), reminder())
    [got] = server.recorder.received
    assert got.login == username.encode()


@pytest.mark.parametrize(("username", "password"), [("infora", "fel-losenord-99"), ("åsa", "fel-lösenord-ÅÄÖ")])
def test_wrong_credentials_are_permanent_and_the_reason_hides_the_password(
    server: Server, username: str, password: str
) -> None:
    error = delivery_error(lambda: send_email(server.config(username=username, password=password), reminder()))
    assert error.permanent is True
    assert "535" in error.reason
    assert password not in error.reason and password not in str(error) and password not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__
    assert server.recorder.received == []


def test_a_username_for_a_server_without_auth_is_permanent(bare_server: Server) -> None:
    error = delivery_error(lambda: send_email(bare_server.config(username="infora", password="x-y-z"), reminder()))
    assert error.permanent is True
    assert "AUTH" in error.reason
    assert bare_server.recorder.received == []


# --- refusals and network failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "code", "permanent"),
    [("upptagen", "450", False), ("okand", "550", True), ("data-senare", "451", False), ("data-nej", "554", True)],
)
def test_refusals_are_permanent_for_5xx_and_temporary_for_4xx(
    server: Server, local: str, code: str, permanent: bool
) -> None:
    error = delivery_error(lambda: send_email(server.config(), reminder(to=f"{local}@region.example")))
    assert error.permanent is permanent
    assert code in error.reason
    assert server.recorder.received == []


def test_nothing_listening_is_temporary_and_quick() -> None:
    port = free_port()
    config = SmtpConfig("127.0.0.1", port, security="none", timeout=0.5)
    started = time.monotonic()
    error = delivery_error(lambda: send_email(config, reminder()))
    assert time.monotonic() - started < 1.5
    assert error.permanent is False
    assert str(port) in error.reason


def test_a_server_that_never_greets_times_out_as_temporary(silent_listener: socket.socket) -> None:
    port = silent_listener.getsockname()[1]
    config = SmtpConfig("127.0.0.1", port, security="none", timeout=0.3)
    started = time.monotonic()
    error = delivery_error(lambda: send_email(config, reminder()))
    assert time.monotonic() - started < 1.5
    assert error.permanent is False
    assert "0.3 s" in error.reason


# --- TLS ---------------------------------------------------------------------------------------------


def test_starttls_against_a_server_without_it_is_permanent_and_sends_nothing(bare_server: Server) -> None:
    error = delivery_error(lambda: send_email(bare_server.config(security="starttls"), reminder()))
    assert error.permanent is True
    assert "STARTTLS" in error.reason
    assert bare_server.recorder.received == []


@pytest.mark.usefixtures("trust")
def test_starttls_then_login_delivers(starttls_server: Server) -> None:
    starttls_server.recorder.received.clear()
    config = starttls_server.config(security="starttls", username="åsa", password=CREDENTIALS["åsa"])
    send_email(config, reminder(html=HTML))
    [got] = starttls_server.recorder.received
    assert got.tls is True
    assert got.login == "åsa".encode()
    assert got.message["Subject"] == SUBJECT


def test_an_untrusted_certificate_is_permanent(starttls_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    starttls_server.recorder.received.clear()
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    error = delivery_error(lambda: send_email(starttls_server.config(security="starttls"), reminder()))
    assert error.permanent is True
    assert "certifikat" in error.reason
    assert starttls_server.recorder.received == []


@pytest.mark.usefixtures("trust")
def test_implicit_tls_delivers(implicit_tls_server: Server) -> None:
    implicit_tls_server.recorder.received.clear()
    config = implicit_tls_server.config(security="tls", username="infora", password=CREDENTIALS["infora"])
    send_email(config, reminder())
    [got] = implicit_tls_server.recorder.received
    assert got.tls is True
    assert got.login == b"infora"


def test_implicit_tls_against_a_plain_server_is_temporary(bare_server: Server) -> None:
    error = delivery_error(lambda: send_email(bare_server.config(security="tls", timeout=1.0), reminder()))
    assert error.permanent is False
    assert bare_server.recorder.received == []


# --- refused before connecting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": "anna.berg@region.example\r\nBcc: alla@region.example"},
        {"to": "anna.berg@region.example\nBcc: alla@region.example"},
        {"subject": "Påminnelse\r\nBcc: alla@region.example"},
        {"subject": "Påminnelse\nX-Injected: ja"},
        {"subject": "Påminnelse\rX-Injected: ja"},
        {"subject": "Påminnelse\u2028X-Injected: ja"},
        {"message_id": "<a@b>\r\nBcc: alla@region.example"},
    ],
    ids=["to-crlf", "to-lf", "subject-crlf", "subject-lf", "subject-cr", "subject-u2028", "message-id"],
)
def test_header_injection_is_refused_without_connecting(
    silent_listener: socket.socket, overrides: dict[str, str]
) -> None:
    config = SmtpConfig("127.0.0.1", silent_listener.getsockname()[1], security="none", timeout=0.3)
    error = delivery_error(lambda: send_email(config, reminder(**overrides)))
    assert error.permanent is True
    assert "radbrytning" in error.reason
    with pytest.raises(BlockingIOError):
        silent_listener.accept()
    with pytest.raises(DeliveryError):
        build_message(config, reminder(**overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": ""},
        {"to": "anna.berg"},
        {"to": "anna@"},
        {"to": "@region.example"},
        {"to": "a@region.example, b@region.example"},
        {"message_id": ""},
        {"message_id": "<>"},
        {"message_id": "utan-snabel-a"},
        {"message_id": "<två delar@infora.example>"},
    ],
)
def test_an_unsendable_message_is_refused_without_connecting(
    silent_listener: socket.socket, overrides: dict[str, str]
) -> None:
    config = SmtpConfig("127.0.0.1", silent_listener.getsockname()[1], security="none", timeout=0.3)
    error = delivery_error(lambda: send_email(config, reminder(**overrides)))
    assert error.permanent is True
    with pytest.raises(BlockingIOError):
        silent_listener.accept()


header_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", "<>", " <a@b>", "a@b\r\nBcc: c@d"]
)


@settings(max_examples=200, deadline=None)
@example(to="0\xa1\U00010000@0\xa1\U00010000", subject="", message_id=None)  # once found: a non-ASCII address
@given(
    to=header_text | st.builds("{}@{}".format, header_text, header_text),
    subject=header_text,
    message_id=st.none() | header_text | st.builds("<{}@{}>".format, header_text, header_text),
)
def test_any_header_values_give_a_permanent_error_or_one_clean_message(
    to: str, subject: str, message_id: str | None
) -> None:
    config = SmtpConfig("smtp.region.example", sender=SENDER)
    try:
        message = build_message(config, OutgoingEmail(to, subject, TEXT, message_id=message_id))
    except DeliveryError as error:
        assert error.permanent is True
        return
    parsed = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert sorted(parsed.keys()) == sorted(message.keys())
    assert len(parsed.get_all("To") or []) == 1


# --- settings ----------------------------------------------------------------------------------------


FULL_ENV = {
    "INFORA_SMTP_HOST": "smtp.region.example",
    "INFORA_SMTP_PORT": "2525",
    "INFORA_SMTP_SECURITY": "TLS",
    "INFORA_SMTP_USERNAME": "infora",
    "INFORA_SMTP_PASSWORD": " lösen med blanksteg ",
    "INFORA_SMTP_SENDER": SENDER,
    "INFORA_SMTP_TIMEOUT": "2.5",
    "PATH": "/usr/bin",
}


@pytest.mark.parametrize("env", [{}, {"INFORA_SMTP_HOST": ""}, {"INFORA_SMTP_HOST": "  ", "INFORA_SMTP_PORT": "x"}])
def test_no_host_means_no_smtp(env: dict[str, str]) -> None:
    assert SmtpConfig.from_env(env) is None


def test_a_full_valid_environment() -> None:
    assert SmtpConfig.from_env(FULL_ENV) == SmtpConfig(
        host="smtp.region.example",
        port=2525,
        security="tls",
        username="infora",
        password=" lösen med blanksteg ",
        sender=SENDER,
        timeout=2.5,
    )


@pytest.mark.parametrize(("security", "port"), [(None, 587), ("starttls", 587), ("tls", 465), ("none", 25)])
def test_defaults_follow_the_security_mode(security: str | None, port: int) -> None:
    env = {"INFORA_SMTP_HOST": "smtp.region.example"}
    if security is not None:
        env["INFORA_SMTP_SECURITY"] = security
    config = SmtpConfig.from_env(env)
    assert config == SmtpConfig("smtp.region.example", port, security or "starttls")
    assert config.sender == "Infora <infora@localhost>" and config.timeout == 10.0 and config.username is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INFORA_SMTP_HOST", "smtp region.example"),
        ("INFORA_SMTP_PORT", "smtp"),
        ("INFORA_SMTP_PORT", "0"),
        ("INFORA_SMTP_PORT", "65536"),
        ("INFORA_SMTP_PORT", "-25"),
        ("INFORA_SMTP_PORT", "5_87"),
        ("INFORA_SMTP_SECURITY", "ssl"),
        ("INFORA_SMTP_SENDER", "Infora"),
        ("INFORA_SMTP_SENDER", "a@region.example, b@region.example"),
        ("INFORA_SMTP_TIMEOUT", "snabbt"),
        ("INFORA_SMTP_TIMEOUT", "0"),
        ("INFORA_SMTP_TIMEOUT", "-1"),
        ("INFORA_SMTP_TIMEOUT", "nan"),
        ("INFORA_SMTP_TIMEOUT", "inf"),
    ],
)
def test_an_invalid_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SmtpConfig.from_env({**FULL_ENV, variable: value})
    assert caught.value.setting == variable
    assert variable in str(caught.value)
    assert FULL_ENV["INFORA_SMTP_PASSWORD"] not in str(caught.value)


@pytest.mark.parametrize("missing", ["INFORA_SMTP_USERNAME", "INFORA_SMTP_PASSWORD"])
def test_username_and_password_come_together(missing: str) -> None:
    env = {key: value for key, value in FULL_ENV.items() if key != missing}
    with pytest.raises(ConfigError) as caught:
        SmtpConfig.from_env(env)
    message = str(caught.value)
    assert "INFORA_SMTP_USERNAME" in message and "INFORA_SMTP_PASSWORD" in message
    assert FULL_ENV["INFORA_SMTP_PASSWORD"] not in message


def test_a_config_built_directly_is_checked_too_and_hides_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        SmtpConfig("smtp.region.example", port=0)
    assert caught.value.setting == "port"
    with pytest.raises(ConfigError):
        SmtpConfig("smtp.region.example", security="SSL")
    config = SmtpConfig("smtp.region.example", username="infora", password="hemligt-123")
    assert "hemligt-123" not in repr(config)
    assert replace(config, port=2525).port == 2525


def test_a_non_ascii_address_is_refused_but_a_non_ascii_name_is_fine() -> None:
    config = SmtpConfig("smtp.region.example", sender=SENDER)
    error = delivery_error(lambda: build_message(config, OutgoingEmail("åsa@vård.example", "Ämne", TEXT)))
    assert error.permanent is True
    message = build_message(config, OutgoingEmail("Åsa Öberg <asa@vard.example>", "Ämne", TEXT))
    parsed = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert parsed["To"] == "Åsa Öberg <asa@vard.example>"
    assert sorted(parsed.keys()) == sorted(message.keys())
