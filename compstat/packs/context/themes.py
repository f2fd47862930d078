"""Force-wide themes for the chair: measures worsening on their own history in many units.

A finding on counts below ``small_number`` in both periods never counts towards a theme (the same
guard as ``probe.rests_on_few_events``, which drops such findings before they get here).

A unit counts towards a measure's theme only when its concern rests on its own history: a
significant change or an SPC special cause (``evidence`` ``change`` or ``spc`` in
``AnalysisResult.probe``). A unit that is only off its target's trajectory, or only worse than
its peers, is not worsening, so it does not count (a falling count can be off trajectory).
Beside each measure: the organisation's own change in the headline window and its SPC variation,
so the chair sees whether the force as a whole moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from compstat.analysis.measures import TOTAL
from compstat.analysis.significance import NOT_TESTED
from compstat.results import CycleData

THEME_UNITS = 3  # a measure worsening in this many units is a force-wide theme
OWN_HISTORY = ("change", "spc")
THEME_LABEL = "▲ theme"


@dataclass(frozen=True)
class ThemeRow:
    """One reported measure: the units worsening and improving on their own history, and the force's figures.

    ``force_current``/``force_previous``/``force_pct`` are the organisation's headline-window
    figures against last year (NaN without them); ``force_test`` the significance label (counts
    only); ``force_spc`` the SPC variation in words, with its symbol."""

    measure_id: str
    measure_name: str
    kind: str
    value_label: str
    n_worsening: int
    worsening: str
    n_improving: int
    improving: str
    theme_label: str
    force_current: float
    force_previous: float
    force_pct: float
    force_test: str
    force_spc: str


@dataclass(frozen=True)
class Themes:
    """The chair's 'Force-wide themes' section: every reported measure, themes first."""

    rows: tuple[ThemeRow, ...]
    lead: str
    window_label: str
    summary: str


def units_by_measure(findings: pd.DataFrame | None, leaves: list[str]) -> dict[str, list[str]]:
    """Per measure id, the leaf units (in config order) with a finding resting on their own history."""
    if findings is None or findings.empty:
        return {}
    own = findings["evidence"].fillna("").astype(str).str.split(",").map(lambda kinds: any(k in OWN_HISTORY
                                                                                            for k in kinds))
    few = findings["small_numbers"].fillna(False).astype(bool) if "small_numbers" in findings else False
    mine = findings[own & ~few & findings["unit_code"].isin(leaves)]  # never a theme from a handful of events
    order = {code: i for i, code in enumerate(leaves)}
    out: dict[str, list[str]] = {}
    for measure_id, rows in mine.groupby("measure_id"):
        out[str(measure_id)] = sorted(set(rows["unit_code"].astype(str)), key=order.__getitem__)
    return out


def force_themes(data: CycleData, window: str, window_label: str, spc_words: dict[str, str],
                 value_labels: dict[str, str]) -> Themes:
    """The themes section: ``window`` is the headline window, ``spc_words`` the organisation's SPC
    variation in words per measure, ``value_labels`` the short label shown after each measure's values."""
    config = data.config
    leaves = [u.code for u in config.leaf_units]
    names = {u.code: u.name for u in config.leaf_units}
    analysis = data.analysis
    worse = units_by_measure(analysis.probe if analysis is not None else None, leaves)
    better = units_by_measure(analysis.recognition if analysis is not None else None, leaves)
    table = data.table[(data.table["unit_code"] == TOTAL) & (data.table["window"] == window)]
    figures = {str(r["measure_id"]): r for r in table.to_dict(orient="records")}
    tests: dict[str, str] = {}
    if analysis is not None and not analysis.significance.empty:
        sig = analysis.significance
        sig = sig[(sig["unit_code"] == TOTAL) & (sig["window"] == window) & (sig["basis"] == "last_year")]
        tests = {str(m): str(label) for m, label in zip(sig["measure_id"], sig["label"], strict=True)
                 if label != NOT_TESTED}

    def who(codes: list[str]) -> str:
        return ", ".join(f"{names[c]} ({c})" for c in codes)

    rows = []
    for m in config.reported_measures:
        w, b = worse.get(m.id, []), better.get(m.id, [])
        row = figures.get(m.id, {})
        rows.append(ThemeRow(
            measure_id=m.id, measure_name=m.name, kind=m.kind, value_label=value_labels.get(m.id, ""),
            n_worsening=len(w), worsening=who(w), n_improving=len(b), improving=who(b),
            theme_label=THEME_LABEL if len(w) >= THEME_UNITS else "",
            force_current=_float(row.get("current")), force_previous=_float(row.get("previous")),
            force_pct=_float(row.get("pct_change")), force_test=tests.get(m.id, ""),
            force_spc=spc_words.get(m.id, ""),
        ))
    rows.sort(key=lambda r: -r.n_worsening)  # stable: config order among equals
    themes = [r for r in rows if r.theme_label]
    summary = ("; ".join(f"{r.measure_name} ({r.n_worsening} units)" for r in themes) if themes
               else f"No measure is worsening on its own history in {THEME_UNITS} or more units")
    lead = (f"A unit counts as worsening on a measure when its own history shows it: a significant change "
            f"against last year or an SPC special cause of concern (not a missed trajectory or a gap to similar "
            f"units alone). A measure worsening in {THEME_UNITS} or more of the {len(leaves)} units is a "
            "force-wide theme.")
    return Themes(rows=tuple(rows), lead=lead, window_label=window_label, summary=summary)


def _float(value: object) -> float:
    if value is None:
        return math.nan
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number
