"""``compstat analyse``: ingest and analyse one period without recording anything.

The sources are ingested and analysed inside one transaction that is always rolled back, so
an analyst can look at the findings before (or without) running the cycle; ``run-cycle``
is what records data, results and packs.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.cycle import analyse, resolve_period, sync_reference
from compstat.errors import DataError
from compstat.ingest import ingest_all
from compstat.results import CycleData
from compstat.store import Observation, connect


def preview_analysis(config: Config, store_url: str, period_label: str | None = None,
                     today: date | None = None) -> CycleData:
    """Ingest every source, analyse ``period_label`` (default: the last complete period), roll back.

    Raises DataError when the store holds no data for the period.
    """
    today = today or date.today()
    engine = connect(store_url)
    try:
        with Session(engine) as session:
            session.begin()
            try:
                sync_reference(session, config)
                ingest_all(session, config, today, store_url)
                period = resolve_period(config, period_label, today)
                org = config.organisation.slug
                rows = session.scalar(select(func.count()).select_from(Observation).where(
                    Observation.org == org, Observation.occurred_on >= period.start,
                    Observation.occurred_on <= period.end))
                if not rows:
                    raise DataError(f"no data for {period.label} ({period.start} to {period.end}): "
                                    "pass --period for a period with data")
                return analyse(session, config, period, today, {})
            finally:
                session.rollback()
    finally:
        engine.dispose()
