"""Consistency: a supplied organisation total against the sum of its units, zeros written as text, and
sources whose columns drifted (warning)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from compstat import numbers
from compstat.figures import TOTAL
from compstat.measure_filter import matches_filter
from compstat.quality.checks.common import (
    NOT_A_NUMBER,
    file_name,
    quarantine_hint,
    rejected_units,
    rejection_kind,
    signed_text,
)
from compstat.quality.context import QualityContext
from compstat.quality.findings import Finding, listed, plural


@dataclass(frozen=True)
class Consistency:
    name: str = "consistency"
    default_severity: str = "warning"
    description: str = ("a supplied organisation total against the sum of its units, zeros written as text, "
                        "and sources whose columns drifted")

    def run(self, ctx: QualityContext) -> list[Finding]:
        return self._totals(ctx) + self._zeros_as_text(ctx) + self._column_drift(ctx)

    def _totals(self, ctx: QualityContext) -> list[Finding]:
        supplied = ctx.supplied_totals
        if supplied.empty:
            return []
        config = ctx.config
        measures = [m for m in config.measures if (m.kind == "count" or (m.kind == "value" and m.aggregate == "sum"))
                    and matches_filter(supplied, m).any()]  # only measures the totals supply
        figures = ctx.current_figures
        org_rows = figures[(figures["unit_code"] == TOTAL) & (figures["side"] == "current")]
        org = dict(zip(zip(org_rows["measure_id"], org_rows["window"], strict=True), org_rows["value"], strict=True))
        findings = []
        supplied_from = supplied["date"].min()
        for w in ctx.windows:
            if supplied_from > pd.Timestamp(w.start):  # only windows the supplied totals cover in full
                continue
            inside = supplied[(supplied["date"] >= pd.Timestamp(w.start)) & (supplied["date"] <= pd.Timestamp(w.end))]
            for m in measures:
                given = float(inside.loc[matches_filter(inside, m), "total"].sum())
                summed = float(org[(m.id, w.key)])
                if math.isclose(given, summed, abs_tol=0.5):
                    continue
                findings.append(Finding(
                    self.name, self.default_severity,
                    f"{m.name}: the organisation total supplied for the {w.label.lower()} {w.start} to {w.end} is "
                    f"{numbers.number(given)} but the units add up to {numbers.number(summed)} "
                    f"({signed_text(summed - given)}): "
                    "rows for units outside the config, or a unit's figures are incomplete",
                    measure_id=m.id, period=ctx.period.label, rows=int(round(abs(summed - given)))))
        return findings

    def _zeros_as_text(self, ctx: QualityContext) -> list[Finding]:
        every = pd.concat([ctx.rejected, ctx.totals_rejected], ignore_index=True)  # supplied totals too
        zeros = every[every["reason"].map(rejection_kind).eq("zero_text")]
        findings = []
        for (source, path), rows in zeros.groupby(["source", "path"], sort=False):
            words = sorted({(m["a"] or m["b"] or "") for m in rows["reason"].map(NOT_A_NUMBER.match) if m})
            lines = listed([str(n) for n in sorted(rows["source_row"].astype(int))], 8)
            findings.append(Finding(
                self.name, self.default_severity,
                f"{plural(len(rows), 'row')} of {file_name(str(path))} (line{'s' if len(rows) > 1 else ''} {lines}) "
                f"give{'s' if len(rows) == 1 else ''} "
                f"{listed([repr(w) for w in words])} where a number is expected — probably a zero written as text. "
                f"They were quarantined, so these counts are missing, not 0: fix the extract. {quarantine_hint(ctx)}",
                rows=len(rows), source=str(source), units=rejected_units(ctx, rows)))
        return findings

    def _column_drift(self, ctx: QualityContext) -> list[Finding]:
        """Inputs of one source loaded now with different columns, and a source whose latest input's
        columns differ from those of the latest input the previous cycle used (stored with each input
        version, so an unchanged input keeps its columns)."""
        findings = []
        now: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for report in ctx.reports:
            if report.columns:
                now.setdefault(report.source, []).append((report.location, report.columns))
        for source, inputs in now.items():
            if len({cols for _, cols in inputs}) > 1:
                findings.append(Finding(
                    self.name, self.default_severity,
                    f"the inputs of {source} do not all have the same columns: "
                    + "; ".join(f"{file_name(path)}: {', '.join(cols)}" for path, cols in inputs),
                    source=source))
        previous = ctx.previous
        if previous is None:
            return findings
        before = _latest_columns([e for e in previous.manifest.get("data_versions") or previous.manifest.get(
            "inputs") or [] if isinstance(e, dict)])
        current = _latest_columns(ctx.inputs.to_dict(orient="records"))
        for source, latest in current.items():
            old = before.get(source)
            if old is None or set(old) == set(latest):
                continue
            added, removed = sorted(set(latest) - set(old)), sorted(set(old) - set(latest))
            change = "; ".join(part for part in (
                f"added {listed([repr(c) for c in added])}" if added else "",
                f"removed {listed([repr(c) for c in removed])}" if removed else "") if part)
            findings.append(Finding(
                self.name, self.default_severity,
                f"the columns of {source} changed since the {previous.period.label} cycle ({change}): check "
                "that the mapped columns still mean what they did", source=source))
        return findings


def _latest_columns(inputs: list[dict[Any, Any]]) -> dict[str, tuple[str, ...]]:
    """Per source, the columns of its latest input (highest file id, else the last listed) that has them."""
    out: dict[str, tuple[int, tuple[str, ...]]] = {}
    for position, entry in enumerate(inputs):
        columns = entry.get("columns")
        if not columns:
            continue
        order = int(entry.get("file_id", position))
        source = str(entry.get("source"))
        if source not in out or order >= out[source][0]:
            out[source] = (order, tuple(str(c) for c in columns))
    return {source: columns for source, (_, columns) in out.items()}
