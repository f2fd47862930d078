"""Structure: units new, gone or renamed since the last cycle, rows of units not in the config, and units
or reporting streams that start or stop inside a comparison (warning; those comparisons are marked not
like-for-like). Renames, units new or gone by a declared change and reclassifications within a measure are notes
(info)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from compstat.analysis.measures import bucket_start
from compstat.config import DataChange
from compstat.figures import TOTAL
from compstat.measure_filter import matches_filter
from compstat.periods import Window, period_containing
from compstat.quality.checks.completeness import completeness_gaps
from compstat.quality.context import QualityContext, leaf_codes_of
from compstat.quality.findings import COMPARISON_COLUMNS, Finding, listed, measure_label, plural, unit_label

MIN_STREAM_PERIODS = 3  # a reporting stream must run this long, and be absent this long, to start or stop
MATERIAL_SHARE = 0.05  # a stream smaller than this share of its measure does not spoil a comparison
STREAM_CHANCE = 1e-5  # a stream absent this unlikely long, given how regularly it reports, has started or stopped


@dataclass(frozen=True)
class Structure:
    name: str = "structure"
    default_severity: str = "warning"
    description: str = ("units appearing, disappearing or renamed since the last cycle or across a comparison, "
                        "and reporting streams (e.g. a department type) starting or stopping")

    def run(self, ctx: QualityContext) -> list[Finding]:
        findings = self._since_last_cycle(ctx) + self._stray_units(ctx)
        stream_events, moved = _stream_events(ctx)
        for event in _unit_events(ctx) + stream_events:
            measures = list(dict.fromkeys(m for m, _ in event.pairs))
            findings.append(Finding(self.name, self.default_severity, event.message,
                                    unit_code=event.unit_code, period=ctx.period.label,
                                    measure_id=measures[0] if len(measures) == 1 else None))
        return findings + self._reclassified(ctx, moved)

    def marks(self, ctx: QualityContext) -> pd.DataFrame:
        rows = [(code, m, w, False, False, event.reason)
                for event in _unit_events(ctx) + _stream_events(ctx)[0]
                for code in event.marked_units for m, w in event.pairs]
        return pd.DataFrame(rows, columns=COMPARISON_COLUMNS).drop_duplicates(["unit_code", "measure_id", "window"])

    def _reclassified(self, ctx: QualityContext, moved: list[_Moved]) -> list[Finding]:
        """One note per reclassification: which rows, where, and why the comparisons stay like-for-like."""
        groups: dict[tuple[str, str, tuple[str, ...]], list[_Moved]] = {}
        for m in moved:
            groups.setdefault((m.kind, m.what, tuple(m.measures)), []).append(m)
        findings = []
        for (kind, what, measures), items in groups.items():
            units = [unit_label(ctx.config, m.unit_code) for m in items]
            when = sorted({m.since for m in items})
            since = when[0] if len(when) == 1 else f"{when[0]} to {when[-1]}"
            verb = "start" if kind == "start" else "stop"
            findings.append(Finding(
                self.name, "info",
                f"{what} {verb} in {since} in {plural(len(items), 'unit')} ({listed(units, 4)}), but the volume "
                f"moved to or from other rows of {listed([measure_label(ctx.config, x) for x in measures])}: a "
                "reclassification within the measure, so its comparisons stay like-for-like",
                unit_code=items[0].unit_code if len(items) == 1 else None,
                measure_id=measures[0] if len(measures) == 1 else None, period=ctx.period.label,
                units={m.unit_code: 0 for m in items}))
        return findings

    def _since_last_cycle(self, ctx: QualityContext) -> list[Finding]:
        previous = ctx.previous
        if previous is None:
            return []
        known = previous.manifest.get("units")
        before: dict[str, str] = (dict(known) if isinstance(known, dict)
                                  else {c: c for c in previous.results["unit_code"] if c != TOTAL})
        now = {u.code: u.name for u in ctx.config.leaf_units}
        declared = {code: c for c in ctx.config.quality.changes for code in c.units}
        last = previous.period.label
        findings = []
        for code in sorted(set(now) - set(before)):
            note = _declared(declared.get(code))
            findings.append(Finding(
                self.name, "info" if note else self.default_severity,
                f"{unit_label(ctx.config, code)} is new since the {last} cycle: it had no figures in the last pack, "
                f"and comparisons with its past may span its creation{note}", unit_code=code, period=ctx.period.label))
        for code in sorted(set(before) - set(now)):
            note = _declared(declared.get(code))
            findings.append(Finding(
                self.name, "info" if note else self.default_severity,
                f"{code} ('{before[code]}') was a unit in the {last} cycle but is no longer in the config: it has no "
                f"pack, and its past figures are in no unit's comparison{note}", unit_code=code,
                period=ctx.period.label))
        for code in sorted(c for c in set(before) & set(now) if before[c] != now[c] and before[c] != c):
            findings.append(Finding(
                self.name, "info",
                f"{code} was called '{before[code]}' in the {last} cycle and is now '{now[code]}'"
                f"{_declared(declared.get(code))}",
                unit_code=code, period=ctx.period.label))
        return findings

    def _stray_units(self, ctx: QualityContext) -> list[Finding]:
        stray = ctx.daily[~ctx.daily["unit_code"].isin(ctx.leaf_codes)]
        per_unit = stray.groupby("unit_code")["n"].sum()
        return [Finding(self.name, self.default_severity,
                        f"{plural(int(n), 'row')} in the store since {ctx.span_start} belong to unit '{code}', "
                        "which is not (or no longer) in the config: they are in no unit's pack but are counted in "
                        "the organisation total — re-map them or remove the input", unit_code=str(code), rows=int(n))
                for code, n in per_unit.items()]


def _declared(change: DataChange | None) -> str:
    return f" (declared: {change.kind} on {change.date}, {change.description})" if change else ""


@dataclass(frozen=True)
class _Event:
    """A structural change that makes some comparisons not like-for-like."""

    unit_code: str
    message: str
    reason: str
    pairs: list[tuple[str, str]]  # (measure id, window key) compared across the change
    marked_units: list[str]


@dataclass(frozen=True)
class _Moved:
    """A reporting stream that started or stopped while its volume moved within the same measures."""

    unit_code: str
    kind: str
    what: str
    since: str
    measures: list[str]


def _comparable_windows(ctx: QualityContext) -> list[Window]:
    return [w for w in ctx.windows if ctx.data_start is None or w.prev_start >= ctx.data_start]


def _declared_units(ctx: QualityContext, window: Window) -> set[str]:
    """Units a registered structural change (not a definition change) explains within ``window`` (the
    changes check marks those)."""
    out: set[str] = set()
    for change in ctx.config.quality.changes:
        if change.kind != "definition" and window.prev_start < change.date <= window.end:
            out |= set(leaf_codes_of(ctx.config, change.units)) if change.units else set(ctx.leaf_codes)
    return out


def _unit_events(ctx: QualityContext) -> list[_Event]:
    """Units with data on one side of a comparison and none on the other, or whose data starts partway
    through last year's side (its first record in the store after that side's first period)."""
    config = ctx.config
    reported = [m.id for m in config.reported_measures]
    appeared: dict[str, list[Window]] = {}
    vanished: dict[str, list[Window]] = {}
    partial: dict[str, list[Window]] = {}
    daily = ctx.by_category
    gapped = _gap_sides(ctx)
    for w in _comparable_windows(ctx):
        current = _rows_between(daily, w.start, w.end).reindex(ctx.leaf_codes, fill_value=0)
        before = _rows_between(daily, w.prev_start, w.prev_end).reindex(ctx.leaf_codes, fill_value=0)
        declared = _declared_units(ctx, w)
        explained = declared | {code for code, key, side in gapped if key == w.key}
        for code in current.index[(current > 0) & (before == 0)]:
            if code not in explained:
                appeared.setdefault(code, []).append(w)
        for code in current.index[(current == 0) & (before > 0)]:
            if code not in explained and w.key != "period":  # an empty period is the completeness check's
                vanished.setdefault(code, []).append(w)
        whole_period_in = period_containing(w.prev_start, config.cadence).end  # a period of last year's side
        for code in current.index[(current > 0) & (before > 0)]:
            first = ctx.first_seen.get(str(code))
            # a gap elsewhere in the span does not explain a late start: only a declared change does
            if first is not None and first > whole_period_in and code not in declared:
                partial.setdefault(str(code), []).append(w)
    events = []
    for code, windows in partial.items():
        labels = listed([w.label.lower() for w in windows])
        first = ctx.first_seen[code]
        rows = daily[daily["unit_code"] == code]
        padded = rows.loc[rows["date"] < pd.Timestamp(first), "date"]
        if len(padded):  # zero rows before the first real figure: not history
            starts = (f"its first non-zero figure is on {first}; its rows from {padded.min().date()} are all "
                      "zeros, which are not history")
        else:
            starts = f"its data starts on {first} (none before)"
        events.append(_Event(
            code, f"{unit_label(config, code)}: {starts}, partway through last "
            f"year's {labels}: last year's figures cover only part of the span, so these comparisons are not "
            "like-for-like", f"{code}'s data starts on {first}, partway through last year's span",
            [(m, w.key) for m in reported for w in windows], [code, TOTAL]))
    for code, windows in appeared.items():
        labels = listed([w.label.lower() for w in windows])
        events.append(_Event(
            code, f"{unit_label(config, code)} has data in this year's {labels} but none in the same period last "
            "year: it is new in the data (or renamed or split), so these comparisons are not like-for-like",
            f"{code} has no data for the same period last year", [(m, w.key) for m in reported for w in windows],
            [code, TOTAL]))
    for code, windows in vanished.items():
        labels = listed([w.label.lower() for w in windows])
        events.append(_Event(
            code, f"{unit_label(config, code)} has no data in this year's {labels} but had data in the same period "
            "last year: it stopped reporting, or was merged — these comparisons are not like-for-like",
            f"{code} has no data this year", [(m, w.key) for m in reported for w in windows], [code, TOTAL]))
    return events


def _rows_between(daily: pd.DataFrame, start: date, end: date) -> pd.Series:
    """Each unit's rows with a non-zero figure between two dates (a zero row of pre-aggregated data is no
    more data than a missing one: the completeness check judges runs of them)."""
    mask = (daily["date"] >= pd.Timestamp(start)) & (daily["date"] <= pd.Timestamp(end)) & (daily["total"] != 0)
    return daily[mask].groupby("unit_code")["n"].sum()


def _gap_runs(ctx: QualityContext) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Each unit's periods (first and last period start) inside a collection gap the completeness check found."""
    out: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    for gap in completeness_gaps(ctx).gaps:
        for code, first, last, *_ in gap.runs:
            out.setdefault(code, []).append((first, last))
    return out


def _gap_sides(ctx: QualityContext) -> set[tuple[str, str, str]]:
    """(unit, window key, side) that a collection gap found by the completeness check reaches: its finding
    explains a side without data, so it is not a unit appearing or vanishing."""
    gaps = completeness_gaps(ctx)
    return {(code, window, side) for gap in gaps.gaps for code, first, last, *_ in gap.runs
            for start, pairs in gaps.sides.items() if first <= start <= last for window, side in pairs}


def _stream_events(ctx: QualityContext) -> tuple[list[_Event], list[_Moved]]:
    """Reporting streams (unit × category × subcategory) that start or stop inside a comparison.

    A stream that starts (or stops) while the other rows of the same measure lose (or gain)
    about as much was reclassified within the measure: the comparison stays like-for-like
    (``_Moved``). Otherwise the comparison is not like-for-like where the stream is material
    (``MATERIAL_SHARE`` of the measure on the side that has it). Units where the same streams start or
    stop in the same period are judged together, so one borough's noise cannot decide.
    """
    config = ctx.config
    daily = ctx.by_category[ctx.by_category["total"] != 0]
    if daily.empty:
        return [], []
    daily = daily.assign(period_start=bucket_start(daily["date"], config))
    all_days = pd.Series(pd.date_range(pd.Timestamp(ctx.span_start), daily["date"].max(), freq="D"))
    periods = pd.Index(bucket_start(all_days, config).unique()).sort_values()
    position = pd.Series(np.arange(len(periods)), index=periods)
    span = daily.groupby("unit_code")["period_start"].agg(["min", "max"])
    streams = daily.groupby(["unit_code", "category", "subcategory"])["period_start"].agg(["min", "max", "nunique"])
    streams = streams.reset_index()
    first, last = position[streams["min"]].to_numpy(), position[streams["max"]].to_numpy()
    unit_first = position[span.loc[streams["unit_code"], "min"]].to_numpy()
    unit_last = position[span.loc[streams["unit_code"], "max"]].to_numpy()
    presence = streams["nunique"].to_numpy() / (last - first + 1)
    steady = (streams["nunique"].to_numpy() >= MIN_STREAM_PERIODS) & (presence >= 0.9)
    with np.errstate(divide="ignore"):
        by_chance = np.ceil(np.log(STREAM_CHANCE) / np.log(np.clip(1 - presence, 1e-12, None)))
    absent_for = np.maximum(MIN_STREAM_PERIODS, by_chance)  # periods without it that chance cannot explain
    started = steady & (first - unit_first >= absent_for)
    stopped = steady & (unit_last - last >= absent_for)
    found: dict[tuple[str, str, pd.Timestamp], list[int]] = {}
    for i in np.flatnonzero(started):
        found.setdefault((str(streams.at[i, "unit_code"]), "start", periods[first[i]]), []).append(int(i))
    for i in np.flatnonzero(stopped):
        after = periods[last[i] + 1]  # the first period without it
        found.setdefault((str(streams.at[i, "unit_code"]), "stop", pd.Timestamp(after)), []).append(int(i))
    pools: dict[tuple[str, pd.Timestamp, frozenset[tuple[str, str]]], list[str]] = {}
    for (code, kind, when), rows in found.items():
        keys = frozenset(zip(streams.loc[rows, "category"], streams.loc[rows, "subcategory"], strict=True))
        pools.setdefault((kind, when, keys), []).append(code)
    effects = {}
    for (kind, when, keys), codes in pools.items():
        windows = [w for w in ctx.windows if w.prev_start < when.date() <= w.end]
        if windows:
            event_streams = pd.DataFrame(sorted(keys), columns=["category", "subcategory"])
            effect = _stream_effect(ctx, codes, kind, event_streams, windows)
            effects.update({(code, kind, when): effect for code in codes})
    replaced = _replacements(ctx, streams, found, position)
    events: list[_Event] = []
    moved: list[_Moved] = []
    gapped = _gap_runs(ctx)
    for (code, kind, when), rows in found.items():
        day = when.date()
        if (code, kind, when) not in effects:
            continue
        edge = when if kind == "stop" else periods[max(int(position[when]) - 1, 0)]
        if any(first <= edge <= last for first, last in gapped.get(code, [])):
            continue  # a collection gap (zeros) the completeness check reports
        broken, shifted = effects[(code, kind, when)]
        swapped = replaced.get((code, kind, when), set())  # another stream of the measure took over
        shifted = shifted | {m for m, _ in broken if m in swapped}
        broken = [(m, w) for m, w in broken if m not in swapped]
        what = _streams_text(streams.loc[rows])
        since = period_containing(day, config.cadence).label
        if shifted:
            moved.append(_Moved(code, kind, what, since, sorted(shifted)))
        if not broken:
            continue
        labels = listed([w.label.lower() for w in ctx.windows if any(wk == w.key for _, wk in broken)])
        names = listed([measure_label(config, m) for m in dict.fromkeys(m for m, _ in broken)])
        if kind == "start":
            text = (f"{unit_label(config, code)}: {what} start in {since} (none before): this year's {labels} of "
                    f"{names} include them and last year's do not, or only in part — not like-for-like")
            reason = f"{what} reported only from {since}"
        else:
            text = (f"{unit_label(config, code)}: {what} stop from {since}: last year's {labels} of {names} include "
                    "them and this year's do not, or only in part — not like-for-like")
            reason = f"{what} not reported from {since}"
        events.append(_Event(code, text, reason, broken, [code]))
    return events, moved


def _replacements(ctx: QualityContext, streams: pd.DataFrame, found: dict[tuple[str, str, pd.Timestamp], list[int]],
                  position: pd.Series) -> dict[tuple[str, str, pd.Timestamp], set[str]]:
    """For each stream event, the measures in which the same unit has the opposite event (a stream
    stopping where one starts) within ``MIN_STREAM_PERIODS`` periods: a category renamed or split,
    i.e. a reclassification within the measure whatever the volumes did."""
    measures = [m for m in ctx.config.measures if m.kind != "rate"]

    def measures_of(rows: list[int]) -> set[str]:
        part = streams.loc[rows]
        return {m.id for m in measures if matches_filter(part, m).any()}

    by_unit: dict[str, list[tuple[str, int, set[str]]]] = {}
    for (code, kind, when), rows in found.items():
        by_unit.setdefault(code, []).append((kind, int(position[when]), measures_of(rows)))
    out: dict[tuple[str, str, pd.Timestamp], set[str]] = {}
    for (code, kind, when), rows in found.items():
        here = int(position[when])
        mine = measures_of(rows)
        shared = {m for other, at, theirs in by_unit[code] if other != kind and abs(at - here) <= MIN_STREAM_PERIODS
                  for m in theirs & mine}
        if shared:
            out[(code, kind, when)] = shared
    return out


def _stream_effect(ctx: QualityContext, codes: list[str], kind: str, event_streams: pd.DataFrame,
                   windows: list[Window]) -> tuple[list[tuple[str, str]], set[str]]:
    """(measure, window) pairs the event breaks in these units, and the measures it only moved volume within."""
    config = ctx.config
    mine = ctx.by_category[ctx.by_category["unit_code"].isin(codes)]
    keys = ["category", "subcategory"]
    flagged = mine[keys].merge(event_streams.drop_duplicates().assign(_in=True), on=keys, how="left")["_in"]
    in_event = flagged.fillna(False).astype(bool).to_numpy()
    totals = mine["total"].to_numpy(dtype=float)
    broken: list[tuple[str, str]] = []
    shifted: set[str] = set()
    for m in config.measures:
        if m.kind == "rate":
            continue
        counted = matches_filter(mine, m).to_numpy()
        if not (counted & in_event).any():
            continue
        for w in windows:
            now = _between(mine, w.start, w.end)
            then = _between(mine, w.prev_start, w.prev_end)
            with_side = now if kind == "start" else then
            without_side = then if kind == "start" else now
            stream = float(totals[counted & in_event & with_side].sum())
            missing = stream - float(totals[counted & in_event & without_side].sum())  # what the other side lacks
            others_now = float(totals[counted & ~in_event & now].sum())
            others_then = float(totals[counted & ~in_event & then].sum())
            others_with = others_now if kind == "start" else others_then
            if missing <= 0 or missing < MATERIAL_SHARE * abs(stream + others_with):
                continue
            gained_elsewhere = (others_then - others_now) if kind == "start" else (others_now - others_then)
            if gained_elsewhere >= 0.5 * missing:
                shifted.add(m.id)
            else:
                broken.append((m.id, w.key))
    rates = [(r.id, w) for r in config.measures if r.kind == "rate"
             for (mid, w) in list(broken) if mid in (r.numerator, r.denominator)]
    reported = {m.id for m in config.reported_measures}
    pairs = [p for p in dict.fromkeys(broken + rates) if p[0] in reported]
    return pairs, {m for m in shifted if m in reported}


def _between(frame: pd.DataFrame, start: date, end: date) -> np.ndarray:
    return ((frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))).to_numpy()


def _streams_text(streams: pd.DataFrame) -> str:
    parts = []
    for sub, group in streams.groupby("subcategory", sort=True):
        cats = sorted(set(group["category"]))
        parts.append(f"'{sub!s}' rows ({listed(cats)})" if sub else listed([f"'{c}' rows" for c in cats]))
    return listed(parts)
