"""What the pages behind sign-in show a commander and the chair, and an update seen in the history."""

from __future__ import annotations

import re

from sqlalchemy import select
from starlette.testclient import TestClient

from compstat.store import Action, ActionUpdate, connect, transaction
from tests.web.conftest import WebDemo, csrf_of, make_user, sign_in


def open_action(demo: WebDemo, unit: str) -> Action:
    engine = connect(demo.store_url)
    try:
        with transaction(engine) as session:
            action = session.scalars(select(Action).where(
                Action.unit_code == unit, Action.status.in_(("open", "in progress"))).order_by(Action.id)).first()
            assert action is not None, f"the demo has no open action for {unit}"
            session.expunge(action)
            return action
    finally:
        engine.dispose()


def updates_of(demo: WebDemo, action_id: int) -> list[ActionUpdate]:
    engine = connect(demo.store_url)
    try:
        with transaction(engine) as session:
            rows = list(session.scalars(select(ActionUpdate).where(ActionUpdate.action_id == action_id)
                                        .order_by(ActionUpdate.id)))
            session.expunge_all()
            return rows
    finally:
        engine.dispose()


def table(html: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert found, f"no table {table_id}"
    return found.group(1)


def test_a_commander_sees_their_units_page_and_pack(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    sign_in(client, "n4")
    home = client.get("/")
    assert "/units/N4" in table(home.text, "units") and "/overview" not in home.text
    page = client.get("/units/N4")
    assert page.status_code == 200
    assert re.search(r"<h1>[^<]+\(N4\)</h1>", page.text)
    assert '<a href="/units/N4/pack.pdf">Latest pack (PDF)</a>' in page.text
    assert "28 days" in table(page.text, "figures") and "Year to date" in table(page.text, "figures")
    actions = table(page.text, "actions")
    action = open_action(web_demo, "N4")
    assert f'href="/actions/{action.id}"' in actions
    rows = actions.split("<tr>")[2:]
    flags = ["overdue</strong>" in r for r in rows]
    assert flags == sorted(flags, reverse=True)  # overdue first
    pack = client.get("/units/N4/pack.pdf")
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/pdf"
    assert pack.content.startswith(b"%PDF")


def test_an_update_is_saved_and_shown_in_the_history_with_the_user_and_how(
        web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    sign_in(client, "n4")
    action = open_action(web_demo, "N4")
    page = client.get(f"/actions/{action.id}")
    assert page.status_code == 200 and 'id="update"' in page.text and "Did it work?" in page.text
    for name in ("status", "note", "support_requested", "reason", "due_date"):
        assert f'<label for="{name}">' in page.text
    before = len(updates_of(web_demo, action.id))
    status = "open" if action.status == "in progress" else "in progress"
    saved = client.post(f"/actions/{action.id}", data={
        "csrf_token": csrf_of(page.text), "version": str(action.version), "status": status,
        "note": "<script>alert(1)</script>", "support_requested": "two PCSOs", "reason": "", "due_date": ""},
        follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"/actions/{action.id}?saved=1"
    after = client.get(saved.headers["location"]).text
    assert "Saved." in after
    history = table(after, "history")
    assert "<td>web</td>" in history and "<td>n4</td>" in history
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in after and "<script>alert(1)</script>" not in after
    rows = updates_of(web_demo, action.id)[before:]
    assert {r.field for r in rows} == {"status", "support_requested"} and {r.via for r in rows} == {"web"}
    assert rows[0].note == "<script>alert(1)</script>" and rows[0].by == "n4"


def test_bad_input_is_refused_with_a_message_and_nothing_stored(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "n4", "commander", ["N4"])
    sign_in(client, "n4")
    action = open_action(web_demo, "N4")
    token = csrf_of(client.get(f"/actions/{action.id}").text)
    good = {"csrf_token": token, "version": str(action.version), "status": action.status, "note": "ok", "reason": "",
            "support_requested": action.support_requested, "due_date": ""}
    before = len(updates_of(web_demo, action.id))
    for change, message in [({"version": ""}, "version is missing or garbled"),
                            ({"version": "1x"}, "version is missing or garbled"),
                            ({"note": "bell\x07"}, "control character"),
                            ({"due_date": "0001-01-01"}, "before the action was raised"),
                            ({"due_date": "9999-12-31"}, "years away"),
                            ({"due_date": "31/12/2026"}, "is not a date"),
                            ({"status": "finished"}, "is not one of"),
                            ({"status": "dropped"}, "needs a reason"),
                            ({"note": "x" * 2001}, "longer than")]:
        refused = client.post(f"/actions/{action.id}", data=good | change, follow_redirects=False)
        assert refused.status_code == 400, (change, refused.text)
        assert message in refused.text, (change, refused.text)
    assert len(updates_of(web_demo, action.id)) == before
    same = client.post(f"/actions/{action.id}", data=good | {"note": ""}, follow_redirects=False)
    assert same.headers["location"] == f"/actions/{action.id}?unchanged=1"
    assert "Nothing to save" in client.get(same.headers["location"]).text
    assert len(updates_of(web_demo, action.id)) == before


def test_the_chair_sees_the_overview(web_demo: WebDemo, client: TestClient) -> None:
    make_user(web_demo, "chair", "chair")
    make_user(web_demo, "n4", "commander", ["N4"])
    sign_in(client, "n4")
    action = open_action(web_demo, "N4")
    page = client.get(f"/actions/{action.id}")
    client.post(f"/actions/{action.id}", data={"csrf_token": csrf_of(page.text), "version": str(action.version),
                                               "note": "checked the CCTV"})
    client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    sign_in(client, "chair")
    home = client.get("/")
    assert "/overview" in home.text and "/units/S1" in home.text and "/units/N4" in home.text
    overview = client.get("/overview")
    assert overview.status_code == 200
    ladder = table(overview.text, "ladder")
    assert all(f"/units/{u}{n}" in ladder for u in "NSE" for n in range(1, 5))
    updated = table(overview.text, "updates")
    n4 = updated[updated.index("(N4)"):]
    n4 = n4[:n4.index("</tr>")]
    assert "Yes" in n4 and "n4 via web" in n4 and "checked the CCTV" in n4
    assert 'id="quality-counts"' in overview.text
    s1 = client.get("/units/S1")
    assert s1.status_code == 200 and "Latest pack (PDF)" in s1.text and 'id="actions"' in s1.text
    assert "no significant change: 7 in the 7 days after" in table(client.get("/units/S2").text, "actions")
    assert 'id="update"' in client.get(f"/actions/{action.id}").text  # the chair may change any unit's actions
