"""Accounts for ``compstat serve``: who may sign in, with which role and for which units.

Passwords are hashed with Argon2id (``argon2-cffi``); a new or reset account gets a one-time password
that must be changed at the first sign-in. Repeated failures lock the account for a while
(``MAX_FAILURES``, ``LOCKOUT``), whether or not the password was right during the lock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.errors import CompstatError, UsageError
from compstat.hierarchy import divisions
from compstat.store import WebUser

ROLES = ("commander", "division", "chair", "analyst", "admin")
UNIT_ROLES = ("commander", "division")  # roles that answer for named units
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 12
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone's")  # failed look-ups cost as much as real ones


class LoginRefused(CompstatError):
    """A sign-in that did not succeed; the message never says whether the user exists."""

    exit_code = 2


@dataclass(frozen=True)
class NewAccount:
    user: WebUser
    one_time_password: str


def _now(at: datetime | None) -> datetime:
    return (at or datetime.now()).replace(microsecond=0)


def _check_units(config: Config, role: str, units: list[str]) -> list[str]:
    if role not in ROLES:
        raise UsageError(f"role '{role}': expected one of {', '.join(ROLES)}")
    if role not in UNIT_ROLES:
        if units:
            raise UsageError(f"a {role} sees every unit: give --unit only for a commander or division commander")
        return []
    allowed = {u.code for u in config.leaf_units} if role == "commander" else {u.code for u in divisions(config)}
    kind = "unit" if role == "commander" else "division"
    if not units:
        raise UsageError(f"a {'commander' if role == 'commander' else 'division commander'} needs at least one "
                         f"{kind} (--unit)")
    unknown = [u for u in units if u not in allowed]
    if unknown:
        raise UsageError(f"{kind} {', '.join(repr(u) for u in unknown)} is not in the config "
                         f"(expected one of: {', '.join(sorted(allowed))})")
    return units


def find_user(session: Session, org: str, username: str) -> WebUser | None:
    return session.scalar(select(WebUser).where(WebUser.org == org, WebUser.username == username))


def add_user(session: Session, config: Config, username: str, role: str, units: list[str] | None = None, *,
             display_name: str = "", password: str | None = None, at: datetime | None = None) -> NewAccount:
    """A new account with a one-time password (``password`` given: that one, for tests and the demo)."""
    username = username.strip()
    if not username or len(username) > 100 or not username.isprintable():
        raise UsageError("a username is 1 to 100 printable characters")
    org = config.organisation.slug
    if find_user(session, org, username) is not None:
        raise UsageError(f"user '{username}' already exists")
    codes = _check_units(config, role, list(units or []))
    secret = password or secrets.token_urlsafe(12)
    user = WebUser(org=org, username=username, display_name=display_name.strip() or username, role=role,
                   units=",".join(codes), password_hash=_HASHER.hash(secret), must_change=password is None,
                   disabled=False, failed_logins=0, created_at=_now(at), session_epoch=0)
    session.add(user)
    session.flush()
    return NewAccount(user, secret)


def authenticate(session: Session, org: str, username: str, password: str, *, at: datetime | None = None) -> WebUser:
    """The user if ``password`` is theirs and the account is usable; ``LoginRefused`` otherwise. Failures are
    counted (in the caller's transaction: commit it either way); the ``MAX_FAILURES``-th locks the account."""
    now = _now(at)
    user = find_user(session, org, username.strip())
    if user is None:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused("wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        raise LoginRefused(f"too many failed sign-ins: try again after {user.locked_until:%H:%M}")
    if not _verify(user.password_hash, password) or user.disabled:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
        session.flush()
        raise LoginRefused("wrong username or password")
    user.failed_logins, user.locked_until, user.last_login = 0, None, now
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    session.flush()
    return user


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(session: Session, user: WebUser, password: str) -> None:
    """The user's own new password (at least ``MIN_PASSWORD`` characters); ends their other sessions."""
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    if _verify(user.password_hash, password):
        raise UsageError("choose a password different from the one-time password")
    user.password_hash, user.must_change = _HASHER.hash(password), False
    user.session_epoch += 1
    session.flush()


def reset_password(session: Session, org: str, username: str) -> str:
    """A new one-time password for ``username``; the lock and every session end."""
    user = _existing(session, org, username)
    secret = secrets.token_urlsafe(12)
    user.password_hash, user.must_change, user.failed_logins, user.locked_until = _HASHER.hash(secret), True, 0, None
    user.session_epoch += 1
    session.flush()
    return secret


def disable_user(session: Session, org: str, username: str) -> WebUser:
    """The account can no longer sign in, and its sessions end."""
    user = _existing(session, org, username)
    user.disabled = True
    user.session_epoch += 1
    session.flush()
    return user


def list_users(session: Session, org: str) -> list[WebUser]:
    return list(session.scalars(select(WebUser).where(WebUser.org == org).order_by(WebUser.username)))


def _existing(session: Session, org: str, username: str) -> WebUser:
    user = find_user(session, org, username)
    if user is None:
        raise UsageError(f"no user '{username}'")
    return user
