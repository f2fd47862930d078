"""``compstat analyse`` (and ``actions list`` / ``minutes`` before a cycle has run): the cycle's judgement
of one period, without recording anything.

The sources are ingested, checked, analysed and the actions followed up by ``cycle.judge_cycle`` —
the same function ``run-cycle`` uses, so the findings carry the same quality caveats and
recognition exclusions as the packs — inside one transaction that is always rolled back;
``run-cycle`` is what records data, results and packs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import pandas as pd
from sqlalchemy.orm import Session

from compstat.actions import meeting_date, meeting_log, stored_cycle_ran
from compstat.config import Config
from compstat.cycle import judge_cycle, resolve_period
from compstat.periods import Period
from compstat.results import CycleData
from compstat.store import connect
from compstat.store.lock import PREVIEW, shared_lock


def preview_cycle(config: Config, store_url: str, period: Period, today: date | None = None,
                  run_at: datetime | None = None) -> CycleData:
    """``judge_cycle`` for ``period`` as a preview (no quality gate, no map points), then roll back.

    Raises DataError (exit 1) when the store holds no data for the period, as ``run-cycle`` and
    ``check`` do.
    """
    today = today or date.today()
    with shared_lock(store_url, PREVIEW):  # ingest writes, if only to roll back: not while a cycle runs
        engine = connect(store_url)
        try:
            with Session(engine) as session:
                session.begin()
                try:
                    data, _ = judge_cycle(session, config, period, today, store_url, preview=True, run_at=run_at)
                    return data
                finally:
                    session.rollback()
        finally:
            engine.dispose()


def preview_analysis(config: Config, store_url: str, period_label: str | None = None,
                     today: date | None = None) -> CycleData:
    """The judgement of ``period_label`` (default: the last complete period) without recording it."""
    today = today or date.today()
    return preview_cycle(config, store_url, resolve_period(config, period_label, today), today)


@dataclass(frozen=True)
class MeetingJudgement:
    """The action log (``actions.ACTION_COLUMNS``), unit levels and agreement triggers for one meeting,
    as its packs show them. ``recorded``: read from the meeting's stored cycle; else judged now by a
    preview of that cycle (``preview_cycle``), as its packs will be."""

    log: pd.DataFrame
    levels: pd.DataFrame
    triggers: pd.DataFrame
    recorded: bool
    data: CycleData | None = None


def meeting_judgement(config: Config, store_url: str, period: Period, today: date | None = None) -> MeetingJudgement:
    """What ``actions list`` and ``minutes`` show for the meeting on ``period``: the stored cycle's
    judgement when it has run (its period table, special-cause concerns and data as of dates, as in
    its packs); otherwise ``judge_cycle`` on the data now, rolled back (DataError, exit 1, when the
    store holds no data for the period). Closings recorded after the meeting day are left out."""
    engine = connect(store_url)
    try:
        with Session(engine) as session:
            session.begin()
            try:
                if stored_cycle_ran(session, config, period):
                    log, levels, triggers = meeting_log(session, config, period)
                    return MeetingJudgement(log, levels, triggers, True)
            finally:
                session.rollback()
    finally:
        engine.dispose()
    held = datetime.combine(meeting_date(config, period), time.max).replace(microsecond=0)
    data = preview_cycle(config, store_url, period, today, run_at=min(datetime.now().replace(microsecond=0), held))
    assert data.escalation is not None and data.triggers is not None
    return MeetingJudgement(data.actions, data.escalation, data.triggers, False, data)
