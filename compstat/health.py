"""The meeting's own health, measured (issue #15): is the meeting itself keeping its promises?

Per meeting (the meeting that reviews a period), judged at a *cutoff*: the meeting's time, or
earlier when asked before it (the chair's pack, made before the meeting, is judged at its run time):

- **packs issued on time**: hours from the packs being made to the meeting: the earliest sent
  briefing delivery (``deliveries`` of kind "brief") when any exists, else the stored cycle's run
  time; on time when at least ``meeting.brief_hours`` (48).
- **minutes sent within** ``meeting.minutes_days`` (2) days: the earliest sent delivery of kind
  "minutes" against the meeting's time plus those days; "not recorded" when no minutes delivery
  is in the store (never guessed), "not yet due" before the deadline.
- **open actions updated since the last meeting**: actions open at the cutoff (raised at an earlier
  meeting, not done or dropped) with any recorded change after the previous meeting's time (any
  ``via``; the 'created' entry and marking it public do not count), as a share of the open actions.
- **overdue** (due on or before the meeting's day) and **stale** (no change for more than
  ``accountability.stale_after_days`` days before the meeting's day) open actions, by unit: the
  action log's own rules (``actions.carry_forward``).
- **actions closed** (done, dropped) since the previous meeting and whether they worked: the
  "did it work" verdicts (``actions.effect``) when judged.
- **units that have not updated**: units with open actions none of which changed since the last meeting.

Each action's status and due date at the cutoff are rebuilt from its append-only history, so a
past meeting's figures are what they were then, not what the actions say now. ``health_trend`` gives
one row per meeting; ``health_spc`` charts a measure over the meetings as an XmR chart (the
analysis's own ``spc``): a slipping process is a special cause too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from compstat.actions.effect import CHANGED, IMPROVED, NO_CHANGE, NO_EVENTS, WORSENED
from compstat.actions.log import CLOSED, NOT_PROGRESS, meeting_date
from compstat.analysis.spc import CONCERN, IMPROVEMENT, SpcOptions, spc, variation
from compstat.config import Config
from compstat.periods import Period, parse_period, previous_period, recent_periods
from compstat.store import Action, ActionUpdate, Cycle, Delivery

DEFAULT_MEETING_TIME = time(10, 0)
DEFAULT_BRIEF_HOURS = 48
DEFAULT_MINUTES_DAYS = 2
DEFAULT_CYCLES = 8
ON_TIME, LATE, NOT_SENT, NOT_RECORDED, NOT_YET_DUE = "on time", "late", "not sent", "not recorded", "not yet due"
JUDGED = (IMPROVED, WORSENED, CHANGED, NO_CHANGE, NO_EVENTS)
ACTION_FRAME = ["id", "unit_code", "raised_on", "due_date"]
UPDATE_FRAME = ["action_id", "at", "field", "old", "new"]
DELIVERY_FRAME = ["period", "kind", "status", "sent_at"]
# measure → (label, which way is better): the organisation's SPC charts of its own meeting
HEALTH_MEASURES: dict[str, tuple[str, str]] = {
    "pack_hours": ("Hours the packs went out before the meeting", "increase"),
    "updated_pct": ("Open actions updated since the last meeting (%)", "increase"),
    "overdue": ("Overdue actions", "decrease"),
    "stale": ("Stale actions", "decrease"),
}


@dataclass(frozen=True)
class HealthSettings:
    """The rules the measures are judged by (``health_settings`` reads them from the config)."""

    meeting_time: time = DEFAULT_MEETING_TIME
    brief_hours: float = DEFAULT_BRIEF_HOURS
    minutes_days: float = DEFAULT_MINUTES_DAYS
    stale_after_days: int = 14


@dataclass(frozen=True)
class UnitHealth:
    """One unit's open actions at the meeting: how many, updated since the last meeting, overdue, stale."""

    unit_code: str
    open: int
    updated: int
    overdue: int
    stale: int


@dataclass(frozen=True)
class MeetingHealth:
    """The measures for one meeting (see the module docstring)."""

    period: str
    meeting: datetime
    cutoff: datetime
    packs_made: datetime | None
    packs_source: str  # "deliveries", "cycle" or "" (no record of the packs)
    pack_hours: float | None
    packs_on_time: bool | None
    minutes_sent: datetime | None
    minutes_status: str
    open_actions: int
    updated: int
    overdue: int
    stale: int
    done: int
    dropped: int
    judged: int | None  # closed actions with a "did it work" verdict; None when not judged
    worked: int | None  # of those, improved
    units: tuple[UnitHealth, ...]
    not_updated: tuple[str, ...]

    @property
    def updated_share(self) -> float | None:
        """Share of the open actions updated since the last meeting (None with no open actions)."""
        return self.updated / self.open_actions if self.open_actions else None

    @property
    def closed(self) -> int:
        return self.done + self.dropped

    @property
    def flags(self) -> tuple[str, ...]:
        """What is wrong with this meeting, in words."""
        out = []
        if self.packs_on_time is False:
            out.append("packs late")
        if self.packs_source == "":
            out.append("packs not recorded")
        if self.minutes_status in (LATE, NOT_SENT):
            out.append(f"minutes {self.minutes_status}")
        if self.overdue:
            out.append(f"{self.overdue} overdue")
        if self.stale:
            out.append(f"{self.stale} stale")
        if self.not_updated:
            out.append(f"{len(self.not_updated)} unit{'s' if len(self.not_updated) != 1 else ''} not updated")
        return tuple(out)


@dataclass(frozen=True)
class HealthTrend:
    """One row per meeting, oldest first; ``special`` names the measures whose latest meeting is a
    special cause on its XmR chart (with which way: concern or improvement)."""

    meetings: tuple[MeetingHealth, ...]
    settings: HealthSettings
    special: tuple[tuple[str, str], ...] = ()

    @property
    def latest(self) -> MeetingHealth | None:
        return self.meetings[-1] if self.meetings else None


def health_settings(config: Config) -> HealthSettings:
    """The settings from the config; ``meeting.time``, ``meeting.brief_hours`` and ``meeting.minutes_days``
    default to 10:00, 48 and 2 when the config has no such keys."""
    meeting = config.meeting
    raw_time = getattr(meeting, "time", None)
    if isinstance(raw_time, str):
        at = time.fromisoformat(raw_time)
    elif isinstance(raw_time, time):
        at = raw_time
    else:
        at = DEFAULT_MEETING_TIME
    hours = getattr(meeting, "brief_hours", None)
    days = getattr(meeting, "minutes_days", None)
    return HealthSettings(at, float(hours) if isinstance(hours, int | float) else DEFAULT_BRIEF_HOURS,
                          float(days) if isinstance(days, int | float) else DEFAULT_MINUTES_DAYS,
                          config.accountability.stale_after_days)


def meeting_time(config: Config, period: Period, settings: HealthSettings | None = None) -> datetime:
    """When the meeting reviewing ``period`` starts: its day (``actions.meeting_date``) at ``meeting.time``."""
    settings = settings or health_settings(config)
    return datetime.combine(meeting_date(config, period), settings.meeting_time)


def action_states(actions: pd.DataFrame, updates: pd.DataFrame, at: datetime) -> pd.DataFrame:
    """Each action recorded by ``at`` as it stood then: ``ACTION_FRAME`` columns with ``status``,
    ``due_date`` (as at ``at``) and ``last_change`` (its latest history entry by then).

    ``actions``: id, unit_code, raised_on, due_date (now); ``updates``: action_id, at, field, old, new
    (the append-only history, 'created' entries included). A field changed after ``at`` is rolled
    back to the ``old`` value of its first change after ``at``.
    """
    columns = [*ACTION_FRAME, "status", "last_change"]
    if actions.empty:
        return pd.DataFrame(columns=columns)
    by_then = updates[updates["at"] <= at]
    created = by_then[by_then["field"] == "created"].groupby("action_id")["at"].min()
    known = actions[actions["id"].isin(created.index)].copy()
    last = by_then[~by_then["field"].isin(NOT_PROGRESS)].groupby("action_id")["at"].max()
    status = by_then[by_then["field"] == "status"].sort_values(["at"], kind="stable").groupby("action_id")["new"].last()
    later = updates[(updates["at"] > at) & (updates["field"] == "due_date")].sort_values("at", kind="stable")
    due_then = later.groupby("action_id")["old"].first()
    known["status"] = [str(status.get(i, "open")) for i in known["id"]]
    known["due_date"] = [date.fromisoformat(str(due_then[i])) if i in due_then.index else d
                         for i, d in zip(known["id"], known["due_date"], strict=True)]
    known["last_change"] = [last[i] for i in known["id"]]
    return known[columns].reset_index(drop=True)


def meeting_health(period: Period, meeting: datetime, previous_meeting: datetime, cutoff: datetime,
                   actions: pd.DataFrame, updates: pd.DataFrame, deliveries: pd.DataFrame,
                   cycle_run_at: datetime | None, settings: HealthSettings,
                   effects: Mapping[int, str] | None = None, now: datetime | None = None) -> MeetingHealth:
    """The measures for the meeting reviewing ``period`` (held at ``meeting``; the previous one at
    ``previous_meeting``), judged at ``cutoff``.

    ``actions``/``updates``: as ``action_states`` reads them; ``deliveries``: period, kind, status,
    sent_at; ``cycle_run_at``: when the period's packs were made (None: no stored cycle);
    ``effects``: action id → "did it work" verdict for the actions closed since the last meeting
    (None: not judged); ``now``: when the deliveries are judged (default ``cutoff``: the minutes are due
    after the meeting, so a past meeting's are judged at the time asked); one sent later is not counted.
    The actions counted are those raised at earlier meetings (``raised_on`` before the period's end), as in
    the action log.
    """
    day = meeting.date()
    now = now or cutoff
    deliveries = deliveries[deliveries["sent_at"].isna() | (deliveries["sent_at"] <= now)]  # what was known by then
    packs_made, source = _packs_made(deliveries, period.label, cycle_run_at)
    hours = None if packs_made is None else (meeting - packs_made).total_seconds() / 3600
    minutes_sent, minutes_status = _minutes(deliveries, period.label, meeting, now,
                                           settings.minutes_days)
    states = action_states(actions, updates, cutoff)
    earlier = states[pd.to_datetime(states["raised_on"]) < pd.Timestamp(period.end)]
    is_open = ~earlier["status"].isin(CLOSED)
    open_now = earlier[is_open]
    changed = updates[~updates["field"].isin({"created", *NOT_PROGRESS}) & (updates["at"] > previous_meeting)
                      & (updates["at"] <= cutoff)]
    touched = set(changed["action_id"])
    updated = open_now["id"].isin(touched)
    overdue = pd.to_datetime(open_now["due_date"]) <= pd.Timestamp(day)
    since = [(day - pd.Timestamp(t).date()).days for t in open_now["last_change"]]
    stale = pd.Series([max(0, d) > settings.stale_after_days for d in since], index=open_now.index, dtype=bool)
    units = []
    for unit in sorted(set(open_now["unit_code"])):
        mine = open_now["unit_code"] == unit
        units.append(UnitHealth(str(unit), int(mine.sum()), int((mine & updated).sum()),
                                int((mine & overdue).sum()), int((mine & stale).sum())))
    closings = changed[(changed["field"] == "status") & changed["new"].isin(CLOSED)]
    closed = earlier[~is_open & earlier["id"].isin(set(closings["action_id"]))]
    judged = worked = None
    if effects is not None:
        verdicts = [effects.get(int(i), "") for i in closed["id"]]
        judged = sum(v in JUDGED for v in verdicts)
        worked = sum(v == IMPROVED for v in verdicts)
    return MeetingHealth(
        period=period.label, meeting=meeting, cutoff=cutoff, packs_made=packs_made, packs_source=source,
        pack_hours=hours,
        packs_on_time=None if hours is None else hours >= settings.brief_hours,
        minutes_sent=minutes_sent, minutes_status=minutes_status, open_actions=len(open_now),
        updated=int(updated.sum()), overdue=int(overdue.sum()), stale=int(stale.sum()),
        done=int((closed["status"] == "done").sum()), dropped=int((closed["status"] == "dropped").sum()),
        judged=judged, worked=worked, units=tuple(units),
        not_updated=tuple(u.unit_code for u in units if u.updated == 0),
    )


def _packs_made(deliveries: pd.DataFrame, period: str, cycle_run_at: datetime | None) -> tuple[datetime | None, str]:
    briefs = deliveries[(deliveries["period"] == period) & (deliveries["kind"] == "brief")
                        & (deliveries["status"] == "sent")]["sent_at"].dropna()
    if not briefs.empty:
        return pd.Timestamp(briefs.min()).to_pydatetime(), "deliveries"
    return (cycle_run_at, "cycle") if cycle_run_at is not None else (None, "")


def _minutes(deliveries: pd.DataFrame, period: str, meeting: datetime, cutoff: datetime,
             days: float) -> tuple[datetime | None, str]:
    """When the minutes first went out, and whether that was on time (see the module docstring)."""
    due = meeting + timedelta(days=days)
    rows = deliveries[(deliveries["period"] == period) & (deliveries["kind"] == "minutes")]
    sent = rows[rows["status"] == "sent"]["sent_at"].dropna()
    if not sent.empty:
        first = pd.Timestamp(sent.min()).to_pydatetime()
        return first, ON_TIME if first <= due else LATE
    if rows.empty:
        return None, NOT_YET_DUE if cutoff < due else NOT_RECORDED
    return None, NOT_YET_DUE if cutoff < due else NOT_SENT


def health_trend(periods: Sequence[Period], config: Config, actions: pd.DataFrame, updates: pd.DataFrame,
                 deliveries: pd.DataFrame, run_at: Mapping[str, datetime], *, as_of: datetime | None = None,
                 effects: Mapping[str, Mapping[int, str]] | None = None,
                 settings: HealthSettings | None = None) -> HealthTrend:
    """``meeting_health`` for each of ``periods`` (oldest first), each judged at its meeting or at
    ``as_of`` when that is earlier (the minutes at ``as_of``, default now); ``run_at``: period label →
    when its packs were made (stored cycles); ``effects``: period label → the verdicts judged for that meeting."""
    settings = settings or health_settings(config)
    now = as_of or datetime.now().replace(microsecond=0)
    rows = []
    for period in periods:
        meeting = meeting_time(config, period, settings)
        previous = meeting_time(config, previous_period(period, config.cadence), settings)
        cutoff = min(meeting, as_of) if as_of is not None else meeting
        rows.append(meeting_health(period, meeting, previous, cutoff, actions, updates, deliveries,
                                   run_at.get(period.label), settings,
                                   None if effects is None else effects.get(period.label), now))
    trend = HealthTrend(tuple(rows), settings)
    return HealthTrend(trend.meetings, settings, special_causes(trend))


def health_values(trend: HealthTrend, measure: str) -> pd.DataFrame:
    """x (the meeting's day), y (the measure; NaN where there is none) for each meeting in ``trend``."""
    values = []
    for m in trend.meetings:
        if measure == "updated_pct":
            share = m.updated_share
            values.append(math.nan if share is None else 100 * share)
        elif measure == "pack_hours":
            values.append(math.nan if m.pack_hours is None else m.pack_hours)
        else:
            values.append(float(getattr(m, measure)))
    return pd.DataFrame({"x": pd.to_datetime([m.meeting.date() for m in trend.meetings]), "y": values})


def health_spc(trend: HealthTrend, measure: str) -> pd.DataFrame:
    """The XmR chart (``analysis.spc.spc``) of one of ``HEALTH_MEASURES`` over the meetings, with the
    better direction, so a slipping meeting shows as a special cause of concern."""
    return spc(health_values(trend, measure), options=SpcOptions(improvement=HEALTH_MEASURES[measure][1]))  # type: ignore[arg-type]


def special_causes(trend: HealthTrend,
                   measures: Sequence[str] = tuple(HEALTH_MEASURES)) -> tuple[tuple[str, str], ...]:
    """(measure, "concern" | "improvement") for each of ``measures`` whose latest meeting is a special cause."""
    out = []
    for measure in measures:
        if len(trend.meetings) < 2:
            break
        chart = health_spc(trend, measure)
        if pd.isna(chart["y"].iloc[-1]):
            continue
        kind = variation(chart)
        if kind in (CONCERN, IMPROVEMENT):
            out.append((measure, "concern" if kind == CONCERN else "improvement"))
    return tuple(out)


# --- from the store ---------------------------------------------------------------------


def load_history(session: Session,
                 config: Config) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, datetime]]:
    """The organisation's actions, their history, its deliveries and its stored cycles' run times."""
    org = config.organisation.slug
    actions = pd.DataFrame(session.execute(select(Action.id, Action.unit_code, Action.raised_on, Action.due_date)
                                           .where(Action.org == org)).all(), columns=ACTION_FRAME)
    updates = pd.DataFrame(session.execute(
        select(ActionUpdate.action_id, ActionUpdate.at, ActionUpdate.field, ActionUpdate.old, ActionUpdate.new)
        .join(Action, Action.id == ActionUpdate.action_id).where(Action.org == org)
        .order_by(ActionUpdate.id)).all(), columns=UPDATE_FRAME)
    deliveries = pd.DataFrame(session.execute(select(Delivery.period, Delivery.kind, Delivery.status, Delivery.sent_at)
                                              .where(Delivery.org == org)).all(), columns=DELIVERY_FRAME)
    run_at = {str(p): t for p, t in session.execute(select(Cycle.period, Cycle.run_at).where(Cycle.org == org))}
    return actions, updates, deliveries, run_at


def trend_periods(config: Config, period: Period, cycles: int, first: Sequence[str]) -> list[Period]:
    """The last ``cycles`` periods up to ``period``, none before the earliest of ``first`` (period labels
    of stored cycles and of the meetings that raised actions): the organisation's meetings so far."""
    periods = recent_periods(period, config.cadence, cycles)
    starts = [parse_period(label, config.cadence).start for label in first]
    if not starts:
        return [period]
    return [p for p in periods if p.start >= min(starts)] or [period]


def load_health(session: Session, config: Config, period: Period, *, cycles: int = DEFAULT_CYCLES,
                as_of: datetime | None = None, packs_made: datetime | None = None,
                effects: Mapping[str, Mapping[int, str]] | None = None, judge_effects: bool = False) -> HealthTrend:
    """The trend over the last ``cycles`` meetings up to ``period``'s, from the store.

    ``as_of``: judge no later than this (default: each meeting's time); ``packs_made``: when ``period``'s
    packs are being made (the cycle now running: its run time, before the store has it); ``effects``:
    verdicts already judged (the cycle's log); ``judge_effects``: judge the rest with the action log
    (``actions.carry_forward_actions``, reading the daily figures: slower).
    """
    actions, updates, deliveries, run_at = load_history(session, config)
    if packs_made is not None:
        run_at = {**run_at, period.label: packs_made}
    raised = sorted(set(session.scalars(select(Action.raised_period).where(Action.org == config.organisation.slug))))
    periods = trend_periods(config, period, cycles, [*run_at, *raised])
    judged: dict[str, Mapping[int, str]] = dict(effects or {})
    if judge_effects:
        from compstat.actions.carry_forward import carry_forward_actions

        settings = health_settings(config)
        for p in periods:
            if p.label in judged:
                continue
            cutoff = meeting_time(config, p, settings)
            cutoff = min(cutoff, as_of) if as_of is not None else cutoff
            log = carry_forward_actions(session, config, p, as_of=cutoff)
            judged[p.label] = {int(i): str(v) for i, v in zip(log["id"], log["effect"], strict=True)}
    return health_trend(periods, config, actions, updates, deliveries, run_at, as_of=as_of,
                        effects=judged if (effects is not None or judge_effects) else None)
