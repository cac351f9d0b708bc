"""Outgoing notifications: the SMTP transport for reminder and escalation e-mails.

The outbox and the scheduler decide *what* to send and *when*; `engine.notify.email` only builds one
message and hands it to an SMTP server, turning every failure into a `DeliveryError` that says whether
a retry can help.
"""

from __future__ import annotations

from engine.notify.email import (
    ConfigError,
    DeliveryError,
    OutgoingEmail,
    SmtpConfig,
    build_message,
    send_email,
)

__all__ = ["ConfigError", "DeliveryError", "OutgoingEmail", "SmtpConfig", "build_message", "send_email"]
