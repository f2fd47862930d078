"""A synthetic big-city force for the chair's pack tests: 78 precincts under 8 patrol boroughs,
19 weekly offence counts supplied pre-aggregated (one row per unit, measure and week), some of
them rare (most precinct-weeks 0), two years and a bit of history, seeded."""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from compstat.actions import ACTION_COLUMNS, meeting_escalation
from compstat.analysis.analyse import analyse_cycle, first_day_needed
from compstat.analysis.measures import period_series
from compstat.analysis.period_table import period_table
from compstat.config import Config
from compstat.cycle import special_cause_concerns
from compstat.figures import TOTAL
from compstat.periods import comparison_windows, parse_period, recent_periods
from compstat.results import CycleData

BOROUGHS = 8
UNITS = 78
# (id, name, mean per precinct-week): murder, shootings, hate crimes and traffic deaths are rare
MEASURES = (
    ("murder", "Murder", 0.05), ("rape", "Rape", 0.4), ("robbery", "Robbery", 4.0),
    ("fel_assault", "Felony assault", 5.5), ("burglary", "Burglary", 3.0), ("grand_larceny", "Grand larceny", 8.0),
    ("gla", "Grand larceny of a motor vehicle", 2.0), ("shooting_inc", "Shooting incidents", 0.15),
    ("shooting_vic", "Shooting victims", 0.2), ("hate_crime", "Hate crimes", 0.12),
    ("traffic_fatal", "Traffic fatalities", 0.05), ("transit", "Transit crime", 1.5),
    ("housing", "Housing crime", 2.5), ("petit_larceny", "Petit larceny", 15.0),
    ("misd_assault", "Misdemeanour assault", 9.0), ("sex_crimes", "Misdemeanour sex crimes", 0.8),
    ("fel_drugs", "Felony drugs", 1.2), ("weapons", "Weapons possession", 1.0),
    ("retail_theft", "Retail theft", 6.0),
)
PERIOD = "2026-W10"


def codes() -> list[str]:
    return [f"{n:03d}" for n in range(1, UNITS + 1)]


def make_config(base: Path, populations: bool = True) -> Config:
    units = codes()
    per = -(-UNITS // BOROUGHS)
    boroughs = []
    for b in range(BOROUGHS):
        children = [{"code": c, "name": f"Precinct {int(c)}", "commander": f"Capt. {c}",
                     **({"population": 60000 + 1000 * int(c)} if populations else {})}
                    for c in units[b * per:(b + 1) * per]]
        boroughs.append({"code": f"PB{b + 1}", "name": f"Patrol Borough {b + 1}", "commander": f"Chief {b + 1}",
                         "children": children})
    return Config.model_validate({
        "organisation": {"name": "Metro City Police", "slug": "metro"},
        "units": boroughs,
        "measures": [{"id": i, "name": n, "kind": "count"} for i, n, _ in MEASURES],
        "sources": [], "small_number": 10, "base_dir": base,
    })


def make_weekly(config: Config, first: date, last: date) -> pd.DataFrame:
    """Weekly counts dated on each week's Monday, per precinct and measure, and their sum under ``_total``.

    Planted: robbery surges in a third of the precincts over the last six weeks (a force-wide
    theme), burglary falls in a sixth of them; the rest is Poisson noise around each precinct's level."""
    rng = np.random.default_rng(10)
    weeks = pd.date_range(first - timedelta(days=first.weekday()), last, freq="7D")
    recent = weeks > pd.Timestamp(last) - pd.Timedelta(days=42)
    frames = []
    for k, code in enumerate(codes()):
        scale = 0.5 + rng.random() * 1.2
        for measure_id, _, mean in MEASURES:
            rate = np.full(len(weeks), mean * scale)
            if measure_id == "robbery" and k % 3 == 0:
                rate[recent] *= 2.5
            if measure_id == "burglary" and k % 6 == 1:
                rate[recent] *= 0.3
            values = rng.poisson(rate).astype(float)
            frames.append(pd.DataFrame({"unit_code": code, "measure_id": measure_id, "date": weeks,
                                        "total": values, "n": values.astype(int)}))
    weekly = pd.concat(frames, ignore_index=True)
    total = weekly.groupby(["measure_id", "date"], as_index=False)[["total", "n"]].sum().assign(unit_code=TOTAL)
    return pd.concat([weekly, total], ignore_index=True)[["unit_code", "measure_id", "date", "total", "n"]]


def make_actions(period_end: date, n: int = 24) -> pd.DataFrame:
    """``n`` open actions across the precincts, every third overdue."""
    rows = []
    for i in range(n):
        overdue = i % 3 == 0
        rows.append({
            "id": i + 1, "unit_code": codes()[(i * 7) % UNITS], "measure_id": MEASURES[i % len(MEASURES)][0],
            "description": f"Problem-solving plan {i + 1}: hot-spot patrols and follow-up visits",
            "owner": f"Lt. Owner {i + 1}", "raised_period": "2026-W04", "raised_on": date(2026, 1, 25),
            "due_date": period_end - timedelta(days=5) if overdue else period_end + timedelta(days=14),
            "status": "open", "closed_on": None, "last_note": "", "meetings_carried": 2, "overdue": overdue,
            "carried": True, "stale": False, "days_since_update": 3, "support_requested": "", "support_offered": "",
            "closing_note": "", "drop_reason": "", "escalation_level": 1 if overdue else 0,
            "escalation_label": "increased challenge" if overdue else "challenge",
            "escalation_reason": "due and not done at 1 meeting" if overdue else "not yet due",
            "effect": "", "effect_text": ""})
    return pd.DataFrame(rows, columns=ACTION_COLUMNS)


def big_force(base: Path, populations: bool = True) -> CycleData:
    config = make_config(base, populations)
    period = parse_period(PERIOD, config.cadence)
    windows = comparison_windows(period, config.cadence)
    chart = recent_periods(period, config.cadence, 104)
    first = min([chart[0].start, first_day_needed(config, period, windows)] + [w.prev_start for w in windows])
    daily = make_weekly(config, first, period.end)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Series\.dt\.weekday is deprecated")
        series = period_series(daily, config, chart[0].start, period.end)
    data = CycleData(
        config=config, period=period, windows=windows, meeting_date=period.end + timedelta(days=3),
        run_at=datetime(2026, 3, 9, 7, 30), table=period_table(daily, config, windows), series=series,
        actions=make_actions(period.end), data_as_of=dict.fromkeys(codes(), period.end), daily=daily,
        analysis=analyse_cycle(daily, config, period, windows),
    )
    levels, triggers = meeting_escalation(data.actions, data.table, config, special_cause_concerns(data))
    return replace(data, escalation=levels, triggers=triggers)
