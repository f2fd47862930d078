"""Revisions: figures the last pack showed that the data now gives differently (warning beyond
``quality.revision_tolerance``, one note within it); a change no bigger than one cycle's revision of the
unit's latest period is marked fragile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from compstat import numbers
from compstat.figures import TOTAL, window_figures
from compstat.quality.checks.common import PERIOD_NOUN, signed_text
from compstat.quality.context import QualityContext
from compstat.quality.findings import COMPARISON_COLUMNS, Finding, measure_label, plural, unit_label


@dataclass(frozen=True)
class Revisions:
    name: str = "revisions"
    default_severity: str = "warning"
    description: str = ("figures the last pack showed that the data now gives differently (late recording, "
                        "reclassification); a change one cycle of revisions could erase is fragile")

    def run(self, ctx: QualityContext) -> list[Finding]:
        revised = revisions(ctx)
        if revised.empty or ctx.previous is None:
            return []
        config, tol = ctx.config, ctx.config.quality.revision_tolerance
        shown_in = f"the {ctx.previous.period.label} pack"
        size = revised["delta"].abs()
        notable = (size > tol.count) & (size > tol.percent / 100 * revised["shown"].abs())
        findings = []
        order = {key: i for i, key in enumerate(("period", "28d", "3m", "ytd"))}
        revised = revised.assign(_order=revised["window"].map(order).fillna(9) * 2 + revised["side"].eq("previous"))
        revised = revised.sort_values("_order", kind="stable")
        notable = notable.reindex(revised.index)
        for (code, measure_id), rows in revised[notable].groupby(["unit_code", "measure_id"], sort=False):
            top = rows.iloc[int(np.argmax(rows["delta"].abs().to_numpy()))]  # the shortest window on a tie
            others = f"; {plural(len(rows) - 1, 'other figure')} changed too" if len(rows) > 1 else ""
            findings.append(Finding(
                self.name, self.default_severity,
                f"{unit_label(config, str(code))}: {measure_label(config, str(measure_id))} for {_figure(top)} was "
                f"{numbers.number(top['shown'])} in {shown_in} and is now {numbers.number(top['now'])} "
                f"({signed_text(top['delta'])}): late recording or reclassification{others}",
                unit_code=None if code == TOTAL else str(code), measure_id=str(measure_id),
                period=ctx.previous.period.label, rows=int(round(abs(float(top["delta"]))))))
        small = revised[~notable]
        if not small.empty:
            units = plural(int(small["unit_code"].ne(TOTAL).groupby(small["unit_code"]).any().sum()), "unit")
            if small["unit_code"].eq(TOTAL).any():
                units += " and the organisation"
            per_unit = small[small["unit_code"] != TOTAL].groupby("unit_code").size()
            findings.append(Finding(
                self.name, "info",
                f"Since {shown_in}, {plural(len(small), 'figure')} for {units} changed within the "
                f"tolerance (at most ±{numbers.number(tol.count)} or {numbers.number(tol.percent)}%; largest "
                f"{signed_text(small['delta'].iloc[small['delta'].abs().argmax()])}): normal late recording",
                period=ctx.previous.period.label, rows=len(small),
                units={str(code): int(n) for code, n in per_unit.sort_index().items()}))
        return findings

    def marks(self, ctx: QualityContext) -> pd.DataFrame:
        """A change no bigger than one cycle's revision of the unit's latest period is fragile."""
        revised = revisions(ctx)
        if revised.empty or ctx.previous is None:
            return pd.DataFrame(columns=COMPARISON_COLUMNS)
        latest = revised[(revised["window"] == "period") & (revised["side"] == "current")]
        size = latest.set_index(["unit_code", "measure_id"])["delta"]
        table = _changes(ctx)
        joined = table.join(size.rename("revision"), on=["unit_code", "measure_id"], how="inner")
        fragile = joined[joined["change"].abs() <= joined["revision"].abs()]
        noun = PERIOD_NOUN[ctx.config.cadence.period]
        reasons = [f"the change ({signed_text(c)}) is no bigger than one {noun}'s late recording "
                   f"({signed_text(r)} to the {ctx.previous.period.label} figure)"
                   for c, r in zip(fragile["change"], fragile["revision"], strict=True)]
        return fragile.assign(fragile=True, like_for_like=True, reason=reasons)[COMPARISON_COLUMNS]


def revisions(ctx: QualityContext) -> pd.DataFrame:
    """Each figure the previous cycle stored that the current data now gives differently.

    Columns: unit_code, measure_id, window, side (current / previous), start, end, shown, now, delta.
    """
    columns = ["unit_code", "measure_id", "window", "side", "start", "end", "shown", "now", "delta"]
    previous = ctx.previous
    if previous is None or previous.results.empty:
        return pd.DataFrame(columns=columns)
    now = window_figures(ctx.measures_daily, ctx.config, previous.windows, ctx.data_start)
    stored = previous.results.melt(id_vars=["unit_code", "measure_id", "window"], value_vars=["current", "previous"],
                                   var_name="side", value_name="shown")
    merged = stored.merge(now.rename(columns={"value": "now"}), on=["unit_code", "measure_id", "window", "side"])
    merged = merged.dropna(subset=["shown", "now"])
    merged = merged.assign(delta=merged["now"].astype(float) - merged["shown"].astype(float))
    return merged[merged["delta"].abs() > 1e-9][columns].reset_index(drop=True)


def _figure(row: pd.Series) -> str:
    label = {"period": "the period", "28d": "the 28 days", "3m": "the 3 months", "ytd": "the year to date"}.get(
        str(row["window"]), str(row["window"]))
    last_year = "last year's comparison for " if row["side"] == "previous" else ""
    return f"{last_year}{label} {row['start']} to {row['end']}"


def _changes(ctx: QualityContext) -> pd.DataFrame:
    """This cycle's change per unit, reported measure and window (current minus last year)."""
    figures = ctx.current_figures
    wide = figures.pivot_table(index=["unit_code", "measure_id", "window"], columns="side", values="value",
                               dropna=False).reset_index()
    wide = wide[wide["measure_id"].isin([m.id for m in ctx.config.reported_measures])]
    return wide.assign(change=wide["current"] - wide["previous"]).dropna(subset=["change"])
