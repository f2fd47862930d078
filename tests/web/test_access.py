"""Every route's access rule: a table of role x route x expected status, checked on the server."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from compstat.actions.log import NewAction, add_action
from compstat.periods import parse_period
from compstat.store import Action, connect, transaction
from tests.web.conftest import WebDemo, csrf_of, make_user, sign_in

ROLES = {"n4": ("commander", ["N4"]), "north": ("division", ["N"]), "chair": ("chair", None),
         "analyst": ("analyst", None), "admin": ("admin", None)}
ROUTES = ["GET /", "GET /units/N4", "GET /units/S1", "GET /units/N4/pack.pdf", "GET /units/S1/pack.pdf",
          "GET /actions/N4", "GET /actions/S1", "POST /actions/N4", "POST /actions/S1", "GET /overview",
          "GET /actions/999999", "GET /units/XX", "GET /actions/abc", "GET /actions/other"]
EXPECTED = {  # role: status per route, in ROUTES' order
    "n4":      [200, 200, 403, 200, 403, 200, 403, 303, 403, 403, 404, 404, 404, 404],
    "north":   [200, 200, 403, 200, 403, 200, 403, 303, 403, 200, 404, 404, 404, 404],
    "chair":   [200, 200, 200, 200, 200, 200, 200, 303, 303, 200, 404, 404, 404, 404],
    "analyst": [200, 200, 200, 200, 200, 200, 200, 303, 303, 200, 404, 404, 404, 404],
    "admin":   [200, 200, 200, 200, 200, 200, 200, 403, 403, 200, 404, 404, 404, 404],
    None:      [303] * len(ROUTES),  # signed out: every route sends to sign in
}


def action_ids(demo: WebDemo) -> dict[str, int]:
    """An open action of N4 (the demo's), of S1 and of another organisation (raised here)."""
    engine = connect(demo.store_url)
    try:
        with transaction(engine) as session:
            n4 = session.scalar(select(Action.id).where(Action.unit_code == "N4").order_by(Action.id).limit(1))
            s1 = add_action(session, demo.config, parse_period("2026-W47", demo.config.cadence),
                            NewAction("S1", "Patrol the S1 hotspot", "Insp S", date(2026, 12, 9)), "analyst").id
            other = add_action(session, demo.config, parse_period("2026-W47", demo.config.cadence),
                               NewAction("N4", "Another force's action", "Insp O", date(2026, 12, 9)), "analyst")
            other.org = "elsewhere"
            other_id = other.id
        assert n4 is not None
        return {"N4": n4, "S1": s1, "other": other_id}
    finally:
        engine.dispose()


def version_of(demo: WebDemo, action_id: int) -> int:
    engine = connect(demo.store_url)
    try:
        with transaction(engine) as session:
            version = session.scalar(select(Action.version).where(Action.id == action_id))
            assert version is not None
            return version
    finally:
        engine.dispose()


@pytest.mark.parametrize("who", list(EXPECTED), ids=[str(w) for w in EXPECTED])
def test_every_route_checks_access(web_demo: WebDemo, client: TestClient, who: str | None) -> None:
    ids = action_ids(web_demo)
    if who is not None:
        role, units = ROLES[who]
        make_user(web_demo, who, role, units)
        sign_in(client, who)
    token = csrf_of(client.get("/login").text) if who is None else csrf_of(client.get("/").text)
    got = []
    for route in ROUTES:
        method, path = route.split(" ")
        unit = path.rsplit("/", 1)[-1]
        if path.startswith("/actions/") and unit in ids:
            path = f"/actions/{ids[unit]}"
        if method == "GET":
            response = client.get(path, follow_redirects=False)
        else:
            response = client.post(path, data={"csrf_token": token, "version": str(version_of(web_demo, ids[unit])),
                                               "note": f"checked by {who}"}, follow_redirects=False)
        got.append(response.status_code)
        if response.status_code == 303 and who is None:
            assert response.headers["location"] == "/login"
        if response.status_code in (403, 404) and "/actions/" in path:  # nothing of an action not yours is shown
            assert not any(t in response.text for t in ("Patrol the S1 hotspot", "Insp S", "Another force"))
    assert dict(zip(ROUTES, got, strict=True)) == dict(zip(ROUTES, EXPECTED[who], strict=True))
