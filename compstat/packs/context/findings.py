"""What the chair reads across units: the force-wide themes and the ranked lists of what to
probe and what to recognise.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from compstat.analysis.measures import TOTAL
from compstat.packs.context.common import headline_window, is_missing, measure_labels, spc_word, text_of
from compstat.packs.context.themes import Themes, force_themes
from compstat.results import CycleData

CHAIR_FINDINGS = 10


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


@dataclass(frozen=True)
class Findings:
    """A ranked list of findings across units (what to probe, or what to recognise)."""

    rows: tuple[FindingRow, ...]
    empty_message: str


def finding_rows(frame: pd.DataFrame | None, names: dict[str, str]) -> tuple[FindingRow, ...]:
    if frame is None or frame.empty:
        return ()
    frame = frame[frame["unit_code"] != TOTAL]
    rows = frame.sort_values("rank").head(CHAIR_FINDINGS).to_dict(orient="records")
    return tuple(FindingRow(int(r["rank"]), str(r["unit_code"]), names.get(str(r["unit_code"]), str(r["unit_code"])),
                            str(r["measure_name"]), str(r["reason"]), text_of(r.get("kind"))) for r in rows)


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
