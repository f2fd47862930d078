"""Duplicates: exact copies quarantined at ingest, and stored rows sharing a record key, with different
details or as exact copies (warning); identical rows of a source without a record key are a note (info)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from compstat.config import Source
from compstat.ingest.mapping import record_key
from compstat.quality.checks.common import file_name, quarantine_hint, rejected_units, rejection_kind
from compstat.quality.context import MAX_KEY_GROUPS, QualityContext
from compstat.quality.findings import Finding, listed, plural


@dataclass(frozen=True)
class Duplicates:
    name: str = "duplicates"
    default_severity: str = "warning"
    description: str = ("exact copies (quarantined at ingest where a record key exists) and rows sharing a "
                        "record key with different details (counted, flagged)")

    def run(self, ctx: QualityContext) -> list[Finding]:
        findings = []
        copies = ctx.rejected[ctx.rejected["reason"].map(rejection_kind).eq("exact_copy")]
        for (source, path), rows in copies.groupby(["source", "path"], sort=False):
            same = rows["reason"].iloc[0].split("(same ", 1)[-1].split(" and every", 1)[0]
            findings.append(Finding(
                self.name, self.default_severity,
                f"{plural(len(rows), 'row')} of {file_name(str(path))} are exact copies of earlier rows "
                f"(same {same} and every other column): quarantined and not counted, so each record counts once. "
                f"{quarantine_hint(ctx)}",
                rows=len(rows), source=str(source), units=rejected_units(ctx, rows)))
        for source in ctx.config.sources:
            found = ctx.duplicates[ctx.duplicates["source"] == source.name]
            if found.empty:
                continue
            findings += self._in_store(ctx, source, found)
            groups = ctx.duplicate_groups.get(source.name)
            if groups:
                key = " and ".join(_key_column(source, f) for f in record_key(source, ctx.config))
                findings.append(Finding(
                    self.name, self.default_severity,
                    f"{groups:,} values of {key} in {source.name} from {ctx.checked_from} to {ctx.period.end} appear "
                    f"on more than one row: only the first {MAX_KEY_GROUPS:,} were compared row by row, so the "
                    "duplicate counts above are lower bounds — the rest were not examined", source=source.name))
        return findings

    def _in_store(self, ctx: QualityContext, source: Source, found: pd.DataFrame) -> list[Finding]:
        key = " and ".join(_key_column(source, f) for f in record_key(source, ctx.config))
        since = f"from {ctx.checked_from} to {ctx.period.end}"
        findings = []
        keyed = found[found["keyed"]]
        conflicting = keyed[~keyed["exact"].astype(bool)]
        if not conflicting.empty:
            example = conflicting.iloc[0]
            findings.append(Finding(
                self.name, self.default_severity,
                f"{plural(len(conflicting), 'value')} of {key} in {source.name} {since} appear on "
                f"{int(conflicting['rows'].sum()):,} rows with different details (e.g. {example['key']} in "
                f"{example['unit_codes']}): all of them are counted — check which is right",
                rows=int(conflicting["rows"].sum()), source=source.name, units=_group_units(conflicting)))
        exact = keyed[keyed["exact"].astype(bool)]
        if not exact.empty:
            extra = int((exact["rows"] - 1).sum())
            findings.append(Finding(
                self.name, self.default_severity,
                f"{plural(extra, 'row')} of {source.name} {since} are exact copies of other stored rows (same {key} "
                "and every field; from another input, or loaded before copies were quarantined): they ARE counted "
                "in the figures — remove them at source",
                rows=extra, source=source.name, units=_group_units(exact, extra_only=True)))
        identical = found[~found["keyed"].astype(bool)]
        if not identical.empty:
            extra = int((identical["rows"] - 1).sum())
            units = identical.groupby("unit_codes")["rows"].sum().sort_values(ascending=False)
            findings.append(Finding(
                self.name, "info",
                f"{plural(extra, 'row')} of {source.name} {since} are identical to another row (same unit, date, "
                f"category{', coordinates' if source.columns.latitude else ''} and value), most in "
                f"{listed(list(units.index.astype(str)), 5)}. With no record key they cannot be told apart from "
                "separate records, so they are counted (set quality.duplicate_keys to quarantine copies)",
                rows=extra, source=source.name, units=_group_units(identical, extra_only=True)))
        return findings


def _group_units(groups: pd.DataFrame, extra_only: bool = False) -> dict[str, int]:
    """Rows per unit of duplicate groups (``unit_rows``); ``extra_only``: of identical rows (one unit per
    group), the copies beyond the first."""
    out: dict[str, int] = {}
    for unit_rows, rows in zip(groups["unit_rows"], groups["rows"], strict=True):
        counts = {str(k): int(v) for k, v in dict(unit_rows).items()}
        if extra_only and counts:
            counts = {min(counts): int(rows) - 1}
        for code, n in counts.items():
            out[code] = out.get(code, 0) + n
    return {code: n for code, n in sorted(out.items()) if n > 0}


def _key_column(source: Source, field_name: str) -> str:
    return getattr(source.columns, field_name, None) or field_name
