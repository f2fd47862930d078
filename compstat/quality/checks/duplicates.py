"""Duplicates: exact copies quarantined at ingest (within an input, or of rows another input holds), and
stored rows sharing a record key: with different details in one input (warning), in different inputs or as
exact copies (blocking: counted twice, or two versions of a record counted, until one version stands);
identical rows of a source without a record key are a note (info), but the same unit-day-category
totals supplied by two inputs of a source of counts block."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from compstat.config import Source
from compstat.ingest import COPY_OF_STORED
from compstat.ingest.mapping import record_key
from compstat.quality.checks.common import file_name, quarantine_hint, rejected_units, rejection_kind
from compstat.quality.context import QualityContext
from compstat.quality.findings import Finding, listed, plural


@dataclass(frozen=True)
class Duplicates:
    name: str = "duplicates"
    default_severity: str = "warning"
    description: str = ("exact copies (quarantined at ingest), rows sharing a record key with different details "
                        "(counted, flagged; blocking across inputs) and copies counted twice (blocking)")

    def run(self, ctx: QualityContext) -> list[Finding]:
        findings = []
        copies = ctx.rejected[ctx.rejected["reason"].map(rejection_kind).eq("exact_copy")]
        for (source, path), rows in copies.groupby(["source", "path"], sort=False):
            held = rows["reason"].str.startswith(COPY_OF_STORED.split("{", 1)[0])
            if (~held).any():
                mine = rows[~held]
                same = mine["reason"].iloc[0].split("(same ", 1)[-1].split(" and every", 1)[0]
                findings.append(Finding(
                    self.name, self.default_severity,
                    f"{plural(len(mine), 'row')} of {file_name(str(path))} are exact copies of earlier rows "
                    f"(same {same} and every other column): quarantined and not counted, so each record counts "
                    f"once. {quarantine_hint(ctx)}",
                    rows=len(mine), source=str(source), units=rejected_units(ctx, mine)))
            if held.any():
                theirs = rows[held]
                after = theirs["reason"].str.split(" from ", n=1, regex=False).str[1]
                paths = after.str.split(" (input version", n=1, regex=False).str[0]
                others = list(dict.fromkeys(file_name(str(path)) for path in paths.unique()))
                findings.append(Finding(
                    self.name, self.default_severity,
                    f"{plural(len(theirs), 'row')} of {file_name(str(path))} are exact copies of rows already held "
                    f"from {listed(others, 3)} (another input of {source}): quarantined and not counted, so each "
                    f"record counts once. {quarantine_hint(ctx)}",
                    rows=len(theirs), source=str(source), units=rejected_units(ctx, theirs)))
        for source in ctx.config.sources:
            found = ctx.duplicate_groups[ctx.duplicate_groups["source"] == source.name]
            if not found.empty:
                findings += self._in_store(ctx, source, found)
        return findings

    def _in_store(self, ctx: QualityContext, source: Source, found: pd.DataFrame) -> list[Finding]:
        key = " and ".join(_key_column(source, f) for f in record_key(source, ctx.config))
        since = f"from {ctx.checked_from} to {ctx.period.end}"
        which = ("say which version stands: re-issue one input without these records (in mode: replace a new "
                 "version at the same path replaces the old), or go ahead counting both with --accept-warnings")
        findings = []
        keyed = found[found["keyed"].astype(bool)]
        conflicting = keyed[~keyed["exact"].astype(bool)]
        across = conflicting["inputs"].astype(int) > 1
        for severity, part, where in (("warning", conflicting[~across], ""),
                                      ("blocking", conflicting[across], " of different inputs")):
            if part.empty:
                continue
            example = part.iloc[0]
            tail = (f"all of them are counted — {which}" if severity == "blocking"
                    else "all of them are counted — check which is right")
            findings.append(Finding(
                self.name, severity,
                f"{plural(len(part), 'value')} of {key} in {source.name} {since} appear on "
                f"{int(part['rows'].sum()):,} rows{where} with different details (e.g. {example['key']} in "
                f"{example['unit_codes']}): {tail}",
                rows=int(part["rows"].sum()), source=source.name, units=_group_units(part)))
        exact = keyed[keyed["exact"].astype(bool)]
        if not exact.empty:
            extra = int((exact["rows"] - 1).sum())
            findings.append(Finding(
                self.name, "blocking",
                f"{plural(extra, 'row')} of {source.name} {since} are exact copies of other stored rows (same {key} "
                "and every field; from another input, or loaded before copies were quarantined): they are counted "
                f"more than once — {which}",
                rows=extra, source=source.name, units=_group_units(exact, extra_only=True)))
        unkeyed = found[~found["keyed"].astype(bool)]
        cells = unkeyed[unkeyed["inputs"].astype(int) > 1]
        if not cells.empty:
            example = cells.iloc[0]
            findings.append(Finding(
                self.name, "blocking",
                f"{plural(len(cells), 'unit-day-category total')} of {source.name} {since} are supplied by more "
                f"than one input (e.g. {example['key']}): they are added together — {which}",
                rows=int(cells["rows"].sum()), source=source.name, units=_group_units(cells)))
        identical = unkeyed[unkeyed["inputs"].astype(int) <= 1]
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
