"""Force-wide themes for the chair: measures worsening on their own history in many units.

A unit counts towards a measure's theme only when its concern rests on its own history: a
significant change or an SPC special cause (``evidence`` ``change`` or ``spc`` in
``AnalysisResult.probe``). A unit that is only off its target's trajectory, or only worse than
its peers, is not worsening, so it does not count (a falling count can be off trajectory).
Improving units are read the same way from ``AnalysisResult.recognition``.

Three guards keep noise out of the themes (self-contained here, whatever the analysis ranks):

- **No small-number changes.** The counts a finding compares (for a rate, its numerator's counts
  in the finding's window) must differ by more than ``MIN_EVENTS`` and not both be below
  ``small_number``: one murder against none is a case to discuss, not a trend.
- **The right direction.** A unit is worsening only when its count moved the bad way (up for a
  lower-is-better measure) and improving only when it moved the good way.
- **Once per measure.** A unit with findings both ways on one measure (in different windows) is
  listed once, on the side of its higher-scoring finding.

Beside each measure: the organisation's own change in the headline window and its SPC variation,
so the chair sees whether the force as a whole moved. Long lists of units are summarised by
parent (division, borough, area) in the body; ``ThemeRow.details`` names every unit, grouped by
parent, for the appendix.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from compstat.analysis.probe import rests_on_few_events
from compstat.analysis.significance import NOT_TESTED, SIGNIFICANT_DECREASE, SIGNIFICANT_INCREASE
from compstat.analysis.spc import CONCERN, IMPROVEMENT
from compstat.config import Config, iter_units
from compstat.figures import TOTAL
from compstat.results import CycleData

THEME_UNITS = 3  # a measure worsening in this many units is a force-wide theme
OWN_HISTORY = ("change", "spc")
THEME_LABEL = "▲ theme"
MIN_EVENTS = 2  # a change of this many events or fewer is noise, never part of a theme
SUMMARY_THEMES = 3  # themes named in the summary (the agenda's line), the rest counted
LISTED_UNITS = 6  # more units than this are summarised by parent in the body, named in the appendix


@dataclass(frozen=True)
class UnitGroup:
    """Units under one parent (division, borough, area): its name and the units as ``name (code)``."""

    parent: str
    units: tuple[str, ...]


@dataclass(frozen=True)
class ThemeRow:
    """One reported measure: the units worsening and improving on their own history, and the force's figures.

    ``worsening``/``improving`` are the body's text: every unit by name when there are at most
    ``LISTED_UNITS``, else the count per parent; ``worsening_groups``/``improving_groups`` name every
    unit by parent (the appendix shows them when ``listed_in_appendix``). ``force_current``/
    ``force_previous``/``force_pct`` are the organisation's headline-window figures against last year
    (NaN without them); ``force_test`` the significance label (counts only); ``force_spc`` the SPC
    variation in words, with its symbol."""

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
    worsening_groups: tuple[UnitGroup, ...] = ()
    improving_groups: tuple[UnitGroup, ...] = ()
    quiet: bool = False  # no unit moving on its own history, the force's change not significant, its SPC common cause

    @property
    def sides(self) -> tuple[tuple[str, int, tuple[UnitGroup, ...]], ...]:
        """(label, count, units by parent) for the worsening and the improving units, for the appendix."""
        return (("Worsening", self.n_worsening, self.worsening_groups),
                ("Improving", self.n_improving, self.improving_groups))

    @property
    def listed_in_appendix(self) -> bool:
        return max(self.n_worsening, self.n_improving) > LISTED_UNITS


@dataclass(frozen=True)
class Themes:
    """The chair's 'Force-wide themes' section: every reported measure, themes first."""

    rows: tuple[ThemeRow, ...]
    lead: str
    window_label: str
    summary: str

    @property
    def shown(self) -> tuple[ThemeRow, ...]:
        """The rows with something to say (a unit moving, or the force's change or SPC): the table's rows."""
        return tuple(r for r in self.rows if not r.quiet)

    @property
    def quiet_names(self) -> str:
        """The measures with nothing to say, named on one line after the table (a chair with ten minutes)."""
        return ", ".join(r.measure_name for r in self.rows if r.quiet)

    @property
    def details(self) -> tuple[ThemeRow, ...]:
        """The rows whose units are too many to name in the body (named in the appendix)."""
        return tuple(r for r in self.rows if r.listed_in_appendix)


def _own_history(findings: pd.DataFrame) -> pd.Series:
    return findings["evidence"].fillna("").astype(str).str.split(",").map(
        lambda kinds: any(k in OWN_HISTORY for k in kinds))


def counts_compared(data: CycleData, finding: dict[Hashable, Any]) -> tuple[float, float] | None:
    """The two counts a finding's change rests on: its own figures for a count measure, the numerator's
    counts against last year in the finding's window for a rate; None for a value measure."""
    measure = data.config.measure(str(finding["measure_id"]))
    if measure.kind == "count":
        return _float(finding.get("current")), _float(finding.get("comparison"))
    if measure.kind == "rate" and measure.numerator:
        t = data.table
        row = t[(t["unit_code"] == finding["unit_code"]) & (t["measure_id"] == measure.numerator)
                & (t["window"] == finding.get("window"))]
        if not row.empty:
            return _float(row.iloc[0]["current"]), _float(row.iloc[0]["previous"])
        return math.nan, math.nan
    return None


def beyond_noise(counts: tuple[float, float] | None, small_number: int) -> bool:
    """More than ``MIN_EVENTS`` apart and not both below ``small_number`` (no counts: a value measure, kept)."""
    if counts is None:
        return True
    current, previous = counts
    if math.isnan(current) or math.isnan(previous):
        return False
    return not rests_on_few_events(current, previous, small_number, MIN_EVENTS)


def _moved(data: CycleData, finding: dict[Hashable, Any], worse: bool) -> bool:
    """Whether the finding's figures moved the way its list says (any way for a neutral measure)."""
    measure = data.config.measure(str(finding["measure_id"]))
    if measure.polarity == "neutral":
        return True
    change = _float(finding.get("current")) - _float(finding.get("comparison"))
    if math.isnan(change) or change == 0:
        return False
    up_is_worse = measure.polarity == "lower"
    return (change > 0) == (up_is_worse == worse)


def theme_units(data: CycleData) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per measure id, the leaf units (config order) worsening and improving on their own history,
    each unit at most once per measure, with noise and wrong-way findings left out (see the module)."""
    analysis = data.analysis
    leaves = [u.code for u in data.config.leaf_units]
    best: dict[tuple[str, str], tuple[float, bool]] = {}  # (measure, unit) -> (score, worsening)
    for frame, worse in ((analysis.probe if analysis is not None else None, True),
                         (analysis.recognition if analysis is not None else None, False)):
        if frame is None or frame.empty:
            continue
        few = frame["small_numbers"].fillna(False).astype(bool) if "small_numbers" in frame else False
        mine = frame[_own_history(frame) & ~few & frame["unit_code"].isin(leaves)]  # never from a handful of events
        for r in mine.to_dict(orient="records"):
            if not (_moved(data, r, worse) and beyond_noise(counts_compared(data, r), data.config.small_number)):
                continue
            key = (str(r["measure_id"]), str(r["unit_code"]))
            score = _float(r.get("score"))
            score = -math.inf if math.isnan(score) else score
            if key not in best or score > best[key][0]:
                best[key] = (score, worse)
    order = {code: i for i, code in enumerate(leaves)}
    worsening: dict[str, list[str]] = {}
    improving: dict[str, list[str]] = {}
    for (measure_id, unit), (_, worse) in sorted(best.items(), key=lambda kv: order[kv[0][1]]):
        (worsening if worse else improving).setdefault(measure_id, []).append(unit)
    return worsening, improving


def unit_groups(config: Config, codes: list[str]) -> tuple[UnitGroup, ...]:
    """``codes`` grouped by their parent (in order of first appearance), each unit as ``name (code)``;
    units at the top of the hierarchy form one group with an empty parent name."""
    parents = config.parents()
    names = {u.code: u.name for u in iter_units(config.units)}
    grouped: dict[str, list[str]] = {}
    for code in codes:
        parent = parents.get(code)
        grouped.setdefault(names.get(parent, parent) if parent else "", []).append(f"{names[code]} ({code})")
    return tuple(UnitGroup(parent, tuple(units)) for parent, units in grouped.items())


def describe_units(groups: tuple[UnitGroup, ...]) -> str:
    """Every unit by name when there are at most ``LISTED_UNITS``, else the count under each parent."""
    n = sum(len(g.units) for g in groups)
    if n <= LISTED_UNITS:
        return ", ".join(u for g in groups for u in g.units)
    if len(groups) == 1 and not groups[0].parent:
        return f"{n} units, named in the appendix"
    return "; ".join(f"{g.parent or 'others'} {len(g.units)}" for g in groups) + " (named in the appendix)"


def force_themes(data: CycleData, window: str, window_label: str, spc_words: dict[str, str],
                 value_labels: dict[str, str]) -> Themes:
    """The themes section: ``window`` is the headline window, ``spc_words`` the organisation's SPC
    variation in words per measure, ``value_labels`` the short label shown after each measure's values."""
    config = data.config
    leaves = [u.code for u in config.leaf_units]
    analysis = data.analysis
    worse, better = theme_units(data)
    table = data.table[(data.table["unit_code"] == TOTAL) & (data.table["window"] == window)]
    figures = {str(r["measure_id"]): r for r in table.to_dict(orient="records")}
    tests: dict[str, str] = {}
    if analysis is not None and not analysis.significance.empty:
        sig = analysis.significance
        sig = sig[(sig["unit_code"] == TOTAL) & (sig["window"] == window) & (sig["basis"] == "last_year")]
        tests = {str(m): str(label) for m, label in zip(sig["measure_id"], sig["label"], strict=True)
                 if label != NOT_TESTED}

    special: set[str] = set()
    if analysis is not None and not analysis.spc.empty:
        spc = analysis.spc[analysis.spc["unit_code"] == TOTAL]
        special = {str(m) for m, v in zip(spc["measure_id"], spc["variation"], strict=True)
                   if v in (CONCERN, IMPROVEMENT)}
    rows = []
    for m in config.reported_measures:
        w, b = worse.get(m.id, []), better.get(m.id, [])
        w_groups, b_groups = unit_groups(config, w), unit_groups(config, b)
        row = figures.get(m.id, {})
        rows.append(ThemeRow(
            measure_id=m.id, measure_name=m.name, kind=m.kind, value_label=value_labels.get(m.id, ""),
            n_worsening=len(w), worsening=describe_units(w_groups), n_improving=len(b),
            improving=describe_units(b_groups),
            theme_label=THEME_LABEL if len(w) >= THEME_UNITS else "",
            force_current=_float(row.get("current")), force_previous=_float(row.get("previous")),
            force_pct=_float(row.get("pct_change")), force_test=tests.get(m.id, ""),
            force_spc=spc_words.get(m.id, ""), worsening_groups=w_groups, improving_groups=b_groups,
            quiet=not (w or b) and m.id not in special
            and tests.get(m.id) not in (SIGNIFICANT_INCREASE, SIGNIFICANT_DECREASE),
        ))
    rows.sort(key=lambda r: -r.n_worsening)  # stable: config order among equals
    themes = [r for r in rows if r.theme_label]
    summary = ("; ".join(f"{r.measure_name} ({r.n_worsening} units)" for r in themes[:SUMMARY_THEMES])
               + (f"; and {len(themes) - SUMMARY_THEMES} more" if len(themes) > SUMMARY_THEMES else "") if themes
               else f"No measure is worsening on its own history in {THEME_UNITS} or more units")
    lead = (f"A unit counts as worsening on a measure when its own history shows it: a significant change "
            f"against last year or an SPC special cause of concern (not a missed trajectory or a gap to similar "
            f"units alone), resting on a change of more than {MIN_EVENTS} events and not on counts both below "
            f"{config.small_number}; each unit is listed once per measure. A measure worsening in {THEME_UNITS} or "
            f"more of the {len(leaves)} units is a force-wide theme.")
    return Themes(rows=tuple(rows), lead=lead, window_label=window_label, summary=summary)


def _float(value: object) -> float:
    if value is None:
        return math.nan
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number
