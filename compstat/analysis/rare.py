"""Rare events, the Making Data Count way: time between events, or a long window, never an XmR of counts.

**Which series are rare.** A count series (one unit × measure) whose mean per period over the
charted span is below ``analysis.rare.max_mean`` (default 2 a week or month) is a *rare-event
series*. At a Poisson mean of 2, one period in seven is 0 and a single event moves the count
by half its mean; below about 1 the XmR limits collapse towards the mean, so every zero reads as
an improvement and one event as a concern. Such a series is not judged by an XmR chart of its
period counts (no special cause, no variation or assurance icon from one). Instead:

- **t-chart** (``METHOD_T``), when the data give the day of each event (every record is one
  event: the sources feeding the measure map no value column, ``event_measures``, and every day's
  total equals its number of records) and the charted span holds at
  least ``analysis.rare.min_events`` events: the days between consecutive events (the data give
  the day: the ``k`` events of one day are spread evenly across it, so one event a day is at noon and
  two on one day are half a day apart), transformed by ``t^(1/3.6)`` (which makes exponential waiting times nearly
  symmetric: Nelson 1994, as Provost & Murray and Making Data Count use), charted as an XmR on the
  transformed values, limits and mean back-transformed by ``^3.6`` (a negative lower limit is 0
  days). For a lower-is-better measure a longer gap is an improvement. The judged point is the
  open gap from the last event to the period's end when it is itself beyond the upper limit (an
  improvement: no event for longer than the process explains); else, when an event fell in the
  period, the latest closed gap with all the XmR rules; else common cause (nothing new happened
  and the wait is within the limits). An open gap can never signal a concern: it is not over.
- **long window** (``METHOD_LONG``), otherwise (pre-aggregated counts, or too few events): the
  exact test of two Poisson rates with the series' over-dispersion (``significance``), on the
  last 12 months (52 weeks) against the 12 months (52 weeks) before, adjusted for many
  comparisons by Benjamini–Hochberg across the rare series. The significance table's 28 days,
  3 months and year to date stay as they are; the period alone carries no judgement.

``method`` is recorded per unit × measure (``xmr`` for the others) in the SPC frame. A rare
serious event is still listed factually (``rare_events``: the period's count, the year to date
and last year's, the last 12 months and the 12 before) without a statistical claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas._libs.tslibs.nattype import NaTType

from compstat.analysis.baselines import HistoryStarts
from compstat.analysis.measures import key_runs
from compstat.analysis.significance import (
    NO_EVENTS,
    NORMAL_VARIATION,
    NOT_TESTED,
    SIGNIFICANT_DECREASE,
    SIGNIFICANT_INCREASE,
    benjamini_hochberg,
    rate_ratio_test,
)
from compstat.analysis.spc import COMMON_CAUSE, CONCERN, IMPROVEMENT, NEUTRAL_HIGH, SpcOptions, spc
from compstat.analysis.spc_series import IMPROVEMENT_FOR_POLARITY, SPC_LATEST_COLUMNS
from compstat.config import Config, Measure, Source
from compstat.periods import Period

METHOD_XMR, METHOD_T, METHOD_LONG = "xmr", "t-chart", "long window"
EXPONENT = 3.6
LONG_WINDOW = "12m"
SPC_METHOD_COLUMNS = [*SPC_LATEST_COLUMNS, "method"]
T_POINT_COLUMNS = ["unit_code", "measure_id", "x", "y", "mean", "lpl", "upl", "point_type", "special_cause_rule",
                   "open"]
RARE_COLUMNS = [
    "unit_code", "measure_id", "method", "why", "mean_per_period", "events", "last_event", "gap", "gap_mean",
    "gap_lpl", "gap_upl", "open_gap", "judged", "point_type", "special_cause_rule", "window", "window_start",
    "window_end", "current", "comparison", "current_days", "comparison_days", "rate_ratio", "ci_low", "ci_high",
    "pct_change", "dispersion", "p_value", "q_value", "label", "judgement", "small_numbers",
]
RARE_EVENT_COLUMNS = ["unit_code", "measure_id", "method", "period_count", "ytd", "last_year_ytd", "last_12m",
                      "previous_12m"]


@dataclass(frozen=True)
class RareResult:
    """The rare-event analysis of one cycle: ``judgement`` (``RARE_COLUMNS``), the SPC frame's rows for
    rare series (``SPC_METHOD_COLUMNS``), the t-charts' points (``T_POINT_COLUMNS``) and the factual
    list (``RARE_EVENT_COLUMNS``)."""

    judgement: pd.DataFrame
    spc_rows: pd.DataFrame
    points: pd.DataFrame
    events: pd.DataFrame

    @property
    def keys(self) -> set[tuple[str, str]]:
        return {(str(u), str(m)) for u, m in zip(self.judgement["unit_code"], self.judgement["measure_id"],
                                                 strict=True)}


def rare_means(series: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Per count unit × measure of ``series`` (``period_series``, history only, the charted span): the mean
    per period and whether it is below ``analysis.rare.max_mean`` (unit_code, measure_id, mean, rare)."""
    kinds = {m.id: m.kind for m in config.reported_measures}
    counts = series[series["measure_id"].map(kinds).eq("count")]
    means = counts.groupby(["unit_code", "measure_id"], sort=True)["value"].mean().rename("mean").reset_index()
    means = means[means["mean"].notna()]
    return means.assign(rare=means["mean"] < config.analysis.rare.max_mean)


def _may_feed(source: Source, measure: Measure) -> bool:
    """Whether the source's rows can count towards the measure (its fixed category may rule it out)."""
    wanted = set(measure.filter.category)
    if not wanted:
        return True
    if source.values:
        return bool(set(source.values) & wanted)
    if source.columns.category is None:
        return (source.category or "") in wanted
    return True


def event_measures(config: Config) -> set[str]:
    """The count measures whose records are single dated events: every source that may feed them maps no
    value column (each row counts 1). Pre-aggregated sources give counts per period, not event dates; a
    source named in ``quality.totals`` is taken to hold the organisation's own totals (kept aside at
    ingest), not units' counts. ``rare_analysis`` also checks the data: every day's total equals its
    number of records."""
    out = set()
    totals = set(config.quality.totals)
    for m in config.measures:
        if m.kind != "count":
            continue
        feeding = [s for s in config.sources if _may_feed(s, m) and s.name not in totals]
        if feeding and all(s.columns.value is None and not s.values for s in feeding):
            out.add(m.id)
    return out


def event_times(dates: pd.Series, counts: pd.Series) -> npt.NDArray[np.float64]:
    """Each event's time in days since the epoch, the ``k`` events of one day spread evenly across it (at
    ``(i + ½) / k`` of the day): the data give the day, not the hour, and a gap of 0 days would weigh on the
    chart's moving ranges as if the events were simultaneous."""
    k = counts.astype(int).to_numpy()
    day = (pd.to_datetime(dates).to_numpy().astype("datetime64[D]").astype(np.int64)).astype(float)
    within = np.concatenate([(np.arange(n) + 0.5) / n for n in k]) if k.size else np.zeros(0)
    times: npt.NDArray[np.float64] = np.repeat(day, k) + within
    return times


def t_chart(events: pd.DataFrame, improvement: str = "increase", screen_outliers: bool = True) -> pd.DataFrame:
    """The t-chart of ``events`` (date, count: events per day, any order): one point per gap between
    consecutive events, dated by the event that ends it.

    Returns x (date), y (days), t (``y^(1/3.6)``), mean, lpl, upl (days, back-transformed; a negative
    transformed lower limit is 0), point_type and special_cause_rule (the XmR rules on ``t``).
    ``improvement`` is the direction in which a gap is better (``increase`` for a lower-is-better measure).
    """
    frame = events[events["count"] > 0].sort_values("date")
    days = np.repeat(pd.to_datetime(frame["date"]).to_numpy(), frame["count"].astype(int).to_numpy())
    if days.size < 2:
        return pd.DataFrame(columns=["x", "y", "t", "mean", "lpl", "upl", "point_type", "special_cause_rule"])
    gaps = np.diff(event_times(frame["date"], frame["count"]))
    t = gaps ** (1 / EXPONENT)
    chart = spc(pd.DataFrame({"x": np.arange(gaps.size), "y": t}),
                options=SpcOptions(improvement=improvement, screen_outliers=screen_outliers))  # type: ignore[arg-type]
    return pd.DataFrame({
        "x": pd.to_datetime(days[1:]), "y": gaps, "t": t,
        "mean": chart["mean"].to_numpy() ** EXPONENT,
        "lpl": np.clip(chart["lpl"].to_numpy(), 0, None) ** EXPONENT,
        "upl": chart["upl"].to_numpy() ** EXPONENT,
        "point_type": chart["point_type"].to_numpy(dtype=object),
        "special_cause_rule": chart["special_cause_rule"].to_numpy(dtype=object),
    })


def judge_t_chart(chart: pd.DataFrame, period: Period, improvement: str = "increase") -> dict[str, object]:
    """The t-chart's judgement at ``period``'s end (see the module docstring): open_gap (days from the
    last event to the period's end), judged (``open``, ``latest`` or ``""``), gap (the judged gap's
    days), point_type and special_cause_rule."""
    last = chart.iloc[-1]
    last_event = pd.Timestamp(last["x"]).date()
    open_gap = float((period.end - last_event).days) + 0.5  # from the last event (mid-day) to the period's end
    upl_t = float(last["upl"]) ** (1 / EXPONENT)
    if open_gap ** (1 / EXPONENT) > upl_t:
        kind = {"increase": IMPROVEMENT, "decrease": CONCERN}.get(improvement, NEUTRAL_HIGH)
        return {"open_gap": open_gap, "judged": "open", "gap": open_gap, "point_type": kind,
                "special_cause_rule": "outside_limits"}
    if last_event >= period.start:
        rule = last["special_cause_rule"]
        return {"open_gap": open_gap, "judged": "latest", "gap": float(last["y"]),
                "point_type": str(last["point_type"]), "special_cause_rule": None if pd.isna(rule) else str(rule)}
    return {"open_gap": open_gap, "judged": "", "gap": open_gap, "point_type": COMMON_CAUSE,
            "special_cause_rule": None}


def long_window_span(config: Config, period: Period) -> tuple[date, date, date, date]:
    """(start, end, previous start, previous end): the last 12 months (52 weeks) to the period's end and
    the 12 months (52 weeks) before them."""
    end = period.end
    if config.cadence.period == "weekly":
        start = end - timedelta(days=363)
    else:
        start = (pd.Timestamp(period.start) - pd.DateOffset(months=11)).date()
    before = (pd.Timestamp(start) - pd.DateOffset(months=12)).date() if config.cadence.period == "monthly" \
        else start - timedelta(days=364)
    return start, end, before, start - timedelta(days=1)


def long_window_tests(daily: pd.DataFrame, keys: pd.DataFrame, dispersion: pd.DataFrame, config: Config,
                      period: Period, starts: HistoryStarts) -> pd.DataFrame:
    """The exact rate-ratio test of the last 12 months against the 12 before for each of ``keys``
    (unit_code, measure_id), with the series' dispersion and Benjamini–Hochberg q-values across them.
    The previous span has no count (NaN: not tested) when it starts before the unit's history."""
    start, end, before, before_end = long_window_span(config, period)
    dates = daily["date"]
    grouped = [daily[(dates >= pd.Timestamp(a)) & (dates <= pd.Timestamp(b))]
               .groupby(["unit_code", "measure_id"])["total"].sum() for a, b in ((start, end), (before, before_end))]
    frame = keys[["unit_code", "measure_id"]].merge(
        dispersion[["unit_code", "measure_id", "dispersion"]], on=["unit_code", "measure_id"], how="left")
    index = pd.MultiIndex.from_frame(frame[["unit_code", "measure_id"]])
    current = grouped[0].reindex(index).fillna(0.0).to_numpy()
    previous = grouped[1].reindex(index).fillna(0.0).to_numpy()
    history = starts.for_rows(frame["unit_code"], frame["measure_id"])
    previous = np.where((history <= pd.Timestamp(before)).to_numpy(dtype=bool), previous, np.nan)
    days_now, days_before = (end - start).days + 1, (before_end - before).days + 1
    phi = frame["dispersion"].fillna(1.0) if config.analysis.overdispersion else pd.Series(1.0, index=frame.index)
    test = rate_ratio_test(current, previous, days_now, days_before, phi.to_numpy(), config.analysis.confidence)
    out = pd.concat([frame[["unit_code", "measure_id"]].reset_index(drop=True), test], axis=1)
    out["q_value"] = benjamini_hochberg(out["p_value"])
    significant = (out["q_value"] <= config.analysis.fdr).to_numpy()
    up = (out["rate_ratio"] > 1).to_numpy()
    out["label"] = np.select([np.isnan(previous), out["p_value"].isna().to_numpy(), significant & up, significant],
                             [NOT_TESTED, NO_EVENTS, SIGNIFICANT_INCREASE, SIGNIFICANT_DECREASE], NORMAL_VARIATION)
    polarity = out["measure_id"].map({m.id: m.polarity for m in config.measures})
    worse = (up & (polarity == "lower")) | (~up & (polarity == "higher"))
    out["judgement"] = np.where(significant, np.where(polarity == "neutral", "change",
                                                      np.where(worse, "worse", "better")), "")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["pct_change"] = np.where(previous > 0, 100.0 * (current / previous - 1), np.nan)
    limit = config.small_number
    return out.assign(window=LONG_WINDOW, window_start=pd.Timestamp(start), window_end=pd.Timestamp(end),
                      current=current, comparison=previous, current_days=days_now, comparison_days=days_before,
                      dispersion=phi.to_numpy(), small_numbers=(current < limit) & (previous < limit))


def rare_analysis(daily: pd.DataFrame, series: pd.DataFrame, comparisons: pd.DataFrame, dispersion: pd.DataFrame,
                  config: Config, period: Period, starts: HistoryStarts) -> RareResult:
    """The rare-event series of ``series`` (the charted span, history only) and their judgement.

    ``daily`` (``measures.DAILY_COLUMNS``) gives the event days; ``comparisons`` the factual figures.
    """
    settings = config.analysis.rare
    means = rare_means(series, config)
    rare = means[means["rare"]].reset_index(drop=True)
    if rare.empty:
        return RareResult(pd.DataFrame(columns=RARE_COLUMNS), pd.DataFrame(columns=SPC_METHOD_COLUMNS),
                          pd.DataFrame(columns=T_POINT_COLUMNS), pd.DataFrame(columns=RARE_EVENT_COLUMNS))
    with_dates = event_measures(config)
    first = series["period_start"].min()
    event_days = _EventDays(daily[(daily["date"] >= first) & (daily["date"] <= pd.Timestamp(period.end))
                                  & (daily["total"] > 0)])
    latest = {(str(r["unit_code"]), str(r["measure_id"])): r for r in
              series.sort_values("period_start").groupby(["unit_code", "measure_id"]).tail(1).to_dict("records")}
    observed = series[series["value"].notna()].groupby(["unit_code", "measure_id"]).size()
    tests = {(str(r["unit_code"]), str(r["measure_id"])): r for r in
             long_window_tests(daily, rare, dispersion, config, period, starts).to_dict("records")}
    rows, spc_rows, points = [], [], []
    for unit, measure_id, mean in rare[["unit_code", "measure_id", "mean"]].itertuples(index=False):
        key = (str(unit), str(measure_id))
        improvement = IMPROVEMENT_FOR_POLARITY[config.measure(key[1]).polarity]
        day, total, n = event_days.of(key, starts.of(*key))
        events = int(total.sum())
        dated = key[1] in with_dates and bool((total == n).all())
        record: dict[str, object] = {"unit_code": key[0], "measure_id": key[1], "mean_per_period": float(mean),
                                     "events": events}
        judged: dict[str, object] = {"point_type": None, "special_cause_rule": None}
        if dated and events >= settings.min_events:
            chart = t_chart(pd.DataFrame({"date": day, "count": total}), improvement,
                            config.analysis.spc.screen_outliers)
            judged = judge_t_chart(chart, period, improvement)
            last = chart.iloc[-1]
            record.update(method=METHOD_T, why=f"{events} dated events in the charted span",
                          last_event=last["x"], gap_mean=float(last["mean"]), gap_lpl=float(last["lpl"]),
                          gap_upl=float(last["upl"]), **judged)
            open_point = {"x": pd.Timestamp(period.end), "y": judged["open_gap"], "mean": last["mean"],
                          "lpl": last["lpl"], "upl": last["upl"],
                          "point_type": judged["point_type"] if judged["judged"] == "open" else COMMON_CAUSE,
                          "special_cause_rule": judged["special_cause_rule"] if judged["judged"] == "open" else None,
                          "open": True}
            chart = chart.drop(columns="t").assign(open=False)
            points.append(pd.concat([chart, pd.DataFrame([open_point])], ignore_index=True)
                          .assign(unit_code=key[0], measure_id=key[1]))
        else:
            why = (f"{events} dated events in the charted span, fewer than {settings.min_events}" if dated
                   else "counts per period, without the date of each event")
            record.update(method=METHOD_LONG, why=why,
                          last_event=pd.Timestamp(day.max()) if events else pd.NaT)
        record.update({str(k): v for k, v in tests[key].items() if k not in ("unit_code", "measure_id")})
        rows.append(record)
        now = latest[key]
        point_type = judged["point_type"]
        spc_rows.append({
            "unit_code": key[0], "measure_id": key[1], "x": now["period_start"], "y": now["value"],
            "mean": mean, "lpl": np.nan, "upl": np.nan, "special_cause_rule": judged["special_cause_rule"],
            "point_type": point_type, "variation": point_type,
            "periods_running": int(point_type not in (None, COMMON_CAUSE)), "assurance": None, "target": np.nan,
            "improvement": improvement, "n_points": int(observed.get(key, 0)), "short_group_warning": False,
            "change_points": "", "method": record["method"],
        })
    judgement = pd.DataFrame(rows).reindex(columns=RARE_COLUMNS)
    point_frame = (pd.concat(points, ignore_index=True)[T_POINT_COLUMNS] if points
                   else pd.DataFrame(columns=T_POINT_COLUMNS))
    return RareResult(judgement, pd.DataFrame(spc_rows, columns=SPC_METHOD_COLUMNS), point_frame,
                      rare_events(judgement, comparisons))


class _EventDays:
    """The days with events (``daily`` rows with a positive total) of each unit × measure, as arrays."""

    def __init__(self, days: pd.DataFrame) -> None:
        days = days.sort_values(["unit_code", "measure_id"], kind="stable")
        units, measures = days["unit_code"].to_numpy(dtype=object), days["measure_id"].to_numpy(dtype=object)
        self.rows = {(str(units[a]), str(measures[a])): (a, b) for a, b in key_runs(units, measures)}
        self.dates, self.totals, self.n = (days[c].to_numpy() for c in ("date", "total", "n"))

    def of(self, key: tuple[str, str], history: pd.Timestamp | NaTType) -> tuple[npt.NDArray[np.generic], ...]:
        """The dates, totals and record counts of ``key``'s event days from ``history`` (all when NaT)."""
        a, b = self.rows.get(key, (0, 0))
        dates, totals, n = self.dates[a:b], self.totals[a:b], self.n[a:b]
        if pd.isna(history):
            return dates, totals, n
        kept = dates >= history.to_datetime64()
        return dates[kept], totals[kept], n[kept]


def rare_events(judgement: pd.DataFrame, comparisons: pd.DataFrame) -> pd.DataFrame:
    """The factual list (``RARE_EVENT_COLUMNS``) for every rare series: the period's count, the year to
    date and last year's, the last 12 months and the 12 before; no statistical claim."""
    figures = comparisons.set_index(["unit_code", "measure_id", "window"])[["current", "last_year"]].to_dict("index")
    out = []
    for r in judgement.to_dict("records"):
        key = (r["unit_code"], r["measure_id"])

        def figure(window: str, column: str, key: tuple[str, str] = key) -> float:
            at = figures.get((*key, window))
            return np.nan if at is None else float(at[column])

        out.append({"unit_code": key[0], "measure_id": key[1], "method": r["method"],
                    "period_count": figure("period", "current"), "ytd": figure("ytd", "current"),
                    "last_year_ytd": figure("ytd", "last_year"), "last_12m": r["current"],
                    "previous_12m": r["comparison"]})
    return pd.DataFrame(out, columns=RARE_EVENT_COLUMNS)
