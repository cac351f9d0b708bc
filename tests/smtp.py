"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping what it receives; it can be told
to refuse (temporarily) every recipient."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from engine.notify.email import SmtpConfig


@dataclass
class Inbox:
    """What the test SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: int | None = None  # e.g. 451: refuse every recipient with this code

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if self.refuse is not None:
            return f"{self.refuse} Försök igen senare"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture()
def smtp_server() -> Iterator[tuple[SmtpConfig, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield (
            SmtpConfig(host="127.0.0.1", port=port, security="none", sender="Infora <infora@example.se>", timeout=5),
            inbox,
        )
    finally:
        controller.stop()
