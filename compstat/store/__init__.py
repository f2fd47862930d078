"""The store: SQLAlchemy models, the engine and schema migrations (Alembic)."""

from compstat.store.db import bulk_insert, connect, resolve_url, transaction
from compstat.store.models import (
    Action,
    ActionUpdate,
    AnalysisRow,
    Base,
    Cycle,
    CycleResult,
    FindingRow,
    IngestedFile,
    MeasureRow,
    Observation,
    RejectedRow,
    UnitRow,
)

__all__ = [
    "Action", "AnalysisRow", "ActionUpdate", "Base", "Cycle", "CycleResult", "FindingRow", "IngestedFile", "MeasureRow",
    "Observation", "RejectedRow", "UnitRow", "bulk_insert", "connect", "resolve_url", "transaction",
]
