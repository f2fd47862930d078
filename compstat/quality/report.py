"""The analyst's quality report: ``QualityResult`` → ``QualityReport`` context → HTML or PDF.

Every decision (order, labels, which caveat) is made in ``quality_report``; the template
``templates/quality_report.html`` only loops and lays out. It is rendered (HTML, or PDF through
WeasyPrint) by ``packs.quality_report``, one layer up, with the packs' Jinja environment and URL fetcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from compstat.config import Config
from compstat.quality.checks import CHECKS
from compstat.quality.findings import SEVERITIES, measure_label, unit_label
from compstat.quality.run import QualityResult

TEMPLATE = "quality_report.html"
WINDOW_NAMES = {"period": "period", "28d": "28 days", "3m": "3 months", "ytd": "year to date"}


@dataclass(frozen=True)
class FindingLine:
    """One finding as listed: severity, check, where and the plain-English message."""

    severity: str = field(metadata={"help": "blocking, warning or info"})
    check: str = field(metadata={"help": "the check that found it"})
    unit: str = field(metadata={"help": "'Name (code)', or empty when not about one unit"})
    measure: str = field(metadata={"help": "measure name, or empty"})
    source: str = field(metadata={"help": "source name, or empty"})
    rows: int = field(metadata={"help": "rows affected (0 when not a count of rows)"})
    message: str = field(metadata={"help": "what is wrong and what it means for the figures"})


@dataclass(frozen=True)
class FreshnessLine:
    """How current one unit's data is from one source."""

    unit: str = field(metadata={"help": "'Name (code)'"})
    source: str = field(metadata={"help": "source name"})
    data_as_of: date = field(metadata={"help": "the unit's latest record from the source"})
    late: bool = field(metadata={"help": "the timeliness check says its data for the period has not arrived"})


@dataclass(frozen=True)
class ComparisonLine:
    """A comparison in the period table that carries a caveat."""

    unit: str = field(metadata={"help": "'Name (code)' or the organisation"})
    measure: str = field(metadata={"help": "measure name"})
    window: str = field(metadata={"help": "period, 28 days, 3 months or year to date"})
    caveat: str = field(metadata={"help": "'not like-for-like', 'fragile' or both"})
    reason: str = field(metadata={"help": "why"})


@dataclass(frozen=True)
class CheckLine:
    """One check that ran: what it looks at and its default severity."""

    name: str = field(metadata={"help": "check name (quality.checks key)"})
    severity: str = field(metadata={"help": "default severity of its findings"})
    description: str = field(metadata={"help": "what it checks"})
    found: int = field(metadata={"help": "findings it made this time"})


@dataclass(frozen=True)
class InputLine:
    """One input the figures were built from."""

    source: str = field(metadata={"help": "source name"})
    file: str = field(metadata={"help": "path or query location"})
    sha256: str = field(metadata={"help": "content hash: the exact version used"})
    rows_read: int = field(metadata={"help": "rows in the input"})
    rows_loaded: int = field(metadata={"help": "rows counted"})
    rows_rejected: int = field(metadata={"help": "rows quarantined with a reason"})
    rows_skipped: int = field(metadata={"help": "rows for units outside the config, skipped on purpose"})


@dataclass(frozen=True)
class QualityReport:
    """The quality report's whole context."""

    organisation: str = field(metadata={"help": "organisation name"})
    period_label: str = field(metadata={"help": "the period checked, e.g. 2026-W47"})
    period_start: date = field(metadata={"help": "first day of the period"})
    period_end: date = field(metadata={"help": "last day of the period"})
    generated_at: datetime = field(metadata={"help": "when the report was made"})
    verdict: str = field(metadata={"help": "one sentence: would the cycle stop, and why"})
    blocked: bool = field(metadata={"help": "a blocking finding would stop the cycle"})
    counts: tuple[tuple[str, int], ...] = field(metadata={"help": "(severity, number of findings), most serious first"})
    findings: tuple[FindingLine, ...] = field(metadata={"help": "every finding, most serious first"})
    checks: tuple[CheckLine, ...] = field(metadata={"help": "the checks that ran"})
    freshness: tuple[FreshnessLine, ...] = field(metadata={"help": "data as of per unit and source"})
    comparisons: tuple[ComparisonLine, ...] = field(metadata={"help": "comparisons with a caveat"})
    inputs: tuple[InputLine, ...] = field(metadata={"help": "the inputs used, with hashes"})


def quality_report(result: QualityResult, config: Config, generated_at: datetime | None = None) -> QualityReport:
    """Decide everything the report shows."""
    counts = result.counts()
    blocking = counts["blocking"]
    if blocking:
        verdict = (f"The cycle would stop before the packs: {blocking} blocking finding{'s' if blocking != 1 else ''} "
                   "(fix the data, or run-cycle with --accept-warnings / --go-ahead; the override is recorded).")
    else:
        verdict = (f"No blocking findings: the cycle can go ahead. {counts['warning']} warning(s) and "
                   f"{counts['info']} note(s) to read before the meeting.")
    late = {(f.source, f.unit_code) for f in result.findings if f.check == "timeliness"}
    findings = tuple(FindingLine(
        f.severity, f.check, unit_label(config, f.unit_code) if f.unit_code else "",
        measure_label(config, f.measure_id) if f.measure_id else "", f.source or "", f.rows, f.message)
        for f in result.findings)
    freshness = tuple(
        FreshnessLine(unit_label(config, code), source, day, (source, code) in late)
        for source, units in sorted(result.data_as_of_by_source.items()) for code, day in units.items())
    comparisons = tuple(
        ComparisonLine(unit_label(config, str(r.unit_code)), measure_label(config, str(r.measure_id)),
                       WINDOW_NAMES.get(str(r.window), str(r.window)),
                       " and ".join(c for c, on in (("not like-for-like", not r.like_for_like),
                                                     ("fragile", bool(r.fragile))) if on),
                       str(r.reason))
        for r in result.comparisons.itertuples())
    found = {c.name: sum(f.check == c.name for f in result.findings) for c in CHECKS}
    checks = tuple(CheckLine(c.name, c.default_severity if c.name != "timeliness" or config.quality.on_stale ==
                             "defer" else "warning", c.description, found[c.name])
                   for c in CHECKS if config.quality.check(c.name).enabled)
    inputs = tuple(InputLine(str(i["source"]), str(i["path"]), str(i["sha256"]), _int(i["rows_read"]),
                             _int(i["rows_loaded"]), _int(i["rows_rejected"]), _int(i["rows_skipped"]))
                   for i in result.inputs)
    return QualityReport(
        organisation=config.organisation.name, period_label=result.period.label,
        period_start=result.period.start, period_end=result.period.end,
        generated_at=generated_at or datetime.now().replace(microsecond=0), verdict=verdict,
        blocked=bool(blocking), counts=tuple((s, counts[s]) for s in SEVERITIES), findings=findings,
        checks=checks, freshness=freshness, comparisons=comparisons, inputs=inputs)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) else 0
