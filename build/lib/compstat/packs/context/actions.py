"""Section 1 of both packs: the action log, carried actions (overdue first) and those completed
since the last meeting, each with the lines under it (note, escalation, support, "did it work?");
for the chair, the overdue actions across units grouped first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from compstat.actions import CLOSED
from compstat.packs.context.common import Record, float_of, is_missing, text_of, unit_names
from compstat.results import CycleData

OVERDUE_LABEL = "⚠ OVERDUE"
STALE_LABEL = "◷ STALE"
EFFECT_WORDS = {"too early": "too early to tell (fewer than 7 days since it was raised)",
                "not assessed": "not assessed (only counts are tested)"}


@dataclass(frozen=True)
class ActionRow:
    """One action from the log, as promised at an earlier meeting.

    ``details`` are the (label, text) lines under the description: the measure, the last note
    (carried) or the closing note and the reason for dropping (closed), the carried action's
    escalation level and why, the support requested and offered, and "did it work?".
    ``stale_label`` says how long nobody has updated it."""

    id: int
    unit_code: str
    unit_name: str
    measure_name: str
    description: str
    owner: str
    due_date: date | None
    status: str
    meetings_carried: int
    overdue: bool
    overdue_label: str
    last_note: str
    closed: bool
    closed_on: date | None
    level: int = 0
    stale: bool = False
    stale_label: str = ""
    support_requested: str = ""
    support_offered: str = ""
    effect: str = ""
    closing_note: str = ""
    drop_reason: str = ""
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ActionLog:
    """Section 1: actions carried forward (overdue first) and those completed since the last meeting."""

    carried: tuple[ActionRow, ...]
    completed: tuple[ActionRow, ...]
    n_open: int
    n_overdue: int
    n_completed: int
    empty_message: str


@dataclass(frozen=True)
class ActionGroup:
    """Actions of one kind for the chair (overdue, or not yet due), each unit's together."""

    title: str
    rows: tuple[ActionRow, ...]


@dataclass(frozen=True)
class ChairActions:
    """Section 1 of the chair's pack: the action log with the overdue actions across units first."""

    log: ActionLog
    groups: tuple[ActionGroup, ...]


def action_log(data: CycleData, unit_code: str | None) -> ActionLog:
    """The action log for one unit, or for every unit when ``unit_code`` is None."""
    frame = data.actions
    if frame.empty or "unit_code" not in frame.columns:
        rows: list[ActionRow] = []
    else:
        if unit_code is not None:
            frame = frame[frame["unit_code"] == unit_code]
        names = unit_names(data.config)
        measures = {m.id: m.name for m in data.config.measures}
        rows = [_action_row(r, names, measures) for r in frame.to_dict(orient="records")]
    order = {u.code: i for i, u in enumerate(data.config.leaf_units)}

    def key(row: ActionRow) -> tuple[int, str, bool, date, int]:
        return (order.get(row.unit_code, len(order)), row.unit_code, not row.overdue,
                row.due_date or date.max, row.id)

    carried = sorted((r for r in rows if not r.closed), key=key)
    completed = sorted((r for r in rows if r.closed), key=key)
    whose = "this unit" if unit_code is not None else "any unit"
    return ActionLog(
        carried=tuple(carried), completed=tuple(completed), n_open=len(carried),
        n_overdue=sum(r.overdue for r in carried), n_completed=len(completed),
        empty_message=f"There are no actions carried forward for {whose} from earlier meetings.",
    )


def _action_row(row: Record, names: dict[str, str], measures: dict[str, str]) -> ActionRow:
    status = text_of(row.get("status"))
    closed = status in CLOSED
    overdue = not closed and _flag(row.get("overdue"))
    stale = not closed and _flag(row.get("stale"))
    measure_id = text_of(row.get("measure_id"))
    measure_name = measures.get(measure_id, measure_id)
    level = 0 if closed or is_missing(row.get("escalation_level")) else int(row["escalation_level"])
    label = text_of(row.get("escalation_label"))
    days = row.get("days_since_update")
    last_note, closing_note, drop_reason = (text_of(row.get(k)) for k in ("last_note", "closing_note", "drop_reason"))
    requested, offered = text_of(row.get("support_requested")), text_of(row.get("support_offered"))
    effect = _effect_words(text_of(row.get("effect")), text_of(row.get("effect_text")))
    details = [("Measure", measure_name)] if measure_name else []
    reason = text_of(row.get("escalation_reason"))
    if not closed and label:
        details.append(("Escalation", f"level {level} {label}" + (f": {reason}" if reason else "")))
    if closed:
        details += [("Closing note", closing_note)] if closing_note and closing_note != drop_reason else []
        details += [("Reason dropped", drop_reason)] if status == "dropped" and drop_reason else []
    elif last_note:
        details.append(("Last note", last_note))
    details += [(k, v) for k, v in (("Support requested", requested), ("Support offered", offered),
                                    ("Did it work", effect)) if v]
    return ActionRow(
        id=int(row["id"]), unit_code=str(row["unit_code"]),
        unit_name=names.get(str(row["unit_code"]), str(row["unit_code"])),
        measure_name=measure_name, description=text_of(row.get("description")),
        owner=text_of(row.get("owner")), due_date=_as_date(row.get("due_date")),
        status=status.capitalize(),
        meetings_carried=0 if is_missing(row.get("meetings_carried")) else int(row["meetings_carried"]),
        overdue=overdue, overdue_label=OVERDUE_LABEL if overdue else "",
        last_note=last_note, closed=closed, closed_on=_as_date(row.get("closed_on")),
        level=level, stale=stale, stale_label=(f"{STALE_LABEL}: no update for {int(float_of(days))} days"
                                  if stale and not is_missing(days) else STALE_LABEL if stale else ""),
        support_requested=requested, support_offered=offered, effect=effect, closing_note=closing_note,
        drop_reason=drop_reason, details=tuple(details),
    )


def _effect_words(verdict: str, text: str) -> str:
    """"Did it work?" in words: the verdict with its counts and test, or why there is none (too early:
    the days of data there are, as the action log and the minutes say it)."""
    if verdict == "too early" and text.startswith("too early to tell"):
        return text
    return EFFECT_WORDS.get(verdict, text)


def _flag(value: object) -> bool:
    return not is_missing(value) and bool(value)


def _as_date(value: object) -> date | None:
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(str(value)).date()


def actions_detail(log: ActionLog) -> str:
    return f"{log.n_open} open, {log.n_overdue} overdue, {log.n_completed} completed"
