"""The middle of the hierarchy: divisions (patrol boroughs, areas) between the organisation and
its accountable units.

A *division* is any unit of the config with units below it (``units[].children``), at any
depth, except one that holds every accountable unit (that is the organisation itself, already
the ``_total`` rows). A division's figures are those of its accountable units (the leaves below
it) added together, day by day, exactly as the organisation's total is built: counts are the
sum; rates come from the summed numerator and denominator; supplied values from their summed
total and row count (``aggregate``). Its population is its configured one, else the sum of its
children's (when all are known).

``level`` names where a unit stands: ``unit`` (accountable, no children), ``division`` (any
level in between; ``depth`` says how far below the top of ``units`` it is, 0 = top) or
``organisation``. All functions here are pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from compstat.config import Config, Unit, iter_units

UNIT, DIVISION, ORGANISATION = "unit", "division", "organisation"
MARK_COLUMNS = ["unit_code", "measure_id", "window", "like_for_like", "fragile", "reason"]


def _leaves_below(unit: Unit) -> list[str]:
    if not unit.children:
        return [unit.code]
    return [code for child in unit.children for code in _leaves_below(child)]


def division_leaves(config: Config) -> dict[str, list[str]]:
    """Each division's accountable units (the leaves below it), in config order."""
    every = {u.code for u in config.leaf_units}
    out: dict[str, list[str]] = {}
    for unit in iter_units(config.units):
        if unit.children:
            leaves = _leaves_below(unit)
            if set(leaves) != every:
                out[unit.code] = leaves
    return out


def divisions(config: Config) -> list[Unit]:
    """The divisions (see the module docstring), in config order."""
    codes = division_leaves(config)
    return [u for u in iter_units(config.units) if u.code in codes]


def depths(config: Config) -> dict[str, int]:
    """Each unit's depth below the top of ``units`` (0 for the top level)."""
    out: dict[str, int] = {}

    def walk(units: list[Unit], depth: int) -> None:
        for u in units:
            out[u.code] = depth
            walk(u.children, depth + 1)

    walk(config.units, 0)
    return out


def unit_levels(config: Config, total: str) -> dict[str, str]:
    """``unit``, ``division`` or ``organisation`` for every accountable unit, division and ``total``."""
    levels = {u.code: UNIT for u in config.leaf_units} | {u.code: DIVISION for u in divisions(config)}
    return levels | {total: ORGANISATION}


def division_peer_groups(config: Config) -> dict[str, tuple[str, list[str]]]:
    """Divisions are compared with the other divisions at the same depth, where there are at
    least two: ``{code: (group name, [peer codes])}``; a division alone at its depth is absent."""
    depth = depths(config)
    by_depth: dict[int, list[str]] = {}
    for u in divisions(config):
        by_depth.setdefault(depth[u.code], []).append(u.code)
    out: dict[str, tuple[str, list[str]]] = {}
    for d, codes in by_depth.items():
        if len(codes) >= 2:
            for code in codes:
                out[code] = (f"divisions at level {d + 1}", [c for c in codes if c != code])
    return out


def division_populations(config: Config) -> dict[str, float]:
    """Each division's population: its own, else the sum of its children's (NaN if any is unknown)."""
    out: dict[str, float] = {}

    def population(unit: Unit) -> float:
        if unit.population:
            return float(unit.population)
        if not unit.children:
            return np.nan
        parts = [population(c) for c in unit.children]
        return float(sum(parts)) if not any(np.isnan(p) for p in parts) else np.nan

    for unit in divisions(config):
        out[unit.code] = population(unit)
    return out


def roll_up(daily: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Rows of every division: ``total`` and ``n`` summed over its accountable units per measure and
    day (``measures.DAILY_COLUMNS``); an empty frame with the same columns when there are none."""
    pairs = [(leaf, code) for code, leaves in division_leaves(config).items() for leaf in leaves]
    if not pairs or daily.empty:
        return daily.iloc[:0]
    links = pd.DataFrame(pairs, columns=["unit_code", "division"])
    joined = daily.merge(links, on="unit_code")
    out = joined.groupby(["division", "measure_id", "date"], as_index=False)[["total", "n"]].sum()
    return out.rename(columns={"division": "unit_code"})[list(daily.columns)]


def roll_up_marks(marks: pd.DataFrame | None, config: Config) -> pd.DataFrame | None:
    """The quality step's comparison marks (``QualityResult.comparisons``) with each division's
    added: a division's comparison is not like-for-like when any of its units' is; the reason names
    those units. Fragility is not rolled up: it weighs one unit's late recording against that unit's
    own change, not the division's. Rows already given for a division are kept as they are."""
    if marks is None or marks.empty:
        return marks
    frame = marks[[c for c in MARK_COLUMNS if c in marks.columns]]
    names = {u.code: u.name for u in iter_units(config.units)}
    # Plain lists, read once: rows not like-for-like as (unit, measure, window, reason) in frame order.
    codes = frame["unit_code"].astype(str).tolist()
    given = set(zip(codes, frame["measure_id"].astype(str), frame["window"].astype(str), strict=True))
    reasons = frame["reason"].tolist() if "reason" in frame.columns else [None] * len(frame)
    measure_ids, windows = frame["measure_id"].tolist(), frame["window"].tolist()
    unmarked = [(codes[i], measure_ids[i], windows[i], "" if pd.isna(reasons[i]) else str(reasons[i]))
                for i, like in enumerate(frame["like_for_like"].astype(bool).tolist())
                if not like and not pd.isna(measure_ids[i]) and not pd.isna(windows[i])]
    rows = []
    for code, leaves in division_leaves(config).items():
        below = set(leaves)
        groups: dict[tuple[object, object], list[tuple[str, str]]] = {}  # in order of appearance, as groupby
        for unit, measure_id, window, reason in unmarked:
            if unit in below:
                groups.setdefault((measure_id, window), []).append((unit, reason))
        for (measure_id, window), marked in groups.items():
            if (code, str(measure_id), str(window)) in given:
                continue
            by_reason: dict[str, list[str]] = {}
            for unit, reason in marked:
                by_reason.setdefault(reason, []).append(f"{names.get(unit, unit)} ({unit})")
            text = "; ".join(f"in {', '.join(units)}" + (f": {reason}" if reason else "")
                             for reason, units in by_reason.items())
            rows.append({"unit_code": code, "measure_id": measure_id, "window": window,
                         "like_for_like": False, "fragile": False, "reason": text})
    if not rows:
        return marks
    added = pd.DataFrame(rows)
    return pd.concat([marks, added.reindex(columns=marks.columns)], ignore_index=True)
