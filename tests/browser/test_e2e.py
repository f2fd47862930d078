"""End to end in a real browser (Debian's chromium, Playwright): a commander signs in, updates an action and
sees it in the history; a second session's stale form gets the conflict page; another unit's action is
refused; a note with a script shows as text; and every kind of page passes axe-core's WCAG 2.2 AA rules
with no serious or critical violation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from compstat.store import Action, ActionUpdate, connect
from tests.browser.conftest import LiveApp, axe_violations, make_user, serious, sign_in

pytestmark = pytest.mark.slow

COMMANDER, CHAIR = "n4.commander", "the.chair"
SCRIPT_NOTE = "<script>alert(1)</script>"


def actions_of(app: LiveApp, unit: str) -> list[Action]:
    engine = connect(app.demo.store_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Action).where(Action.unit_code == unit).order_by(Action.id)))
    finally:
        engine.dispose()


def history_of(app: LiveApp, action_id: int) -> list[ActionUpdate]:
    engine = connect(app.demo.store_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(ActionUpdate).where(ActionUpdate.action_id == action_id)
                                        .order_by(ActionUpdate.id)))
    finally:
        engine.dispose()


def in_progress(app: LiveApp, unit: str = "N4") -> Action:
    found = [a for a in actions_of(app, unit) if a.status == "in progress"]
    assert found, f"the demo has no action in progress in {unit}"
    return found[0]


@pytest.fixture
def app(live_app: LiveApp) -> LiveApp:
    make_user(live_app.demo, COMMANDER, "commander", ["N4"])
    make_user(live_app.demo, CHAIR, "chair")
    return live_app


@pytest.fixture
def new_page(browser: Any, app: LiveApp) -> Iterator[Any]:
    """Makes pages, each in a context of its own (its own cookies: its own session). ``bypass_csp`` lets
    axe-core (and, were a note ever markup, its script) run, so the tests see what escaping alone does."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(base_url=app.url, bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.dialogs = dialogs
        return page

    yield make
    for context in contexts:
        context.close()


def open_page(page: Any, path: str, expected: int = 200) -> Any:
    """Goes to ``path``; a 404 of a page not built yet skips (the pages are another branch's work)."""
    response = page.goto(path)
    assert response is not None
    if response.status == 404 and expected != 404 and page.title().startswith("404"):
        pytest.skip(f"page not built: {path}")
    assert response.status == expected, f"{path}: {response.status}"
    return response


def save_update(page: Any, status: str | None, note: str) -> Any:
    """Fills the action's form and submits it; the POST's response (303 followed, or the refusal)."""
    form = page.locator("form#update")
    if status is not None:
        form.locator("#status").select_option(status)
    form.locator("#note").fill(note)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        form.get_by_role("button", name="Save update").click()
    page.wait_for_load_state()
    return posted.value


def test_a_commander_updates_an_action_and_sees_it_in_the_history(app: LiveApp, new_page: Any) -> None:
    action = in_progress(app)
    page = new_page()
    sign_in(page, COMMANDER)
    page.get_by_role("link", name="N4").first.click()
    page.wait_for_url("**/units/N4")
    if page.title().startswith("404"):
        pytest.skip("page not built: /units/N4")
    page.locator(f'#actions a[href="/actions/{action.id}"]').first.click()
    page.wait_for_url(f"**/actions/{action.id}")

    posted = save_update(page, "done", "Plan agreed with the analyst; patrols started")
    assert posted.status == 303
    assert urlsplit(page.url).path == f"/actions/{action.id}"
    assert "Saved" in page.locator("main").inner_text()
    rows = page.locator("#history tbody tr")
    entries = [rows.nth(i).inner_text() for i in range(rows.count())]
    mine = [e for e in entries if "web" in e.split() and COMMANDER in e or "web" in e and "Plan agreed" in e]
    assert mine, entries
    assert any("Plan agreed with the analyst" in e for e in entries)
    headers = page.locator("#history th").all_inner_texts()
    assert [h.strip() for h in headers[:4]] == ["When", "Who", "How", "What"]
    stored = [u for u in history_of(app, action.id) if u.via == "web"]
    assert {u.by for u in stored} == {COMMANDER} and any(u.field == "status" and u.new == "done" for u in stored)
    assert page.dialogs == []


def test_a_stale_form_gets_the_conflict_page_showing_the_other_change(app: LiveApp, new_page: Any,
                                                                       axe_script: Path) -> None:
    action = in_progress(app)
    commander, chair = new_page(), new_page()
    sign_in(commander, COMMANDER)
    sign_in(chair, CHAIR)
    open_page(chair, f"/actions/{action.id}")  # the chair reads the action first...
    open_page(commander, f"/actions/{action.id}")
    assert save_update(commander, None, "Analyst's plan drafted").status == 303  # ...the commander saves...

    refused = save_update(chair, "done", "Closing this from the chair's office")  # ...then the chair
    assert refused.status == 409
    text = chair.locator("main").inner_text()
    assert "Analyst's plan drafted" in text and COMMANDER in text  # what changed, and who
    after = actions_of(app, "N4")
    assert next(a for a in after if a.id == action.id).status == "in progress"  # nothing of the chair's stored
    assert not any("chair's office" in u.note for u in history_of(app, action.id))
    report("conflict page", chair, axe_script)


def test_a_commander_opening_another_units_action_gets_403(app: LiveApp, new_page: Any) -> None:
    other = actions_of(app, "S2")[0]
    page = new_page()
    sign_in(page, COMMANDER)
    open_page(page, f"/actions/{other.id}", expected=403)
    assert other.description not in page.content()
    open_page(page, "/units/S2", expected=403)
    open_page(page, "/units/S2/pack.pdf", expected=403)


def test_a_script_in_a_note_shows_as_text(app: LiveApp, new_page: Any) -> None:
    action = in_progress(app)
    page = new_page()
    sign_in(page, COMMANDER)
    open_page(page, f"/actions/{action.id}")
    assert save_update(page, None, SCRIPT_NOTE).status == 303
    assert SCRIPT_NOTE in page.locator("#history").inner_text()
    assert page.locator("#history script").count() == 0
    assert page.locator("main script").count() == 0
    page.reload()
    open_page(page, "/units/N4")  # the unit page may show the last note too
    assert page.dialogs == [], page.dialogs


AXE_FOUND: dict[str, list[dict[str, Any]]] = {}


def report(name: str, page: Any, axe_script: Path) -> None:
    """Runs axe-core on ``page``, keeps every violation found (printed with -s), fails on a serious one."""
    found = axe_violations(page, axe_script)
    AXE_FOUND[name] = found
    if found:
        print(f"\naxe-core on the {name}: " + json.dumps(found, indent=1))
    assert not serious(found), f"the {name} has serious accessibility violations: {json.dumps(serious(found))}"


def test_sign_in_home_and_error_pages_pass_axe_core_wcag22_aa(app: LiveApp, new_page: Any,
                                                             axe_script: Path) -> None:
    page = new_page()
    open_page(page, "/login")
    report("login page", page, axe_script)
    page.fill("#username", COMMANDER)
    page.fill("#password", "not the password")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Sign in").click()
    assert posted.value.status == 401
    report("login page with its error", page, axe_script)
    sign_in(page, COMMANDER)
    report("commander's home", page, axe_script)
    open_page(page, "/no-such-page", expected=404)
    report("error page (404)", page, axe_script)


def test_unit_action_overview_and_403_pages_pass_axe_core_wcag22_aa(app: LiveApp, new_page: Any,
                                                                    axe_script: Path) -> None:
    action = in_progress(app)
    page = new_page()
    sign_in(page, COMMANDER)
    open_page(page, "/units/N4")
    report("unit page", page, axe_script)
    open_page(page, f"/actions/{action.id}")
    report("action page", page, axe_script)
    open_page(page, f"/actions/{action.id + 10_000}", expected=404)
    report("unknown action's page (404)", page, axe_script)
    open_page(page, "/overview", expected=403)
    report("error page (403)", page, axe_script)

    chair = new_page()
    sign_in(chair, CHAIR)
    open_page(chair, "/overview")
    report("overview", chair, axe_script)


def test_axe_core_finds_a_serious_violation_when_there_is_one(browser: Any, axe_script: Path) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content('<html lang="en"><title>t</title><main><img src="x.png"><input id="q"></main></html>')
        found = axe_violations(page, axe_script)
    finally:
        context.close()
    assert {"image-alt", "label"} <= {v["id"] for v in serious(found)}
