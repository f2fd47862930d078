"""An update to an action that changed since its page was read is refused with the other change shown, and
nothing is stored: one at a time, and two at once on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date

import httpx2 as httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from compstat.actions.log import NewAction, add_action, update_action
from compstat.config import Config
from compstat.periods import parse_period
from compstat.store import Action, ActionUpdate, connect, transaction
from compstat.web.accounts import add_user
from compstat.web.app import create_app
from tests.web.conftest import PASSWORD, csrf_of, sign_in


@pytest.fixture
def one_action(small_config: Config, store_url: str) -> Iterator[int]:
    """One open action of unit A, and accounts for A's commander and the chair."""
    engine = connect(store_url)
    try:
        with transaction(engine) as session:
            action = add_action(session, small_config, parse_period("2026-W10", small_config.cadence),
                                NewAction("A", "Close the alley", "Insp A", date(2026, 3, 18)), "analyst")
            for username, role, units in (("a", "commander", ["A"]), ("chair", "chair", None)):
                add_user(session, small_config, username, role, units, password=PASSWORD)
            action_id = action.id
    finally:
        engine.dispose()
    yield action_id


def updates_of(store_url: str, action_id: int) -> list[tuple[str, str, str]]:
    engine = connect(store_url)
    try:
        with transaction(engine) as session:
            return [(u.by, u.field, u.note) for u in session.scalars(
                select(ActionUpdate).where(ActionUpdate.action_id == action_id).order_by(ActionUpdate.id))]
    finally:
        engine.dispose()


def form(client: TestClient, action_id: int) -> dict[str, str]:
    page = client.get(f"/actions/{action_id}")
    assert page.status_code == 200, page.text
    version = page.text.split('name="version" value="')[1].split('"')[0]
    return {"csrf_token": csrf_of(page.text), "version": version}


@pytest.fixture
def app(small_config: Config, store_url: str, one_action: int) -> Iterator[Starlette]:
    served = create_app(small_config, store_url)
    yield served
    served.state.web.engine.dispose()  # its PostgreSQL connections closed before the test database is dropped


def test_a_stale_version_is_refused_with_the_other_change_shown(store_url: str, one_action: int,
                                                                app: Starlette) -> None:
    with TestClient(app, base_url="http://127.0.0.1") as client:
        sign_in(client, "a")
        read = form(client, one_action)
        engine = connect(store_url)
        try:
            with transaction(engine) as session:  # someone else, by the CLI, after the page was read
                update_action(session, one_action, "Insp B", "in progress", "started the patrols")
        finally:
            engine.dispose()
        before = updates_of(store_url, one_action)
        refused = client.post(f"/actions/{one_action}", data=read | {"status": "done", "note": "all done"})
        assert refused.status_code == 409
        assert "changed by someone else" in refused.text and "your update was not saved" in refused.text
        other = refused.text.split('<table id="conflict">')[1].split("</table>")[0]
        assert "Insp B" in other and "cli" in other and "in progress" in other and "started the patrols" in other
        assert "all done" in refused.text  # what was entered is kept in the form, to enter again
        assert updates_of(store_url, one_action) == before
        again = client.post(f"/actions/{one_action}", data=form(client, one_action) | {"note": "all done"},
                            follow_redirects=False)
        assert again.status_code == 303
        assert updates_of(store_url, one_action)[-1] == ("a", "note", "all done")


def test_two_updates_at_once_apply_exactly_one(store_url: str, one_action: int, app: Starlette) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("concurrent writers are tested on PostgreSQL")
    with TestClient(app, base_url="http://127.0.0.1") as first, \
            TestClient(app, base_url="http://127.0.0.1") as second:
        sign_in(first, "a")
        sign_in(second, "chair")
        forms = [form(first, one_action), form(second, one_action)]
        assert forms[0]["version"] == forms[1]["version"]
        start = threading.Barrier(2)
        results: dict[str, httpx.Response] = {}

        def post(name: str, client: TestClient, data: dict[str, str]) -> None:
            start.wait()
            results[name] = client.post(f"/actions/{one_action}", data=data | {"note": f"from {name}"},
                                        follow_redirects=False)

        threads = [threading.Thread(target=post, args=("a", first, forms[0])),
                   threading.Thread(target=post, args=("chair", second, forms[1]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(r.status_code for r in results.values()) == [303, 409]
        notes = [n for _, field, n in updates_of(store_url, one_action) if field == "note"]
        winner = next(name for name, r in results.items() if r.status_code == 303)
        assert notes == [f"from {winner}"]
        loser = next(r for r in results.values() if r.status_code == 409)
        assert f"from {winner}" in loser.text.split('<table id="conflict">')[1].split("</table>")[0]
        engine = connect(store_url)
        try:
            with transaction(engine) as session:
                assert session.scalar(select(Action.version).where(Action.id == one_action)) == \
                    int(forms[0]["version"]) + 1
        finally:
            engine.dispose()
