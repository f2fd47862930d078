"""Accounts: adding, lock-out and its end, reset, disable, password changes (on SQLite and PostgreSQL, with no
demo cycle), and the ``/password`` page that a new or reset account is sent to after signing in."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from compstat.config import Config
from compstat.errors import UsageError
from compstat.store import WebUser, connect, transaction
from compstat.web import accounts
from compstat.web.accounts import (
    LOCKOUT,
    MAX_FAILURES,
    LoginRefused,
    add_user,
    authenticate,
    change_password,
    disable_user,
    find_user,
    reset_password,
)
from compstat.web.app import create_app
from tests.web.conftest import PASSWORD, WebDemo, csrf_of, make_user, sign_in

NEW_PASSWORD = "a much longer passphrase"


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = connect(store_url)
    yield engine
    engine.dispose()


def attempt(engine: Engine, config: Config, username: str, password: str, at: datetime | None = None) -> str:
    """One sign-in in its own transaction, committed whatever happened: "ok" or the refusal's message."""
    with transaction(engine) as session:
        try:
            authenticate(session, config.organisation.slug, username, password, at=at)
            return "ok"
        except LoginRefused as refused:
            return str(refused)


def user_of(engine: Engine, config: Config, username: str) -> WebUser:
    with transaction(engine) as session:
        user = find_user(session, config.organisation.slug, username)
        assert user is not None
        session.expunge(user)
        return user


def test_five_failures_lock_the_account_even_against_the_right_password_until_the_lockout_ends(
        engine: Engine, small_config: Config) -> None:
    with transaction(engine) as session:
        add_user(session, small_config, "alpha", "commander", ["A"], password=PASSWORD)
    for _ in range(MAX_FAILURES - 1):
        assert attempt(engine, small_config, "alpha", "wrong") == accounts.WRONG
    assert user_of(engine, small_config, "alpha").failed_logins == MAX_FAILURES - 1
    assert user_of(engine, small_config, "alpha").locked_until is None
    assert attempt(engine, small_config, "alpha", "wrong") == accounts.WRONG
    locked = user_of(engine, small_config, "alpha").locked_until
    assert locked is not None and locked > datetime.now()
    assert attempt(engine, small_config, "alpha", PASSWORD).startswith("too many failed sign-ins")
    assert attempt(engine, small_config, "alpha", PASSWORD, at=locked - timedelta(seconds=1)).startswith("too many")
    assert attempt(engine, small_config, "alpha", PASSWORD, at=locked + timedelta(seconds=1)) == "ok"
    after = user_of(engine, small_config, "alpha")
    assert after.failed_logins == 0 and after.locked_until is None and after.last_login is not None
    assert LOCKOUT == timedelta(minutes=15)


def test_concurrent_failures_are_each_counted(engine: Engine, small_config: Config) -> None:
    """Eight wrong passwords at once: none is lost (each is applied under the account's row lock), so the
    account is locked, and the attempts after the fifth do not count towards the next lock."""
    with transaction(engine) as session:
        add_user(session, small_config, "alpha", "commander", ["A"], password=PASSWORD)
    start = threading.Barrier(8)
    results: list[str] = []

    def guess() -> None:
        start.wait()
        results.append(attempt(engine, small_config, "alpha", "wrong guess"))

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert results.count(accounts.WRONG) >= MAX_FAILURES
    user = user_of(engine, small_config, "alpha")
    assert user.locked_until is not None and user.failed_logins == 0
    assert attempt(engine, small_config, "alpha", PASSWORD).startswith("too many failed sign-ins")


def test_an_unknown_user_and_a_wrong_password_are_refused_alike(
        engine: Engine, small_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same message, and one Argon2 verification each (a look-up that finds nobody costs as much)."""
    with transaction(engine) as session:
        add_user(session, small_config, "alpha", "commander", ["A"], password=PASSWORD)
    checked: list[str] = []
    verify = accounts._verify

    def counted(hashed: str, password: str) -> bool:
        checked.append(hashed)
        return verify(hashed, password)

    monkeypatch.setattr(accounts, "_verify", counted)
    assert attempt(engine, small_config, "ghost", "wrong") == attempt(engine, small_config, "alpha", "wrong")
    assert len(checked) == 2 and checked[0] == accounts._DUMMY_HASH and checked[1].startswith("$argon2id$")


def test_a_disabled_account_is_refused_with_its_right_password(engine: Engine, small_config: Config) -> None:
    with transaction(engine) as session:
        add_user(session, small_config, "alpha", "commander", ["A"], password=PASSWORD)
        epoch = disable_user(session, small_config.organisation.slug, "alpha").session_epoch
    assert epoch == 1
    assert attempt(engine, small_config, "alpha", PASSWORD) == accounts.WRONG


def test_a_reset_lifts_the_lock_ends_the_sessions_and_asks_for_a_new_password(
        engine: Engine, small_config: Config) -> None:
    with transaction(engine) as session:
        add_user(session, small_config, "alpha", "commander", ["A"], password=PASSWORD)
    for _ in range(MAX_FAILURES):
        attempt(engine, small_config, "alpha", "wrong")
    with transaction(engine) as session:
        secret = reset_password(session, small_config.organisation.slug, "alpha")
    user = user_of(engine, small_config, "alpha")
    assert user.locked_until is None and user.must_change and user.session_epoch == 1
    assert attempt(engine, small_config, "alpha", PASSWORD) == accounts.WRONG
    assert attempt(engine, small_config, "alpha", secret) == "ok"


@pytest.mark.parametrize(("username", "role", "units", "message"), [
    ("x", "boss", [], "role 'boss': expected one of commander, division, chair, analyst, admin"),
    ("x", "commander", [], "a commander needs at least one unit (--unit)"),
    ("x", "commander", ["Z"], "unit 'Z' is not in the config (expected one of: A, B)"),
    ("x", "commander", ["D1"], "unit 'D1' is not in the config"),
    ("x", "division", ["D1"], "this config has no divisions"),
    ("x", "chair", ["A"], "a chair sees every unit"),
    ("two words", "chair", [], "no spaces"),
    ("", "chair", [], "1 to 100 printable characters"),
    ("alpha", "chair", [], "user 'alpha' already exists"),
])
def test_an_account_that_cannot_be_made_is_refused(small_config: Config, tmp_path: object, username: str,
                                                   role: str, units: list[str], message: str) -> None:
    engine = connect(f"sqlite:///{tmp_path}/store.db")
    try:
        with transaction(engine) as session:
            add_user(session, small_config, "alpha", "analyst", password=PASSWORD)
        with transaction(engine) as session, pytest.raises(UsageError, match=None) as refused:
            add_user(session, small_config, username, role, units)
        assert message in str(refused.value)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("current", "new", "confirm", "message"), [
    ("wrong", NEW_PASSWORD, NEW_PASSWORD, "the current password is not right"),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "the new password and its confirmation differ"),
    (PASSWORD, "short", "short", "at least 12 characters"),
    (PASSWORD, PASSWORD, PASSWORD, "different from the current one"),
])
def test_a_password_change_needs_the_current_one_and_a_good_new_one(
        small_config: Config, tmp_path: object, current: str, new: str, confirm: str, message: str) -> None:
    engine = connect(f"sqlite:///{tmp_path}/store.db")
    try:
        with transaction(engine) as session:
            user = add_user(session, small_config, "alpha", "analyst", password=PASSWORD).user
            with pytest.raises(UsageError) as refused:
                change_password(session, user, current, new, confirm)
            assert message in str(refused.value) and user.session_epoch == 0
            change_password(session, user, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
            assert user.session_epoch == 1 and not user.must_change
    finally:
        engine.dispose()


# --- the /password page ---


def one_time_account(demo: WebDemo, username: str) -> str:
    engine = connect(demo.store_url)
    try:
        with transaction(engine) as session:
            return add_user(session, demo.config, username, "commander", ["N4"]).one_time_password
    finally:
        engine.dispose()


def post_password(client: TestClient, current: str, new: str, confirm: str | None = None) -> object:
    token = csrf_of(client.get("/password").text)
    return client.post("/password", data={"csrf_token": token, "current_password": current, "new_password": new,
                                          "confirm_password": new if confirm is None else confirm},
                       follow_redirects=False)


def test_a_new_account_changes_its_one_time_password_before_anything_else(
        web_demo: WebDemo, client: TestClient) -> None:
    secret = one_time_account(web_demo, "new.commander")
    assert sign_in(client, "new.commander", secret).headers["location"] == "/password"
    assert client.get("/", follow_redirects=False).headers["location"] == "/password"
    form = client.get("/password")
    assert form.status_code == 200 and "Change password" in form.text and "works only once" in form.text
    for name in ("current_password", "new_password", "confirm_password"):
        assert f'<label for="{name}">' in form.text and f'name="{name}"' in form.text
    for current, new, confirm, message in [
            ("not it", NEW_PASSWORD, None, "The current password is not right."),
            (secret, NEW_PASSWORD, "something else entirely", "The new password and its confirmation differ."),
            (secret, "short", None, "A password needs at least 12 characters."),
            (secret, secret, None, "Choose a password different from the current one.")]:
        refused = post_password(client, current, new, confirm)
        assert refused.status_code == 400 and message in refused.text, (message, refused.text)  # type: ignore[attr-defined]
        assert client.get("/", follow_redirects=False).headers["location"] == "/password"  # nothing changed
    changed = post_password(client, secret, NEW_PASSWORD)
    assert changed.status_code == 303 and changed.headers["location"] == "/"  # type: ignore[attr-defined]
    assert client.get("/", follow_redirects=False).status_code == 200  # this session goes on
    token = csrf_of(client.get("/").text)
    client.post("/logout", data={"csrf_token": token})
    refused_old = client.post("/login", data={"username": "new.commander", "password": secret,
                                              "csrf_token": csrf_of(client.get("/login").text)})
    assert refused_old.status_code == 401
    assert sign_in(client, "new.commander", NEW_PASSWORD).headers["location"] == "/"


def test_changing_the_password_ends_the_accounts_other_sessions(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    app = create_app(web_demo.config, web_demo.store_url)
    with TestClient(app, base_url="http://127.0.0.1") as other:
        sign_in(client, "n4")
        sign_in(other, "n4")
        assert post_password(client, PASSWORD, NEW_PASSWORD).status_code == 303  # type: ignore[attr-defined]
        assert client.get("/", follow_redirects=False).status_code == 200
        assert other.get("/", follow_redirects=False).headers["location"] == "/login"


def test_the_password_page_is_for_signed_in_users_only(web_demo: WebDemo, client: TestClient) -> None:
    assert client.get("/password", follow_redirects=False).headers["location"] == "/login"
    token = csrf_of(client.get("/login").text)
    refused = client.post("/password", data={"csrf_token": token, "current_password": "x", "new_password": "y",
                                             "confirm_password": "y"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/login"


# --- the demo's accounts ---


def test_the_demo_accounts_sign_in_with_the_passwords_compstat_demo_printed_once(
        demo_w48: tuple[list[str], object, str, dict[str, object]], web_demo: WebDemo, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from compstat.cli import _print_demo_accounts
    from compstat.demo import make_demo_accounts

    printed = demo_w48[2].splitlines()
    start = printed.index("Demo sign-ins for `compstat serve` (demo only; each password is shown this once):")
    passwords = {line.split()[0]: line.split()[1] for line in printed[start + 1:start + 5]}
    assert sorted(passwords) == ["analyst", "chair", "n4.commander", "north.commander"]
    shutil.copy(Path(str(demo_w48[3]["store"]).removeprefix("sqlite:///")), tmp_path / "accounts.db")
    store = f"sqlite:///{tmp_path / 'accounts.db'}"  # the demo's store, accounts and all
    with TestClient(create_app(web_demo.config, store), base_url="http://127.0.0.1") as client:
        assert sign_in(client, "n4.commander", passwords["n4.commander"]).headers["location"] == "/"  # no change
        home = client.get("/").text
        assert "Ch Insp Marcus Brennan (commander)" in home and "/units/N4" in home and "/units/N3" not in home
    with TestClient(create_app(web_demo.config, store), base_url="http://127.0.0.1") as chair:
        assert sign_in(chair, "chair", passwords["chair"]).headers["location"] == "/"
    engine = connect(store)
    try:
        with transaction(engine) as session:  # `compstat demo` again: the accounts are left as they were
            again = make_demo_accounts(session, web_demo.config)
    finally:
        engine.dispose()
    assert [a.password for a in again] == [None] * 4
    _print_demo_accounts(again, Path("config/demo.yaml"))
    assert "Demo accounts n4.commander, north.commander, chair, analyst were already there: left as they were" \
        in " ".join(capsys.readouterr().out.split())


def test_production_hashes_with_argon2id_at_its_recommended_cost() -> None:
    """The tests swap in a cheap hasher (tests/conftest.py); ``compstat serve`` hashes with Argon2id at
    RFC 9106's low-memory profile (``password_hasher``)."""
    from argon2 import Type, profiles

    from compstat.web.accounts import password_hasher

    hasher = password_hasher()
    assert hasher.type is Type.ID
    assert (hasher.time_cost, hasher.memory_cost) == (profiles.RFC_9106_LOW_MEMORY.time_cost,
                                                      profiles.RFC_9106_LOW_MEMORY.memory_cost)
    assert hasher.hash("x").startswith("$argon2id$")
