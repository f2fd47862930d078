"""Signatures on what leaves the store to come back: the commanders' action sheets.

A signed export carries a token ``cs1.<payload>.<signature>``: the payload is JSON (base64url) naming
what the file may change, and the signature its HMAC-SHA256 under the organisation's secret key. The
key is 32 random bytes (``secrets``) made on the organisation's first export and kept only in the
store (``store.SigningKey``): the store is on the analysts' side, so a commander, who is sent the
file and never the store, cannot make a payload that verifies. Anyone who can read the store can.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from compstat.store import SigningKey

ACTION_SHEETS = "action sheets"  # the key's purpose
PREFIX = "cs1"


def signing_key(session: Session, org: str, purpose: str = ACTION_SHEETS, *, create: bool = False) -> bytes | None:
    """The organisation's key for ``purpose``; made (once, whatever runs at the same time) if ``create``."""
    query = select(SigningKey.secret).where(SigningKey.org == org, SigningKey.purpose == purpose)
    secret = session.scalar(query)
    if secret is None and create:
        values = {"org": org, "purpose": purpose, "secret": secrets.token_hex(32), "created_at": datetime.now()}
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":  # two first exports at once: one key is kept, both use it
            session.execute(postgresql.insert(SigningKey).values(**values).on_conflict_do_nothing())
        elif dialect == "sqlite":  # (SQLite: one writer at a time; the same statement, for the same rule)
            session.execute(sqlite.insert(SigningKey).values(**values).on_conflict_do_nothing())
        else:
            session.add(SigningKey(**values))
            session.flush()
        secret = session.scalar(query)
    return bytes.fromhex(secret) if secret is not None else None


def sign(key: bytes, payload: dict[str, Any]) -> str:
    """The token carrying ``payload`` (JSON-serialisable) and its signature under ``key``."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return ".".join((PREFIX, _encode(body), _encode(mac)))


def verify(key: bytes, token: str) -> dict[str, Any] | None:
    """The payload of ``token`` if its signature under ``key`` is valid, else None."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        body, mac = _decode(parts[1]), _decode(parts[2])
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), mac):
        return None
    payload = json.loads(body)
    return payload if isinstance(payload, dict) else None


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
