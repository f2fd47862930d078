"""The data-quality checks, declared in one place (``CHECKS``).

Each check is a small object with a ``name``, a ``default_severity`` and ``run(ctx) ->
list[Finding]``; checks that make a comparison unsafe also have ``marks(ctx)``, a frame of
``COMPARISON_COLUMNS`` (not like-for-like, or fragile). All are pure functions of the
``QualityContext`` and vectorised over units, measures and days.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy import stats

from compstat.analysis.measures import TOTAL, bucket_start, matches_filter
from compstat.config import Config, DataChange, Source
from compstat.ingest.mapping import EXACT_COPY, TOTAL_ROW, record_key, resolve_units
from compstat.periods import Window, period_containing
from compstat.quality.context import MAX_KEY_GROUPS, QualityContext, leaf_codes_of, window_figures
from compstat.quality.findings import (
    COMPARISON_COLUMNS,
    QUARANTINE_CHECK_HINT,
    QUARANTINE_STORED_HINT,
    Finding,
    fmt_number,
    listed,
    measure_label,
    plural,
    unit_label,
)

PERIOD_NOUN = {"weekly": "week", "monthly": "month"}
STALE_CHANCE = 0.001  # a gap at the end of the period this unlikely by chance means data has not arrived
UNKNOWN_UNIT = re.compile(r"^unit '(?P<value>.*)' is not in the config")
NOT_A_NUMBER = re.compile(r"^(?:value '(?P<a>.*)'|'(?P<b>.*)' in '.*') is not a number$")
ZERO_WORDS = {"-", "–", "—", "nil", "zero", "none", "nought"}
EXACT_COPY_PREFIX = EXACT_COPY.split("{")[0]
MIN_STREAM_PERIODS = 3  # a reporting stream must run this long, and be absent this long, to start or stop
MATERIAL_SHARE = 0.05  # a stream smaller than this share of its measure does not spoil a comparison
STREAM_CHANCE = 1e-5  # a stream absent this unlikely long, given how regularly it reports, has started or stopped


class Check(Protocol):
    """A named data-quality check."""

    @property
    def name(self) -> str: ...

    @property
    def default_severity(self) -> str: ...

    @property
    def description(self) -> str: ...

    def run(self, ctx: QualityContext) -> list[Finding]: ...


@runtime_checkable
class MarksComparisons(Protocol):
    """A check that also marks comparisons (``COMPARISON_COLUMNS``) as not like-for-like or fragile."""

    def marks(self, ctx: QualityContext) -> pd.DataFrame: ...


# --- 1. completeness ---------------------------------------------------------------------

VOLUME = "_volume"  # pseudo-measure of the completeness grid: every row some count measure counts
MIN_HISTORY = 4  # periods of a unit's own history needed before a total is judged against it


@dataclass(frozen=True)
class _Gaps:
    """The completeness grid's verdicts for one cycle.

    - ``flagged``: unit_code, measure_id (``VOLUME`` for the unit as a whole), period_start, value,
      expected, chance, current (the cycle's own period): totals that chance cannot explain.
    - ``quiet``: unit_code, expected, chance: units with nothing in the cycle's period that chance
      does explain (expected 0: nothing in their history either).
    - ``sides``: for each period start judged, the (window key, side) pairs whose span includes it.
    - ``means``: the expected total of every cell (rows: unit_code × measure_id) and period (columns).
    - ``current``: the start of the cycle's period.
    - ``records``: every counted row has value 1 (incident records), so totals are numbers of records.
    """

    flagged: pd.DataFrame
    quiet: pd.DataFrame
    sides: dict[pd.Timestamp, list[tuple[str, str]]]
    means: pd.DataFrame
    current: pd.Timestamp
    records: bool


@dataclass(frozen=True)
class Completeness:
    name: str = "completeness"
    default_severity: str = "warning"
    description: str = ("every unit has data for the period and for every period inside this cycle's comparisons, "
                        "this year's and last year's; a total far below the unit's own normal range is probable "
                        "missing data, not a fall, and the comparisons that include it are not like-for-like")

    def run(self, ctx: QualityContext) -> list[Finding]:
        gaps = completeness_gaps(ctx)
        findings: list[Finding] = []
        flagged = gaps.flagged
        silent = flagged[(flagged["measure_id"] == VOLUME) & (flagged["value"] == 0)]
        silent_keys = set(zip(silent["unit_code"], silent["period_start"], strict=True))
        for code, rows in silent.groupby("unit_code", sort=True):
            findings.append(self._silent(ctx, gaps, str(code), rows))
        measures = flagged[flagged["measure_id"] != VOLUME]
        measures = measures[~_pairs_in(measures, silent_keys)]
        low_keys = set(zip(measures["unit_code"], measures["period_start"], strict=True))
        for (unit, measure), rows in measures.groupby(["unit_code", "measure_id"], sort=True):
            findings.append(self._low(ctx, gaps, str(unit), measure_label(ctx.config, str(measure)), rows,
                                      str(measure)))
        volume = flagged[(flagged["measure_id"] == VOLUME) & (flagged["value"] > 0)]
        volume = volume[~_pairs_in(volume, low_keys)]
        for code, rows in volume.groupby("unit_code", sort=True):
            what = "records" if gaps.records else "rows counted by any measure, all together"
            findings.append(self._low(ctx, gaps, str(code), f"All {what}", rows, None))
        return findings + [self._quiet(ctx, gaps, str(code), float(expected), float(chance))
                           for code, expected, chance in gaps.quiet.itertuples(index=False, name=None)]

    def marks(self, ctx: QualityContext) -> pd.DataFrame:
        """Each comparison whose span includes a flagged total: not like-for-like, for the unit and the
        organisation (every measure for a unit-wide gap; the measure and the rates built on it otherwise)."""
        gaps = completeness_gaps(ctx)
        config = ctx.config
        reported = [m.id for m in config.reported_measures]
        rows = []
        for code, measure_id, start in gaps.flagged[["unit_code", "measure_id", "period_start"]].itertuples(
                index=False, name=None):
            measures = reported if measure_id == VOLUME else [m for m in _with_rates(config, str(measure_id))
                                                               if m in reported]
            label = _period_label(ctx, start)
            for window, _side in gaps.sides.get(start, []):
                for m in measures:
                    rows.append((code, m, window, False, False, f"missing data in {label}"))
                    rows.append((TOTAL, m, window, False, False, f"missing data in {label} ({code})"))
        frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
        return frame.drop_duplicates(["unit_code", "measure_id", "window", "reason"])

    def _silent(self, ctx: QualityContext, gaps: _Gaps, code: str, rows: pd.DataFrame) -> Finding:
        """No data at all in one or more periods, where the unit's history says that is missing data."""
        config, noun = ctx.config, PERIOD_NOUN[ctx.config.cadence.period]
        chance = (f" (a {noun} with none has a {_chance(float(rows['chance'].iloc[0]))} chance)"
                  if len(rows) == 1 else "")
        text = (f"{unit_label(config, code)}: no records at all for {_periods_text(ctx, rows)} although it averages "
                f"{_usual(ctx, gaps, code, list(rows['period_start']), float(rows['expected'].mean()))} a {noun}"
                f"{chance} — probably missing data, not a fall to zero"
                f"{_marked_text(ctx, gaps, rows)}")
        return Finding(self.name, self.default_severity, text, unit_code=code, period=ctx.period.label)

    def _low(self, ctx: QualityContext, gaps: _Gaps, code: str, what: str, rows: pd.DataFrame,
             measure_id: str | None) -> Finding:
        """A total far below the unit's normal range in one or more periods."""
        noun = PERIOD_NOUN[ctx.config.cadence.period]
        if len(rows) == 1:
            value, expected, chance = (float(rows[c].iloc[0]) for c in ("value", "expected", "chance"))
            detail = (f"{fmt_number(value)} in {_period_label(ctx, rows['period_start'].iloc[0])} although it "
                      f"averages {_amount(expected)} a {noun} (a count this low has a {_chance(chance)} chance "
                      "given its usual variation)")
        else:
            detail = "far below its usual level in " + listed(
                [f"{_period_label(ctx, start)} ({fmt_number(value)} where it averages {_amount(expected)})"
                 for start, value, expected in zip(rows["period_start"], rows["value"].astype(float),
                                                   rows["expected"].astype(float), strict=True)], 8)
        text = (f"{unit_label(ctx.config, code)}: {what} {detail} — probably missing data, not a real fall"
                f"{_marked_text(ctx, gaps, rows)}")
        return Finding(self.name, self.default_severity, text, unit_code=code, measure_id=measure_id,
                       period=ctx.period.label, rows=int(rows["value"].sum()))

    def _quiet(self, ctx: QualityContext, gaps: _Gaps, code: str, usual: float, chance: float) -> Finding:
        """Nothing in the period, which chance explains (info), or a unit that never had data (warning)."""
        config, noun = ctx.config, PERIOD_NOUN[ctx.config.cadence.period]
        label, period = unit_label(config, code), ctx.period.label
        if usual == 0:
            latest = ctx.unit_latest.get(code)
            since = f"since {latest}" if latest else "ever"
            return Finding(self.name, self.default_severity,
                           f"{label}: no records for {period}, nor any {since} — check that its data is being "
                           "supplied (or declare its merger or closure in quality.changes)", unit_code=code,
                           period=period)
        return Finding(self.name, "info",
                       f"{label}: no records at all for {period}; it averages "
                       f"{_usual(ctx, gaps, code, [gaps.current], usual)} a {noun}, so a "
                       f"{noun} with none happens by chance ({_chance(chance)}) — confirm the data is complete "
                       "before crediting a fall", unit_code=code, period=period)


def completeness_gaps(ctx: QualityContext) -> _Gaps:
    """Judge every unit × count measure (and the unit as a whole) in the cycle's period and in every period
    inside its comparison windows, this year's and last year's, against the unit's own recent history.

    For each period the expected total is the mean ``m`` of the unit's ``lookback_periods`` before it
    (periods of its own history only: not before its first record, nor before the data starts). The
    total's spread around it is a predictive one, ``V = m (1 + 1/n) + b m²`` for a mean of ``n``
    periods: ``b`` is estimated, pooled over all units of the measure, from how far every unit's past
    totals fell from their own trailing means (so over-dispersion, seasons and trends that a trailing
    mean lags are all in it, and one unit's few periods cannot make it small); ``P(X ≤ total)`` is the
    negative binomial's with that mean and variance. A total is flagged when ``m`` is at least
    ``min_expected``, the total is at most ``ratio × m`` and ``P`` is below ``probability``; for the
    earlier periods below ``probability`` divided by how many are judged, so that a unit's whole
    history carries no more chance of a false alarm than its latest period. Past zeros where ``m`` is
    at least ``min_expected`` (the gaps being looked for) are left out of ``b``. Units a declared
    merger or closure ended are not judged from that date.
    """
    if "completeness" in ctx.memo:
        return ctx.memo["completeness"]  # type: ignore[no-any-return]
    config, q = ctx.config, ctx.config.quality
    low = q.implausibly_low
    counts = [m.id for m in config.measures if m.kind == "count"]
    leaves = list(ctx.leaf_codes)
    days = pd.Series(pd.date_range(pd.Timestamp(ctx.span_start), pd.Timestamp(ctx.period.end), freq="D"))
    starts = pd.DatetimeIndex(bucket_start(days, config).unique()).sort_values()
    cells = pd.MultiIndex.from_product([leaves, [*counts, VOLUME]], names=["unit_code", "measure_id"])
    by_category = ctx.by_category
    counted = pd.Series(False, index=by_category.index)
    for m in config.measures:
        if m.kind == "count":
            counted |= matches_filter(by_category, m)
    volume = by_category[counted].groupby(["unit_code", "date"], as_index=False)["total"].sum()
    daily = ctx.measures_daily
    daily = daily[daily["unit_code"].isin(leaves) & daily["measure_id"].isin(counts)]
    frame = pd.concat([daily[["unit_code", "measure_id", "date", "total"]], volume.assign(measure_id=VOLUME)],
                      ignore_index=True)
    frame = frame[frame["date"] >= starts[0]]
    frame = frame.assign(period_start=bucket_start(frame["date"], config))
    grid = frame.groupby(["unit_code", "measure_id", "period_start"])["total"].sum().unstack(fill_value=0.0)
    y = grid.reindex(index=cells, columns=starts, fill_value=0.0).to_numpy(dtype=float)

    # which periods are part of each unit's history: whole periods from its (and the data's) first record
    begin = pd.Timestamp(max(ctx.span_start, ctx.data_start or ctx.span_start))
    unit_begin = np.array([pd.Timestamp(max(ctx.first_seen.get(code, begin.date()), begin.date()))
                           for code in cells.get_level_values("unit_code")], dtype="datetime64[ns]")
    period_starts = starts.to_numpy()
    valid = period_starts[None, :] >= unit_begin[:, None]
    ends = [pd.Timestamp(d) for d in _period_ends(starts, config)]
    ended = np.array([ctx.ended.get(code) for code in cells.get_level_values("unit_code")], dtype=object)
    after_end = np.array([[e is not None and end >= pd.Timestamp(e) for end in ends] for e in ended], dtype=bool) \
        if any(e is not None for e in ended) else np.zeros(y.shape, dtype=bool)

    # each period's expectation: the mean of the unit's lookback periods before it, leaving out the
    # empty periods where it had enough to expect some (so an outage does not become its own normal)
    mean, n_prev = _trailing_mean(y, valid, q.lookback_periods)
    gap = valid & (y == 0) & (np.nan_to_num(mean) >= low.min_expected)
    mean, n_prev = _trailing_mean(y, valid & ~gap, q.lookback_periods)

    # the spread of each measure: how far the unit's past totals fell from their own expectation
    usable = valid & ~gap & ~np.isnan(mean)
    measure_of = cells.get_level_values("measure_id")
    spread = _prediction_spread(y, mean, n_prev, usable, np.asarray(measure_of, dtype=object))

    # the periods judged: the cycle's own and every period inside a comparison side
    sides: dict[pd.Timestamp, list[tuple[str, str]]] = {}
    for w in ctx.windows:
        for side, first, last in (("current", w.start, w.end), ("previous", w.prev_start, w.prev_end)):
            if ctx.data_start is not None and first < ctx.data_start:
                continue
            span = pd.Series(pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq="D"))
            for start in bucket_start(span, config).unique():
                sides.setdefault(pd.Timestamp(start), []).append((w.key, side))
    current = pd.Timestamp(bucket_start(pd.Series([pd.Timestamp(ctx.period.start)]), config).iloc[0])
    judged = np.array([s in sides or s == current for s in starts])
    is_current = np.array([s == current for s in starts])
    earlier = int((judged & ~is_current).sum())
    threshold = np.where(is_current, low.probability, low.probability / max(earlier, 1))

    candidate = (judged[None, :] & valid & ~after_end & (np.nan_to_num(mean) >= low.min_expected)
                 & (y <= low.ratio * np.nan_to_num(mean)))
    i, j = np.nonzero(candidate)
    expect = mean[i, j]
    variance = expect * (1 + 1 / n_prev[i, j]) + spread[i] * expect**2
    chance = _lower_tail(y[i, j], expect, variance)
    hit = chance < threshold[j]
    units_of = np.asarray(cells.get_level_values("unit_code"), dtype=object)
    flagged = pd.DataFrame({
        "unit_code": units_of[i[hit]], "measure_id": np.asarray(measure_of, dtype=object)[i[hit]],
        "period_start": starts[j[hit]], "value": y[i[hit], j[hit]], "expected": expect[hit], "chance": chance[hit],
        "current": is_current[j[hit]]})

    # nothing at all in the cycle's period: by chance (a note), or no data for longer than the lookback
    now = int(np.flatnonzero(is_current)[0]) if is_current.any() else len(starts) - 1
    vol = np.flatnonzero(measure_of == VOLUME)
    quiet = []
    flagged_units = set(flagged.loc[flagged["current"] & (flagged["measure_id"] == VOLUME), "unit_code"])
    lookback_start = ctx.periods(q.lookback_periods + 1)[0].start
    for row in vol:
        code = str(units_of[row])
        if y[row, now] != 0 or code in flagged_units or after_end[row, now]:
            continue
        expected = mean[row, now]
        latest = ctx.unit_latest.get(code)
        if latest is None or latest < lookback_start:  # never, or not for the whole lookback
            quiet.append((code, 0.0, 1.0))
        elif not np.isnan(expected) and expected > 0:
            v = expected * (1 + 1 / n_prev[row, now]) + spread[row] * expected**2
            quiet.append((code, float(expected), float(_lower_tail(np.zeros(1), np.array([expected]),
                                                                   np.array([v]))[0])))
    rows_are_records = bool((ctx.by_category["total"] == ctx.by_category["n"]).all())
    gaps = _Gaps(flagged, pd.DataFrame(quiet, columns=["unit_code", "expected", "chance"]), sides,
                 pd.DataFrame(mean, index=cells, columns=starts), current, rows_are_records)
    ctx.memo["completeness"] = gaps
    return gaps


def _pairs_in(frame: pd.DataFrame, keys: set[tuple[object, object]]) -> pd.Series:
    """Rows whose (unit_code, period_start) is one of ``keys``."""
    pairs = pd.Series(list(zip(frame["unit_code"], frame["period_start"], strict=True)), index=frame.index,
                      dtype=object)
    return pairs.isin(keys) if len(frame) else pd.Series(False, index=frame.index)


def _trailing_mean(y: np.ndarray, use: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """For each period, the mean of the ``use``d values among the ``lookback`` periods before it (NaN with
    fewer than ``MIN_HISTORY``), and how many there were."""
    total = np.concatenate([np.zeros((len(y), 1)), np.cumsum(np.where(use, y, 0.0), axis=1)], axis=1)
    number = np.concatenate([np.zeros((len(y), 1)), np.cumsum(use, axis=1)], axis=1)
    t = np.arange(y.shape[1])
    back = np.maximum(t - lookback, 0)
    n_prev = number[:, t] - number[:, back]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n_prev >= MIN_HISTORY, (total[:, t] - total[:, back]) / np.maximum(n_prev, 1), np.nan)
    return mean, n_prev


def _prediction_spread(y: np.ndarray, mean: np.ndarray, n_prev: np.ndarray, usable: np.ndarray,
                       measure_of: np.ndarray) -> np.ndarray:
    """Per cell, ``b`` in ``Var(total − m) = m (1 + 1/n) + b m²``: how far the units' past totals fell
    from their own trailing means, pooled over the units of each measure (method of moments)."""
    m = np.nan_to_num(mean)
    errors = np.where(usable, (y - m) ** 2 - m * (1 + 1 / np.maximum(n_prev, 1)), 0.0).sum(axis=1)
    squares = np.where(usable, m**2, 0.0).sum(axis=1)
    out = np.zeros(len(y))
    for measure_id in np.unique(measure_of):
        rows = measure_of == measure_id
        den = float(squares[rows].sum())
        out[rows] = max(float(errors[rows].sum()) / den, 0.0) if den > 0 else 0.0
    return out


def _period_ends(starts: pd.DatetimeIndex, config: Config) -> list[date]:
    return [period_containing(s.date(), config.cadence).end for s in starts]


def _period_label(ctx: QualityContext, start: object) -> str:
    return period_containing(pd.Timestamp(start).date(), ctx.config.cadence).label  # type: ignore[arg-type]


def _periods_text(ctx: QualityContext, rows: pd.DataFrame) -> str:
    return listed([_period_label(ctx, s) for s in sorted(rows["period_start"])], 8)


def _usual(ctx: QualityContext, gaps: _Gaps, code: str, starts: list[pd.Timestamp], expected: float) -> str:
    """What the unit usually has in a period: records (incident data), or its largest measure."""
    if gaps.records:
        return f"{_amount(expected)} records"
    means = gaps.means.loc[code, starts]
    mine = pd.Series(means.to_numpy(dtype=float).mean(axis=1), index=means.index).drop(VOLUME).dropna()
    if mine.empty:
        return f"{_amount(expected)} in all"
    largest = str(mine.idxmax())
    return f"{_amount(float(mine[largest]))} {measure_label(ctx.config, largest)}"


def _marked_text(ctx: QualityContext, gaps: _Gaps, rows: pd.DataFrame) -> str:
    """``; this year's 28 days and year to date are marked not like-for-like``."""
    labels = {w.key: w.label.lower() for w in ctx.windows}
    pairs = {pair for start in rows["period_start"] for pair in gaps.sides.get(pd.Timestamp(start), [])}
    parts = []
    for side, owner in (("current", "this year's"), ("previous", "last year's")):
        keys = [w.key for w in ctx.windows if (w.key, side) in pairs]
        if keys:
            parts.append(f"{owner} {listed([labels[k] for k in keys])}")
    return f"; {' and '.join(parts)} comparisons are marked not like-for-like" if parts else ""


def _with_rates(config: Config, measure_id: str) -> list[str]:
    """The measure and the rates built on it."""
    return [measure_id] + [m.id for m in config.measures if m.kind == "rate"
                           and measure_id in (m.numerator, m.denominator)]


def _amount(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _lower_tail(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """P(X <= x): negative binomial with this mean and variance, Poisson if not overdispersed."""
    over = var > mean
    safe_var = np.where(over, var, mean + 1.0)
    size = np.where(over, mean**2 / np.maximum(safe_var - mean, 1e-12), 1.0)
    prob = np.where(over, mean / np.maximum(safe_var, 1e-12), 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        nb = stats.nbinom.cdf(np.floor(x), np.maximum(size, 1e-12), np.clip(prob, 1e-12, 1.0))
        poisson = stats.poisson.cdf(np.floor(x), np.maximum(mean, 1e-12))
    return np.asarray(np.where(over, nb, poisson), dtype=float)


def _chance(p: float) -> str:
    return "less than 1 in 10,000" if p < 1e-4 else f"1 in {round(1 / p):,}"


# --- 2. timeliness -----------------------------------------------------------------------


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


# --- 3. validity -------------------------------------------------------------------------


def rejection_kind(reason: str) -> str:
    """Which check explains a quarantined row: unknown_unit, total, exact_copy, zero_text or other."""
    if UNKNOWN_UNIT.match(reason):
        return "unknown_unit"
    if reason == TOTAL_ROW:
        return "total"
    if reason.startswith(EXACT_COPY_PREFIX):
        return "exact_copy"
    number = NOT_A_NUMBER.match(reason)
    if number and (number["a"] or number["b"] or "").strip().casefold() in ZERO_WORDS:
        return "zero_text"
    return "other"


@dataclass(frozen=True)
class Validity:
    name: str = "validity"
    default_severity: str = "warning"
    description: str = ("quarantined rows (bad dates, values, coordinates), units and categories not in the "
                        "config, coordinates outside the area, rates without a denominator")

    def run(self, ctx: QualityContext) -> list[Finding]:
        return (self._quarantined(ctx) + self._unknown_units(ctx) + self._skipped(ctx) + self._coordinates(ctx)
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
                f"{plural(len(rows), 'row')} of {_name(str(path))} quarantined, not counted: {detail}. "
                f"{_hint(ctx)}", rows=len(rows), source=str(source), units=_rejected_units(ctx, rows)))
        return findings

    def _unknown_units(self, ctx: QualityContext) -> list[Finding]:
        rejected = ctx.rejected[ctx.rejected["reason"].map(rejection_kind).eq("unknown_unit")]
        first_start = min(w.prev_start for w in ctx.windows)
        findings = []
        for source in ctx.config.sources:
            rows = rejected[rejected["source"] == source.name]
            if rows.empty:
                continue
            raw = pd.DataFrame([json.loads(r) for r in rows["raw"]], index=rows.index).astype(str)
            when = _parse_dates(raw[source.columns.date], source.date_format)
            value = (pd.to_numeric(raw[source.columns.value].str.replace(",", ""), errors="coerce")
                     if source.columns.value else pd.Series(np.nan, index=raw.index))
            frame = pd.DataFrame({"unit": raw[source.columns.unit].str.strip(), "when": when, "value": value})
            for unit, group in frame.groupby("unit", sort=False):
                in_span = group[(group["when"] >= pd.Timestamp(first_start))
                                & (group["when"] <= pd.Timestamp(ctx.period.end))]
                totalling = (f" totalling {fmt_number(float(group['value'].sum()))}"
                             if source.columns.value else "")
                first, last = group["when"].min(), group["when"].max()
                dates = ("" if pd.isna(first) else f" dated {first:%Y-%m-%d}" if first == last
                         else f" from {first:%Y-%m-%d} to {last:%Y-%m-%d}")
                if in_span.empty:
                    effect = "none of them fall in this cycle's comparisons"
                else:
                    effect = (f"{plural(len(in_span), 'row')}"
                              + (f" ({fmt_number(float(in_span['value'].sum()))})" if source.columns.value else "")
                              + f" fall in this cycle's comparisons (since {first_start}) and are in no unit's "
                              "figures nor in the organisation total")
                findings.append(Finding(
                    self.name, self.default_severity if not in_span.empty else "info",
                    f"'{unit}' in '{source.columns.unit}' ({source.name}) is not a unit in the config: "
                    f"{plural(len(group), 'row')}{totalling}{dates} quarantined with the reason; {effect}. "
                    f"Add the unit, map it with unit_map, or leave it out knowingly. {_hint(ctx)}",
                    rows=len(group), source=source.name, units={str(unit): len(group)}))
        return findings

    def _skipped(self, ctx: QualityContext) -> list[Finding]:
        skipped = ctx.inputs[ctx.inputs["rows_skipped"] > 0]
        return [Finding(self.name, "info",
                        f"{plural(int(n), 'row')} of {_name(str(path))} are for units outside the config and were "
                        "skipped, as the source's other_units says", rows=int(n), source=str(source))
                for n, path, source in zip(skipped["rows_skipped"], skipped["path"], skipped["source"], strict=True)]

    def _coordinates(self, ctx: QualityContext) -> list[Finding]:
        area = ctx.config.quality.area
        findings = []
        for source, rows in ctx.coordinates.groupby("source", sort=False):
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


def _hint(ctx: QualityContext) -> str:
    """Where the quarantined rows can be seen: in the store, or (nothing stored) by exporting them."""
    return f"{QUARANTINE_STORED_HINT if ctx.stored else QUARANTINE_CHECK_HINT}."


def _per_unit(frame: pd.DataFrame, column: str) -> dict[str, int]:
    """``{unit_code: sum of column}`` over the rows with a positive value, by code."""
    totals = frame.groupby("unit_code")[column].sum()
    return {str(code): int(n) for code, n in totals.sort_index().items() if n > 0}


def _rejected_units(ctx: QualityContext, rows: pd.DataFrame) -> dict[str, int]:
    """Quarantined rows per unit, where the row's unit value is one of the config's units."""
    out: dict[str, int] = {}
    for source in ctx.config.sources:
        mine = rows[rows["source"] == source.name]
        if mine.empty:
            continue
        raw = pd.Series([json.loads(r).get(source.columns.unit, "") for r in mine["raw"]], index=mine.index)
        codes = resolve_units(raw.fillna("").astype(str), source, ctx.config).dropna()
        for code, n in codes.value_counts().sort_index().items():
            out[str(code)] = out.get(str(code), 0) + int(n)
    return out


def _parse_dates(raw: pd.Series, fmt: str | None) -> pd.Series:
    parsed = pd.to_datetime(raw, format=fmt or "ISO8601", errors="coerce")
    retry = parsed.isna() & raw.ne("")
    if fmt is None and retry.any():
        parsed[retry] = pd.to_datetime(raw[retry], format="mixed", errors="coerce")
    return parsed


def _name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


# --- 4. duplicates -----------------------------------------------------------------------


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
                f"{plural(len(rows), 'row')} of {_name(str(path))} are exact copies of earlier rows (same {same} and "
                f"every other column): quarantined and not counted, so each record counts once. {_hint(ctx)}",
                rows=len(rows), source=str(source), units=_rejected_units(ctx, rows)))
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


# --- 5. revisions ------------------------------------------------------------------------


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
                f"{fmt_number(top['shown'])} in {shown_in} and is now {fmt_number(top['now'])} "
                f"({_signed(top['delta'])}): late recording or reclassification{others}",
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
                f"tolerance (at most ±{fmt_number(tol.count)} or {fmt_number(tol.percent)}%; largest "
                f"{_signed(small['delta'].iloc[small['delta'].abs().argmax()])}): normal late recording",
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
        reasons = [f"the change ({_signed(c)}) is no bigger than one {noun}'s late recording "
                   f"({_signed(r)} to the {ctx.previous.period.label} figure)"
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


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + fmt_number(float(value))


def _changes(ctx: QualityContext) -> pd.DataFrame:
    """This cycle's change per unit, reported measure and window (current minus last year)."""
    figures = ctx.current_figures
    wide = figures.pivot_table(index=["unit_code", "measure_id", "window"], columns="side", values="value",
                               dropna=False).reset_index()
    wide = wide[wide["measure_id"].isin([m.id for m in ctx.config.reported_measures])]
    return wide.assign(change=wide["current"] - wide["previous"]).dropna(subset=["change"])


# --- 6. structure ------------------------------------------------------------------------


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
    for w in _comparable_windows(ctx):
        current = _rows_between(daily, w.start, w.end).reindex(ctx.leaf_codes, fill_value=0)
        before = _rows_between(daily, w.prev_start, w.prev_end).reindex(ctx.leaf_codes, fill_value=0)
        explained = _declared_units(ctx, w)
        for code in current.index[(current > 0) & (before == 0)]:
            if code not in explained:
                appeared.setdefault(code, []).append(w)
        for code in current.index[(current == 0) & (before > 0)]:
            if code not in explained and w.key != "period":  # an empty period is the completeness check's
                vanished.setdefault(code, []).append(w)
        whole_period_in = period_containing(w.prev_start, config.cadence).end  # a period of last year's side
        for code in current.index[(current > 0) & (before > 0)]:
            first = ctx.first_seen.get(str(code))
            if first is not None and first > whole_period_in and code not in explained:
                partial.setdefault(str(code), []).append(w)
    events = []
    for code, windows in partial.items():
        labels = listed([w.label.lower() for w in windows])
        first = ctx.first_seen[code]
        events.append(_Event(
            code, f"{unit_label(config, code)}: its data starts on {first} (none before), partway through last "
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
    mask = (daily["date"] >= pd.Timestamp(start)) & (daily["date"] <= pd.Timestamp(end))
    return daily[mask].groupby("unit_code")["n"].sum()


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
    for (code, kind, when), rows in found.items():
        day = when.date()
        if (code, kind, when) not in effects:
            continue
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


# --- 7. consistency ----------------------------------------------------------------------


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
                    f"{fmt_number(given)} but the units add up to {fmt_number(summed)} ({_signed(summed - given)}): "
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
                f"{plural(len(rows), 'row')} of {_name(str(path))} (line{'s' if len(rows) > 1 else ''} {lines}) "
                f"give{'s' if len(rows) == 1 else ''} "
                f"{listed([repr(w) for w in words])} where a number is expected — probably a zero written as text. "
                f"They were quarantined, so these counts are missing, not 0: fix the extract. {_hint(ctx)}",
                rows=len(rows), source=str(source), units=_rejected_units(ctx, rows)))
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
                    + "; ".join(f"{_name(path)}: {', '.join(cols)}" for path, cols in inputs),
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


# --- 8. definition and boundary changes --------------------------------------------------


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


CHECKS: tuple[Check, ...] = (Completeness(), Timeliness(), Validity(), Duplicates(), Revisions(), Structure(),
                             Consistency(), Changes())
