"""Validity: quarantined rows, rows counted without their unreadable coordinates, units not in the config,
coordinates outside the area and rates without a denominator (warning); unknown units outside the
comparisons, rows skipped as ``other_units`` says,
rows without coordinates and categories no measure counts are notes (info)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from compstat import numbers
from compstat.ingest.dates import parse_dates, reread_order
from compstat.ingest.mapping import COUNTED_WITHOUT_COORDINATES, parse_numbers
from compstat.measure_filter import matches_filter
from compstat.quality.checks.common import file_name, quarantine_hint, rejected_units, rejection_kind
from compstat.quality.context import QualityContext
from compstat.quality.findings import Finding, listed, measure_label, plural, unit_label


@dataclass(frozen=True)
class Validity:
    name: str = "validity"
    default_severity: str = "warning"
    description: str = ("quarantined rows (bad dates, values, coordinates), units and categories not in the "
                        "config, coordinates outside the area, rates without a denominator")

    def run(self, ctx: QualityContext) -> list[Finding]:
        return (self._quarantined(ctx) + self._unreadable_coordinates(ctx) + self._unknown_units(ctx)
                + self._skipped(ctx) + self._coordinates(ctx)
                + self._unmeasured_categories(ctx) + self._rates_without_denominator(ctx))

    def _quarantined(self, ctx: QualityContext) -> list[Finding]:
        every = pd.concat([ctx.rejected, ctx.totals_rejected], ignore_index=True)  # total rows that are unreadable too
        rejected = every[every["reason"].map(rejection_kind).eq("other")]
        findings = []
        for (source, path), rows in rejected.groupby(["source", "path"], sort=False):
            by_field = rows.groupby("field", sort=False)["reason"].agg(["size", "first"])
            detail = "; ".join(f"{n} in '{fld}' (e.g. {first})" for fld, (n, first) in by_field.iterrows())
            findings.append(Finding(
                self.name, self.default_severity,
                f"{plural(len(rows), 'row')} of {file_name(str(path))} quarantined, not counted: {detail}. "
                f"{quarantine_hint(ctx)}", rows=len(rows), source=str(source), units=rejected_units(ctx, rows)))
        return findings

    def _unreadable_coordinates(self, ctx: QualityContext) -> list[Finding]:
        """Rows kept and counted although a coordinate could not be read: they are missing from maps."""
        flagged = ctx.rejected[ctx.rejected["reason"].map(rejection_kind).eq("coordinates")]
        findings = []
        for (source, path), rows in flagged.groupby(["source", "path"], sort=False):
            by_field = rows.groupby("field", sort=False)["reason"].agg(["size", "first"])
            detail = "; ".join(f"{n} in '{fld}' (e.g. {first.removesuffix(COUNTED_WITHOUT_COORDINATES)})"
                               for fld, (n, first) in by_field.iterrows())
            lines = listed([str(n) for n in sorted(rows["source_row"].astype(int))], 8)
            findings.append(Finding(
                self.name, self.default_severity,
                f"{plural(len(rows), 'row')} of {file_name(str(path))} (line{'s' if len(rows) > 1 else ''} {lines}) "
                f"{'have' if len(rows) > 1 else 'has'} a coordinate that cannot be read: {detail}. "
                f"{'They are' if len(rows) > 1 else 'It is'} counted in the figures, without coordinates, so "
                f"missing from the maps. {quarantine_hint(ctx)}",
                rows=len(rows), source=str(source), units=rejected_units(ctx, rows)))
        return findings

    def _unknown_units(self, ctx: QualityContext) -> list[Finding]:
        rejected = ctx.rejected[ctx.rejected["reason"].map(rejection_kind).eq("unknown_unit")]
        first_start = min(w.prev_start for w in ctx.windows)
        findings = []
        for source in ctx.config.sources:
            rows = rejected[rejected["source"] == source.name]
            if rows.empty or source.columns.unit is None:  # a source-wide unit is always a unit of the config
                continue
            raw = pd.DataFrame([json.loads(r) for r in rows["raw"]], index=rows.index).astype(str)
            written = raw[source.columns.date].str.strip()
            when = parse_dates(written, source.date_format, reread_order(written, source, ctx.config),
                               ctx.config.organisation.timezone)
            value = (parse_numbers(raw[source.columns.value], source.text_decimal)
                     if source.columns.value else pd.Series(np.nan, index=raw.index))
            frame = pd.DataFrame({"unit": raw[source.columns.unit].str.strip(), "when": when, "value": value})
            for unit, group in frame.groupby("unit", sort=False):
                in_span = group[(group["when"] >= pd.Timestamp(first_start))
                                & (group["when"] <= pd.Timestamp(ctx.period.end))]
                totalling = (f" totalling {numbers.number(float(group['value'].sum()))}"
                             if source.columns.value else "")
                first, last = group["when"].min(), group["when"].max()
                dates = ("" if pd.isna(first) else f" dated {first:%Y-%m-%d}" if first == last
                         else f" from {first:%Y-%m-%d} to {last:%Y-%m-%d}")
                if in_span.empty:
                    effect = "none of them fall in this cycle's comparisons"
                else:
                    effect = (f"{plural(len(in_span), 'row')}"
                              + (f" ({numbers.number(float(in_span['value'].sum()))})" if source.columns.value else "")
                              + f" fall in this cycle's comparisons (since {first_start}) and are in no unit's "
                              "figures nor in the organisation total")
                findings.append(Finding(
                    self.name, self.default_severity if not in_span.empty else "info",
                    f"'{unit}' in '{source.columns.unit}' ({source.name}) is not a unit in the config: "
                    f"{plural(len(group), 'row')}{totalling}{dates} quarantined with the reason; {effect}. "
                    f"Add the unit, map it with unit_map, or leave it out knowingly. {quarantine_hint(ctx)}",
                    rows=len(group), source=source.name, units={str(unit): len(group)}))
        return findings

    def _skipped(self, ctx: QualityContext) -> list[Finding]:
        skipped = ctx.inputs[ctx.inputs["rows_skipped"] > 0]
        return [Finding(self.name, "info",
                        f"{plural(int(n), 'row')} of {file_name(str(path))} are for units outside the config and were "
                        "skipped, as the source's other_units says", rows=int(n), source=str(source))
                for n, path, source in zip(skipped["rows_skipped"], skipped["path"], skipped["source"], strict=True)]

    def _coordinates(self, ctx: QualityContext) -> list[Finding]:
        area = ctx.config.quality.area
        findings = []
        for source, rows in ctx.coordinate_counts.groupby("source", sort=False):
            outside = rows[rows["outside"] > 0]
            blank_rows = rows[rows["blank"] > 0]
            if area is not None and not outside.empty:
                per_unit = ", ".join(f"{r.unit_code} {r.outside}" for r in outside.itertuples())
                n = int(outside["outside"].sum())
                findings.append(Finding(
                    self.name, self.default_severity,
                    f"{plural(n, 'row')} of {source} from {ctx.checked_from} to {ctx.period.end} have coordinates "
                    "outside the area "
                    f"(latitude {area.min_lat} to {area.max_lat}, longitude {area.min_lon} to {area.max_lon}): "
                    f"{per_unit}. They are counted in the figures but would be misplaced on maps",
                    unit_code=str(outside["unit_code"].iloc[0]) if len(outside) == 1 else None,
                    rows=n, source=str(source), units=_per_unit(outside, "outside")))
            blank = int(rows["blank"].sum())
            mapped = next((s for s in ctx.config.sources if s.name == source), None)
            if mapped is not None and not (mapped.columns.latitude or mapped.columns.longitude):
                blank = 0  # a source that maps no coordinates (pre-aggregated counts) is not missing any
            if blank:
                findings.append(Finding(
                    self.name, "info",
                    f"{plural(blank, 'row')} of {source} from {ctx.checked_from} to {ctx.period.end} have no "
                    "coordinates: counted in the figures, not shown on maps", rows=blank, source=str(source),
                    unit_code=str(blank_rows["unit_code"].iloc[0]) if len(blank_rows) == 1 else None,
                    units=_per_unit(blank_rows, "blank")))
        return findings

    def _unmeasured_categories(self, ctx: QualityContext) -> list[Finding]:
        daily = ctx.daily[ctx.daily["unit_code"].isin(ctx.leaf_codes)]
        streams = daily.groupby(["source", "unit_code", "category", "subcategory"], as_index=False).agg(n=("n", "sum"))
        counted = pd.Series(False, index=streams.index)
        for m in ctx.config.measures:
            if m.kind != "rate":
                counted |= matches_filter(streams, m)
        findings = []
        for source, rows in streams[~counted].groupby("source", sort=False):
            per_category = rows.groupby("category", sort=False)["n"].sum().sort_values(ascending=False)
            names = [f"{c or '(blank)'} ({n:,} rows)" for c, n in per_category.items()]
            findings.append(Finding(
                self.name, "info",
                f"{plural(len(per_category), 'category', 'categories')} of {source} count towards no measure: "
                f"{listed(names)} — as intended, or a measure's filter misses a renamed category",
                rows=int(per_category.sum()), source=str(source), units=_per_unit(rows, "n")))
        return findings

    def _rates_without_denominator(self, ctx: QualityContext) -> list[Finding]:
        config = ctx.config
        rates = {m.id: m for m in config.reported_measures if m.kind == "rate"}
        if not rates:
            return []
        figures = ctx.current_figures
        current = figures[(figures["side"] == "current") & figures["measure_id"].isin(list(rates))
                          & figures["unit_code"].isin(ctx.leaf_codes)]
        missing = current[current["denominator"].fillna(0).eq(0)]
        labels = {w.key: w.label.lower() for w in ctx.windows}
        findings = []
        for (code, measure_id), rows in missing.groupby(["unit_code", "measure_id"], sort=False):
            rate = rates[str(measure_id)]
            windows = listed([f"the {labels[w]}" for w in rows["window"]])
            findings.append(Finding(
                self.name, self.default_severity,
                f"{unit_label(config, str(code))}: {rate.name} cannot be computed for {windows} to "
                f"{ctx.period.end}: its denominator ({measure_label(config, rate.denominator or '')}) is 0 or "
                "missing — shown as a gap, not 0", unit_code=str(code), measure_id=str(measure_id),
                period=ctx.period.label))
        return findings


def _per_unit(frame: pd.DataFrame, column: str) -> dict[str, int]:
    """``{unit_code: sum of column}`` over the rows with a positive value, by code."""
    totals = frame.groupby("unit_code")[column].sum()
    return {str(code): int(n) for code, n in totals.sort_index().items() if n > 0}

