"""The server's security rules: session expiry and its end (sign-out, disable, reset), a new session on sign-in,
lock-out, CSRF on every form post, the cookie's flags and the security headers of every response."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace

import httpx2 as httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from compstat.store import WebUser, connect, transaction
from compstat.web import app as web_app
from compstat.web.accounts import MAX_FAILURES, disable_user, find_user, reset_password
from compstat.web.app import SECURITY_HEADERS, create_app
from tests.web.conftest import PASSWORD, WebDemo, csrf_of, make_user, sign_in


def change_account(demo: WebDemo, change: str, username: str) -> None:
    engine = connect(demo.store_url)
    try:
        with transaction(engine) as session:
            org = demo.config.organisation.slug
            if change == "disable":
                disable_user(session, org, username)
            elif change == "reset":
                reset_password(session, org, username)
            else:  # "unlock": the lock-out's 15 minutes have passed
                user = find_user(session, org, username)
                assert user is not None and user.locked_until is not None
                user.locked_until = datetime.now() - timedelta(minutes=1)
    finally:
        engine.dispose()


def signed_in(client: TestClient) -> bool:
    return client.get("/", follow_redirects=False).status_code == 200


def post_login(client: TestClient, username: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       follow_redirects=False)


# --- sessions ---


def test_a_session_expires_after_session_seconds(web_demo: WebDemo, client: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    sign_in(client, "n4")
    assert signed_in(client)
    later = time.time() + web_app.SESSION_SECONDS + 1
    monkeypatch.setattr(web_app, "time", SimpleNamespace(time=lambda: later))  # the cookie's signature still holds
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    monkeypatch.undo()
    assert not signed_in(client)  # the expired session was cleared, not just refused


def test_the_cookie_lives_no_longer_than_the_session(web_demo: WebDemo) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    with TestClient(create_app(web_demo.config, web_demo.store_url, session_seconds=90),
                    base_url="http://127.0.0.1") as client:
        cookie = sign_in(client, "n4").headers["set-cookie"]
        assert "Max-Age=90;" in cookie


@pytest.mark.parametrize("change", ["disable", "reset"])
def test_disabling_or_resetting_an_account_ends_its_open_session(web_demo: WebDemo, client: TestClient,
                                                                 change: str) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    sign_in(client, "n4")
    assert signed_in(client)
    change_account(web_demo, change, "n4")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert post_login(client, "n4", PASSWORD).status_code == 401


def test_signing_in_starts_a_new_session(web_demo: WebDemo, client: TestClient) -> None:
    """Session fixation: nothing from the session before sign-in works after it, and each sign-in is new."""
    make_user(web_demo, "n4", "commander", ["N4"])
    before_token = csrf_of(client.get("/login").text)
    before_cookie = client.cookies["compstat_session"]
    sign_in(client, "n4")
    after_cookie = client.cookies["compstat_session"]
    assert after_cookie != before_cookie
    refused = client.post("/logout", data={"csrf_token": before_token}, follow_redirects=False)
    assert refused.status_code == 403 and signed_in(client)
    sign_in(client, "n4")  # signing in again, already signed in: a new session again
    assert client.cookies["compstat_session"] not in (before_cookie, after_cookie)


def test_a_signed_out_sessions_cookie_no_longer_works(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    sign_in(client, "n4")
    copied = client.cookies["compstat_session"]
    out = client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert not signed_in(client)
    client.cookies.set("compstat_session", copied)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


# --- lock-out and refusals ---


def test_five_failed_sign_ins_lock_the_account_until_the_lockout_ends(web_demo: WebDemo,
                                                                     client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    for _ in range(MAX_FAILURES):
        failed = post_login(client, "n4", "not the password")
        assert failed.status_code == 401 and "wrong username or password" in failed.text
    locked = post_login(client, "n4", PASSWORD)
    assert locked.status_code == 401 and "too many failed sign-ins: try again after" in locked.text
    assert not signed_in(client)
    change_account(web_demo, "unlock", "n4")
    assert post_login(client, "n4", PASSWORD).headers["location"] == "/"


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    wrong, nobody = post_login(client, "n4", "nope"), post_login(client, "ghost", "nope")
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.text.replace('value="n4"', "") == nobody.text.replace('value="ghost"', "")


# --- CSRF ---


def post_routes(client: TestClient) -> list[str]:
    paths = [r.path for r in client.app.routes  # type: ignore[attr-defined]
             if isinstance(r, Route) and r.methods and "POST" in r.methods and "{" not in r.path]
    assert {"/login", "/logout", "/password"} <= set(paths)
    return paths


def test_every_form_post_without_the_sessions_csrf_token_is_refused(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "analyst", "analyst")
    sign_in(client, "analyst")
    fields = {"username": "analyst", "password": PASSWORD, "current_password": PASSWORD,
              "new_password": "a much longer passphrase", "confirm_password": "a much longer passphrase"}
    for path in post_routes(client):
        for token in (None, "", "a" * 43):
            data = fields | ({} if token is None else {"csrf_token": token})
            refused = client.post(path, data=data, follow_redirects=False)
            assert refused.status_code == 403, (path, token, refused.status_code)
            assert "did not come from this site" in refused.text
            assert signed_in(client), path  # not signed out, password not changed
    assert post_login(client, "analyst", PASSWORD).status_code == 303  # the password is still the same


def test_a_token_from_another_session_is_refused(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    with TestClient(create_app(web_demo.config, web_demo.store_url), base_url="http://127.0.0.1") as other:
        other_token = csrf_of(other.get("/login").text)
    client.get("/login")
    refused = client.post("/login", data={"username": "n4", "password": PASSWORD, "csrf_token": other_token},
                          follow_redirects=False)
    assert refused.status_code == 403


# --- cookies and headers ---


@pytest.mark.parametrize("https_only", [False, True])
def test_the_session_cookies_flags(web_demo: WebDemo, https_only: bool) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    base = "https://127.0.0.1" if https_only else "http://127.0.0.1"
    with TestClient(create_app(web_demo.config, web_demo.store_url, https_only=https_only), base_url=base) as client:
        cookie = sign_in(client, "n4").headers["set-cookie"]
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite", "path", "max-age"} <= flags
        assert "samesite=strict" in cookie.lower()
        assert ("secure" in flags) is https_only
        home = client.get("/")
        assert home.status_code == 200
        assert ("strict-transport-security" in home.headers) is https_only


@pytest.fixture
def failing_client(web_demo: WebDemo, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with TestClient(create_app(web_demo.config, web_demo.store_url), base_url="http://127.0.0.1",
                    raise_server_exceptions=False) as client:
        yield client


def test_every_response_carries_the_security_headers(web_demo: WebDemo, failing_client: TestClient,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    client = failing_client
    make_user(web_demo, "n4", "commander", ["N4"])
    responses = {"sign-in page": client.get("/login"),
                 "signed out": client.get("/", follow_redirects=False),
                 "static file": client.get("/static/web.css"),
                 "no such static file": client.get("/static/nothing.css"),
                 "no such page": client.get("/no/such/page"),
                 "wrong method": client.get("/logout"),
                 "no CSRF token": client.post("/login", data={"username": "n4", "password": "x"}),
                 "refused sign-in": post_login(client, "n4", "wrong")}
    sign_in(client, "n4")
    responses["home"] = client.get("/")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(web_app, "page", broken)
    responses["server error"] = client.get("/login")
    expected = {"sign-in page": 200, "signed out": 303, "static file": 200, "no such static file": 404,
                "no such page": 404, "wrong method": 405, "no CSRF token": 403, "refused sign-in": 401,
                "home": 200, "server error": 500}
    for what, response in responses.items():
        assert response.status_code == expected[what], (what, response.status_code)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (what, name)
    assert "secret internals" not in responses["server error"].text
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["content-security-policy"]
    assert "'unsafe-inline'" not in SECURITY_HEADERS["content-security-policy"]


def test_the_store_records_no_password_in_clear(web_demo: WebDemo) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    engine = connect(web_demo.store_url)
    try:
        with transaction(engine) as session:
            user = session.query(WebUser).filter_by(username="n4").one()
            assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    finally:
        engine.dispose()
