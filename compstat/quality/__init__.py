"""Quality assurance: what is wrong with the data, said before anyone is challenged on it.

Issue #3 grows this into the full set of declared checks. For now: rows rejected at
ingest (per input, by reason) and units with no data at all for the period.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.ingest import IngestReport
from compstat.periods import Period
from compstat.store import IngestedFile, Observation, RejectedRow

SEVERITIES = ("blocking", "warning", "info")


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    message: str
    unit_code: str | None = None
    rows: int = 0
    measure_id: str | None = None
    period: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def rejected_rows_findings(session: Session, org: str, reports: list[IngestReport]) -> list[Finding]:
    """One warning per input loaded this run that had rows rejected, with the top reasons."""
    findings = []
    for report in reports:
        if report.status != "loaded":
            continue
        if report.rows_skipped:
            findings.append(Finding("validity", "info",
                                    f"{report.rows_skipped} rows of {report.location} are for units outside "
                                    "the config and were skipped, as the source's other_units says",
                                    rows=report.rows_skipped))
        if not report.rows_rejected:
            continue
        file_id = session.scalar(select(IngestedFile.id).where(
            IngestedFile.org == org, IngestedFile.sha256 == report.sha256, IngestedFile.superseded.is_(False)))
        fields = Counter(session.scalars(select(RejectedRow.field).where(RejectedRow.file_id == file_id)))
        detail = ", ".join(f"{n} in '{field}'" for field, n in fields.most_common(5))
        findings.append(Finding("validity", "warning",
                                f"{report.rows_rejected} of {report.rows_read} rows of {report.location} "
                                f"rejected ({detail}); see `compstat quarantine list`", rows=report.rows_rejected))
    return findings


def latest_dates(session: Session, org: str) -> dict[str, date]:
    """The latest observation date per unit ("data as of")."""
    stmt = (select(Observation.unit_code, func.max(Observation.occurred_on))
            .where(Observation.org == org).group_by(Observation.unit_code))
    return {unit: day for unit, day in session.execute(stmt).all() if day is not None}


def completeness_findings(config: Config, period: Period, rows_in_period: dict[str, int]) -> list[Finding]:
    """A unit with no rows at all in the period most likely has missing data."""
    return [
        Finding("completeness", "warning",
                f"{u.name} ({u.code}) has no data for {period.label}: probably missing data, not a fall to zero",
                unit_code=u.code)
        for u in config.leaf_units if rows_in_period.get(u.code, 0) == 0
    ]
