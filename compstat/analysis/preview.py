"""``compstat analyse`` (and ``actions list`` / ``minutes`` before a cycle has run): the cycle's judgement
of one period, without recording anything.

The sources are ingested, checked, analysed and the actions followed up by ``cycle.judge_cycle`` —
the same function ``run-cycle`` uses, so the findings carry the same quality caveats and
recognition exclusions as the packs — inside one transaction that is always rolled back;
``run-cycle`` is what records data, results and packs.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.cycle import judge_cycle, resolve_period
from compstat.periods import Period
from compstat.results import CycleData
from compstat.store import connect


def preview_cycle(config: Config, store_url: str, period: Period, today: date | None = None) -> CycleData:
    """``judge_cycle`` for ``period`` as a preview (no quality gate, no map points), then roll back.

    Raises DataError (exit 1) when the store holds no data for the period, as ``run-cycle`` and
    ``check`` do.
    """
    today = today or date.today()
    engine = connect(store_url)
    try:
        with Session(engine) as session:
            session.begin()
            try:
                data, _ = judge_cycle(session, config, period, today, store_url, preview=True)
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
