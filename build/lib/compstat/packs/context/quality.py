"""Data-quality sections: the findings a unit's pack shows (its own, the organisation-wide ones,
a count of the others) and the chair's summary of findings by severity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compstat.config import SEVERITY_NAMES
from compstat.packs.context.common import plural
from compstat.packs.filters import fmt_count
from compstat.results import CycleData


@dataclass(frozen=True)
class QualityNote:
    """One data-quality finding, in words; ``here`` says what of a finding about several units
    is this unit's (``"this unit: 1 row"``), empty otherwise."""

    severity: str
    message: str
    here: str = ""


@dataclass(frozen=True)
class QualityNotes:
    """The data-quality findings a unit's pack shows, most serious first: those about this unit
    (``notes``), those about the whole organisation or an input with no unit to point at
    (``force_notes``), and a count of those about other units only (shown in the chair's pack)."""

    notes: tuple[QualityNote, ...]
    force_notes: tuple[QualityNote, ...]
    empty_message: str
    others_message: str

    @property
    def count(self) -> int:
        return len(self.notes) + len(self.force_notes)


@dataclass(frozen=True)
class SeverityCount:
    severity: str
    count: int


@dataclass(frozen=True)
class QualitySummary:
    """Counts of findings by severity, the blocking and warning messages (with an info note that
    explains a mark), and the other info findings (``info``), so every finding counted is listed."""

    counts: tuple[SeverityCount, ...]
    notes: tuple[QualityNote, ...]
    empty_message: str
    info: tuple[QualityNote, ...] = ()


def _findings(data: CycleData) -> list[Any]:
    if data.quality is None:
        return []
    order = {s: i for i, s in enumerate(SEVERITY_NAMES)}
    return sorted(data.quality.findings, key=lambda f: order.get(f.severity, len(order)))


def quality_notes(data: CycleData, unit_code: str) -> QualityNotes:
    """The unit's own findings (``Finding.units`` names it), the organisation-wide ones (no unit
    named), and how many concern other units only; most serious first."""
    findings = _findings(data)
    mine = [f for f in findings if unit_code in f.units]
    force = [f for f in findings if not f.units]
    others = len(findings) - len(mine) - len(force)
    empty = ("Data-quality checks were not run for this cycle." if data.quality is None
             else "No data-quality finding concerns this unit.")
    others_message = (f"{plural(others, 'finding')} about other units only {'is' if others == 1 else 'are'} "
                      "in the chair's pack." if others else "")
    return QualityNotes(notes=tuple(QualityNote(f.severity, f.message, _share_here(f, unit_code)) for f in mine),
                        force_notes=tuple(QualityNote(f.severity, f.message) for f in force),
                        empty_message=empty, others_message=others_message)


def division_quality_notes(data: CycleData, leaves: list[str], names: dict[str, str]) -> QualityNotes:
    """The quality findings naming any of the division's units (saying which), and the organisation-wide ones."""
    findings = _findings(data)
    mine = set(leaves)
    notes, force, others = [], [], 0
    for f in findings:
        here = [c for c in leaves if c in f.units]
        if here:
            note = "" if set(f.units) <= mine and len(here) == 1 else "its units: " + ", ".join(
                f"{names.get(c, c)} ({c})" for c in here)
            notes.append(QualityNote(f.severity, f.message, note))
        elif not f.units:
            force.append(QualityNote(f.severity, f.message))
        else:
            others += 1
    empty = ("Data-quality checks were not run for this cycle." if data.quality is None
             else "No data-quality finding concerns the division's units.")
    others_message = (f"{plural(others, 'finding')} about units outside this division "
                      f"{'is' if others == 1 else 'are'} in the chair's pack." if others else "")
    return QualityNotes(notes=tuple(notes), force_notes=tuple(force), empty_message=empty,
                        others_message=others_message)


def _share_here(finding: Any, unit_code: str) -> str:
    """What of a finding about several units is this unit's, in words (empty when it is only this unit's
    or is about missing data or a change rather than rows)."""
    rows = finding.units[unit_code]
    if len(finding.units) == 1 or not rows:
        return ""
    return f"this unit: {plural(rows, 'row')}" + (f" of {fmt_count(finding.rows)}" if finding.rows else "")


def quality_summary(data: CycleData) -> QualitySummary:
    """Counts of quality findings by severity, with the blocking and warning messages, and the notes (info)
    that explain a mark in the tables: the revisions within tolerance behind a ``§`` (fragile) mark."""
    findings = _findings(data)
    fragile = data.quality is not None and bool(data.quality.comparisons["fragile"].astype(bool).any())
    shown = [f for f in findings if f.severity in ("blocking", "warning")
             or (fragile and f.severity == "info" and f.check == "revisions")]
    return QualitySummary(
        counts=tuple(SeverityCount(s, sum(f.severity == s for f in findings)) for s in SEVERITY_NAMES),
        notes=tuple(QualityNote(f.severity, f.message) for f in shown),
        info=tuple(QualityNote(f.severity, f.message) for f in findings if f.severity == "info" and f not in shown),
        empty_message=("Data-quality checks were not run for this cycle." if data.quality is None
                       else "No blocking or warning findings."),
    )
