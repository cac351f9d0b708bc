"""Sending one e-mail over SMTP: the transport under the outbox.

`build_message` turns an `OutgoingEmail` into a standards-conforming `EmailMessage` (UTF-8 headers, so
Swedish subjects survive; `Auto-Submitted: auto-generated`; `Content-Language: sv`; a plain-text body
with an optional HTML alternative). `send_email` opens one connection, secures it, logs in, sends the
message and quits. Every failure becomes a `DeliveryError` whose ``permanent`` flag tells the outbox
whether retrying the same message with the same settings can succeed:

* a reply code decides where the server gave one: 5xx is permanent, 4xx is temporary;
* network trouble (refused connection, unknown host, timeout, a dropped connection, a broken TLS
  handshake) is temporary;
* a message that can never be sent (a CR or LF in a header, an address that is not one address) and a
  TLS policy the server cannot meet (no STARTTLS offered when ``security="starttls"``, a certificate
  that does not verify) are permanent: the server answers the same way every time until a person
  changes the configuration, and falling back to sending in clear would be a silent downgrade.

Only the standard library is used here; the password never appears in a reason, a ``repr`` or a
chained exception.
"""

from __future__ import annotations

import base64
import contextlib
import math
import re
import smtplib
import socket
import ssl
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

from engine.clock import utcnow

SECURITY_MODES = ("starttls", "tls", "none")
"""The values of `SmtpConfig.security`: STARTTLS on a plain connection, implicit TLS, or no TLS."""

DEFAULT_SENDER = "Infora <infora@localhost>"
_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_MAX_REASON = 300
_MAX_SERVER_TEXT = 200
# RFC 5322 msg-id without the brackets: dot-atom-text "@" dot-atom-text (ASCII, no blanks).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_MESSAGE_ID = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")

_ENV_HOST = "INFORA_SMTP_HOST"
_ENV_PORT = "INFORA_SMTP_PORT"
_ENV_SECURITY = "INFORA_SMTP_SECURITY"
_ENV_USERNAME = "INFORA_SMTP_USERNAME"
_ENV_PASSWORD = "INFORA_SMTP_PASSWORD"
_ENV_SENDER = "INFORA_SMTP_SENDER"
_ENV_TIMEOUT = "INFORA_SMTP_TIMEOUT"

_FIELD_LABELS = {name: name for name in ("host", "port", "security", "username", "password", "sender", "timeout")}
_ENV_LABELS = {
    "host": _ENV_HOST,
    "port": _ENV_PORT,
    "security": _ENV_SECURITY,
    "username": _ENV_USERNAME,
    "password": _ENV_PASSWORD,
    "sender": _ENV_SENDER,
    "timeout": _ENV_TIMEOUT,
}


class ConfigError(ValueError):
    """The SMTP settings are invalid.

    The message is Swedish and names the setting; ``setting`` holds that name (the environment variable
    for `SmtpConfig.from_env`, the field name when a `SmtpConfig` is built directly).
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class DeliveryError(Exception):
    """Sending failed.

    Attributes:
        permanent: True when retrying the same message with the same settings cannot succeed (a 5xx
            reply, a bad address, a header-injection attempt, a TLS policy the server cannot meet);
            False for network trouble, timeouts and 4xx replies, which may pass on a later attempt.
        reason: a short Swedish explanation (at most 300 characters, fit for the outbox's
            ``last_error``) that never contains the password.
    """

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent

    def __repr__(self) -> str:
        return f"DeliveryError({self.reason!r}, permanent={self.permanent})"


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send: the SMTP server, its security mode, credentials and the From address.

    ``security`` is ``"starttls"`` (plain connection upgraded with STARTTLS; refused if the server does
    not offer it), ``"tls"`` (implicit TLS, usually port 465) or ``"none"``. TLS always verifies the
    server's certificate and host name against the system's trust store. The password is left out of
    ``repr``. Invalid values raise `ConfigError`.
    """

    host: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    timeout: float = 10.0

    def __post_init__(self) -> None:
        _check_settings(
            host=self.host,
            port=self.port,
            security=self.security,
            username=self.username,
            password=self.password,
            sender=self.sender,
            timeout=self.timeout,
            labels=_FIELD_LABELS,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpConfig | None:
        """Read the settings from environment variables; None when no SMTP server is configured.

        ``INFORA_SMTP_HOST`` absent or empty means no SMTP server (the outbox holds its messages).
        ``INFORA_SMTP_SECURITY`` (starttls, tls or none; default starttls; case-insensitive),
        ``INFORA_SMTP_PORT`` (default 587 for starttls, 465 for tls, 25 for none),
        ``INFORA_SMTP_USERNAME`` and ``INFORA_SMTP_PASSWORD`` (both or neither),
        ``INFORA_SMTP_SENDER`` (an address, optionally with a display name; default
        ``Infora <infora@localhost>``) and ``INFORA_SMTP_TIMEOUT`` (seconds, default 10). An empty
        variable counts as absent; values other than the password are stripped of surrounding blanks.

        Raises:
            ConfigError: a value is invalid; the Swedish message names the variable.
        """

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        host = get(_ENV_HOST)
        if host is None:
            return None
        security = (get(_ENV_SECURITY) or "starttls").lower()
        if security not in SECURITY_MODES:
            raise ConfigError(_security_message(_ENV_SECURITY, env.get(_ENV_SECURITY, "")), setting=_ENV_SECURITY)
        port_text = get(_ENV_PORT)
        if port_text is None:
            port = _DEFAULT_PORTS[security]
        elif port_text.isascii() and port_text.isdigit():
            port = int(port_text)
        else:
            raise ConfigError(_port_message(_ENV_PORT, port_text), setting=_ENV_PORT)
        timeout_text = get(_ENV_TIMEOUT)
        timeout = 10.0
        if timeout_text is not None:
            try:
                timeout = float(timeout_text)
            except ValueError:
                raise ConfigError(_timeout_message(_ENV_TIMEOUT, timeout_text), setting=_ENV_TIMEOUT) from None
        username = get(_ENV_USERNAME)
        password = env.get(_ENV_PASSWORD) or None
        sender = get(_ENV_SENDER) or DEFAULT_SENDER
        _check_settings(
            host=host,
            port=port,
            security=security,
            username=username,
            password=password,
            sender=sender,
            timeout=timeout,
            labels=_ENV_LABELS,
        )
        return cls(host, port, security, username, password, sender, timeout)


@dataclass(frozen=True)
class OutgoingEmail:
    """One e-mail to one recipient.

    ``to`` is one address (``a@example.se`` or ``Namn <a@example.se>``); ``text`` is the plain-text
    body and ``html`` an optional HTML alternative. ``message_id``, when given (``<id@domain>`` in
    RFC 5322 form; angle brackets are added if missing), becomes the Message-ID, so a retry keeps the id the outbox
    stored and recipients' clients can drop duplicates.
    """

    to: str
    subject: str
    text: str
    html: str | None = None
    message_id: str | None = None


def build_message(config: SmtpConfig, email: OutgoingEmail) -> EmailMessage:
    """Build the message for `email`: From, To, Subject, Date, Message-ID, Auto-Submitted and
    Content-Language headers, a UTF-8 plain-text body and, when ``email.html`` is given, a
    multipart/alternative with the HTML part last.

    A new Message-ID uses the sender's domain. Bodies are quoted-printable, so any SMTP server takes
    them (no 8BITMIME needed).

    Raises:
        DeliveryError: permanent; ``to`` is not exactly one address, ``message_id`` is not of the form
            ``<id@domain>``, a header value (``to``, ``subject``, ``message_id``) contains a CR, LF or
            other control character (header injection), or a text cannot be encoded as UTF-8.
    """
    _check_header("Mottagaradressen", email.to)
    _check_header("Ämnesraden", email.subject)
    if email.message_id is not None:
        _check_header("Message-ID", email.message_id)
        if _MESSAGE_ID.fullmatch(email.message_id.strip().removeprefix("<").removesuffix(">")) is None:
            raise DeliveryError(
                f"Message-ID måste ha formen <id@domän> (fick {_clip(email.message_id, 100)!r}).", permanent=True
            )
    if _single_address(email.to) is None:
        raise DeliveryError(
            f"Mottagaradressen är inte en giltig e-postadress: {_clip(email.to, 100)!r}", permanent=True
        )
    for part in (email.to, email.subject, email.text, email.html or "", email.message_id or ""):
        try:
            part.encode("utf-8")
        except UnicodeEncodeError:
            raise DeliveryError("Meddelandet innehåller tecken som inte kan kodas som UTF-8.", permanent=True) from None

    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = _message_id(config, email.message_id)
    message["Auto-Submitted"] = "auto-generated"
    # Asks Exchange/Outlook not to answer with out-of-office replies.
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(email.text, charset="utf-8", cte="quoted-printable")
    if email.html is not None:
        message.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the bodies: turning the message multipart moves every Content-* header into the first part.
    message["Content-Language"] = "sv"
    return message


def send_email(config: SmtpConfig, email: OutgoingEmail) -> None:
    """Send `email` through the server in `config` on a connection of its own.

    Connects with SMTP (``starttls``, ``none``) or SMTP_SSL (``tls``), upgrades with STARTTLS using
    the default SSL context when ``security="starttls"``, logs in when a username is configured
    (credentials with non-ASCII characters, which smtplib cannot send, go as UTF-8 AUTH PLAIN), sends
    the message to ``email.to`` from the sender's address, and quits. Once the server has accepted the
    message, a failing QUIT is ignored: the message was delivered and must not be sent again.

    A server without STARTTLS when ``security="starttls"`` is a permanent error, never a fallback to
    sending in clear: the server advertises the same capabilities on every attempt, so only a change of
    configuration helps (and a stripped STARTTLS may be an attack).

    Raises:
        DeliveryError: the message was not accepted; see the module docstring for ``permanent``.
            Header injection and bad addresses are refused before connecting.
    """
    message = build_message(config, email)
    recipient = _single_address(email.to)
    sender = _single_address(config.sender)
    if recipient is None or sender is None:  # pragma: no cover - build_message and SmtpConfig checked both
        raise DeliveryError("Avsändar- eller mottagaradressen är ogiltig.", permanent=True)
    client: smtplib.SMTP | None = None
    try:
        client = _connect(config)
        client.ehlo_or_helo_if_needed()
        if config.security == "starttls":
            if not client.has_extn("starttls"):
                raise DeliveryError(
                    f"SMTP-servern {config.host}:{config.port} erbjuder inte STARTTLS, som "
                    f"INFORA_SMTP_SECURITY=starttls kräver; meddelandet skickas inte okrypterat.",
                    permanent=True,
                )
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if config.username is not None:
            if not client.has_extn("auth"):
                raise DeliveryError(
                    f"SMTP-servern {config.host}:{config.port} erbjuder ingen inloggning (AUTH), men ett "
                    f"användarnamn är angivet.",
                    permanent=True,
                )
            _login(client, config.username, config.password or "")
        client.send_message(message, from_addr=sender, to_addrs=[recipient])
    except DeliveryError:
        _close(client)
        raise
    except (smtplib.SMTPException, OSError, UnicodeError) as exc:
        _close(client)
        raise _delivery_error(exc, config, sender, recipient) from None
    _quit(client)


# --- settings ------------------------------------------------------------------------------------


def _check_settings(
    *,
    host: str,
    port: int,
    security: str,
    username: str | None,
    password: str | None,
    sender: str,
    timeout: float,
    labels: Mapping[str, str],
) -> None:
    if not host or any(ch.isspace() or _is_control(ch) for ch in host):
        raise ConfigError(
            f"{labels['host']} måste vara ett värdnamn utan blanksteg eller kontrolltecken (fick {host!r}).",
            setting=labels["host"],
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(_port_message(labels["port"], str(port)), setting=labels["port"])
    if security not in SECURITY_MODES:
        raise ConfigError(_security_message(labels["security"], security), setting=labels["security"])
    if password is not None and username is None:
        raise ConfigError(
            f"{labels['password']} är satt men {labels['username']} saknas; ange båda eller ingen av dem.",
            setting=labels["password"],
        )
    if username is not None and password is None:
        raise ConfigError(
            f"{labels['username']} är satt men {labels['password']} saknas; ange båda eller ingen av dem.",
            setting=labels["password"],
        )
    if username is not None and (not username or any(_is_control(ch) for ch in username)):
        raise ConfigError(
            f"{labels['username']} får inte vara tomt eller innehålla radbrytningar eller kontrolltecken.",
            setting=labels["username"],
        )
    if password is not None and any(_is_control(ch) for ch in password):
        raise ConfigError(
            f"{labels['password']} får inte innehålla radbrytningar eller kontrolltecken.",
            setting=labels["password"],
        )
    if _single_address(sender) is None:
        raise ConfigError(
            f'{labels["sender"]} måste vara en e-postadress, t.ex. "Infora <infora@example.se>" (fick {sender!r}).',
            setting=labels["sender"],
        )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(_timeout_message(labels["timeout"], str(timeout)), setting=labels["timeout"])


def _port_message(label: str, value: str) -> str:
    return f"{label} måste vara ett portnummer, ett heltal från 1 till 65535 (fick {value!r})."


def _security_message(label: str, value: str) -> str:
    return f"{label} måste vara starttls, tls eller none (fick {value!r})."


def _timeout_message(label: str, value: str) -> str:
    return f"{label} måste vara ett positivt antal sekunder, t.ex. 10 eller 2.5 (fick {value!r})."


# --- addresses and headers -----------------------------------------------------------------------


def _is_control(ch: str) -> bool:
    """A character that could end a header line or confuse a parser (tab is allowed)."""
    return ch != "\t" and (unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029")


def _check_header(what: str, value: str) -> None:
    if any(_is_control(ch) for ch in value):
        raise DeliveryError(
            f"{what} innehåller en radbrytning eller ett kontrolltecken; meddelandet skickas inte "
            f"(skydd mot header injection).",
            permanent=True,
        )


def _single_address(value: str) -> str | None:
    """The bare address in ``a@b`` or ``Namn <a@b>``; None unless `value` holds exactly one plausible
    address."""
    if any(_is_control(ch) for ch in value):
        return None
    pairs = getaddresses([value])
    if len(pairs) != 1:
        return None
    address = pairs[0][1]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "@" in local:
        return None
    if any(ch.isspace() or ch in '<>()[],;:"\\' for ch in address):
        return None
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return None
    if not address.isascii():
        # Internationalised addresses need SMTPUTF8, which this transport does not speak; sent
        # anyway, the header would not survive the SMTP encoding (found by the property test).
        return None
    return address


def _message_id(config: SmtpConfig, given: str | None) -> str:
    if given is not None:
        return f"<{given.strip().removeprefix('<').removesuffix('>')}>"
    address = _single_address(config.sender) or "infora@localhost"
    domain = address.rpartition("@")[2]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = "localhost"
    return make_msgid(domain=domain)


# --- the SMTP conversation -----------------------------------------------------------------------


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    if config.security == "tls":
        return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=ssl.create_default_context())
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout)


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    if username.isascii() and password.isascii():
        client.login(username, password)
        return
    # smtplib encodes credentials as ASCII; RFC 4616 PLAIN carries UTF-8 (a Swedish password with å, ä, ö).
    if "PLAIN" not in client.esmtp_features["auth"].upper().split():
        raise DeliveryError(
            "Användarnamn eller lösenord innehåller tecken utanför ASCII, vilket kräver AUTH PLAIN, "
            "men SMTP-servern erbjuder inte den metoden.",
            permanent=True,
        )
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    code, reply = client.docmd("AUTH", f"PLAIN {token}")
    if code not in (235, 503):
        raise smtplib.SMTPAuthenticationError(code, reply)


def _close(client: smtplib.SMTP | None) -> None:
    if client is None:
        return
    with contextlib.suppress(OSError):
        client.close()


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        _close(client)


# --- errors --------------------------------------------------------------------------------------


def _delivery_error(exc: Exception, config: SmtpConfig, sender: str, recipient: str) -> DeliveryError:
    """Classify a failure from smtplib, ssl or the socket layer; see the module docstring."""
    server = f"{config.host}:{config.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (-1, b""))
        return _coded(f"SMTP-servern avvisade mottagaren {recipient}", code, reply, config)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _coded(f"SMTP-servern avvisade avsändaren {sender}", exc.smtp_code, exc.smtp_error, config)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        who = config.username or ""
        return _coded(f"Inloggningen som {who!r} på SMTP-servern misslyckades", exc.smtp_code, exc.smtp_error, config)
    if isinstance(exc, smtplib.SMTPDataError):
        return _coded("SMTP-servern avvisade meddelandet", exc.smtp_code, exc.smtp_error, config)
    if isinstance(exc, smtplib.SMTPConnectError):
        return _coded(f"SMTP-servern {server} tog inte emot anslutningen", exc.smtp_code, exc.smtp_error, config)
    if isinstance(exc, smtplib.SMTPHeloError):
        return _coded("SMTP-servern avvisade EHLO/HELO", exc.smtp_code, exc.smtp_error, config)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _coded("SMTP-servern svarade med ett fel", exc.smtp_code, exc.smtp_error, config)
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
        # smtplib reports a read that timed out as a disconnection.
        return _make(f"SMTP-servern {server} svarade inte inom {config.timeout:g} s.", False, config)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _make(f"SMTP-servern {server} stängde anslutningen oväntat.", False, config)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _make(f"SMTP-servern {server} saknar stöd för det som krävs: {exc}", True, config)
    if isinstance(exc, smtplib.SMTPException):
        # e.g. "No suitable authentication method found": the server and the settings do not match.
        return _make(f"SMTP-fel mot {server}: {exc}", True, config)
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "okänt fel"
        return _make(f"SMTP-serverns TLS-certifikat ({server}) kunde inte verifieras: {detail}.", True, config)
    if isinstance(exc, ssl.SSLError):
        return _make(f"TLS-förhandlingen med SMTP-servern {server} misslyckades: {exc.reason or exc}.", False, config)
    if isinstance(exc, TimeoutError):
        return _make(f"SMTP-servern {server} svarade inte inom {config.timeout:g} s.", False, config)
    if isinstance(exc, ConnectionRefusedError):
        return _make(f"Ingen SMTP-server tar emot anslutningar på {server}.", False, config)
    if isinstance(exc, socket.gaierror):
        return _make(f"SMTP-serverns namn {config.host!r} kunde inte slås upp: {exc.strerror or exc}.", False, config)
    if isinstance(exc, OSError):
        return _make(f"Nätverksfel mot SMTP-servern {server}: {exc.strerror or exc}.", False, config)
    return _make("Meddelandet innehåller tecken som inte kan kodas för SMTP.", True, config)


def _coded(what: str, code: int, reply: bytes | str, config: SmtpConfig) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = _clip(" ".join(text.split()), _MAX_SERVER_TEXT)
    return _make(f"{what}: {code} {text}".rstrip(), 500 <= code <= 599, config)


def _make(reason: str, permanent: bool, config: SmtpConfig) -> DeliveryError:
    return DeliveryError(_clip(_scrub(reason, config), _MAX_REASON), permanent=permanent)


def _scrub(text: str, config: SmtpConfig) -> str:
    """Remove the password, and the base64 forms smtplib sends it in, from text a server may have
    echoed."""
    if not config.password:
        return text
    password = config.password
    secrets = [password, base64.b64encode(password.encode()).decode("ascii")]
    if config.username is not None:
        plain = f"\0{config.username}\0{password}".encode()
        secrets.append(base64.b64encode(plain).decode("ascii"))
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
