"""What the chair reads across units: the force-wide themes and the ranked lists of what to
probe and what to recognise: the top ``CHAIR_FINDINGS`` in the body, every finding grouped by
parent (division, borough, area) in the appendix.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from compstat.config import Config
from compstat.figures import TOTAL
from compstat.packs.context.common import (
    headline_window,
    is_missing,
    measure_labels,
    plural,
    spc_word,
    text_of,
    unit_names,
)
from compstat.packs.context.themes import Themes, force_themes
from compstat.results import CycleData

CHAIR_FINDINGS = 10  # findings in the body of the chair's pack
APPENDIX_PER_UNIT = 3  # findings per unit in the appendix (each unit's pack has them all)


@dataclass(frozen=True)
class FindingRow:
    """One ranked finding for the chair; ``kind`` says why a recognition candidate is one (most
    improved, best, or both; empty for concerns)."""

    rank: int
    unit_code: str
    unit_name: str
    measure_name: str
    reason: str
    kind: str = ""
    level: str = ""  # "division" for a division's own finding (its units' sum); empty for a unit's


LEVEL_WORDS = {"division": "division"}


@dataclass(frozen=True)
class Findings:
    """A ranked list of findings across units (what to probe, or what to recognise)."""

    rows: tuple[FindingRow, ...]
    empty_message: str
    more: int = 0  # findings beyond ``rows``, listed in the appendix
    more_where: str = ""  # the appendix section that lists them
    on_sheets: bool = False  # ``packs.unit_packs: called``: the appendix lists the called units', sheets the rest

    @property
    def more_message(self) -> str:
        if not self.more:
            return ""
        top = APPENDIX_PER_UNIT
        if not self.on_sheets:
            return f"… and {plural(self.more, 'more finding')}: each unit's top {top} are in {self.more_where}."
        called = f"each called unit's top {top} are in {self.more_where}; " if self.more_where else ""
        return f"… and {plural(self.more, 'more finding')}: {called}the other units' are on their CompStat sheets."


@dataclass(frozen=True)
class FindingGroup:
    """Every finding about the units under one parent (its name; empty at the top), in rank order."""

    parent: str
    rows: tuple[FindingRow, ...]


def finding_rows(frame: pd.DataFrame | None, names: dict[str, str],
                 limit: int | None = CHAIR_FINDINGS) -> tuple[FindingRow, ...]:
    """The units' and divisions' findings in rank order (not the organisation's), the first ``limit`` (None: all)."""
    if frame is None or frame.empty:
        return ()
    frame = frame[frame["unit_code"] != TOTAL].sort_values("rank")
    rows = (frame if limit is None else frame.head(limit)).to_dict(orient="records")
    return tuple(FindingRow(int(r["rank"]), str(r["unit_code"]), names.get(str(r["unit_code"]), str(r["unit_code"])),
                            str(r["measure_name"]), str(r["reason"]), text_of(r.get("kind")),
                            LEVEL_WORDS.get(text_of(r.get("level")), "")) for r in rows)


def top_findings(frame: pd.DataFrame | None, names: dict[str, str], empty_message: str, where: str) -> Findings:
    """The top ``CHAIR_FINDINGS`` leaf-unit findings, with how many more ``where`` (the appendix) lists."""
    every = finding_rows(frame, names, None)
    return Findings(every[:CHAIR_FINDINGS], empty_message, max(0, len(every) - CHAIR_FINDINGS), where)


def findings_by_parent(frame: pd.DataFrame | None, config: Config,
                       per_unit: int = APPENDIX_PER_UNIT) -> tuple[FindingGroup, ...]:
    """Each unit's top ``per_unit`` findings, grouped under the unit's parent (a parent's own findings,
    if the analysis has any, in its group), parents in config order, rank order within."""
    names = unit_names(config)
    parents = config.parents()
    order = {code: i for i, code in enumerate(names)}
    above = set(parents.values())
    grouped: dict[str, list[FindingRow]] = {}
    shown: dict[str, int] = {}
    for row in finding_rows(frame, names, None):
        shown[row.unit_code] = shown.get(row.unit_code, 0) + 1
        if shown[row.unit_code] <= per_unit:  # a parent's own findings head its group
            group = row.unit_code if row.unit_code in above else parents.get(row.unit_code) or ""
            grouped.setdefault(group, []).append(row)
    return tuple(FindingGroup(names.get(parent, parent) if parent else "", tuple(rows))
                 for parent, rows in sorted(grouped.items(), key=lambda kv: order.get(kv[0], -1)))


def themes_section(data: CycleData) -> Themes:
    """Force-wide themes (``themes.force_themes``) in the headline window, with the organisation's SPC words."""
    window = headline_window(data)
    label = next((w.label for w in data.windows if w.key == window), window)
    words: dict[str, str] = {}
    if data.analysis is not None:
        spc = data.analysis.spc
        for r in spc[spc["unit_code"] == TOTAL].to_dict(orient="records"):
            if not is_missing(r["variation"]):
                above = not is_missing(r["y"]) and not is_missing(r["mean"]) and float(r["y"]) > float(r["mean"])
                words[str(r["measure_id"])] = spc_word(r["variation"], above)
    labels = {m.id: measure_labels(m)[0] for m in data.config.reported_measures}
    return force_themes(data, window, label, words, labels)
