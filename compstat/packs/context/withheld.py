"""Recognition withheld by a quality caveat: the improvements a unit would be recognised for were its
comparisons sound, so that a cover saying "nothing to recognise" also says what was held back and why.

The analysis drops an improvement whose cited comparison is not like-for-like (``analysis.probe``: no one
is thanked for a fall that may be a change in the data). Here the unit's findings are ranked again with
the same rule (``probe.rank_findings``) on the same evidence but without the quality step's marks; an
improvement found then and not in the cycle's recognition list was withheld by its caveat, whose reason
(``QualityResult.comparisons``) the sentence gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from compstat.analysis.probe import rank_findings
from compstat.hierarchy import roll_up_marks
from compstat.packs.context.common import text_of
from compstat.packs.lookup import PEERS, RARE, RECOGNITION, SIGNIFICANCE, SPC, TRAJECTORY, per_cycle, unit_rows
from compstat.results import CycleData


@dataclass(frozen=True)
class Withheld:
    """One improvement not recognised, its evidence and the caveat that held it back."""

    measure: str
    finding: str
    caveat: str

    @property
    def sentence(self) -> str:
        return (f"An improvement in {self.measure.lower()} is not recognised because the comparison is not "
                f"like-for-like ({self.caveat}): {self.finding}")


def withheld_recognition(data: CycleData, unit_code: str) -> tuple[Withheld, ...]:
    """The unit's improvements withheld by a not-like-for-like comparison, best first; () without analysis
    or quality marks."""
    analysis, quality = data.analysis, data.quality
    if analysis is None or quality is None or quality.comparisons.empty:
        return ()
    marks = per_cycle(data, "withheld-marks", lambda: _not_like_for_like(data))
    if not any(key[0] == unit_code for key in marks):
        return ()
    frames = [unit_rows(data, frame, unit_code) for frame in (SIGNIFICANCE, SPC, PEERS, TRAJECTORY, RARE)]
    _, unmarked = rank_findings(frames[0], frames[1], frames[2], frames[3], data.config, None, frames[4])
    recognised = set(unit_rows(data, RECOGNITION, unit_code)["measure_id"].astype(str)) \
        if not analysis.recognition.empty else set()
    out = []
    for r in unmarked.to_dict(orient="records"):
        key = (unit_code, str(r["measure_id"]), str(r["window"]))
        if str(r["measure_id"]) in recognised or key not in marks:
            continue
        out.append(Withheld(str(r["measure_name"]), str(r["reason"]), marks[key]))
    return tuple(out)


def _not_like_for_like(data: CycleData) -> dict[tuple[str, str, str], str]:
    """(unit, measure, window) → the reason, for every comparison the quality step marks not like-for-like."""
    assert data.quality is not None
    frame = roll_up_marks(data.quality.comparisons, data.config)
    assert frame is not None
    return {(str(r["unit_code"]), str(r["measure_id"]), str(r["window"])): text_of(r["reason"]) or
            "see the data-quality notes" for r in frame.to_dict(orient="records") if not bool(r["like_for_like"])}
