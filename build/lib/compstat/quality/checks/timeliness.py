"""Timeliness: a unit's data for the period that has not arrived, allowing each source's expected lag
(blocking, so the cycle is deferred, when ``quality.on_stale`` is ``defer``, the default; else warning)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from compstat.quality.context import QualityContext
from compstat.quality.findings import Finding, plural, unit_label

STALE_CHANCE = 0.001  # a gap at the end of the period this unlikely by chance means data has not arrived


@dataclass(frozen=True)
class Timeliness:
    name: str = "timeliness"
    default_severity: str = "blocking"  # when quality.on_stale is defer (the default); else warning
    description: str = ("each unit's latest record per source against the period end and the expected lag: "
                        "data that has not arrived defers the cycle (not for a unit after its declared merger or "
                        "closure)")

    def run(self, ctx: QualityContext) -> list[Finding]:
        config, q = ctx.config, ctx.config.quality
        severity = self.default_severity if q.on_stale == "defer" else "warning"
        lookback_start = ctx.periods(q.lookback_periods + 1)[0].start
        lookback_days = max((ctx.period.start - lookback_start).days, 1)
        daily = ctx.daily[ctx.daily["unit_code"].isin(ctx.leaf_codes)]
        findings = []
        for source in config.sources:
            mine = daily[daily["source"] == source.name]
            history = mine[(mine["date"] >= pd.Timestamp(lookback_start))
                           & (mine["date"] < pd.Timestamp(ctx.period.start))]
            if history.empty:
                continue
            monthly_dates = bool(mine["date"].dt.day.eq(1).all())
            lag = q.expected_lag_days.get(source.name, 0)
            due = ctx.period.end - timedelta(days=lag)
            share = history.groupby("unit_code")["date"].nunique() / lookback_days
            latest = ctx.latest[ctx.latest["source"] == source.name].set_index("unit_code")["latest"]
            allowing = f", allowing the expected {lag}-day lag" if lag else ""
            for code, days_share in share.items():
                as_of = latest.get(code)
                if as_of is None:
                    continue
                ended = ctx.ended.get(str(code))
                unit_due = due if ended is None else min(due, ended - timedelta(days=1))  # nothing due after it
                if monthly_dates:
                    due_month = unit_due.replace(day=1)
                    if as_of >= due_month:
                        continue
                    text = (f"{unit_label(config, str(code))}: {source.name} data as of {as_of:%Y-%m}; nothing for "
                            f"{due_month:%Y-%m} yet{allowing} — its data for {ctx.period.label} has not arrived")
                else:
                    gap = (unit_due - as_of).days
                    if gap <= 0 or (1 - min(float(days_share), 1.0)) ** gap >= STALE_CHANCE:
                        continue
                    text = (f"{unit_label(config, str(code))}: {source.name} data as of {as_of}, {plural(gap, 'day')} "
                            f"before {ctx.period.label} ends{allowing}; it usually has records on "
                            f"{float(days_share):.0%} of days, so the rest of the period has probably not arrived")
                findings.append(Finding(self.name, severity, text, unit_code=str(code), period=ctx.period.label,
                                        source=source.name))
        return findings
