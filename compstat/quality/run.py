"""Running the checks: ``run_quality`` (in a cycle), ``gate`` (stop or go) and ``check_data`` (alone)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.errors import BlockedError, DataError
from compstat.figures import Figures
from compstat.ingest import IngestReport, check_export_path, export_quarantine, ingest_all, quarantined_rows
from compstat.periods import Period, last_complete_period, parse_period
from compstat.quality.checks import CHECKS, Check, MarksComparisons
from compstat.quality.context import QualityContext, load_context, quarantine_listing
from compstat.quality.findings import (
    COMPARISON_COLUMNS,
    QUARANTINE_CHECK_HINT,
    QUARANTINE_STORED_HINT,
    SEVERITIES,
    Finding,
    severity_rank,
)
from compstat.store import connect
from compstat.store.db import shares_connections
from compstat.store.lock import PREVIEW, shared_lock
from compstat.store.models import Observation

MAX_LISTED = 12  # blocking findings listed in the error message


@dataclass(frozen=True)
class QualityResult:
    """What the quality step found, for the cycle, the manifest, the packs and the quality report.

    - ``findings``: most serious first.
    - ``comparisons``: ``COMPARISON_COLUMNS`` — one row per unit × measure × window that carries a
      caveat: ``like_for_like`` False (a structure or definition change inside the comparison)
      and/or ``fragile`` True (a change one cycle of late recording could erase), with the reason.
      Comparisons not listed have no caveat.
    - ``data_as_of``: for each unit, the earliest over its sources of its latest record (the date up to
      which all of its data is in); ``data_as_of_by_source``: the latest record per source.
    - ``inputs``: the input versions the figures were built from (file_id, source, path, sha256, rows,
      columns), including inputs loaded by earlier runs.
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
            "comparisons": [{c: _plain(v) for c, v in zip(COMPARISON_COLUMNS, row, strict=True)}
                            for row in self.comparisons[COMPARISON_COLUMNS].itertuples(index=False, name=None)],
            "check_seconds": self.check_seconds,
        }

    @classmethod
    def from_manifest(cls, period: Period, manifest: dict[str, Any]) -> QualityResult:
        """The quality result a cycle recorded in its manifest (for ``compstat reissue``)."""
        quality = manifest.get("quality") or {}
        findings = tuple(Finding.from_dict(f) for f in manifest.get("findings") or [])
        comparisons = pd.DataFrame(quality.get("comparisons") or [], columns=COMPARISON_COLUMNS).astype(
            {"fragile": bool, "like_for_like": bool})
        by_source = {str(s): {str(u): date.fromisoformat(str(d)) for u, d in units.items()}
                     for s, units in (quality.get("data_as_of_by_source") or {}).items()}
        as_of = {str(u): date.fromisoformat(str(d)) for u, d in (manifest.get("data_as_of") or {}).items()}
        accepted = tuple(Finding.from_dict(f) for f in quality.get("accepted_blocking") or [])
        return cls(period, findings, comparisons, as_of, by_source, tuple(manifest.get("data_versions") or ()),
                   dict(quality.get("check_seconds") or {}), bool(quality.get("accept_warnings")),
                   bool(quality.get("go_ahead_if_stale")), accepted, tuple(quality.get("stale_units") or ()))


def _plain(value: object) -> object:
    """numpy scalars as Python values, for JSON."""
    return value.item() if isinstance(value, np.generic) else value


def run_quality(session: Session, config: Config, period: Period, reports: Sequence[IngestReport], today: date,
                checks: Sequence[Check] = CHECKS, stored: bool = True, figures: Figures | None = None) -> QualityResult:
    """Load what the checks need from the store and run them (read-only). ``stored``: this run's ingest
    is kept if the cycle goes ahead (False for ``compstat check``). ``figures``: the cycle's, if built.

    The rows the validity and duplicates checks count are read on a second thread while the checks before
    them run (``load_context``'s ``reads``): the database works beside pandas (national: 25.6 s → 15.5 s).
    Nothing else uses the session until those reads are done; leaving the block waits for them. (An in-memory
    SQLite store's connection cannot be shared: there they are read first.)"""
    if not shares_connections(session.get_bind().engine):
        return assess(load_context(session, config, period, reports, today, stored, figures), checks)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="compstat-quality-reads") as reads:
        context = load_context(session, config, period, reports, today, stored, figures, reads)
        result = assess(context, checks)
        context.finish_reads()
    return result


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
            as_of[code] = min(day, as_of.get(code, day))  # all of a unit's data is in up to its stalest source
    inputs = input_records(ctx.inputs)
    return QualityResult(ctx.period, tuple(findings), combine_marks(marks), as_of, by_source, inputs, seconds)


def input_records(inputs: pd.DataFrame) -> tuple[dict[str, object], ...]:
    """The inputs in use (``compstat.ingest.INPUT_COLUMNS``) as plain records for the manifest."""
    out: list[dict[str, object]] = []
    for row in inputs.to_dict(orient="records"):
        out.append({str(c): (list(v) if c == "columns" else int(v) if c == "file_id" or str(c).startswith("rows")
                             else str(v)) for c, v in row.items()})
    return tuple(out)


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
    if blocking and not accept_warnings:  # nothing will be stored: point to the command that exports them
        unstored = [replace(f, message=f.message.replace(QUARANTINE_STORED_HINT, QUARANTINE_CHECK_HINT))
                    for f in blocking]
        raise BlockedError(blocked_message(result.period, unstored))
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


def require_data(session: Session, org: str, period: Period) -> None:
    """Raise DataError (exit 1) when the store holds no record for ``period``: ``run-cycle`` and
    ``check`` stop alike, saying which dates the store does hold."""
    rows = session.execute(select(func.count()).select_from(Observation).where(
        Observation.org == org, Observation.occurred_on >= period.start, Observation.occurred_on <= period.end)
    ).scalar_one()
    if rows:
        return
    first, last = session.execute(select(func.min(Observation.occurred_on), func.max(Observation.occurred_on))
                                  .where(Observation.org == org)).one()
    if last is None:
        raise DataError(f"no data in the store for {org}: check the sources in the config")
    raise DataError(f"no data for {period.label} ({period.start} to {period.end}); the store holds {first} to "
                    f"{last}. Pass --period for a period with data.")


def check_data(config: Config, store_url: str, period_label: str | None = None,
               today: date | None = None, quarantine: Path | None = None) -> QualityResult:
    """Ingest and run the checks alone, then roll back: the store is left exactly as it was.

    ``quarantine``: also write every quarantined row of the inputs in use (those of this run
    included, which are not stored) to this ``.csv`` or ``.xlsx`` file, as ``compstat quarantine list``
    lists them (``context.quarantine_listing``: organisation totals kept aside are not rejects).
    """
    today = today or date.today()
    period = parse_period(period_label, config.cadence) if period_label else last_complete_period(
        today, config.cadence)
    if quarantine is not None:
        check_export_path(quarantine)
    with shared_lock(store_url, PREVIEW):  # ingest writes, if only to roll back: not while a cycle runs
        return _check(config, store_url, period, today, quarantine)


def _check(config: Config, store_url: str, period: Period, today: date, quarantine: Path | None) -> QualityResult:
    engine = connect(store_url)
    try:
        with Session(engine) as session:
            session.begin()
            try:
                reports = ingest_all(session, config, today, store_url)
                require_data(session, config.organisation.slug, period)
                result = run_quality(session, config, period, reports, today, stored=False)
                if quarantine is not None:
                    listed, _ = quarantine_listing(quarantined_rows(session, config.organisation.slug), config, today)
                    export_quarantine(listed, quarantine)  # what `quarantine list` lists: totals kept aside are not
                return result
            finally:
                session.rollback()
    finally:
        engine.dispose()
