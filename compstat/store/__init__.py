"""The store: SQLAlchemy models, the engine and schema migrations (Alembic)."""

from compstat.store.db import bulk_insert, connect, resolve_url, store_errors, transaction
from compstat.store.models import (
    OBSERVATION_FIELDS,
    Action,
    ActionUpdate,
    AnalysisRow,
    Base,
    Cycle,
    CycleResult,
    DailyTotal,
    Delivery,
    FindingRow,
    IngestedFile,
    MeasureRow,
    Observation,
    RejectedRow,
    SigningKey,
    SupersededObservation,
    TotalledFile,
    UnitRow,
    WebUser,
)

__all__ = [
    "OBSERVATION_FIELDS", "Action", "ActionUpdate", "AnalysisRow", "Base", "Cycle", "CycleResult", "DailyTotal",
    "Delivery", "FindingRow", "IngestedFile", "MeasureRow", "Observation", "RejectedRow", "SigningKey",
    "SupersededObservation", "TotalledFile", "UnitRow", "WebUser", "bulk_insert", "connect", "resolve_url",
    "store_errors", "transaction",
]
