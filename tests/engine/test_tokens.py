"""Personal access tokens: shown once, stored hashed, authenticate as their owner until revoked or
expired, and bad requests change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, ValidationError
from engine.persistence import ApiToken, User
from engine.services.tokens import authenticate, create_token, list_tokens, revoke_token
from tests.factories import make_actor


def test_a_token_authenticates_its_owner_until_revoked(published: Session) -> None:
    owner = make_actor(published, "tok.owner")
    info, secret = create_token(published, owner, "Rapportverktyget")
    assert secret.startswith("inf_") and len(secret) > 40 and secret.startswith(info.prefix)
    stored = published.scalars(select(ApiToken)).one()
    assert secret not in (stored.token_hash, stored.prefix, stored.name)  # only a hash is kept
    actor = authenticate(published, secret)
    assert actor is not None and actor.user_id == owner.user_id
    assert authenticate(published, secret + "x") is None and authenticate(published, "Bearer nonsense") is None
    assert [t.name for t in list_tokens(published, owner)] == ["Rapportverktyget"]
    other = make_actor(published, "tok.other")
    with pytest.raises(NotFoundError):
        revoke_token(published, other, info.id)
    assert revoke_token(published, owner, info.id).active is False
    assert authenticate(published, secret) is None


def test_expired_tokens_and_inactive_users_do_not_authenticate(published: Session) -> None:
    owner = make_actor(published, "tok.exp")
    with time_machine.travel(datetime(2026, 1, 1, tzinfo=timezone.utc), tick=False) as traveller:
        _info, secret = create_token(published, owner, "Kort", days=1)
        assert authenticate(published, secret) is not None
        traveller.shift(timedelta(days=1, seconds=1))
        assert authenticate(published, secret) is None
    _info, forever = create_token(published, owner, "Utan slutdatum", days=None)
    published.get(User, owner.user_id).active = False  # type: ignore[union-attr]
    assert authenticate(published, forever) is None


@pytest.mark.parametrize(("name", "days"), [("", 30), ("x" * 101, 30), ("ok", 0), ("ok", 400)])
def test_bad_token_requests_are_refused_and_change_nothing(published: Session, name: str, days: int) -> None:
    owner = make_actor(published, f"tok.bad{days}{len(name)}")
    with pytest.raises(ValidationError):
        create_token(published, owner, name, days=days)
    assert published.scalar(select(func.count()).select_from(ApiToken)) == 0
