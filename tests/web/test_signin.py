"""Signing in and out, and what every response carries."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.web.conftest import WebDemo, csrf_of, make_user, sign_in


def test_a_commander_signs_in_and_sees_only_their_unit(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    cookie = sign_in(client, "n4").headers["set-cookie"].lower()
    assert "compstat_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "/units/N4" in home.text and "/units/N1" not in home.text
    assert "script-src 'none'" in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY"


def test_a_wrong_password_is_refused_without_saying_whether_the_user_exists(
        web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    token = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"username": "n4", "password": "nope", "csrf_token": token})
    nobody = client.post("/login", data={"username": "ghost", "password": "nope", "csrf_token": token})
    assert wrong.status_code == nobody.status_code == 401
    assert "wrong username or password" in wrong.text and "wrong username or password" in nobody.text


def test_a_form_without_its_csrf_token_is_refused(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    client.get("/login")
    refused = client.post("/login", data={"username": "n4", "password": "correct horse battery"},
                          follow_redirects=False)
    assert refused.status_code == 403
