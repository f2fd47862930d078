"""A deterministic synthetic police force for demonstrations, tests and benchmarks.

``demo_config`` describes the force (divisions, neighbourhood units, five offence measures,
one incident source); ``generate_incidents`` writes years of incident records with
seasonality, overdispersion, hotspots and a small built-in story (``DEMO_STORY``);
``plant_defects`` adds the data problems listed in ``PLANTED_DEFECTS`` so that each quality
check has something to find (``force_summary`` is the force's own weekly totals, with a planted
disagreement; ``late_recording`` the previous week's issue of the data, for a revision);
``demo_minutes`` is the last meeting's action log, and ``record_demo_follow_up`` plays the
follow-up between meetings: the minutes imported, one unit's actions exported to a spreadsheet,
filled in as its commander would (``DEMO_UPDATES``) and imported. Everything is fictional and
the same for the same arguments.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from compstat.config import Config

SEED = 20261123
FORCE_BOX = (53.30, 53.70, -2.60, -2.00)  # south, north, west, east (degrees)
INCIDENT_COLUMNS = ["crime_ref", "recorded_at", "unit", "offence", "latitude", "longitude", "location"]
MINUTES_COLUMNS = ["unit", "action", "owner", "due", "measure"]

# measure id, name, offence categories, share of all incidents
OFFENCES: list[tuple[str, str, list[str], float]] = [
    ("burglary", "Residential burglary", ["Burglary - residential"], 0.14),
    ("robbery", "Robbery", ["Robbery"], 0.06),
    ("vehicle", "Vehicle crime", ["Theft of vehicle", "Theft from vehicle"], 0.20),
    ("violence", "Violence with injury", ["Violence with injury"], 0.25),
    ("asb", "Anti-social behaviour", ["Anti-social behaviour"], 0.35),
]
_THEFT_OF_SHARE = 0.3  # of vehicle crime; the rest is theft from vehicles

# unit code -> (measure id, direction, story); the units exist whenever n_units >= 12
DEMO_TRENDS: dict[str, tuple[str, str, str]] = {
    "N2": ("burglary", "improving", "residential burglary down about a third over the last year "
           "after a target-hardening scheme"),
    "S4": ("burglary", "improving", "residential burglary down about a third over the last year"),
    "E1": ("burglary", "improving", "residential burglary down about 30% over the last year"),
    "N4": ("robbery", "worsening", "street robbery series: robbery rising sharply over the last 12 weeks"),
    "S2": ("vehicle", "worsening", "vehicle crime rising clearly over the last 12 weeks"),
}
DEMO_STORY: dict[str, str] = {code: story for code, (_, _, story) in DEMO_TRENDS.items()}
_IMPROVED_LEVEL = {"N2": 0.60, "S4": 0.62, "E1": 0.65}  # burglary multiplier reached 9 months before end
_WORSENED_PEAK = {"N4": 4.0, "S2": 3.0}  # multiplier reached on the last day, from 1.0 twelve weeks before

# The second, pre-aggregated source (weekly_counts.csv: unit, week_ending, offence, count, zeros
# written): measure id, name, offence label, mean count per unit-week (a unit of average size),
# yearly amplitude and peak day of year. From homicide (about one a unit every 20 weeks) to shoplifting.
WEEKLY_OFFENCES: list[tuple[str, str, str, float, float, int]] = [
    ("homicide", "Homicide", "Homicide", 0.05, 0.0, 200),
    ("shootings", "Shootings", "Shooting incidents", 0.15, 0.2, 200),
    ("fatal_collisions", "Fatal road collisions", "Fatal road traffic collisions", 0.04, 0.1, 340),
    ("rape", "Rape", "Rape", 0.6, 0.1, 200),
    ("sexual_offences", "Other sexual offences", "Other sexual offences", 1.2, 0.1, 200),
    ("knife_crime", "Knife crime", "Knife crime", 1.0, 0.1, 210),
    ("hate_crime", "Hate crime", "Hate crime", 0.8, 0.15, 190),
    ("weapons", "Possession of weapons", "Possession of weapons", 0.7, 0.1, 210),
    ("drugs", "Drug offences", "Drug offences", 3.0, 0.1, 180),
    ("theft_person", "Theft from the person", "Theft from the person", 4.0, 0.15, 330),
    ("bicycle", "Bicycle theft", "Bicycle theft", 3.0, 0.35, 200),
    ("public_order", "Public order offences", "Public order offences", 6.0, 0.15, 200),
    ("criminal_damage", "Criminal damage and arson", "Criminal damage and arson", 8.0, 0.1, 300),
    ("shoplifting", "Shoplifting", "Shoplifting", 25.0, 0.12, 350),
]
WEEKLY_COLUMNS = ["unit", "week_ending", "offence", "count"]
WEEKLY_SEED = SEED + 2  # the weekly source's own random stream: the incident records stay as they were
WEEKLY_DISPERSION = 8.0  # gamma shape of the week-level multiplier
GAP_WEEKS = 6  # the collection gap recorded as zeros, for every unit and weekly measure
GAP_BACK = 9  # weeks from the gap's last week to the same week last year
ZERO_START_UNIT, STOP_UNIT, STOP_MEASURE, STOP_WEEKS = "S3", "E2", "criminal_damage", 4

PLANTED_DEFECTS: list[str] = [
    "2 rows with an unparseable date ('not recorded' and '31/02/2025'), at the end of the file",
    "2 rows for unit 'Z9', which is not in the config",
    "3 rows with blank latitude and longitude (allowed: they load without a map position)",
    "1 row with latitude 'abc'",
    "3 exact duplicate rows (copies of existing rows, crime_ref included)",
    "2 rows with valid coordinates outside the force area (one in London, one with latitude "
    "and longitude swapped)",
    "every record of unit N1 in the week three weeks before the last removed, its weekly_counts.csv rows of "
    "that week too: a unit-week with no data (completeness)",
    "unit E3's records start on 15 January of last year, partway through last year's year to date, and its "
    "weekly_counts.csv rows with the week ending 19 January (structure: a unit appearing)",
    "force_summary.csv, the force's own weekly totals per offence for the last 4 weeks: its burglary "
    "total for the last week is 3 more than the units' records (consistency)",
    "force_summary.csv gives 'nil' for firearms offences in the last week: a zero written as text "
    "(consistency)",
    "a declared definition change: South Division records anti-social behaviour per call, not per "
    "location, from 1 October 2026 (quality.changes in the config; changes)",
    "weekly_counts.csv, a collection gap recorded as zeros: every unit's count of every weekly measure is 0 for "
    f"the {GAP_WEEKS} weeks ending {GAP_BACK} to {GAP_BACK + GAP_WEEKS - 1} weeks before the same week last year "
    "(``planted_gap_weeks``: 2025-08-11 to 2025-09-21 for a demo ending 2026-11-22), inside last year's year to "
    "date but not its 28 days (completeness: a warning, the cycle goes ahead)",
    "weekly_counts.csv, unit S3 (Millbrook) reported nothing before the first Monday of April last year "
    "(``planted_zero_start``: 2025-04-07): its history of every weekly measure starts with zero rows, partway "
    "through last year's year to date (structure: a unit's history starting with zeros)",
    "weekly_counts.csv, unit E2 (Harbour Quay)'s criminal damage and arson stops: 0 in the 4 weeks before the "
    "period and in the period itself (``planted_stop_weeks``: 2026-10-19 to 2026-11-22), while its other "
    "measures carry on (structure: a series that stops)",
]
PLANTED_BLOCKING: list[str] = [  # only with plant_defects(..., late=True): never in `compstat demo`
    "unit N3's records of the last 5 days removed: its data for the last week has not arrived (timeliness: "
    "blocks the cycle)",
]
PLANTED_REVISION = ("late_recording: the data as issued a week earlier, without 3 of unit E4's anti-social "
                    "behaviour incidents of that week (recorded late): a cycle on it, then one on the full data, "
                    "shows a revision (revisions)")
PLANTED_UNITS = {"empty_week": "N1", "appears": "E3", "late": "N3", "revised": "E4"}
LATE_DAYS = 5
EMPTY_WEEK_BACK = 3  # weeks before the last week
SUMMARY_WEEKS = 4
SUMMARY_EXTRA = 3  # burglaries the force summary's last week gives over the units' records
LATE_RECORDS = 3
REVISED_OFFENCE = "Anti-social behaviour"
TOTAL_LABEL = "FORCE"
DEFINITION_CHANGE = {"date": "2026-10-01", "kind": "definition", "units": ["S"], "measures": ["asb"],
                     "description": "South Division records anti-social behaviour per call, not per location"}

_DIVISIONS = [("North", "N"), ("South", "S"), ("East", "E"), ("West", "W"), ("Central", "C"),
              ("Moorland", "M"), ("Valley", "V"), ("Lakeside", "L"), ("Hillside", "H")]
_NAMES = [
    "Northgate", "Riverside", "Ashworth", "Bramley Park", "Southgate", "Castleton Moor", "Millbrook",
    "Kingsmead", "Eastgate", "Harbour Quay", "Greystone", "Fernlea", "Westholme", "Hollin Green",
    "Irwell Bank", "Larkhill", "Netherton", "Oakenshaw", "Pendle View", "Queensway", "Redbrook",
    "Saltergate", "Thornbury Heath", "Upper Calder", "Whitmore", "Yarrow Bridge", "Abbeyfield",
    "Birchwood", "Clayhill", "Dunmere", "Elmstead", "Foxdenton", "Gorsey Bank", "Harrowby",
    "Ingleby Park", "Jubilee Fields", "Kestrel Rise", "Lowfield", "Moorside", "Newbold", "Orchard Lane",
    "Parkside", "Quarry Bank", "Rookwood", "Stonecliffe", "Tanners Yard", "Underhill", "Victoria Quays",
    "Waterhead", "Woodhouse", "Alderley Rise", "Beckside", "Canalside", "Dovecote", "Edgeworth",
    "Fairview", "Glenmoor", "Highcross", "Ivy Green", "Juniper Hill", "Kirkby Lea", "Lindale",
    "Marshgate", "Nettlebank", "Old Mill", "Pinfold", "Ravensmoor", "Sandybrook", "Tollbar",
    "Vicarage Fields", "Weavers Green", "Westgate", "Yewtree", "Coppice Wood", "Brindle Heath",
    "Halton Moss", "St Anne's Park", "Cotton Exchange", "Foundry Lane", "Hilltop", "Eastfield",
    "Denholme Cross",
]
_FIRST = ["Amina", "David", "Sarah", "Tom", "Priya", "Gareth", "Helen", "Kwame", "Joanne", "Imran",
          "Rachel", "Liam", "Fiona", "Marcus", "Leah", "Owen", "Nadia", "Stuart", "Claire", "Raj",
          "Emma", "Patrick", "Yasmin", "Neil", "Bethan", "Chidi", "Karen", "Sean", "Zara", "Ian"]
_LAST = ["Okafor", "Hargreaves", "Whitworth", "Kaur", "Brennan", "Ashcroft", "Mensah", "Ridley",
         "Hussain", "Pickering", "Lowe", "Nowak", "Fitzgerald", "Barraclough", "Sutcliffe", "Adeyemi",
         "Holt", "Chaudhry", "Marsden", "Doyle", "Kershaw", "Evans", "Begum", "Crowther", "Lomax",
         "Turner", "Iqbal", "Gallagher", "Sharples", "Obi"]

# relative rate by hour of day (0..23), Monday..Sunday, and yearly (amplitude, peak day of year)
_HOURS = {
    "burglary": [3, 2, 2, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 9, 10, 11, 12, 12, 10, 8, 6, 4],
    "robbery": [6, 5, 4, 2, 1, 1, 1, 2, 3, 3, 3, 4, 4, 5, 6, 8, 9, 10, 11, 12, 12, 11, 10, 8],
    "vehicle": [9, 9, 8, 7, 5, 3, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10],
    "violence": [10, 9, 7, 4, 2, 1, 1, 2, 3, 3, 4, 5, 6, 6, 6, 7, 8, 9, 10, 11, 12, 13, 13, 12],
    "asb": [4, 3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 15, 15, 14, 12, 10, 8, 6],
}
_WEEKDAYS = {
    "burglary": [1.05, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95],
    "robbery": [0.95, 0.95, 0.95, 1.0, 1.1, 1.1, 0.95],
    "vehicle": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    "violence": [0.85, 0.82, 0.85, 0.92, 1.1, 1.35, 1.2],
    "asb": [0.9, 0.88, 0.9, 0.95, 1.1, 1.2, 1.05],
}
_YEARLY = {"burglary": (0.18, 355), "robbery": (0.12, 340), "vehicle": (0.08, 320),
           "violence": (0.18, 190), "asb": (0.25, 200)}
_BACKGROUND = {"burglary": 0.5, "robbery": 0.25, "vehicle": 0.35, "violence": 0.2, "asb": 0.2}
_DISPERSION = 3.0  # gamma shape of the day-level multiplier: variance = mean + mean^2 / shape

FloatArray = npt.NDArray[np.float64]

# Named places (the incident file's ``location``): each unit has streets scattered over its area and a
# landmark at each hotspot; a record takes the name of the place nearest to it. Drawn from their own
# random stream (``PLACE_SEED``), so the records' dates, offences and coordinates are as they were.
PLACE_SEED = SEED + 11
STREETS_PER_UNIT = 24
_STREET_STEMS = ["Albert", "Alma", "Beech", "Bridge", "Brook", "Canal", "Chapel", "Cheetham", "Church", "Clarence",
                 "Cross", "Dale", "Elm", "Field", "Gas", "Grange", "Hall", "Hawthorn", "Hill", "Holly", "King",
                 "Lord", "Manor", "Market", "Mill", "Moss", "New", "Oak", "Park", "Pole", "Princess", "Queen",
                 "Railway", "Rose", "Spring", "Station", "Tib", "Union", "Victoria", "Water", "Well", "Willow"]
_STREET_KINDS = ["Street", "Road", "Lane", "Avenue", "Close", "Way", "Terrace", "Grove", "Crescent", "Drive"]
_LANDMARKS = ["{name} Shopping Centre", "{name} Bus Station", "{name} Retail Park", "Market Square, {name}",
              "{name} Railway Station", "{name} Leisure Centre"]
# a planted repeat location behind a unit's story: (unit, measure id, place, share of its records in the
# last 12 weeks moved there)
PLANTED_PLACES: list[tuple[str, str, str, float]] = [
    ("N4", "robbery", "Bramley Park Interchange (bus and tram stops)", 0.6),
    ("S2", "vehicle", "Castleton Moor Retail Park car park", 0.5),
]
PLACE_JITTER = 0.0006  # degrees: a planted place's records lie within about 60 m of it


def _layout(n_units: int, n_divisions: int | None = None) -> list[int]:
    """Units per division: ``n_divisions``, by default about sqrt(n / 1.6), of near-equal size (12: 3 x 4,
    77: 7 x 11; 78 in 8: 6 x 10 and 2 x 9)."""
    if n_units < 1:
        raise ValueError("n_units must be at least 1")
    n_div = min(n_units, n_divisions or max(1, round(math.sqrt(n_units / 1.6))))
    return [n_units // n_div + (1 if i < n_units % n_div else 0) for i in range(n_div)]


def _division(i: int) -> tuple[str, str]:
    return _DIVISIONS[i] if i < len(_DIVISIONS) else (f"Area {i + 1}", f"A{i + 1}")


def _person(k: int, rank: str) -> str:
    """A fictional officer; distinct for k < 900."""
    return f"{rank} {_FIRST[k % 30]} {_LAST[(7 * k + k // 30) % 30]}"


def demo_units(n_units: int = 12, n_divisions: int | None = None) -> list[dict[str, Any]]:
    """The unit hierarchy as config dicts: divisions of neighbourhood units with context."""
    divisions: list[dict[str, Any]] = []
    k = 0
    for i, size in enumerate(_layout(n_units, n_divisions)):
        name, code = _division(i)
        children: list[dict[str, Any]] = []
        for j in range(size):
            rng = np.random.default_rng([SEED, i, j])  # the same unit whatever n_units is
            deprivation = float(rng.beta(2.0, 2.5))
            children.append({
                "code": f"{code}{j + 1}",
                "name": _NAMES[k] if k < len(_NAMES) else f"Neighbourhood {k + 1}",
                "commander": _person(100 + k, "Ch Insp" if j % 3 == 0 else "Insp"),
                "population": int(round(float(rng.uniform(40_000, 160_000)), -2)),
                "context": {"deprivation": round(deprivation, 2),
                            "density": round(float(rng.uniform(8, 30) + 50 * deprivation), 1)},
            })
            k += 1
        divisions.append({
            "code": code,
            "name": f"{name} Division",
            "commander": _person(i, "Ch Supt" if i % 2 == 0 else "Supt"),
            "population": sum(c["population"] for c in children),
            "children": children,
        })
    return divisions


def _leaves(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for u in units:
        out.extend(_leaves(u["children"]) if u.get("children") else [u])
    return out


def demo_config(n_units: int = 12, data_dir: str = "../demo-data", slug: str = "demo",
                name: str = "Demo Constabulary", summary: bool = True, weekly: bool = True,
                incidents: bool = True, n_divisions: int | None = None) -> dict[str, Any]:
    """The demo force's full config as a dict matching ``compstat.config.Config``.

    Sources: ``incidents`` (incidents.csv, the five ``OFFENCES`` measures' records); ``summary``: the
    force's own weekly totals (``force_summary.csv``); ``weekly``: the pre-aggregated weekly counts of the
    ``WEEKLY_OFFENCES`` measures (``weekly_counts.csv``). Without ``incidents`` the five are counted from
    weekly_counts.csv too (``incident_offences_weekly``), as for a force whose every figure is weekly.
    """
    measures: list[dict[str, Any]] = []
    for measure_id, label, categories, _ in OFFENCES:
        measure: dict[str, Any] = {
            "id": measure_id, "name": label, "kind": "count",
            "filter": {"category": categories[0] if len(categories) == 1 else categories},
            "polarity": "lower",
        }
        if measure_id == "burglary":
            measure["target"] = {"kind": "reduction", "value": 10}
        measures.append(measure)
    if weekly:
        measures += [{"id": m, "name": label, "kind": "count", "filter": {"category": category},
                      "polarity": "lower"} for m, label, category, *_ in WEEKLY_OFFENCES]
    if not incidents:
        for measure in measures[:len(OFFENCES)]:
            category = measure["filter"]["category"]
            measure["filter"]["category"] = category[0] if isinstance(category, list) else category
    units = demo_units(n_units, n_divisions)
    commanders = {u["code"]: u["commander"] for u in _leaves(units)}
    agreements = {  # the story units: who answers for the measure, and when support or intervention follows
        # (only on a change beyond normal variation: significant, or a special cause on the SPC chart)
        code: {measure_id: {"officer": commanders[code],
                            "support_if": {"change_pct_above": support, "requires": "either"},
                            "intervene_if": {"change_pct_above": intervene, "requires": "either"}}}
        for code, measure_id, support, intervene in [("N4", "robbery", 25, 75), ("S2", "vehicle", 25, 75),
                                                     ("N2", "burglary", 0, 20)]
        if code in commanders
    }
    return {
        "organisation": {"name": name, "slug": slug,
                         **({"boundaries": f"{data_dir.rstrip('/')}/boundaries.geojson"} if incidents else {})},
        "store": "sqlite:///../compstat.db",  # beside config/, at the repository's top, as `make clean` expects
        "output_dir": "../cycles",
        "cadence": {"period": "weekly", "week_start": "monday", "year_start_month": 1, "meeting_lag_days": 3},
        "units": units,
        "measures": measures,
        "sources": ([{
            "name": "incidents",
            "path": f"{data_dir.rstrip('/')}/incidents.csv",
            "columns": {"unit": "unit", "date": "recorded_at", "category": "offence",
                        "latitude": "latitude", "longitude": "longitude", "record_id": "crime_ref",
                        "location": "location"},
        }] if incidents else []) + ([{
            "name": "weekly_counts",
            "path": f"{data_dir.rstrip('/')}/weekly_counts.csv",
            "columns": {"unit": "unit", "date": "week_ending", "category": "offence", "value": "count"},
        }] if weekly or not incidents else []) + ([{
            "name": "force_summary",
            "path": f"{data_dir.rstrip('/')}/force_summary.csv",
            "columns": {"unit": "area", "date": "week_ending", "category": "offence", "value": "count"},
        }] if summary else []),
        "quality": {
            "area": dict(zip(("min_lat", "max_lat", "min_lon", "max_lon"), FORCE_BOX, strict=True)),
            **({"totals": {"force_summary": TOTAL_LABEL}} if summary else {}),
            "changes": [DEFINITION_CHANGE] if any(d["code"] == "S" for d in units) else [],
        },
        "accountability": {
            "agreements": agreements,
            "escalation": {"levels": ["challenge", "increased challenge", "support plan", "formal intervention"],
                           "missed_meetings": [1, 2, 3], "concern_without_action": True, "support_level": 2},
            "stale_after_days": 14,
        },
        "publish": {"measures": [measure_id for measure_id, *_ in OFFENCES]},  # the report card's measures
    }


def write_config(path: Path, config: dict[str, Any], header: str) -> None:
    """Write a config dict as YAML under a ``#`` comment header, top-level keys in reading order."""
    order = ["organisation", "store", "output_dir", "cadence", "units", "measures", "sources"]
    ordered = {k: config[k] for k in order if k in config} | {k: v for k, v in config.items() if k not in order}
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.strip().splitlines())
    body = yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(comment + body, encoding="utf-8")


def _tiles(n_units: int, n_divisions: int | None = None) -> FloatArray:
    """Each unit's rectangle (south, north, west, east): divisions are rows, North at the top."""
    sizes = _layout(n_units, n_divisions)
    codes = [_division(i)[1] for i in range(len(sizes))]
    rows = sorted(range(len(sizes)), key=lambda i: (codes[i] == "S", codes[i] != "N", i))
    south, north, west, east = FORCE_BOX
    height = (north - south) / len(sizes)
    width = (east - west) / max(sizes)
    out = []
    for i, size in enumerate(sizes):
        top = north - rows.index(i) * height
        out += [[top - height, top, west + j * width, west + (j + 1) * width] for j in range(size)]
    return np.array(out, dtype=np.float64)


def _unit_scale(leaves: list[dict[str, Any]]) -> FloatArray:
    """Relative crime level of each unit: population and deprivation, mean 1."""
    pop = np.array([u["population"] for u in leaves], dtype=np.float64)
    dep = np.array([u["context"]["deprivation"] for u in leaves], dtype=np.float64)
    scale = pop * (0.6 + 0.8 * dep)
    return np.asarray(scale / scale.mean(), dtype=np.float64)


def _rates(leaves: list[dict[str, Any]], days: pd.DatetimeIndex, end: date, daily_rate: float) -> FloatArray:
    """Expected incidents per day, unit and offence: array of shape (days, units, offences)."""
    t = np.asarray((days - pd.Timestamp(end)).days, dtype=np.float64)  # <= 0
    doy = np.asarray(days.day_of_year, dtype=np.float64)
    dow = np.asarray(days.day_of_week, dtype=np.int64)
    scale = _unit_scale(leaves)
    codes = [u["code"] for u in leaves]
    lam = np.empty((len(days), len(leaves), len(OFFENCES)), dtype=np.float64)
    for o, (measure_id, _, _, share) in enumerate(OFFENCES):
        amplitude, peak = _YEARLY[measure_id]
        weekly = np.array(_WEEKDAYS[measure_id]) / np.mean(_WEEKDAYS[measure_id])
        season = (1 + amplitude * np.cos(2 * np.pi * (doy - peak) / 365.25)) * weekly[dow]
        lam[:, :, o] = daily_rate * share * season[:, None] * scale[None, :]
    for code, (measure_id, _, _) in DEMO_TRENDS.items():
        if code not in codes:
            continue
        u, o = codes.index(code), [m for m, *_ in OFFENCES].index(measure_id)
        if code in _IMPROVED_LEVEL:  # steady fall from 15 months to 9 months before the end, then held
            level = _IMPROVED_LEVEL[code]
            lam[:, u, o] *= 1 - (1 - level) * np.clip((t + 455) / 182, 0, 1)
        else:  # rise over the last twelve weeks
            lam[:, u, o] *= 1 + (_WORSENED_PEAK[code] - 1) * np.clip((t + 84) / 84, 0, 1)
    return lam


def _hotspots(rng: np.random.Generator, tiles: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """2-4 Gaussian hotspots per unit: centres (units, 4, 2), spreads (units, 4), cumulative weights."""
    n = len(tiles)
    count = rng.integers(2, 5, size=n)
    fx, fy = rng.uniform(0.15, 0.85, size=(2, n, 4))
    centres = np.stack([tiles[:, [0]] + fy * (tiles[:, [1]] - tiles[:, [0]]),
                        tiles[:, [2]] + fx * (tiles[:, [3]] - tiles[:, [2]])], axis=-1)
    size = np.minimum(tiles[:, 1] - tiles[:, 0], tiles[:, 3] - tiles[:, 2])
    spread = rng.uniform(0.05, 0.12, size=(n, 4)) * size[:, None]
    weights = rng.uniform(0.5, 1.5, size=(n, 4)) * (np.arange(4)[None, :] < count[:, None])
    cumulative = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    return centres, spread, cumulative


def _draw_counts(rng: np.random.Generator, leaves: list[dict[str, Any]], end: date, years: int,
                 daily_rate: float) -> tuple[pd.DatetimeIndex, FloatArray, npt.NDArray[np.int64]]:
    """The days, the expected rates and the drawn incident counts (days, units, offences)."""
    days = pd.date_range(date(end.year - years, 1, 1), end, freq="D")
    lam = _rates(leaves, days, end, daily_rate)
    lam *= rng.gamma(_DISPERSION, 1 / _DISPERSION, size=lam.shape)
    return days, lam, rng.poisson(lam)


def daily_counts(end: date, n_units: int = 12, years: int = 3, daily_rate: float = 2.0,
                 seed: int = SEED) -> pd.DataFrame:
    """The number of incidents per day, unit and measure that ``generate_incidents`` draws for the same
    arguments, without writing the records (fast: for tests of the statistics over many periods).

    Columns: date, unit, measure_id, count (days with none included).
    """
    leaves = _leaves(demo_units(n_units))
    days, _, grid = _draw_counts(np.random.default_rng(seed), leaves, end, years, daily_rate)
    d, u, o = np.indices(grid.shape).reshape(3, -1)
    return pd.DataFrame({"date": days[d], "unit": np.array([x["code"] for x in leaves], dtype=object)[u],
                         "measure_id": np.array([m for m, *_ in OFFENCES], dtype=object)[o],
                         "count": grid.ravel()})


def generate_incidents(end: date, n_units: int = 12, years: int = 3, daily_rate: float = 2.0,
                       seed: int = SEED) -> pd.DataFrame:
    """Incident records from 1 January of ``end.year - years`` to ``end``, in time order.

    ``daily_rate`` is the mean number of incidents per unit per day over all offences.
    Columns: crime_ref, recorded_at ("YYYY-MM-DD HH:MM"), unit, offence, latitude, longitude, location
    (the nearest named place, ``unit_places``; ``PLANTED_PLACES`` behind the story units).
    """
    rng = np.random.default_rng(seed)
    leaves = _leaves(demo_units(n_units))
    days, lam, grid = _draw_counts(rng, leaves, end, years, daily_rate)
    counts = grid.ravel()
    cell = np.repeat(np.arange(counts.size), counts)
    d, u, o = np.unravel_index(cell, lam.shape)
    n = cell.size

    # time of day by offence, then put the records in time order
    minute = rng.integers(0, 60, size=n)
    hour = np.empty(n, dtype=np.int64)
    draw = rng.random(n)
    for k, (measure_id, *_) in enumerate(OFFENCES):
        mask = o == k
        profile = np.cumsum(_HOURS[measure_id], dtype=np.float64)
        hour[mask] = np.searchsorted(profile / profile[-1], draw[mask], side="right")
    clock = hour * 60 + minute
    order = np.lexsort((clock, d))
    d, u, o, clock = d[order], u[order], o[order], clock[order]

    # offence label: vehicle crime splits into theft of / theft from
    labels = np.array([c for _, _, cats, _ in OFFENCES for c in cats], dtype=object)
    first = np.cumsum([0] + [len(cats) for _, _, cats, _ in OFFENCES])[:-1]
    label = first[o] + ((o == 2) & (rng.random(n) >= _THEFT_OF_SHARE))

    # coordinates: hotspots plus uniform background, clipped to the unit's tile
    tiles = _tiles(n_units)
    centres, spread, cumulative = _hotspots(rng, tiles)
    background = np.array([_BACKGROUND[m] for m, *_ in OFFENCES])[o]
    component = np.minimum((rng.random(n)[:, None] > cumulative[u]).sum(axis=1), 3)
    noise = rng.standard_normal((n, 2)) * spread[u, component][:, None]
    spot = centres[u, component] + noise
    uniform = rng.random((n, 2))
    flat = np.stack([tiles[u, 0] + uniform[:, 0] * (tiles[u, 1] - tiles[u, 0]),
                     tiles[u, 2] + uniform[:, 1] * (tiles[u, 3] - tiles[u, 2])], axis=1)
    point = np.where((rng.random(n) < background)[:, None], flat, spot)
    lat = np.round(np.clip(point[:, 0], tiles[u, 0], tiles[u, 1]), 5)
    lon = np.round(np.clip(point[:, 1], tiles[u, 2], tiles[u, 3]), 5)

    # references numbered within each year, in time order
    year = np.asarray(days.year, dtype=np.int64)[d]
    seq = np.arange(n) - np.searchsorted(year, year, side="left") + 1
    refs = [f"DC/{y}/{s:06d}" for y, s in zip(year.tolist(), seq.tolist(), strict=True)]
    day_text = np.array(days.strftime("%Y-%m-%d"), dtype=object)
    clock_text = np.array([f" {m // 60:02d}:{m % 60:02d}" for m in range(1440)], dtype=object)
    codes = np.array([x["code"] for x in leaves], dtype=object)
    lat, lon, location = _locations(leaves, tiles, centres, np.asarray(days)[d], pd.Timestamp(end), u, o, lat, lon)
    return pd.DataFrame({
        "crime_ref": refs,
        "recorded_at": day_text[d] + clock_text[clock],
        "unit": codes[u],
        "offence": labels[label],
        "latitude": lat,
        "longitude": lon,
        "location": location,
    })


def unit_places(leaves: list[dict[str, Any]], tiles: FloatArray,
                centres: FloatArray) -> list[tuple[list[str], FloatArray]]:
    """Each unit's named places and their positions (latitude, longitude): a landmark at each hotspot
    centre, then ``STREETS_PER_UNIT`` streets over its tile (names unique within the unit)."""
    out = []
    for i, unit in enumerate(leaves):
        rng = np.random.default_rng([PLACE_SEED, i])
        south, north, west, east = tiles[i]
        chosen = rng.permutation(len(_LANDMARKS))[:len(centres[i])]
        landmarks = [_LANDMARKS[k].format(name=unit["name"]) for k in chosen]
        stems = rng.choice(len(_STREET_STEMS), size=STREETS_PER_UNIT, replace=False)
        kinds = rng.integers(0, len(_STREET_KINDS), size=STREETS_PER_UNIT)
        streets = [f"{_STREET_STEMS[a]} {_STREET_KINDS[b]}" for a, b in zip(stems, kinds, strict=True)]
        spots = np.column_stack([south + rng.random(STREETS_PER_UNIT) * (north - south),
                                 west + rng.random(STREETS_PER_UNIT) * (east - west)])
        out.append((landmarks + streets, np.vstack([centres[i], spots])))
    return out


def _locations(leaves: list[dict[str, Any]], tiles: FloatArray, centres: FloatArray, day: Any, end: pd.Timestamp,
               u: npt.NDArray[np.int64], o: npt.NDArray[np.int64], lat: FloatArray,
               lon: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.object_]]:
    """Each record's named place (the unit's place nearest to it) and, for ``PLANTED_PLACES``, a share of
    the story offence's records of the last 12 weeks moved to the planted place (coordinates and name)."""
    places = unit_places(leaves, tiles, centres)
    location = np.empty(len(u), dtype=object)
    lat, lon = lat.copy(), lon.copy()
    scale = math.cos(math.radians(float(np.mean(tiles[:, :2]))))
    for i, (names, spots) in enumerate(places):
        rows = np.flatnonzero(u == i)
        if not len(rows):
            continue
        dy = lat[rows, None] - spots[None, :, 0]
        dx = (lon[rows, None] - spots[None, :, 1]) * scale
        location[rows] = np.asarray(names, dtype=object)[np.argmin(dy * dy + dx * dx, axis=1)]
    codes = [x["code"] for x in leaves]
    measures = [m for m, *_ in OFFENCES]
    rng = np.random.default_rng([PLACE_SEED, 99])
    recent = np.asarray(day >= np.datetime64(end - pd.Timedelta(days=83)))
    for code, measure_id, name, share in PLANTED_PLACES:
        if code not in codes:
            continue
        i = codes.index(code)
        south, north, west, east = tiles[i]
        at = (south + 0.35 * (north - south), west + 0.6 * (east - west))
        rows = np.flatnonzero((u == i) & (o == measures.index(measure_id)) & recent)
        moved = rows[rng.random(len(rows)) < share]
        lat[moved] = np.round(at[0] + rng.uniform(-PLACE_JITTER, PLACE_JITTER, len(moved)), 5)
        lon[moved] = np.round(at[1] + rng.uniform(-PLACE_JITTER, PLACE_JITTER, len(moved)) * 1.6, 5)
        location[moved] = name
    return lat, lon, location


def boundaries_geojson(n_units: int = 12, n_divisions: int | None = None) -> dict[str, Any]:
    """Each leaf unit's area (its tile: the records' coordinates lie inside it) as a GeoJSON
    FeatureCollection of polygons, the unit code in ``properties.code``."""
    leaves = _leaves(demo_units(n_units, n_divisions))
    features = []
    for unit, (south, north, west, east) in zip(leaves, _tiles(n_units, n_divisions).tolist(), strict=True):
        ring = [[round(x, 5), round(y, 5)] for x, y in
                [(west, south), (east, south), (east, north), (west, north), (west, south)]]
        features.append({"type": "Feature", "properties": {"code": unit["code"], "name": unit["name"]},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def write_boundaries(path: Path, n_units: int = 12, n_divisions: int | None = None) -> Path:
    """Write ``boundaries_geojson`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(boundaries_geojson(n_units, n_divisions)) + "\n", encoding="utf-8")
    return path


WeeklyOffence = tuple[str, str, str, float, float, int]


def incident_offences_weekly(daily_rate: float) -> list[WeeklyOffence]:
    """The five incident measures as weekly-count offences (first category label, mean per unit-week at
    ``daily_rate`` incidents per unit per day): for a force whose every measure is pre-aggregated."""
    return [(m, name, cats[0], daily_rate * share * 7, _YEARLY[m][0], _YEARLY[m][1])
            for m, name, cats, share in OFFENCES]


def week_endings(end: date, years: int = 3) -> list[date]:
    """The last day of each whole week from 1 January of ``end.year - years`` to ``end``, in order."""
    start = date(end.year - years, 1, 1)
    count = ((end - start).days + 1) // 7
    return [end - timedelta(days=7 * k) for k in range(count - 1, -1, -1)]


def weekly_counts(end: date, n_units: int = 12, years: int = 3, seed: int = WEEKLY_SEED,
                  offences: list[WeeklyOffence] | None = None, n_divisions: int | None = None) -> pd.DataFrame:
    """Pre-aggregated weekly counts per unit and offence, zeros written, weeks ending on ``end`` and each
    7 days before it back to 1 January of ``end.year - years``; its own random stream (``WEEKLY_SEED``).

    Each count is Poisson with a gamma week-level multiplier around ``rate × unit scale × season``
    (``WEEKLY_OFFENCES``, or ``offences``). Columns: unit, week_ending (YYYY-MM-DD), offence, count.
    """
    specs = WEEKLY_OFFENCES if offences is None else offences
    rng = np.random.default_rng(seed)
    leaves = _leaves(demo_units(n_units, n_divisions))
    weeks = week_endings(end, years)
    middle = pd.DatetimeIndex([w - timedelta(days=3) for w in weeks])
    doy = np.asarray(middle.day_of_year, dtype=np.float64)
    scale = _unit_scale(leaves)
    lam = np.empty((len(weeks), len(leaves), len(specs)), dtype=np.float64)
    for k, (_, _, _, rate, amplitude, peak) in enumerate(specs):
        season = 1 + amplitude * np.cos(2 * np.pi * (doy - peak) / 365.25)
        lam[:, :, k] = rate * season[:, None] * scale[None, :]
    lam *= rng.gamma(WEEKLY_DISPERSION, 1 / WEEKLY_DISPERSION, size=lam.shape)
    grid = rng.poisson(lam)
    w, u, o = np.indices(grid.shape).reshape(3, -1)
    return pd.DataFrame({
        "unit": np.array([x["code"] for x in leaves], dtype=object)[u],
        "week_ending": np.array([d.isoformat() for d in weeks], dtype=object)[w],
        "offence": np.array([label for _, _, label, *_ in specs], dtype=object)[o],
        "count": grid.ravel().astype(np.int64),
    })[WEEKLY_COLUMNS]


def planted_gap_weeks(end: date) -> tuple[date, date]:
    """First and last day of the collection gap in weekly_counts.csv (zeros for every unit and measure):
    ``GAP_WEEKS`` weeks, the last ending ``GAP_BACK`` weeks before the end of the same week last year."""
    final = end - timedelta(days=364 + 7 * GAP_BACK)
    return final - timedelta(days=7 * GAP_WEEKS - 1), final


def planted_zero_start(end: date) -> date:
    """The first day ``ZERO_START_UNIT`` reports in weekly_counts.csv: the first Monday of April last year
    (its rows before are zeros)."""
    first = date(end.year - 1, 4, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7)


def planted_stop_weeks(end: date) -> tuple[date, date]:
    """First and last day of ``STOP_UNIT``'s ``STOP_MEASURE`` zeros: the ``STOP_WEEKS`` weeks before the
    week ending ``end`` and that week."""
    return end - timedelta(days=7 * (STOP_WEEKS + 1) - 1), end


def plant_weekly_defects(frame: pd.DataFrame, end: date) -> pd.DataFrame:
    """A copy of a weekly-count frame with its three ``PLANTED_DEFECTS`` (the last three) set to zero: the
    collection gap (every unit, every offence of the frame), ``ZERO_START_UNIT``'s history starting
    with zeros and ``STOP_UNIT``'s ``STOP_MEASURE`` stopping. The unit-level defects of the incident file
    hold here too, as rows absent (not zeros): ``PLANTED_UNITS['empty_week']`` has no rows in its empty
    week and ``PLANTED_UNITS['appears']`` none before ``planted_first_day``. Units the force lacks are
    skipped."""
    out = frame.copy()
    week = pd.to_datetime(out["week_ending"], format="%Y-%m-%d").dt.date
    gap_first, gap_last = planted_gap_weeks(end)
    zero = week.between(gap_first, gap_last)
    zero |= (out["unit"] == ZERO_START_UNIT) & (week < planted_zero_start(end))
    stop_first, stop_last = planted_stop_weeks(end)
    stop_label = next(label for m, _, label, *_ in WEEKLY_OFFENCES if m == STOP_MEASURE)
    zero |= (out["unit"] == STOP_UNIT) & (out["offence"] == stop_label) & week.between(stop_first, stop_last)
    out.loc[zero, "count"] = 0
    # the incident files' unit-level defects, where the whole unit's data is absent: no rows at all
    missing = pd.Series(False, index=out.index)
    empty_first, empty_last = planted_empty_week(end)
    missing |= (out["unit"] == PLANTED_UNITS["empty_week"]) & week.between(empty_first, empty_last)
    missing |= (out["unit"] == PLANTED_UNITS["appears"]) & (week < planted_first_day(end))
    return out[~missing].reset_index(drop=True)


def _planted_unit(codes: list[str], role: str) -> str | None:
    """The unit a planted defect uses (``PLANTED_UNITS``), if the force has it."""
    code = PLANTED_UNITS[role]
    return code if code in codes else None


def plant_defects(frame: pd.DataFrame, seed: int, late: bool = False) -> pd.DataFrame:
    """A copy of an incident frame with the ``PLANTED_DEFECTS`` that live in the incident file added
    (and, with ``late``, the ``PLANTED_BLOCKING`` one).

    Defect rows are taken from the last 8 weeks of the frame; appended rows continue the
    numbering of the frame's last crime_ref; the unparseable dates come last. The planted units
    (``PLANTED_UNITS``) are used when the force has them.
    """
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["latitude"] = out["latitude"].astype(object)
    out["longitude"] = out["longitude"].astype(object)
    last = pd.Timestamp(str(out["recorded_at"].max())[:10])
    cutoff = (last - pd.Timedelta(days=55)).strftime("%Y-%m-%d")
    recent = out.index[out["recorded_at"] >= cutoff]
    # only rows whose unit has 3+ records that day, so no unit-week is emptied
    tail = out.loc[recent]
    busy = tail.groupby(["unit", tail["recorded_at"].str[:10]])["crime_ref"].transform("size")
    codes = sorted(set(out["unit"]))
    spared = {c for c in (_planted_unit(codes, "empty_week"), _planted_unit(codes, "late")) if c}
    eligible = busy.index[(busy >= 3) & ~tail["unit"].isin(spared)]
    pick = rng.choice(np.asarray(eligible), size=13, replace=False)
    blank, abc, outside, dupes, z9, dates = (pick[0:3], pick[3:4], pick[4:6], pick[6:9], pick[9:11],
                                             pick[11:13])
    out.loc[blank, ["latitude", "longitude"]] = ""
    out.loc[abc, "latitude"] = "abc"
    out.loc[outside[0], ["latitude", "longitude"]] = [51.50135, -0.14189]
    swapped = out.loc[outside[1], ["longitude", "latitude"]].to_numpy()
    out.loc[outside[1], ["latitude", "longitude"]] = swapped

    prefix, number = str(out["crime_ref"].iloc[-1]).rsplit("/", 1)
    extra = out.loc[np.concatenate([z9, dates])].copy()
    extra["crime_ref"] = [f"{prefix}/{int(number) + k + 1:06d}" for k in range(len(extra))]
    extra["unit"] = ["Z9", "Z9", *extra["unit"].iloc[2:]]
    extra["recorded_at"] = [*extra["recorded_at"].iloc[:2], "not recorded", "31/02/2025"]
    out = pd.concat([out, out.loc[dupes], extra], ignore_index=True)

    day = out["recorded_at"].str[:10]
    drop = pd.Series(False, index=out.index)
    empty = _planted_unit(codes, "empty_week")
    if empty:
        first, final = planted_empty_week(last.date())
        drop |= (out["unit"] == empty) & day.between(first.isoformat(), final.isoformat())
    appears = _planted_unit(codes, "appears")
    if appears:
        drop |= (out["unit"] == appears) & (day < planted_first_day(last.date()).isoformat())
    slow = _planted_unit(codes, "late")
    if late and slow:
        drop |= (out["unit"] == slow) & (day > (last - pd.Timedelta(days=LATE_DAYS)).strftime("%Y-%m-%d"))
    return out[~drop].reset_index(drop=True)


def planted_empty_week(end: date) -> tuple[date, date]:
    """First and last day of the week with no records of ``PLANTED_UNITS['empty_week']``."""
    final = end - timedelta(days=7 * EMPTY_WEEK_BACK)
    return final - timedelta(days=6), final


def planted_first_day(end: date) -> date:
    """The first day of ``PLANTED_UNITS['appears']``'s records."""
    return date(end.year - 1, 1, 15)


def counted(frame: pd.DataFrame, codes: list[str]) -> pd.DataFrame:
    """The rows of a (planted) incident frame that ingest counts: a unit of the config, a date, a
    numeric or blank latitude, and not an exact copy of an earlier row."""
    day = pd.to_datetime(frame["recorded_at"], format="%Y-%m-%d %H:%M", errors="coerce")
    latitude = frame["latitude"].astype(str)
    ok = (frame["unit"].isin(codes) & day.notna() & ~frame.astype(str).duplicated()
          & (pd.to_numeric(latitude, errors="coerce").notna() | latitude.eq("")))
    return frame[ok]


def force_summary(frame: pd.DataFrame, end: date, codes: list[str], planted: bool = True) -> pd.DataFrame:
    """The force's own weekly totals per offence for the last ``SUMMARY_WEEKS`` weeks to ``end`` (the
    organisation total rows of a second source, ``quality.totals``), from the rows ingest counts.

    Columns: week_ending (YYYY-MM-DD), area (``TOTAL_LABEL``), offence, count. ``planted``: the last
    week's burglary total is ``SUMMARY_EXTRA`` too high, and a 'nil' row for firearms offences is added.
    """
    rows = counted(frame, codes)
    day = pd.to_datetime(rows["recorded_at"].str[:10], format="%Y-%m-%d")
    first = pd.Timestamp(end) - pd.Timedelta(days=7 * SUMMARY_WEEKS - 1)
    rows = rows[day >= first]
    week_ending = (pd.Timestamp(end) - ((pd.Timestamp(end) - day[rows.index]).dt.days // 7) * pd.Timedelta(days=7))
    labels = [c for _, _, cats, _ in OFFENCES for c in cats]
    weeks = [pd.Timestamp(end) - pd.Timedelta(days=7 * k) for k in range(SUMMARY_WEEKS - 1, -1, -1)]
    table = rows.groupby([week_ending, rows["offence"]]).size().reindex(
        pd.MultiIndex.from_product([weeks, labels]), fill_value=0)
    out = pd.DataFrame({"week_ending": [w.strftime("%Y-%m-%d") for w, _ in table.index], "area": TOTAL_LABEL,
                        "offence": [o for _, o in table.index], "count": table.astype(int).astype(str).to_numpy()})
    if planted:
        last_burglary = (out["week_ending"] == weeks[-1].strftime("%Y-%m-%d")) & (
            out["offence"] == "Burglary - residential")
        out.loc[last_burglary, "count"] = str(int(out.loc[last_burglary, "count"].iloc[0]) + SUMMARY_EXTRA)
        out = pd.concat([out, pd.DataFrame([{"week_ending": weeks[-1].strftime("%Y-%m-%d"), "area": TOTAL_LABEL,
                                             "offence": "Firearms offences", "count": "nil"}])],
                        ignore_index=True)
    return out


def late_recording(frame: pd.DataFrame, end: date) -> pd.DataFrame:
    """The incident frame as issued a week before ``end``: the records to ``end`` − 7 days, less
    ``LATE_RECORDS`` of ``PLANTED_UNITS['revised']``'s ``REVISED_OFFENCE`` records of that week (recorded
    late, so only the next issue has them). Without that unit, the records to ``end`` − 7 days."""
    day = frame["recorded_at"].astype(str).str[:10]
    week_end = end - timedelta(days=7)
    issued = frame[(day <= week_end.isoformat()) | ~day.str.match(r"\d{4}-\d{2}-\d{2}")]
    unit = _planted_unit(sorted(set(frame["unit"])), "revised")
    if unit is None:
        return issued
    late = issued.index[(issued["unit"] == unit) & (issued["offence"] == REVISED_OFFENCE)
                        & (day[issued.index] > (week_end - timedelta(days=7)).isoformat())][:LATE_RECORDS]
    return issued.drop(index=late)


def demo_minutes(end: date, units: list[dict[str, Any]]) -> pd.DataFrame:
    """The previous meeting's action minutes: unit, action, owner, due (YYYY-MM-DD), measure."""
    leaves = _leaves(units)
    by_code = {u["code"]: u for u in leaves}

    def unit(code: str, fallback: int) -> dict[str, Any]:
        return by_code.get(code) or leaves[fallback % len(leaves)]

    plan = [  # unit code, fallback position, action ({name}: the unit's name), owner, days from end, measure
        ("N4", 3, "Set up a problem-solving plan for the street robbery series around {name} precinct",
         None, 10, "robbery"),
        ("N4", 3, "Share robbery suspect descriptions with the night-time economy partners", "PS Dan Whitaker",
         -2, "robbery"),
        ("S2", 5, "Increase patrols in {name} car parks on Friday and Saturday nights", "Insp Sara Malik",
         -4, "vehicle"),
        ("S2", 5, 'Ask the council to fix CCTV camera <b>7</b> & relaunch the "Lock it or lose it" leaflets',
         None, 17, "vehicle"),
        ("N2", 1, "Write up the {name} target-hardening scheme for the good practice awards", None, 24,
         "burglary"),
        ("S4", 7, "Extend repeat-victim burglary visits across {name}", "PS Grace Holden", -8, "burglary"),
        ("E2", 9, "Agree a dispersal order with the council for {name} recreation ground", None, 3, "asb"),
        ("E4", 11, "Check the crime recording backlog with the Crime Management Unit", "Insp Tom Ridley", 31,
         ""),
    ]
    rows: list[dict[str, str]] = []
    for code, fallback, action, owner, offset, measure in plan:
        u = unit(code, fallback)
        rows.append({"unit": u["code"], "action": action.format(name=u["name"]),
                     "owner": owner or u["commander"], "due": (end + timedelta(days=offset)).isoformat(),
                     "measure": measure})
    return pd.DataFrame(rows, columns=MINUTES_COLUMNS)


def write_demo(out_dir: Path, end: date, n_units: int = 12, daily_rate: float = 2.0) -> dict[str, Path]:
    """Write ``incidents.csv`` (with planted defects), ``force_summary.csv``, ``weekly_counts.csv`` (with
    planted defects) and ``minutes.csv`` into ``out_dir``. Every planted defect is at most a warning, so
    the demo's cycle goes ahead."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = plant_defects(generate_incidents(end, n_units=n_units, daily_rate=daily_rate), seed=SEED + 1)
    dated = pd.to_datetime(frame["recorded_at"], format="%Y-%m-%d %H:%M", errors="coerce").notna()
    frame = pd.concat([frame[dated].sort_values("recorded_at", kind="stable"), frame[~dated]])
    paths = {"incidents": out_dir / "incidents.csv", "force_summary": out_dir / "force_summary.csv",
             "weekly_counts": out_dir / "weekly_counts.csv", "minutes": out_dir / "minutes.csv",
             "boundaries": out_dir / "boundaries.geojson"}
    write_boundaries(paths["boundaries"], n_units)
    frame.to_csv(paths["incidents"], index=False)
    codes = [u["code"] for u in _leaves(demo_units(n_units))]
    force_summary(frame, end, codes).to_csv(paths["force_summary"], index=False)
    plant_weekly_defects(weekly_counts(end, n_units), end).to_csv(paths["weekly_counts"], index=False)
    demo_minutes(end, demo_units(n_units)).to_csv(paths["minutes"], index=False)
    return paths


# The commander's spreadsheet for this unit, between the two meetings: action text (start) ->
# the cells filled in (status, note, support requested; done on as days after the meeting).
DEMO_UPDATES_UNIT = "N4"
DEMO_UPDATES: dict[str, dict[str, object]] = {
    "Share robbery suspect descriptions": {"status": "done", "note": "Descriptions briefed to 14 venues on Friday",
                                           "done_on": 2},
    "Set up a problem-solving plan": {"status": "in progress", "note": "Problem profile drafted with the analyst",
                                      "support_requested": "Two days of a crime analyst"},
}


@dataclass(frozen=True)
class DemoFollowUp:
    """What ``record_demo_follow_up`` did, for the CLI to report."""

    meeting: str
    added: int
    already_recorded: bool
    sheet: Path
    applied: int
    unchanged: int


def record_demo_follow_up(session: Session, config: Config, minutes: Path, last_day: date,
                          out_dir: Path) -> DemoFollowUp:
    """The last meeting and what happened after it, as the packs of the next cycle will show it.

    The meeting reviewed the period before the one ending ``last_day``: its minutes are imported
    as held at noon on its meeting day. ``DEMO_UPDATES_UNIT``'s open actions are then exported for
    the next meeting, filled in with openpyxl as ``DEMO_UPDATES`` says and imported as from its
    commander at 18:00 on ``last_day`` (before the next cycle runs). Run again, nothing is added
    twice: the minutes are recognised and the sheet's rows are unchanged.
    """
    from compstat.actions import import_minutes, meeting_date
    from compstat.actions.spreadsheet import export_actions, export_name, import_action_updates
    from compstat.periods import last_complete_period, previous_period
    from compstat.safepaths import confined

    upcoming = last_complete_period(last_day + timedelta(days=1), config.cadence)
    last_meeting = previous_period(upcoming, config.cadence)
    held = datetime.combine(meeting_date(config, last_meeting), time(12))
    recorded = import_minutes(session, config, minutes, last_meeting, by="demo", at=held)
    publish_demo_actions(session, config, held)
    sheet = confined(out_dir, export_name(DEMO_UPDATES_UNIT, upcoming))
    export_actions(session, config, DEMO_UPDATES_UNIT, sheet, upcoming, by="performance team",
                   at=held + timedelta(hours=3))
    commander_fills_in(sheet, DEMO_UPDATES, held.date())
    commander = next(u.commander for u in config.leaf_units if u.code == DEMO_UPDATES_UNIT) or "the commander"
    updated_at = min(datetime.combine(last_day, time(18)), datetime.now().replace(microsecond=0))
    report = import_action_updates(session, config, sheet, commander, at=updated_at)
    return DemoFollowUp(meeting=last_meeting.label, added=recorded.added,
                        already_recorded=recorded.imported_before is not None, sheet=sheet,
                        applied=len(report.of("applied")), unchanged=len(report.of("unchanged")))


DEMO_PUBLIC = ("Set up a problem-solving plan for the street robbery series",
               "Agree a dispersal order with the council")  # what the public report card says is being done


def publish_demo_actions(session: Session, config: Config, held: datetime) -> None:
    """Mark the demo's actions on its top public concerns (``DEMO_PUBLIC``) public, as the performance team would
    after the meeting (at ``held``, the meeting itself: not an update the units made since)."""
    from sqlalchemy import select

    from compstat.actions.log import update_action
    from compstat.store import Action

    for action in session.scalars(select(Action).where(Action.org == config.organisation.slug)):
        if action.description.startswith(DEMO_PUBLIC) and not action.public:
            update_action(session, action.id, "performance team", public=True, at=held)


@dataclass(frozen=True)
class DemoAccount:
    """A demo sign-in for ``compstat serve``: ``password`` is None when the account was already there."""

    username: str
    description: str
    password: str | None


def make_demo_accounts(session: Session, config: Config) -> list[DemoAccount]:
    """Sign-ins for trying ``compstat serve`` on the demo: ``DEMO_UPDATES_UNIT``'s commander, its division's
    commander, the chair and an analyst, each with a random password and no change asked for at the first
    sign-in (demo only). An account already there is left as it was (its password is not shown again)."""
    import secrets

    from compstat.hierarchy import division_leaves, divisions
    from compstat.web.accounts import add_user, find_user

    unit = next(u for u in config.leaf_units if u.code == DEMO_UPDATES_UNIT)
    below = division_leaves(config)
    division = next(d for d in divisions(config) if DEMO_UPDATES_UNIT in below[d.code])
    wanted = [(f"{unit.code.lower()}.commander", "commander", [unit.code], unit.commander or "",
               f"commander of {unit.code} {unit.name}"),
              (f"{division.name.split()[0].lower()}.commander", "division", [division.code], division.commander or "",
               f"division commander of {division.code} {division.name}"),
              ("chair", "chair", [], "The chair (demo)", "the chair: every unit"),
              ("analyst", "analyst", [], "Performance analyst (demo)", "an analyst: every unit")]
    made = []
    for username, role, units, name, description in wanted:
        if find_user(session, config.organisation.slug, username) is not None:
            made.append(DemoAccount(username, description, None))
            continue
        secret = secrets.token_urlsafe(9)
        add_user(session, config, username, role, units, display_name=name, password=secret)
        made.append(DemoAccount(username, description, secret))
    return made


def commander_fills_in(path: Path, updates: dict[str, dict[str, object]], meeting: date) -> None:
    """Fill in an exported actions sheet as a commander would: for each row whose action starts
    with a key of ``updates``, set its editable cells (``done_on``: days after ``meeting``)."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    from compstat.actions.spreadsheet import COLUMNS, SHEET

    column = {c.key: i for i, c in enumerate(COLUMNS, start=1)}
    book = load_workbook(path)
    sheet = book[SHEET]
    for r in range(2, sheet.max_row + 1):
        text = str(sheet.cell(r, column["action"]).value or "")
        for start, cells in updates.items():
            if not text.startswith(start):
                continue
            for key, value in cells.items():
                if key == "done_on":
                    value = datetime.combine(meeting + timedelta(days=int(str(value))), time())
                sheet.cell(r, column[key]).value = value
    book.save(path)
