"""One-time login links of the web view: made when a staff member asks for one, used once.

The link carries a random token; only its SHA-256 is stored, so that the table (or a backup
of it) logs nobody in. A link is used by one atomic UPDATE: of two requests presenting the
same token at once, exactly one finds it unused.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from mailproc.storage import models as m

# Expired links are deleted when a new one is made, a day after they expired: no job needed,
# and a link that was refused a moment ago is still there to look at.
KEPT_AFTER_EXPIRY = timedelta(days=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_login(session: Session, email: str, now: datetime, lifetime: timedelta) -> str:
    """A new link's token for ``email``, valid for ``lifetime`` from ``now``."""
    session.execute(delete(m.WebLogin).where(m.WebLogin.expires_at < now - KEPT_AFTER_EXPIRY))
    token = secrets.token_urlsafe(32)
    session.add(
        m.WebLogin(
            token_hash=token_hash(token), email=email, created_at=now, expires_at=now + lifetime
        )
    )
    return token


def use_login(session: Session, token: str, now: datetime) -> str | None:
    """The address of the link ``token``, now used; None when there is no such link, or it
    was used or has expired. The WHERE decides, in the database: a concurrent request that
    used it first leaves nothing for this one to update."""
    claimed = session.execute(
        update(m.WebLogin)
        .where(
            m.WebLogin.token_hash == token_hash(token),
            m.WebLogin.used_at.is_(None),
            m.WebLogin.expires_at > now,
        )
        .values(used_at=now)
        .returning(m.WebLogin.email)
    )
    return claimed.scalar_one_or_none()
