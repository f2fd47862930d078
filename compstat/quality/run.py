"""Running the checks: ``run_quality`` (in a cycle), ``gate`` (stop or go) and ``check_data`` (alone)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import pandas as pd
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.errors import BlockedError
from compstat.ingest import IngestReport, ingest_all
from compstat.periods import Period, last_complete_period, parse_period
from compstat.quality.checks import CHECKS, Check, MarksComparisons
from compstat.quality.context import QualityContext, load_context
from compstat.quality.findings import COMPARISON_COLUMNS, SEVERITIES, Finding, severity_rank
from compstat.store import connect

MAX_LISTED = 12  # blocking findings listed in the error message


@dataclass(frozen=True)
class QualityResult:
    """What the quality step found, for the cycle, the manifest, the packs and the quality report.

    - ``findings``: most serious first.
    - ``comparisons``: ``COMPARISON_COLUMNS`` — one row per unit × measure × window that carries a
      caveat: ``like_for_like`` False (a structure or definition change inside the comparison)
      and/or ``fragile`` True (a change one cycle of late recording could erase), with the reason.
      Comparisons not listed have no caveat.
    - ``data_as_of``: each unit's latest record over all sources; ``data_as_of_by_source`` per source.
    - ``inputs``: the inputs the figures were built from (source, path, sha256, rows).
    - ``accepted``: blocking findings the cycle went ahead despite (``accept_warnings``);
      ``stale_units``: units whose data had not arrived when the cycle went ahead (``go_ahead_if_stale``).
    """

    period: Period
    findings: tuple[Finding, ...]
    comparisons: pd.DataFrame
    data_as_of: dict[str, date]
    data_as_of_by_source: dict[str, dict[str, date]]
    inputs: tuple[dict[str, object], ...] = ()
    check_seconds: dict[str, float] = field(default_factory=dict)
    accept_warnings: bool = False
    go_ahead_if_stale: bool = False
    accepted: tuple[Finding, ...] = ()
    stale_units: tuple[str, ...] = ()

    def of(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def blocking(self) -> list[Finding]:
        return self.of("blocking")

    def counts(self) -> dict[str, int]:
        return {s: len(self.of(s)) for s in SEVERITIES}

    def manifest(self) -> dict[str, object]:
        """The quality part of the cycle's manifest: overrides, counts and freshness per source."""
        return {
            "counts": self.counts(),
            "accept_warnings": self.accept_warnings,
            "go_ahead_if_stale": self.go_ahead_if_stale,
            "accepted_blocking": [f.as_dict() for f in self.accepted],
            "stale_units": list(self.stale_units),
            "data_as_of_by_source": {s: {u: d.isoformat() for u, d in sorted(units.items())}
                                     for s, units in sorted(self.data_as_of_by_source.items())},
            "comparisons_not_like_for_like": int((~self.comparisons["like_for_like"].astype(bool)).sum()),
            "comparisons_fragile": int(self.comparisons["fragile"].astype(bool).sum()),
            "check_seconds": self.check_seconds,
        }


def run_quality(session: Session, config: Config, period: Period, reports: Sequence[IngestReport], today: date,
                checks: Sequence[Check] = CHECKS) -> QualityResult:
    """Load what the checks need from the store and run them (read-only)."""
    return assess(load_context(session, config, period, reports, today), checks)


def assess(ctx: QualityContext, checks: Sequence[Check] = CHECKS) -> QualityResult:
    """Run each enabled check on ``ctx``, apply the configured scope and severity, collect the marks."""
    findings: list[Finding] = []
    marks: list[pd.DataFrame] = []
    seconds: dict[str, float] = {}
    for check in checks:
        settings = ctx.config.quality.check(check.name)
        if not settings.enabled:
            continue
        start = time.perf_counter()
        found = check.run(ctx)
        if settings.sources:
            found = [f for f in found if f.source is None or f.source in settings.sources]
        if settings.measures:
            found = [f for f in found if f.measure_id is None or f.measure_id in settings.measures]
        if settings.severity is not None:
            found = [replace(f, severity=settings.severity) if f.severity != "info" else f for f in found]
        findings += found
        if isinstance(check, MarksComparisons):
            marked = check.marks(ctx)
            if settings.measures:
                marked = marked[marked["measure_id"].isin(settings.measures)]
            marks.append(marked)
        seconds[check.name] = round(time.perf_counter() - start, 3)
    order = {c.name: i for i, c in enumerate(checks)}
    findings.sort(key=lambda f: (severity_rank(f.severity), order.get(f.check, 99), f.unit_code or "",
                                 f.measure_id or ""))
    by_source: dict[str, dict[str, date]] = {}
    leaves = set(ctx.leaf_codes)
    latest = ctx.latest
    for source, code, day in zip(latest["source"], latest["unit_code"], latest["latest"], strict=True):
        if code in leaves:
            by_source.setdefault(str(source), {})[str(code)] = day
    as_of: dict[str, date] = {}
    for units in by_source.values():
        for code, day in units.items():
            as_of[code] = max(day, as_of.get(code, day))
    columns = [str(c) for c in ctx.inputs.columns if c != "file_id"]
    inputs: tuple[dict[str, object], ...] = tuple(
        {c: (int(v) if c.startswith("rows") else str(v)) for c, v in zip(columns, values, strict=True)}
        for values in ctx.inputs[columns].itertuples(index=False, name=None))
    return QualityResult(ctx.period, tuple(findings), combine_marks(marks), as_of, by_source, inputs, seconds)


def combine_marks(marks: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per unit × measure × window: fragile if any check says so, like-for-like only if all do."""
    frames = [m for m in marks if not m.empty]
    if not frames:
        return pd.DataFrame(columns=COMPARISON_COLUMNS).astype({"fragile": bool, "like_for_like": bool})
    allm = pd.concat(frames, ignore_index=True).astype({"fragile": bool, "like_for_like": bool})
    grouped = allm.groupby(["unit_code", "measure_id", "window"], sort=True)
    out = grouped.agg(fragile=("fragile", "any"), like_for_like=("like_for_like", "all"),
                      reason=("reason", lambda r: "; ".join(dict.fromkeys(r))))
    return out.reset_index()[COMPARISON_COLUMNS]


def gate(result: QualityResult, *, accept_warnings: bool = False, go_ahead_if_stale: bool = False) -> QualityResult:
    """Stop the cycle (``BlockedError``) on blocking findings unless overridden; record any override.

    ``go_ahead_if_stale`` turns the blocking "data has not arrived" findings (timeliness) into
    warnings; ``accept_warnings`` goes ahead despite every blocking finding.
    """
    stale = [f for f in result.findings if f.check == "timeliness" and f.severity == "blocking"]
    findings = list(result.findings)
    if go_ahead_if_stale and stale:
        findings = [replace(f, severity="warning", message=f"{f.message} (went ahead without it: --go-ahead)")
                    if f in stale else f for f in findings]
    blocking = [f for f in findings if f.severity == "blocking"]
    if blocking and not accept_warnings:
        raise BlockedError(blocked_message(result.period, blocking))
    went_ahead = tuple(dict.fromkeys(f.unit_code or "" for f in stale if go_ahead_if_stale or accept_warnings))
    return replace(result, findings=tuple(findings), accept_warnings=accept_warnings,
                   go_ahead_if_stale=go_ahead_if_stale, accepted=tuple(blocking), stale_units=went_ahead)


def blocked_message(period: Period, blocking: list[Finding]) -> str:
    """The error text: which findings block, and how to go ahead."""
    listed = [f"  - {f.check}: {f.message}" for f in blocking[:MAX_LISTED]]
    if len(blocking) > MAX_LISTED:
        listed.append(f"  … and {len(blocking) - MAX_LISTED} more (see `compstat check`)")
    only_stale = all(f.check == "timeliness" for f in blocking)
    how = ("Wait for the data and run again, or run with --go-ahead to brief on the data held"
           if only_stale else "Fix the data and run again, or run with --accept-warnings to go ahead anyway")
    return (f"the quality check stopped the cycle for {period.label} before the packs "
            f"({len(blocking)} blocking finding{'s' if len(blocking) != 1 else ''}):\n" + "\n".join(listed)
            + f"\n{how} (the override is recorded in the manifest). Earlier outputs are unchanged.")


def check_data(config: Config, store_url: str, period_label: str | None = None,
               today: date | None = None) -> QualityResult:
    """Ingest and run the checks alone, then roll back: the store is left exactly as it was."""
    today = today or date.today()
    period = parse_period(period_label, config.cadence) if period_label else last_complete_period(
        today, config.cadence)
    engine = connect(store_url)
    try:
        with Session(engine) as session:
            session.begin()
            try:
                reports = ingest_all(session, config, today, store_url)
                return run_quality(session, config, period, reports, today)
            finally:
                session.rollback()
    finally:
        engine.dispose()
