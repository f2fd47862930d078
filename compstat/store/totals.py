"""Each input version's daily totals (``DailyTotal``): made once from its observations, forgotten when they change.

A cycle's figures are sums per unit, category and day. Summing the observations again each week costs
a pass over every stored record (20 million at national scale); the totals of an input version cannot
change unless its observations do, so they are made once, in the database (``make_totals``: one INSERT
… SELECT … GROUP BY), and whatever adds to, moves or restores a version's observations forgets them
first (``forget_totals``: ingest's ``supersede`` and ``restore_held_copies``, ``reissue``).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from compstat.store.models import DailyTotal, Observation, TotalledFile

TOTAL_KEYS = ("file_id", "org", "unit_code", "category", "subcategory", "occurred_on")


def untotalled(session: Session, file_ids: Collection[int]) -> list[int]:
    """The versions among ``file_ids`` whose totals are not made."""
    made = {int(i) for (i,) in session.execute(select(TotalledFile.file_id).where(TotalledFile.file_id.in_(file_ids)))}
    return sorted(set(file_ids) - made)


def make_totals(session: Session, file_ids: Collection[int]) -> None:
    """Sum the observations of ``file_ids`` (versions without totals) into ``daily_totals``."""
    if not file_ids:
        return
    keys = [getattr(Observation, k) for k in TOTAL_KEYS]
    summed = (select(*keys, func.sum(Observation.value), func.count())
              .where(Observation.file_id.in_(file_ids)).group_by(*keys))
    session.execute(insert(DailyTotal).from_select([*TOTAL_KEYS, "total", "n"], summed))
    session.execute(insert(TotalledFile), [{"file_id": int(i)} for i in file_ids])


def forget_totals(session: Session, file_ids: Collection[int]) -> None:
    """Drop the totals of ``file_ids``: their observations are about to change (made again when next needed)."""
    if not file_ids:
        return
    ids = [int(i) for i in file_ids]
    session.execute(delete(DailyTotal).where(DailyTotal.file_id.in_(ids)))
    session.execute(delete(TotalledFile).where(TotalledFile.file_id.in_(ids)))
