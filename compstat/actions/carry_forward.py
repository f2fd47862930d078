"""The action log for one meeting: every open action with its age, level and staleness, plus
those closed since the last meeting, shown once as "completed since last meeting"; and what a
stored cycle showed (its period table and special-cause concerns), so that commands run after
the cycle judge escalation on the same figures as its packs."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time

import pandas as pd
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from compstat.actions.effect import EFFECT_COLUMNS, action_effects, history_start
from compstat.actions.escalation import Concerns, Evidence, action_levels, evidence_from, meeting_escalation
from compstat.actions.log import CLOSED, meeting_date
from compstat.analysis.measures import daily_by_category
from compstat.analysis.spc import CONCERN
from compstat.config import Config
from compstat.figures import daily_measures
from compstat.periods import Period, last_complete_period, next_period, parse_period, previous_period
from compstat.schemas import ACTIONS
from compstat.store import Action, ActionUpdate, AnalysisRow, Cycle, CycleResult, Observation

ACTION_COLUMNS = [
    "id", "unit_code", "measure_id", "description", "owner", "due_date", "status", "raised_period",
    "raised_on", "closed_on", "last_note", "meetings_carried", "overdue", "carried",
    "kind", "support_requested", "support_offered", "drop_reason", "closing_note", "updated_at", "last_updated_by",
    "version", "missed_meetings", "escalation_level", "escalation_label", "escalation_reason",
    "days_since_update", "stale", *EFFECT_COLUMNS,
]


def upcoming_period(config: Config, today: date) -> Period:
    """The period whose meeting is next on or after ``today`` (what commanders are preparing for)."""
    last = last_complete_period(today, config.cadence)
    return last if meeting_date(config, last) >= today else next_period(last, config.cadence)


def latest_meeting_period(config: Config, today: date) -> Period:
    """The period whose meeting was held most recently, on or before ``today``."""
    last = last_complete_period(today, config.cadence)
    return last if meeting_date(config, last) <= today else previous_period(last, config.cadence)


def carry_forward_actions(session: Session, config: Config, period: Period,
                          concerns: Concerns | None = None, *, as_of: datetime | None = None,
                          daily: pd.DataFrame | None = None, data_as_of: dict[str, date] | None = None,
                          judge_effects: bool = True) -> pd.DataFrame:
    """The action log for the meeting on ``period`` (``ACTION_COLUMNS``).

    Rows: every action raised before ``period`` that is still open, and those whose closing
    (done or dropped) was recorded since the last pack, within ``closure_window``. ``meetings_carried``
    counts meetings since the one that raised it; an open action is ``overdue`` once its due
    date is on or before this meeting's date (due at the meeting means done by the meeting);
    ``missed_meetings`` counts the meetings on or after the due date; the escalation columns
    follow ``escalation.action_levels`` (``concerns``: (unit, measure) pairs in special-cause
    concern); ``stale`` marks open actions nobody has updated for more than
    ``accountability.stale_after_days`` days before the meeting; the effect columns say
    whether the linked measure moved (``effect.action_effects``). ``as_of``: the time of the
    pack being made (the cycle's run time); see ``closure_window``. ``daily``: daily measure
    totals already read (the cycle's), used for the effects when they reach back far enough.
    ``data_as_of``: the last day each unit's data is in (the quality step's); the effects' windows
    end there (default: the meeting's stored cycle's, else each unit's last day of data).
    ``judge_effects`` False leaves the effect columns blank (not judged: the web pages judge them once per
    cycle and set of actions, not on every request).
    """
    org = config.organisation.slug
    meeting = meeting_date(config, period)
    after, until = closure_window(session, config, period, as_of)
    last_status = (select(ActionUpdate.action_id, func.max(ActionUpdate.id).label("update_id"))
                   .where(ActionUpdate.field == "status").group_by(ActionUpdate.action_id).subquery())
    closed_lately = (select(last_status.c.action_id)
                     .join(ActionUpdate, ActionUpdate.id == last_status.c.update_id)
                     .where(ActionUpdate.new.in_(CLOSED), ActionUpdate.at > after, ActionUpdate.at <= until))
    stmt = select(Action).where(
        Action.org == org, Action.raised_on < period.end,
        or_(Action.status.not_in(CLOSED), and_(Action.status.in_(CLOSED), Action.id.in_(closed_lately))),
    ).order_by(Action.unit_code, Action.due_date, Action.id)
    meetings_after: dict[str, list[date]] = {}
    stale_days = config.accountability.stale_after_days
    rows = []
    for a in session.scalars(stmt):
        if a.raised_period not in meetings_after:
            meetings_after[a.raised_period] = _meetings_after(parse_period(a.raised_period, config.cadence),
                                                              period, config)
        held = meetings_after[a.raised_period]
        is_open = a.status not in CLOSED
        since_update = max(0, (meeting - a.updated_at.date()).days)
        rows.append({
            "id": a.id, "unit_code": a.unit_code, "measure_id": a.measure_id, "description": a.description,
            "owner": a.owner, "due_date": a.due_date, "status": a.status, "raised_period": a.raised_period,
            "raised_on": a.raised_on, "closed_on": a.closed_on, "last_note": a.last_note,
            "meetings_carried": len(held), "overdue": is_open and a.due_date <= meeting, "carried": is_open,
            "kind": a.kind, "support_requested": a.support_requested, "support_offered": a.support_offered,
            "drop_reason": a.drop_reason, "closing_note": a.closing_note, "updated_at": a.updated_at,
            "last_updated_by": a.last_updated_by, "version": a.version,
            "missed_meetings": sum(m >= a.due_date for m in held) if is_open else 0,
            "days_since_update": since_update, "stale": is_open and since_update > stale_days,
        })
    log = pd.DataFrame(rows, columns=[c for c in ACTION_COLUMNS if c not in _COMPUTED])
    log = action_levels(log, config.accountability.escalation, concerns, {m.id: m.name for m in config.measures})
    if not judge_effects:
        effects = pd.DataFrame({c: "" if c in ("effect", "effect_text") else 0 if c == "effect_days" else math.nan
                                for c in EFFECT_COLUMNS}, index=log.index, columns=EFFECT_COLUMNS)
    else:
        if data_as_of is None:
            data_as_of = stored_data_as_of(session, config, period)
        effects = _effects(session, config, log, period, meeting, daily, data_as_of)
    log = pd.concat([log, effects], axis=1)
    return ACTIONS.validate(log[ACTION_COLUMNS], "actions.carry_forward_actions")


def closure_window(session: Session, config: Config, period: Period,
                   as_of: datetime | None = None) -> tuple[datetime, datetime]:
    """(after, until]: when a closing must have been recorded for the action to be "completed since
    last meeting" at the meeting on ``period``.

    ``after`` is the run time of the previous period's stored cycle (when its pack was made), or
    the start of the previous meeting's day when that cycle is not in the store. ``until`` is
    ``as_of`` when given (the pack being made now); else the run time of ``period``'s stored
    cycle (what its pack showed); else the end of ``period``'s meeting day, so that looking at
    a past meeting never pulls in later closures. Choosing by the time the closing was
    recorded, not the done-on date, shows an action closed late with an earlier done-on date,
    once.
    """
    org = config.organisation.slug
    previous = previous_period(period, config.cadence)
    last_pack = session.scalar(select(Cycle.run_at).where(Cycle.org == org, Cycle.period == previous.label))
    after = last_pack if last_pack is not None else datetime.combine(meeting_date(config, previous), time.min)
    if as_of is not None:
        return after, as_of
    own = session.scalar(select(Cycle.run_at).where(Cycle.org == org, Cycle.period == period.label))
    return after, own if own is not None else datetime.combine(meeting_date(config, period), time.max)


def stored_concerns(session: Session, config: Config, period: Period) -> Concerns:
    """(unit, measure) pairs whose latest point was a special cause of concern in the stored cycle
    for ``period`` (its SPC results); empty if that cycle has not run."""
    stmt = (select(AnalysisRow.unit_code, AnalysisRow.measure_id, AnalysisRow.payload)
            .join(Cycle, Cycle.id == AnalysisRow.cycle_id)
            .where(Cycle.org == config.organisation.slug, Cycle.period == period.label, AnalysisRow.section == "spc",
                   AnalysisRow.payload.contains(CONCERN)))
    return {(str(unit), str(measure)) for unit, measure, payload in session.execute(stmt)
            if json.loads(payload).get("variation") == CONCERN}


def stored_data_as_of(session: Session, config: Config, period: Period) -> dict[str, date] | None:
    """Each unit's data as of date recorded by the stored cycle for ``period`` (its manifest), which
    its packs' "did it work" windows ended at; None when that cycle has not run."""
    manifest = session.scalar(select(Cycle.manifest).where(Cycle.org == config.organisation.slug,
                                                           Cycle.period == period.label))
    if manifest is None:
        return None
    recorded = json.loads(manifest or "{}").get("data_as_of") or {}
    return {str(unit): date.fromisoformat(str(day)) for unit, day in recorded.items()}


def stored_evidence(session: Session, config: Config, period: Period) -> Evidence | None:
    """The significance and SPC results the stored cycle for ``period`` judged its agreement triggers
    on (``escalation.evidence_from``); None if that cycle has not run."""
    if not stored_cycle_ran(session, config, period):
        return None
    stmt = (select(AnalysisRow.section, AnalysisRow.unit_code, AnalysisRow.measure_id, AnalysisRow.payload)
            .join(Cycle, Cycle.id == AnalysisRow.cycle_id)
            .where(Cycle.org == config.organisation.slug, Cycle.period == period.label,
                   AnalysisRow.section.in_(("significance", "spc"))))
    rows: dict[str, list[dict[str, object]]] = {"significance": [], "spc": []}
    for section, unit, measure, payload in session.execute(stmt):
        value = json.loads(payload)
        rows[str(section)].extend({**r, "unit_code": unit, "measure_id": measure}
                                  for r in (value if isinstance(value, list) else [value]))
    spc = pd.DataFrame(rows["spc"], columns=["unit_code", "measure_id", "variation"]) if rows["spc"] else None
    significance = pd.DataFrame(rows["significance"]) if rows["significance"] else None
    return evidence_from(significance, spc, config)


def stored_cycle_ran(session: Session, config: Config, period: Period) -> bool:
    """Whether a cycle for ``period`` is in the store."""
    return session.scalar(select(Cycle.id).where(Cycle.org == config.organisation.slug,
                                                 Cycle.period == period.label)) is not None


def meeting_log(session: Session, config: Config, period: Period) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The action log, unit levels and agreement triggers for the meeting on ``period``, judged on
    what that period's stored cycle showed (its period table and special-cause concerns): the
    same as its packs. Without a stored cycle, only the actions count."""
    concerns = stored_concerns(session, config, period)
    log = carry_forward_actions(session, config, period, concerns)
    levels, triggers = meeting_escalation(log, stored_period_table(session, config, period), config, concerns,
                                          stored_evidence(session, config, period))
    return log, levels, triggers


def stored_period_table(session: Session, config: Config, period: Period) -> pd.DataFrame:
    """The figures the cycle for ``period`` showed (unit_code, measure_id, window, current, previous,
    pct_change), from the store; empty if that cycle has not run. Used to check agreement triggers."""
    stmt = (select(CycleResult.unit_code, CycleResult.measure_id, CycleResult.window, CycleResult.current,
                   CycleResult.previous)
            .join(Cycle, Cycle.id == CycleResult.cycle_id)
            .where(Cycle.org == config.organisation.slug, Cycle.period == period.label))
    table = pd.DataFrame(session.execute(stmt).all(),
                         columns=["unit_code", "measure_id", "window", "current", "previous"])
    previous = pd.to_numeric(table["previous"])
    change = 100.0 * (pd.to_numeric(table["current"]) - previous) / previous.where(previous != 0)
    return table.assign(pct_change=change)


_COMPUTED = {"escalation_level", "escalation_label", "escalation_reason", *EFFECT_COLUMNS}


def _meetings_after(raised: Period, period: Period, config: Config) -> list[date]:
    """The meeting dates after the one that raised an action, up to and including ``period``'s."""
    out = []
    current = next_period(raised, config.cadence)
    while current.end <= period.end:
        out.append(meeting_date(config, current))
        current = next_period(current, config.cadence)
    return out


def _effects(session: Session, config: Config, log: pd.DataFrame, period: Period, meeting: date,
             read: pd.DataFrame | None, data_as_of: dict[str, date] | None = None) -> pd.DataFrame:
    """Effect columns, reading only the daily totals the linked, due actions need (``read``, if
    it reaches back to the first day needed)."""
    measures = {m.id for m in config.measures}
    due = log[log["measure_id"].isin(measures) & (pd.to_datetime(log["due_date"]) <= pd.Timestamp(meeting))]
    data_start = None
    if due.empty:
        daily = pd.DataFrame(columns=["unit_code", "measure_id", "date", "total", "n"])
    else:
        first = min(history_start(pd.Timestamp(d).date(), config.accountability.effect_max_days, config)
                    for d in due["raised_on"])
        data_start = session.scalar(select(func.min(Observation.occurred_on)).where(
            Observation.org == config.organisation.slug))
        if read is not None and not read.empty and read["date"].min() <= pd.Timestamp(max(first, data_start or first)):
            daily = read[(read["date"] >= pd.Timestamp(first)) & (read["date"] <= pd.Timestamp(period.end))]
        else:
            daily = daily_measures(daily_by_category(session, config.organisation.slug, first, period.end), config)
    return action_effects(log, daily, config, period.end, meeting, data_start, data_as_of)
