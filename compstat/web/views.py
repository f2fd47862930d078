"""What the pages show, read from the store: pure functions of a Session and the Config (no requests).

The action log is the one the latest stored cycle's packs were judged on (``carry_forward``: levels,
overdue, stale, "did it work"), with statuses as they stand now and the actions closed since the last
pack; actions raised since that meeting are listed too (no level yet). Figures are the stored cycle's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compstat.actions.carry_forward import (
    carry_forward_actions,
    latest_meeting_period,
    stored_concerns,
    stored_evidence,
    stored_period_table,
    upcoming_period,
)
from compstat.actions.effect import EFFECT_COLUMNS
from compstat.actions.escalation import agreement_triggers, unit_levels
from compstat.actions.log import CLOSED, describe_update, meeting_date
from compstat.config import Config, iter_units
from compstat.hierarchy import division_leaves
from compstat.periods import Period, parse_period
from compstat.store import Action, ActionUpdate, Cycle, CycleResult, FindingRow

WINDOW_NAMES = {"period": "Period", "28d": "28 days", "3m": "3 months", "ytd": "Year to date"}
RECENT_UPDATES = 3  # shown per unit on the overview
MAX_FINDINGS = 40


@dataclass(frozen=True)
class ActionRow:
    """One action as a list shows it."""

    id: int
    unit_code: str
    description: str
    owner: str
    due_date: date
    status: str
    overdue: bool = False
    stale: bool = False
    level: str = ""
    effect: str = ""
    closed_on: date | None = None
    closing_note: str = ""


@dataclass(frozen=True)
class Figure:
    """One measure's figure for one window: now, compared with, change."""

    current: str
    previous: str
    change: str


@dataclass(frozen=True)
class FigureRow:
    """One measure's figures, one per window of ``Figures.windows`` (None: not stored for that window)."""

    measure: str
    cells: tuple[Figure | None, ...]


@dataclass(frozen=True)
class Figures:
    windows: tuple[str, ...]  # the windows' names, as the pack says them
    rows: tuple[FigureRow, ...]


@dataclass(frozen=True)
class Level:
    unit_code: str
    unit_name: str
    level: int
    label: str
    reason: str


@dataclass
class Meeting:
    """The log and levels for the latest stored cycle's meeting (or the upcoming one without a cycle)."""

    period: Period
    cycle: Cycle | None
    log: pd.DataFrame
    levels: pd.DataFrame
    rows: list[ActionRow] = field(default_factory=list)


def unit_names(config: Config) -> dict[str, str]:
    return {u.code: u.name for u in iter_units(config.units)}


def leaves_under(config: Config, code: str) -> list[str]:
    """The leaf units a unit page covers: itself, or a division's leaves."""
    if code in {u.code for u in config.leaf_units}:
        return [code]
    return list(division_leaves(config).get(code, []))


def latest_cycle(session: Session, config: Config) -> Cycle | None:
    """The organisation's stored cycle for the latest period."""
    return session.scalars(select(Cycle).where(Cycle.org == config.organisation.slug)
                           .order_by(Cycle.period_end.desc(), Cycle.id.desc()).limit(1)).first()


def pack_path(config: Config, cycle: Cycle | None, unit_code: str) -> Path | None:
    """The unit's pack in the cycle's output folder (a name from ``pack_filenames``, never from a request);
    None when there is none."""
    from compstat.packs.context.unit import pack_filenames

    name = pack_filenames(config).get(unit_code)
    if cycle is None or name is None or not cycle.output_dir:
        return None
    folder = Path(cycle.output_dir).resolve()
    path = (folder / name).resolve()
    return path if path.parent == folder and path.is_file() else None


_CACHE_SIZE = 16
_cache: dict[tuple[object, ...], Any] = {}
_cache_lock = threading.Lock()
_making = threading.Lock()  # one judgement at a time: fifty first pages wait for one, not make fifty


def _cached(key: tuple[object, ...], make: Callable[[], Any]) -> Any:
    """``make()``, kept for ``key`` (the most recent ``_CACHE_SIZE`` keys): for what depends only on a stored
    cycle and the actions' fixed facts, judged once rather than on every request (also when many ask at once)."""
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    with _making:
        with _cache_lock:
            if key in _cache:  # made while this request waited
                return _cache[key]
        value = make()
        with _cache_lock:
            while len(_cache) >= _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            _cache[key] = value
    return value


def meeting(session: Session, config: Config, today: date | None = None) -> Meeting:
    """The action log and unit levels as the latest pack judged them, with closings up to now.

    "Did it work" (the slow part: every linked measure's daily counts), the agreement triggers and the unit
    levels are judged once per stored cycle and set of what they rest on (the actions' id, unit, measure,
    raised and due dates; their levels), then reused; statuses, overdue and stale are read on every call."""
    today = today or date.today()
    cycle = latest_cycle(session, config)
    period = parse_period(cycle.period, config.cadence) if cycle else upcoming_period(config, today)
    store = (str(getattr(session.get_bind(), "url", "")), config.organisation.slug, period.label,
             (cycle.id, cycle.run_at) if cycle else None)
    concerns = _cached(("concerns", *store), lambda: stored_concerns(session, config, period))
    log = carry_forward_actions(session, config, period, concerns, as_of=datetime.now().replace(microsecond=0),
                                judge_effects=False)
    facts = tuple(log[["id", "unit_code", "measure_id", "raised_on", "due_date"]].astype(str)
                  .itertuples(index=False, name=None))
    effects = _cached(("effects", *store, facts), lambda: carry_forward_actions(
        session, config, period, concerns, as_of=datetime.now().replace(microsecond=0))
        .set_index("id")[EFFECT_COLUMNS])
    judged = effects.reindex(log["id"])
    for column in EFFECT_COLUMNS:
        log[column] = judged[column].to_numpy()
    log["effect_text"] = log["effect_text"].fillna("")
    triggers = _cached(("triggers", *store), lambda: agreement_triggers(
        stored_period_table(session, config, period), config, concerns, stored_evidence(session, config, period)))
    carried = tuple(log[["id", "unit_code", "measure_id", "carried", "escalation_level", "escalation_reason"]]
                    .astype(str).itertuples(index=False, name=None))
    levels = _cached(("levels", *store, carried), lambda: unit_levels(log, config, concerns=concerns,
                                                                       triggered=triggers))
    rows = [_row(r, today) for r in log.to_dict(orient="records")]
    listed = {r.id for r in rows}
    later = session.scalars(select(Action).where(Action.org == config.organisation.slug,
                                                 Action.status.not_in(CLOSED), Action.raised_on >= period.end)
                            .order_by(Action.due_date, Action.id))
    rows += [ActionRow(a.id, a.unit_code, a.description, a.owner, a.due_date, a.status, a.due_date < today)
             for a in later if a.id not in listed]
    return Meeting(period, cycle, log, levels, rows)


def _row(r: Mapping[Hashable, Any], today: date) -> ActionRow:
    is_open = r["status"] not in CLOSED
    due = pd.Timestamp(r["due_date"]).date()
    level = f"{int(r['escalation_level'])} {r['escalation_label']}" if is_open else ""
    effect = r.get("effect_text")
    closed = r.get("closed_on")
    return ActionRow(int(r["id"]), str(r["unit_code"]), str(r["description"]), str(r["owner"]), due,
                     str(r["status"]), is_open and (bool(r["overdue"]) or due < today), is_open and bool(r["stale"]),
                     level, effect if isinstance(effect, str) else "",
                     pd.Timestamp(closed).date() if closed is not None and not pd.isna(closed) else None,
                     str(r.get("closing_note") or ""))


def open_first(rows: list[ActionRow]) -> list[ActionRow]:
    """Open actions, overdue first, then by due date."""
    return sorted((r for r in rows if r.status not in CLOSED), key=lambda r: (not r.overdue, r.due_date, r.id))


def closed(rows: list[ActionRow]) -> list[ActionRow]:
    return [r for r in rows if r.status in CLOSED]


def unit_level(meeting_: Meeting, config: Config, code: str) -> Level | None:
    levels = meeting_.levels[meeting_.levels["unit_code"] == code]
    if levels.empty:
        return None
    row = levels.iloc[0]
    return Level(code, unit_names(config).get(code, code), int(row["escalation_level"]),
                 str(row["escalation_label"]), str(row["escalation_reason"]))


def figures(session: Session, config: Config, cycle: Cycle | None, unit_code: str) -> Figures:
    """The stored cycle's figures for the unit: a row per measure, for each window now, compared with, change."""
    if cycle is None:
        return Figures((), ())
    stmt = select(CycleResult.measure_id, CycleResult.window, CycleResult.current, CycleResult.previous).where(
        CycleResult.cycle_id == cycle.id, CycleResult.unit_code == unit_code)
    found = {(m, w): (c, p) for m, w, c, p in session.execute(stmt)}
    windows = [w for w in WINDOW_NAMES if any(key[1] == w for key in found)]
    rows = []
    for measure in config.measures:
        cells = tuple(Figure(_number(found[(measure.id, w)][0]), _number(found[(measure.id, w)][1]),
                             _change(*found[(measure.id, w)])) if (measure.id, w) in found else None
                      for w in windows)
        if any(cells):
            rows.append(FigureRow(measure.name, cells))
    return Figures(tuple(WINDOW_NAMES[w] for w in windows), tuple(rows))


def _number(value: float | None) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _change(current: float | None, previous: float | None) -> str:
    if current is None or previous is None or pd.isna(current) or pd.isna(previous) or previous == 0:
        return "–"
    return f"{100.0 * (current - previous) / previous:+.0f}%"


@dataclass(frozen=True)
class HistoryRow:
    when: datetime
    who: str
    how: str
    what: str


def history(session: Session, action_id: int, after_version: int = 0) -> list[HistoryRow]:
    """An action's history, oldest first (only the changes after ``after_version`` when given)."""
    rows = session.scalars(select(ActionUpdate).where(ActionUpdate.action_id == action_id,
                                                      ActionUpdate.version > after_version)
                           .order_by(ActionUpdate.id))
    return [HistoryRow(u.at, u.by, u.via or "cli", _what(u)) for u in rows]


def _what(update_row: ActionUpdate) -> str:
    text = describe_update(update_row)
    what = text[:text.rfind(" by ")]
    if update_row.note and update_row.field not in ("note", "created"):
        what += f" (note '{update_row.note}')"
    if update_row.field == "created":
        what = f"raised: '{update_row.note}'"
    return what


@dataclass(frozen=True)
class UnitUpdates:
    unit_code: str
    unit_name: str
    open_actions: int
    updates: int
    last: HistoryRow | None


def last_meeting_day(config: Config, today: date | None = None) -> date:
    return meeting_date(config, latest_meeting_period(config, today or date.today()))


def updates_since(session: Session, config: Config, units: list[str], since: date) -> list[UnitUpdates]:
    """Per unit: its open actions and the changes recorded to its actions on or after ``since`` (any channel)."""
    org = config.organisation.slug
    start = datetime.combine(since, time.min)
    opened = dict(session.execute(select(Action.unit_code, func.count()).where(
        Action.org == org, Action.status.not_in(CLOSED)).group_by(Action.unit_code)).all())
    stmt = (select(Action.unit_code, ActionUpdate).join(Action, Action.id == ActionUpdate.action_id)
            .where(Action.org == org, ActionUpdate.at >= start).order_by(ActionUpdate.id))
    counts: dict[str, int] = {}
    last: dict[str, HistoryRow] = {}
    for unit, u in session.execute(stmt):
        counts[unit] = counts.get(unit, 0) + 1
        last[unit] = HistoryRow(u.at, u.by, u.via or "cli", _what(u))
    names = unit_names(config)
    return [UnitUpdates(code, names.get(code, code), int(opened.get(code, 0)), counts.get(code, 0), last.get(code))
            for code in units]


@dataclass(frozen=True)
class Finding:
    severity: str
    check: str
    unit: str
    message: str
    rows: int


def quality_summary(session: Session, cycle: Cycle | None, units: list[str] | None) -> tuple[dict[str, int],
                                                                                             list[Finding]]:
    """The latest cycle's data-quality findings (counts by severity, then the most serious first), limited to
    ``units`` (and organisation-wide ones) unless None."""
    if cycle is None:
        return {}, []
    stmt = select(FindingRow).where(FindingRow.cycle_id == cycle.id).order_by(FindingRow.id)
    found = [f for f in session.scalars(stmt) if units is None or f.unit_code is None or f.unit_code in units]
    order = {"blocking": 0, "warning": 1, "info": 2}
    counts: dict[str, int] = {}
    for f in found:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    found.sort(key=lambda f: (order.get(f.severity, 3), f.id))
    return counts, [Finding(f.severity, f.check_name, f.unit_code or "all", f.message, f.rows)
                    for f in found[:MAX_FINDINGS]]
