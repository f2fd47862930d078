"""Completeness: totals far below a unit's own normal range, in the cycle's period or inside its
comparisons (probable missing data, not a fall), and units with no data for the whole lookback (warning;
the comparisons that include a low total are marked not like-for-like). A unit with nothing in the period
that chance explains is a note (info)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import stats

from compstat import numbers
from compstat.analysis.measures import bucket_start
from compstat.config import Config
from compstat.figures import TOTAL
from compstat.measure_filter import matches_filter
from compstat.periods import period_containing
from compstat.quality.checks.common import PERIOD_NOUN
from compstat.quality.checks.gaps import intervals, zero_runs
from compstat.quality.context import QualityContext
from compstat.quality.findings import COMPARISON_COLUMNS, Finding, listed, measure_label, unit_label

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
    - ``gaps``: runs of zero periods a series' own rate cannot explain (``gaps.zero_runs``), grouped into
      one ``Gap`` per input (several units), per unit (several measures) or per series; the periods they
      cover are left out of ``flagged``.
    """

    flagged: pd.DataFrame
    quiet: pd.DataFrame
    sides: dict[pd.Timestamp, list[tuple[str, str]]]
    means: pd.DataFrame
    current: pd.Timestamp
    records: bool
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True)
class Gap:
    """Zero runs that make one finding: ``kind`` is ``input`` (one input's rows of one or more units),
    ``unit`` (several measures of one unit) or ``series`` (one measure of one unit).

    ``runs``: (unit code, first period start, last period start, periods, rate, chance) per series;
    ``measures``: the reported measures (and rates built on them) whose figures the gap affects;
    ``headline_units``: the units whose headline comparisons (the headline window and the period,
    either side) include a period of the gap; ``blocking``: many units' headline comparisons."""

    kind: str
    source: str | None
    units: tuple[str, ...]
    measures: tuple[str, ...]
    first: pd.Timestamp
    last: pd.Timestamp
    runs: tuple[tuple[str, pd.Timestamp, pd.Timestamp, int, float, float], ...]
    stopped: bool
    headline_units: tuple[str, ...]
    blocking: bool
    all_records: bool  # every input of the units is empty over the gap (not just this one)


@dataclass(frozen=True)
class Completeness:
    name: str = "completeness"
    default_severity: str = "warning"
    description: str = ("every unit has data for the period and for every period inside this cycle's comparisons, "
                        "this year's and last year's; a total far below the unit's own normal range is probable "
                        "missing data, not a fall, and the comparisons that include it are not like-for-like")

    def run(self, ctx: QualityContext) -> list[Finding]:
        gaps = completeness_gaps(ctx)
        findings: list[Finding] = [gap_finding(ctx, gaps, g, self.name) for g in gaps.gaps]
        silent, measures, volume = _shown(gaps.flagged)
        for code, rows in silent.groupby("unit_code", sort=True):
            findings.append(self._silent(ctx, gaps, str(code), rows))
        for (unit, measure), rows in measures.groupby(["unit_code", "measure_id"], sort=True):
            findings.append(self._low(ctx, gaps, str(unit), measure_label(ctx.config, str(measure)), rows,
                                      str(measure)))
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
        # only what a finding shows: a unit-wide low total whose measures are named in their own findings
        # marks those measures alone (so every mark has its finding in the unit's pack)
        shown = pd.concat(_shown(gaps.flagged), ignore_index=True)
        for code, measure_id, start in shown[["unit_code", "measure_id", "period_start"]].itertuples(
                index=False, name=None):
            measures = reported if measure_id == VOLUME else [m for m in _with_rates(config, str(measure_id))
                                                               if m in reported]
            label = _period_label(ctx, start)
            for window, _side in gaps.sides.get(start, []):
                for m in measures:
                    rows.append((code, m, window, False, False, f"missing data in {label}"))
                    rows.append((TOTAL, m, window, False, False, f"missing data in {label} ({code})"))
        for gap in gaps.gaps:
            reason = gap_reason(ctx, gap)
            for code, first, last, *_ in gap.runs:
                pairs = {pair for start, pairs in gaps.sides.items() if first <= start <= last for pair in pairs}
                for window, _side in pairs:
                    for m in gap.measures:
                        rows.append((code, m, window, False, False, reason))
                        rows.append((TOTAL, m, window, False, False, reason))
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
            detail = (f"{numbers.number(value)} in {_period_label(ctx, rows['period_start'].iloc[0])} although it "
                      f"averages {numbers.average(expected)} a {noun} (a count this low has a {_chance(chance)} chance "
                      "given its usual variation)")
        else:
            detail = "far below its usual level in " + listed(
                [f"{_period_label(ctx, start)} ({numbers.number(value)} where it averages {numbers.average(expected)})"
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

    # runs of zero periods the series' own rate cannot explain: collection gaps (findings of their own)
    found = _find_gaps(ctx, y, valid & ~after_end, cells, starts, sides, judged, earlier, unit_begin)
    if found:
        covered = _covered(found, starts)
        keys = pd.Series(list(zip(flagged["unit_code"], flagged["measure_id"], flagged["period_start"],
                                  strict=True)), index=flagged.index, dtype=object)
        flagged = flagged[~keys.isin(covered)].reset_index(drop=True) if len(flagged) else flagged

    # nothing at all in the cycle's period: by chance (a note), or no data for longer than the lookback
    now = int(np.flatnonzero(is_current)[0]) if is_current.any() else len(starts) - 1
    vol = np.flatnonzero(measure_of == VOLUME)
    quiet = []
    flagged_units = set(flagged.loc[flagged["current"] & (flagged["measure_id"] == VOLUME), "unit_code"])
    lookback_start = ctx.periods(q.lookback_periods + 1)[0].start
    gap_now = {code for g in found if g.stopped for code, *_ in g.runs}
    for row in vol:
        code = str(units_of[row])
        if y[row, now] != 0 or code in flagged_units or after_end[row, now] or code in gap_now:
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
                 pd.DataFrame(mean, index=cells, columns=starts), current, rows_are_records, tuple(found))
    ctx.memo["completeness"] = gaps
    return gaps


def _shown(flagged: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The flagged totals that make findings: units with nothing at all (``silent``), low measures
    (not in a silent unit-period) and low unit-wide totals (``volume``) where no measure of the
    unit-period is low itself."""
    silent = flagged[(flagged["measure_id"] == VOLUME) & (flagged["value"] == 0)]
    silent_keys = set(zip(silent["unit_code"], silent["period_start"], strict=True))
    measures = flagged[flagged["measure_id"] != VOLUME]
    measures = measures[~_pairs_in(measures, silent_keys)]
    low_keys = set(zip(measures["unit_code"], measures["period_start"], strict=True))
    volume = flagged[(flagged["measure_id"] == VOLUME) & (flagged["value"] > 0)]
    return silent, measures, volume[~_pairs_in(volume, low_keys)]


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
        return f"{numbers.average(expected)} records"
    means = gaps.means.loc[code, starts]
    mine = pd.Series(means.to_numpy(dtype=float).mean(axis=1), index=means.index).drop(VOLUME).dropna()
    if mine.empty:
        return f"{numbers.average(expected)} in all"
    largest = str(mine.idxmax())
    return f"{numbers.average(float(mine[largest]))} {measure_label(ctx.config, largest)}"


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


def _find_gaps(ctx: QualityContext, y: np.ndarray, valid: np.ndarray, cells: pd.MultiIndex,
               starts: pd.DatetimeIndex, sides: dict[pd.Timestamp, list[tuple[str, str]]], judged: np.ndarray,
               earlier: int, unit_begin: np.ndarray) -> list[Gap]:
    """The zero runs of each unit's measures and of each unit's rows from each input, grouped into gaps."""
    config, q = ctx.config, ctx.config.quality
    measure_of = np.asarray(cells.get_level_values("measure_id"), dtype=object)
    units_of = np.asarray(cells.get_level_values("unit_code"), dtype=object)
    series = measure_of != VOLUME
    begin_of = dict(zip(units_of, unit_begin, strict=True))

    # each input's rows of each unit (every row some count measure counts), from the input's first row
    daily = ctx.daily[ctx.daily["unit_code"].isin(ctx.leaf_codes) & (ctx.daily["date"] >= starts[0])]
    counted = pd.Series(False, index=daily.index)
    for m in config.measures:
        if m.kind == "count":
            counted |= matches_filter(daily, m)
    daily = daily[counted]
    sources = sorted(daily["source"].unique())
    source_cells = pd.MultiIndex.from_product([list(ctx.leaf_codes), sources], names=["unit_code", "source"])
    grid = (daily.assign(period_start=bucket_start(daily["date"], config))
            .groupby(["unit_code", "source", "period_start"])["total"].sum().unstack(fill_value=0))
    ys = grid.reindex(index=source_cells, columns=starts, fill_value=0.0).to_numpy(dtype=float)
    arrived = daily.groupby("source")["date"].min()  # the input's first row, zeros included: it was delivering
    source_begin = np.array([arrived.get(s, pd.Timestamp.max) for s in source_cells.get_level_values("source")],
                            dtype="datetime64[ns]")
    unit_rows = np.array([begin_of[u] for u in source_cells.get_level_values("unit_code")], dtype="datetime64[ns]")
    first = np.maximum(source_begin, unit_rows)
    ended = {code: pd.Timestamp(day) for code, day in ctx.ended.items()}
    ends = np.array([pd.Timestamp(period_containing(s.date(), config.cadence).end) for s in starts])
    alive = np.array([[code not in ended or end < ended[code] for end in ends]
                      for code in source_cells.get_level_values("unit_code")], dtype=bool).reshape(ys.shape)
    valid_s = (starts.to_numpy()[None, :] >= first[:, None]) & alive

    matrix = np.vstack([y[series], ys])
    use = np.vstack([valid[series], valid_s])
    labels = ([("measure", str(u), str(m)) for u, m in zip(units_of[series], measure_of[series], strict=True)]
              + [("source", str(u), str(s)) for u, s in source_cells])
    # a measure whose zeros open the loaded span may be new (a category added): the structure check's;
    # a unit's whole input at the span's start is a gap when the unit's history began before the span
    open_start = np.concatenate([np.zeros(int(series.sum()), dtype=bool),
                                 np.array([code not in ctx.first_seen for code in source_cells.get_level_values(
                                     "unit_code")], dtype=bool)])
    runs = zero_runs(matrix, use, judged, q.lookback_periods, q.gaps.min_run, q.implausibly_low.probability,
                     earlier, open_start)
    if runs.empty or not runs["flagged"].any():
        return []
    runs = runs.assign(kind=[labels[i][0] for i in runs["row"]], unit_code=[labels[i][1] for i in runs["row"]],
                       key=[labels[i][2] for i in runs["row"]])
    # a unit with no rows at all since the run began has stopped sending data: the timeliness and structure
    # checks and the per-period totals report that; zero rows that keep arriving are a gap
    latest = runs["unit_code"].map(lambda c: pd.Timestamp(ctx.unit_latest.get(str(c), date.min)))
    runs = runs[~(runs["stopped"] & (latest.to_numpy() < starts[runs["first"].to_numpy()]))]
    if not runs["flagged"].any():
        return []
    feeds = {s: _fed_by(config, daily[daily["source"] == s]) for s in sources}
    reported = [m.id for m in config.reported_measures]
    headline = config.analysis.headline_window or ("28d" if config.cadence.period == "weekly" else "3m")
    head = np.array([any(w in (headline, "period") for w, _ in sides.get(s, [])) for s in starts])
    gaps: list[Gap] = []

    def make(kind: str, source: str | None, part: pd.DataFrame, measures: list[str]) -> Gap:
        hit = [str(u) for u, a, b in zip(part["unit_code"], part["first"], part["last"], strict=True)
               if head[int(a):int(b) + 1].any()]
        heads = tuple(dict.fromkeys(hit))
        units = tuple(dict.fromkeys(str(u) for u in part["unit_code"]))
        many = len(heads) >= q.gaps.blocking_units or len(heads) >= q.gaps.blocking_share * len(ctx.leaf_codes)
        blocking = kind != "series" and bool(heads) and many
        every = ys[:, :].reshape(len(ctx.leaf_codes), len(sources), -1).sum(axis=1)  # all inputs per unit
        unit_pos = {c: i for i, c in enumerate(ctx.leaf_codes)}
        empty = all(not every[unit_pos[str(u)], int(a):int(b) + 1].any()
                    for u, a, b in zip(part["unit_code"], part["first"], part["last"], strict=True))
        rows = tuple((str(u), starts[int(a)], starts[int(b)], int(n), float(r), float(c))
                     for u, a, b, n, r, c in part[["unit_code", "first", "last", "periods", "rate", "chance"]]
                     .itertuples(index=False, name=None))
        return Gap(kind, source, units, tuple(m for m in measures if m in reported),
                   starts[int(part["first"].min())], starts[int(part["last"].max())], rows,
                   bool(part["stopped"].any()), heads, blocking, empty)

    # collection gaps of an input: its flagged runs that overlap, with the other units' runs that match them
    flagged_sources = runs[(runs["kind"] == "source") & runs["flagged"]]
    taken: list[tuple[str, int, int]] = []  # (unit, first, last) covered by an input's gap
    for source, part in flagged_sources.groupby("key", sort=True):
        cluster = intervals(part["first"].to_numpy(), part["last"].to_numpy())
        for c in np.unique(cluster):
            members = part[cluster == c]
            lo, hi = int(members["first"].min()), int(members["last"].max())
            if len(members) > 1:  # units dropping together: their companions' shorter-tailed runs too
                same = runs[(runs["kind"] == "source") & (runs["key"] == source) & ~runs["flagged"]]
                overlap = np.minimum(same["last"], hi) - np.maximum(same["first"], lo) + 1
                joins = same[(overlap >= 0.5 * same["periods"]) & (overlap >= 0.5 * (hi - lo + 1))]
                members = pd.concat([members, joins]).sort_values("unit_code")
            gaps.append(make("input", str(source), members, _with_all_rates(config, feeds[str(source)])))
            taken += [(str(u), int(a), int(b)) for u, a, b in zip(members["unit_code"], members["first"],
                                                                  members["last"], strict=True)]
    # measures of a unit: those not inside an input's gap of the unit, several together or one alone
    flagged_measures = runs[(runs["kind"] == "measure") & runs["flagged"]]
    inside = np.array([any(u == code and a <= hi_ and lo_ <= b for code, a, b in taken)
                       for u, lo_, hi_ in zip(flagged_measures["unit_code"], flagged_measures["first"],
                                              flagged_measures["last"], strict=True)], dtype=bool)
    for _code, part in flagged_measures[~inside].groupby("unit_code", sort=True):
        cluster = intervals(part["first"].to_numpy(), part["last"].to_numpy())
        for c in np.unique(cluster):
            members = part[cluster == c]
            kind = "unit" if members["key"].nunique() > 1 else "series"
            gaps.append(make(kind, None, members, _with_all_rates(config, list(dict.fromkeys(members["key"])))))
    return gaps


def _fed_by(config: Config, rows: pd.DataFrame) -> list[str]:
    """The non-rate measures some of these rows count towards."""
    return [m.id for m in config.measures if m.kind != "rate" and bool(matches_filter(rows, m).any())]


def _with_all_rates(config: Config, measure_ids: list[str]) -> list[str]:
    return list(dict.fromkeys(m for mid in measure_ids for m in _with_rates(config, mid)))


def _covered(gaps: list[Gap], starts: pd.DatetimeIndex) -> set[tuple[str, str, pd.Timestamp]]:
    """(unit, measure or ``VOLUME``, period start) of the per-period flags a gap's finding already covers."""
    out: set[tuple[str, str, pd.Timestamp]] = set()
    for gap in gaps:
        for code, first, last, *_ in gap.runs:
            for start in starts[(starts >= first) & (starts <= last)]:
                out.add((code, VOLUME, start))
                out.update((code, m, start) for m in gap.measures)
    return out


def gap_reason(ctx: QualityContext, gap: Gap) -> str:
    """The footnote reason of a gap's marks: ``probable collection gap: no weekly_counts data in 2025-W02 to …``."""
    when = _span_text(ctx, gap.first, gap.last)
    if gap.kind == "input":
        return f"probable collection gap: no {gap.source} data in {when}"
    names = listed([measure_label(ctx.config, m) for m in gap.measures if m in _base_measures(ctx.config, gap)])
    if gap.stopped:
        return f"{names} stopped: zero since {_period_label(ctx, gap.first)}"
    return f"probable missing data: {names} zero in {when}"


def gap_finding(ctx: QualityContext, gaps: _Gaps, gap: Gap, check: str) -> Finding:
    """One finding per gap, naming the periods, units, measures and input, and what is marked."""
    config, noun = ctx.config, PERIOD_NOUN[ctx.config.cadence.period]
    when = _span_text(ctx, gap.first, gap.last)
    starts = [s for _, a, b, *_ in gap.runs for s in gaps.sides if a <= s <= b]
    marked = _marked_text(ctx, gaps, pd.DataFrame({"period_start": starts}))
    severity = "blocking" if gap.blocking else "warning"
    names = [measure_label(config, m) for m in gap.measures]
    every = len(gap.measures) == len(config.reported_measures)
    what = "every measure" if every else listed(names, 8)
    rate = sum(r[4] for r in gap.runs)
    chance = max(r[5] for r in gap.runs)
    head = ""
    if gap.blocking:
        head = (f". It changes the headline comparisons of {plural_units(len(gap.headline_units))}, so it blocks the "
                "cycle: fix the input, or go ahead with --accept-warnings")
    elif gap.headline_units and gap.kind != "series":
        whose = ("the unit's" if len(gap.units) == 1
                 else f"the headline comparisons of {plural_units(len(gap.headline_units))}")
        head = f". It changes {whose}" + (" headline comparisons" if len(gap.units) == 1 else "")
    units = dict.fromkeys(gap.units, 0)
    if gap.kind == "input" and len(gap.units) > 1:
        names_of = listed([unit_label(config, u) for u in gap.units], 8)
        text = (f"Probable collection gap in {gap.source}: {len(gap.units)} units ({names_of}) "
                f"have zeros or no rows for {what} in {when}, although their history before and after puts them "
                f"at {numbers.average(rate)} a {noun} in all — probably data not collected (recorded as zeros), not a "
                f"fall{marked}{head}")
        return Finding(check, severity, text, period=ctx.period.label, source=gap.source, units=units)
    code = gap.units[0]
    label = unit_label(config, code)
    odds = f"a run this long has a {_chance(chance)} chance"
    if gap.kind == "input":
        lead = (f"no records at all for {when}" if gap.all_records
                else f"no {gap.source} data (zeros or no rows) for {when}")
        text = (f"{label}: {lead} although it averages {numbers.average(rate)} a {noun} before and after ({odds}) — "
                f"probably missing data (a collection gap), not a fall to zero{marked}{head}")
        return Finding(check, severity, text, unit_code=code, period=ctx.period.label, source=gap.source,
                       units=units)
    base = [measure_label(config, m) for m in gap.measures if m in _base_measures(config, gap)]
    if gap.stopped:
        text = (f"{label}: {listed(base)} {'has' if len(base) == 1 else 'have'} been zero since "
                f"{_period_label(ctx, gap.first)} ({gap.runs[0][3]} {noun}s up to {ctx.period.label}) although "
                f"{'it' if len(base) == 1 else 'they'} averaged {numbers.average(rate)} a {noun} before ({odds}) — "
                f"probably no longer recorded or supplied, not a real fall{marked}{head}")
    else:
        text = (f"{label}: {listed(base)} {'is' if len(base) == 1 else 'are'} zero for {when} although "
                f"{'it averages' if len(base) == 1 else 'they average'} {numbers.average(rate)} a {noun} before and "
                f"after ({odds}) — probably missing data, not a real fall{marked}{head}")
    measure = base and gap.measures[0] if len(base) == 1 else None
    return Finding(check, severity, text, unit_code=code, period=ctx.period.label,
                   measure_id=measure or None, units=units)


def _base_measures(config: Config, gap: Gap) -> set[str]:
    """The gap's measures that are not rates built on the others."""
    return {m for m in gap.measures if next((x.kind for x in config.measures if x.id == m), "") != "rate"}


def plural_units(n: int) -> str:
    return f"{n} unit{'s' if n != 1 else ''}"


def _span_text(ctx: QualityContext, first: pd.Timestamp, last: pd.Timestamp) -> str:
    """``2026-W06 and 2026-W07``, or ``2025-W02 to 2025-W29 (28 weeks)`` for longer runs."""
    cadence = ctx.config.cadence
    labels = []
    day = first.date()
    while day <= last.date():
        period = period_containing(day, cadence)
        labels.append(period.label)
        day = period.end + timedelta(days=1)
    if len(labels) <= 3:
        return listed(labels)
    return f"{labels[0]} to {labels[-1]} ({len(labels)} {PERIOD_NOUN[cadence.period]}s)"
