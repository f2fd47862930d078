"""Accounts for ``compstat serve``: who may sign in, with which role and for which units.

Passwords are hashed with Argon2id (``argon2-cffi``); a new or reset account gets a one-time password
that must be changed at the first sign-in. Repeated failures lock the account for a while
(``MAX_FAILURES``, ``LOCKOUT``), whether or not the password was right during the lock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
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


def password_hasher() -> PasswordHasher:
    """Argon2id at argon2-cffi's recommended cost (RFC 9106's low-memory profile)."""
    return PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


_HASHER = password_hasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone's")  # failed look-ups cost as much as real ones
WRONG = "wrong username or password"  # the one message of a refusal, whether or not the user exists


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
            raise UsageError(f"{'an' if role[0] in 'aeiou' else 'a'} {role} sees every unit: give --unit only for "
                             "a commander or division commander")
        return []
    allowed = {u.code for u in config.leaf_units} if role == "commander" else {u.code for u in divisions(config)}
    kind = "unit" if role == "commander" else "division"
    if not units:
        raise UsageError(f"a {'commander' if role == 'commander' else 'division commander'} needs at least one "
                         f"{kind} (--unit)")
    if not allowed:
        raise UsageError("this config has no divisions (a level between its units and the whole organisation): "
                         "give its commanders the role commander of their units")
    units = list(dict.fromkeys(units))
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
    if not username or len(username) > 100 or not username.isprintable() or any(c.isspace() for c in username):
        raise UsageError(f"username {username!r}: 1 to 100 printable characters, no spaces")
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
    counted (in the caller's transaction: commit it either way); the ``MAX_FAILURES``-th locks the account, and
    while it is locked even the right password is refused. The outcome is applied under the account's row lock
    (``_hold``), so concurrent attempts are counted one by one on PostgreSQL as on SQLite."""
    now = _now(at)
    user = find_user(session, org, username.strip())
    if user is None:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused(WRONG)
    _refuse_if_locked(user, now)
    right = _verify(user.password_hash, password) and not user.disabled
    _hold(session, user)
    _refuse_if_locked(user, now)  # locked by a concurrent attempt while the password was checked
    if not right:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
        session.flush()
        raise LoginRefused(WRONG)
    user.failed_logins, user.locked_until, user.last_login = 0, None, now
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    session.flush()
    return user


def _refuse_if_locked(user: WebUser, now: datetime) -> None:
    if user.locked_until is not None and user.locked_until > now:
        raise LoginRefused(f"too many failed sign-ins: try again after {user.locked_until:%H:%M}")


def _hold(session: Session, user: WebUser) -> None:
    """Take the write lock of ``user``'s row (a no-op update: PostgreSQL locks the row, SQLite the store) until
    the transaction ends, and read the row again as it now stands."""
    session.execute(update(WebUser).where(WebUser.id == user.id).values(failed_logins=WebUser.failed_logins)
                    .execution_options(synchronize_session=False))
    session.refresh(user)


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
        raise UsageError("choose a password different from the current one")
    user.password_hash, user.must_change = _HASHER.hash(password), False
    user.session_epoch += 1
    session.flush()


def change_password(session: Session, user: WebUser, current: str, new: str, confirm: str) -> None:
    """``set_password`` after the user proves they hold ``current``, with ``new`` typed twice the same."""
    if not _verify(user.password_hash, current):
        raise UsageError("the current password is not right")
    if new != confirm:
        raise UsageError("the new password and its confirmation differ")
    set_password(session, user, new)


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
