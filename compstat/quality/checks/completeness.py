"""Completeness: totals far below a unit's own normal range, in the cycle's period or inside its
comparisons (probable missing data, not a fall), and units with no data for the whole lookback (warning;
the comparisons that include a low total are marked not like-for-like). A unit with nothing in the period
that chance explains is a note (info)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from compstat.analysis.measures import TOTAL, bucket_start, matches_filter
from compstat.config import Config
from compstat.periods import period_containing
from compstat.quality.checks.common import PERIOD_NOUN
from compstat.quality.context import QualityContext
from compstat.quality.findings import COMPARISON_COLUMNS, Finding, fmt_number, listed, measure_label, unit_label

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
