"""Changes: the definition and boundary changes declared in ``quality.changes`` that fall inside a
comparison (warning); the comparisons that span one are marked not like-for-like."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from compstat.config import DataChange
from compstat.figures import TOTAL
from compstat.periods import Window
from compstat.quality.context import QualityContext, leaf_codes_of
from compstat.quality.findings import COMPARISON_COLUMNS, Finding, listed, measure_label, unit_label


@dataclass(frozen=True)
class Changes:
    name: str = "changes"
    default_severity: str = "warning"
    description: str = ("dated definition and boundary changes declared in quality.changes: comparisons that "
                        "span one are marked not like-for-like")

    def run(self, ctx: QualityContext) -> list[Finding]:
        findings = []
        for change, windows, units, measures in _spanning(ctx):
            labels = listed([w.label.lower() for w in windows])
            who = "every unit" if not change.units else listed([unit_label(ctx.config, u) for u in units])
            what = "every measure" if not change.measures else listed(
                [measure_label(ctx.config, m) for m in measures])
            findings.append(Finding(
                self.name, self.default_severity,
                f"{change.kind.capitalize()} change on {change.date} ({change.description}) falls inside this "
                f"cycle's {labels} comparisons of {what} for {who}{_total_text(ctx, change)}: marked not "
                "like-for-like, not compared silently",
                unit_code=units[0] if len(units) == 1 else None,
                measure_id=measures[0] if len(measures) == 1 else None, period=ctx.period.label,
                units=dict.fromkeys(units, 0) if change.units else {}))
        return findings

    def marks(self, ctx: QualityContext) -> pd.DataFrame:
        """The comparisons of the units a change names, and the organisation's unless the change only
        moves data between the units it names (``within_organisation``)."""
        rows = [(u, m, w.key, False, False, f"spans the {c.kind} change of {c.date} ({c.description})")
                for c, windows, units, measures in _spanning(ctx)
                for u in units + ([] if c.within_organisation and c.units else [TOTAL])
                for m in measures for w in windows]
        return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _total_text(ctx: QualityContext, change: DataChange) -> str:
    if not change.units:
        return ""
    if change.within_organisation:
        return f" (it moves data only between them, so {ctx.config.organisation.name}'s total is like-for-like)"
    return f" and for {ctx.config.organisation.name} as a whole"


def _spanning(ctx: QualityContext) -> list[tuple[DataChange, list[Window], list[str], list[str]]]:
    """Each declared change that falls inside a comparison, with the windows, units and measures it affects."""
    out = []
    reported = [m.id for m in ctx.config.reported_measures]
    for change in ctx.config.quality.changes:
        windows = [w for w in ctx.windows if w.prev_start < change.date <= w.end]
        if not windows:
            continue
        units = leaf_codes_of(ctx.config, change.units) if change.units else list(ctx.leaf_codes)
        measures = [m for m in reported if not change.measures or m in change.measures]
        out.append((change, windows, units, measures))
    return out
