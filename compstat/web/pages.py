"""The pages behind sign-in: a commander's units and actions, the chair's overview (``web.app`` routes).

Every route decides access on the server (``web.access``) before it reads or shows anything else: an
action or pack of a unit the viewer may not see is 403, an unknown one 404. The store is read and written
in a worker thread (``run_in_threadpool``), so one slow page never holds up the others. An update goes
through ``actions.log.update_action`` (strict: any change since the version the form was read at is a
conflict, shown with who changed what and when; nothing is stored) in one transaction under the store's
shared lock, as ``store.lock.action_transaction`` (a running cycle is waited for), on the app's engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, NamedTuple, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from compstat.actions.log import STATUSES, ConflictError, update_action
from compstat.config import Config, iter_units
from compstat.errors import UsageError
from compstat.ingest.mapping import control_character_reason
from compstat.store import Action, transaction
from compstat.store.lock import ACTIONS, StoreBusyError, shared_lock
from compstat.web import views
from compstat.web.access import Viewer, leaf_units_of, may_change_actions, may_see_unit

MAX_ID = 2**31 - 1
MAX_DUE_YEARS = 5  # a due date is at most this many years after today
TEXT_FIELDS = {"note": "Note", "reason": "Reason", "support_requested": "Support requested"}


class Served(Protocol):
    """What the pages read of the app's state (``web.app.WebState``)."""

    config: Config
    store_url: str
    engine: Engine


class Kit(NamedTuple):
    """What the pages use of ``web.app``, handed over by it (``routes``) so that this module never imports it."""

    page: Callable[..., HTMLResponse]
    posted_form: Callable[[Request], Awaitable[FormData]]
    viewer_of: Callable[[Request], Viewer]
    state: Callable[[Request], Served]


def page_routes(kit: Kit) -> list[Route]:
    return [
        Route("/", partial(home_page, kit), methods=["GET"]),
        Route("/units/{code}", partial(unit_page, kit), methods=["GET"]),
        Route("/units/{code}/pack.pdf", partial(unit_pack, kit), methods=["GET"]),
        Route("/actions/{action_id}", partial(action_page, kit), methods=["GET"]),
        Route("/actions/{action_id}", partial(action_update, kit), methods=["POST"]),
        Route("/overview", partial(overview, kit), methods=["GET"]),
    ]


def _session(web: Served) -> Session:
    return Session(web.engine)


# ---- home -------------------------------------------------------------------------------------------------

async def home_page(kit: Kit, request: Request) -> Response:
    """The viewer's units with their level and open and overdue actions."""
    viewer = kit.viewer_of(request)
    web = kit.state(request)
    units = leaf_units_of(viewer, web.config)

    def read() -> dict[str, Any]:
        with _session(web) as session:
            meeting = views.meeting(session, web.config)
        names = views.unit_names(web.config)
        rows = []
        for code in units:
            mine = [r for r in meeting.rows if r.unit_code == code]
            opened = views.open_first(mine)
            level = views.unit_level(meeting, web.config, code)
            rows.append({"code": code, "name": names.get(code, code), "open": len(opened),
                         "overdue": sum(r.overdue for r in opened), "level": level})
        return {"rows": rows, "period": meeting.period.label}

    return kit.page(request, "home.html", units=units, **await run_in_threadpool(read))


# ---- a unit -----------------------------------------------------------------------------------------------

def _unit_allowed(viewer: Viewer, web: Served, code: str) -> None:
    if code not in {u.code for u in iter_units(web.config.units)}:
        raise HTTPException(404, f"There is no unit '{code}'.")
    if not may_see_unit(viewer, web.config, code):
        raise HTTPException(403, f"Unit {code} is not one of yours.")


async def unit_page(kit: Kit, request: Request) -> Response:
    viewer = kit.viewer_of(request)
    web = kit.state(request)
    code = request.path_params["code"]
    _unit_allowed(viewer, web, code)

    def read() -> dict[str, Any]:
        leaves = views.leaves_under(web.config, code)
        with _session(web) as session:
            meeting = views.meeting(session, web.config)
            mine = [r for r in meeting.rows if r.unit_code in leaves]
            return {"unit_code": code, "unit_name": views.unit_names(web.config).get(code, code),
                    "period": meeting.period.label, "cycle": meeting.cycle,
                    "has_pack": views.pack_path(web.config, meeting.cycle, code) is not None,
                    "figures": views.figures(session, web.config, meeting.cycle, code),
                    "level": views.unit_level(meeting, web.config, code),
                    "open_actions": views.open_first(mine), "closed_actions": views.closed(mine),
                    "several": len(leaves) > 1}

    return kit.page(request, "unit.html", **await run_in_threadpool(read))


async def unit_pack(kit: Kit, request: Request) -> Response:
    viewer = kit.viewer_of(request)
    web = kit.state(request)
    code = request.path_params["code"]
    _unit_allowed(viewer, web, code)

    def find() -> Any:
        with _session(web) as session:
            cycle = views.latest_cycle(session, web.config)
            return views.pack_path(web.config, cycle, code), cycle.period if cycle else ""

    path, period = await run_in_threadpool(find)
    if path is None:
        raise HTTPException(404, f"There is no pack for {code} yet.")
    return FileResponse(path, media_type="application/pdf", filename=f"{period}-{path.name}")


# ---- an action --------------------------------------------------------------------------------------------

def _action_id(request: Request) -> int:
    raw = request.path_params["action_id"]
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise HTTPException(404, f"There is no action '{raw[:40]}'.")
    return int(raw)


def _allowed_action(viewer: Viewer, web: Served, action_id: int) -> tuple[str, bool]:
    """The action's unit and whether the viewer may change it; 404 unknown (or another organisation's), 403 not
    the viewer's unit. Nothing else about the action is read before this."""
    with _session(web) as session:
        unit = session.scalar(select(Action.unit_code).where(Action.id == action_id,
                                                             Action.org == web.config.organisation.slug))
    if unit is None:
        raise HTTPException(404, f"There is no action {action_id}.")
    if not may_see_unit(viewer, web.config, unit):
        raise HTTPException(403, f"Action {action_id} is not one of your units' actions.")
    return unit, may_change_actions(viewer, web.config, unit)


@dataclass(frozen=True)
class Update:
    """A parsed update form."""

    version: int
    status: str | None
    note: str
    reason: str
    support_requested: str | None
    due_date: date | None


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def parse_update(form: FormData, raised_on: date, today: date | None = None) -> Update:
    """The update a form asks for; ``UsageError`` (400) on anything wrong with it."""
    today = today or date.today()
    raw_version = (_field(form, "version") or "").strip()
    if not raw_version.isdigit() or not 0 < int(raw_version) <= MAX_ID:
        raise UsageError("The form's version is missing or garbled: reload the page and enter the update again.")
    for name, label in TEXT_FIELDS.items():
        held = control_character_reason(label, _field(form, name) or "")
        if held:
            raise UsageError(held.split(":")[0] + ": remove it and save again.")
    status = _field(form, "status")
    if status is not None and status not in STATUSES:
        raise UsageError(f"Status '{status[:40]}' is not one of {', '.join(STATUSES)}.")
    due_text = (_field(form, "due_date") or "").strip()
    due = None
    if due_text:
        try:
            due = date.fromisoformat(due_text)
        except ValueError:
            raise UsageError(f"Due date '{due_text[:40]}' is not a date (expected YYYY-MM-DD).") from None
        latest = today.replace(year=today.year + MAX_DUE_YEARS) if (today.month, today.day) != (2, 29) \
            else date(today.year + MAX_DUE_YEARS, 2, 28)
        if due < raised_on:
            raise UsageError(f"Due date {due} is before the action was raised ({raised_on}).")
        if due > latest:
            raise UsageError(f"Due date {due} is more than {MAX_DUE_YEARS} years away.")
    return Update(int(raw_version), status, _field(form, "note") or "", _field(form, "reason") or "",
                  _field(form, "support_requested"), due)


def _action_context(session: Session, web: Served, action_id: int) -> dict[str, Any]:
    action = session.get(Action, action_id, populate_existing=True)
    assert action is not None
    meeting = views.meeting(session, web.config)
    row = next((r for r in meeting.rows if r.id == action_id), None)
    return {"action": action, "row": row, "unit_name": views.unit_names(web.config).get(action.unit_code, ""),
            "history": views.history(session, action_id), "statuses": STATUSES}


async def action_page(kit: Kit, request: Request) -> Response:
    viewer = kit.viewer_of(request)
    web = kit.state(request)
    action_id = _action_id(request)
    _, can_change = await run_in_threadpool(_allowed_action, viewer, web, action_id)

    def read() -> dict[str, Any]:
        with _session(web) as session:
            return _action_context(session, web, action_id)

    context = await run_in_threadpool(read)
    return kit.page(request, "action.html", can_change=can_change, saved=request.query_params.get("saved") == "1",
                    unchanged=request.query_params.get("unchanged") == "1",
                form=None, message="", conflict=None, **context)


async def action_update(kit: Kit, request: Request) -> Response:
    viewer = kit.viewer_of(request)
    web = kit.state(request)
    action_id = _action_id(request)
    _, can_change = await run_in_threadpool(_allowed_action, viewer, web, action_id)
    if not can_change:
        raise HTTPException(403, f"Your account ({viewer.role}) cannot change actions.")
    form = await kit.posted_form(request)

    def apply() -> tuple[int, str, list[views.HistoryRow] | None]:
        with _session(web) as session:
            raised_on = session.scalar(select(Action.raised_on).where(Action.id == action_id))
        assert raised_on is not None
        try:
            asked = parse_update(form, raised_on)
        except UsageError as exc:
            return 400, str(exc), None
        try:
            with shared_lock(web.store_url, ACTIONS), transaction(web.engine) as session:  # as action_transaction
                updated = update_action(session, action_id, viewer.username, asked.status, asked.note,
                                        reason=asked.reason, support_requested=asked.support_requested,
                                        due_date=asked.due_date, expected_version=asked.version, strict=True,
                                        via="web", org=web.config.organisation.slug)
                changed = updated.version != asked.version
        except ConflictError:
            with _session(web) as session:
                since = views.history(session, action_id, after_version=asked.version)
            return 409, (f"Action {action_id} was changed by someone else after you opened it: your update was not "
                         "saved. Their change is below; check it, then enter your update again."), since
        except UsageError as exc:
            return 400, f"{exc}. Nothing was saved.", None
        except StoreBusyError as exc:
            return 503, f"{exc}. Nothing was saved: try again in a minute.", None
        return 303, "saved=1" if changed else "unchanged=1", None

    status, message, since = await run_in_threadpool(apply)
    if status == 303:
        return RedirectResponse(f"/actions/{action_id}?{message}", status_code=303)

    def read() -> dict[str, Any]:
        with _session(web) as session:
            return _action_context(session, web, action_id)

    context = await run_in_threadpool(read)
    entered = {name: _field(form, name) or "" for name in ("status", "note", "reason", "support_requested",
                                                          "due_date")}
    return kit.page(request, "action.html", status_code=status, can_change=True, saved=False, unchanged=False,
                    form=entered, message=message, conflict=since, **context)


# ---- the overview -----------------------------------------------------------------------------------------

async def overview(kit: Kit, request: Request) -> Response:
    viewer = kit.viewer_of(request)
    web = kit.state(request)
    if not (viewer.sees_every_unit or viewer.role == "division"):
        raise HTTPException(403, "The overview is for the chair, analysts and division commanders.")
    units = leaf_units_of(viewer, web.config)

    def read() -> dict[str, Any]:
        since = views.last_meeting_day(web.config)
        with _session(web) as session:
            meeting = views.meeting(session, web.config)
            ladder = sorted((lv for lv in (views.unit_level(meeting, web.config, c) for c in units) if lv),
                            key=lambda lv: (-lv.level, units.index(lv.unit_code)))
            flagged = [r for r in views.open_first([r for r in meeting.rows if r.unit_code in units])
                       if r.overdue or r.stale]
            updates = views.updates_since(session, web.config, units, since)
            counts, findings = views.quality_summary(session, meeting.cycle,
                                                     None if viewer.sees_every_unit else units)
        return {"period": meeting.period.label, "cycle": meeting.cycle, "ladder": ladder, "flagged": flagged,
                "updates": updates, "since": since, "counts": counts, "findings": findings}

    return kit.page(request, "overview.html", **await run_in_threadpool(read))
