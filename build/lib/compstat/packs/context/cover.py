"""The front matter of both packs: the text repeated on every page (``PageFrame``), the
numbered sections (``Contents``) and the cover of a unit's pack and of the chair's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from compstat.packs.filters import fmt_date
from compstat.results import CycleData


@dataclass(frozen=True)
class PageFrame:
    """Text repeated on every page (the running header and the footer beside the page number)
    and the PDF's metadata: ``created`` is the cycle's run time (ISO 8601), so two renders of
    the same cycle are byte-identical."""

    organisation: str
    header: str
    footer: str
    created: str


@dataclass(frozen=True)
class ContentsEntry:
    """One numbered section: its anchor (the HTML id), number (a letter in an appendix), title and a
    line of detail."""

    anchor: str
    number: int | str
    title: str
    detail: str = ""


@dataclass(frozen=True)
class Contents:
    """The pack's sections in order: the cover's contents list (page numbers are filled in by
    the layout) and every section heading, so adding a section renumbers the rest."""

    entries: tuple[ContentsEntry, ...]

    @property
    def body(self) -> tuple[ContentsEntry, ...]:
        """The numbered sections (before any appendix)."""
        return tuple(e for e in self.entries if isinstance(e.number, int))

    @property
    def appendix(self) -> tuple[ContentsEntry, ...]:
        """The lettered sections of the appendix, if any."""
        return tuple(e for e in self.entries if isinstance(e.number, str))

    def heading(self, anchor: str) -> str:
        entry = next(e for e in self.entries if e.anchor == anchor)
        return f"{entry.number}. {entry.title}"


@dataclass(frozen=True)
class UnitCover:
    """The unit pack's first page: who is accountable, for which period, how fresh the data is."""

    organisation: str
    unit_name: str
    unit_code: str
    commander: str
    division: str
    period_label: str
    period_start: date
    period_end: date
    meeting_date: date
    data_as_of: date | None
    run_at: datetime
    escalation: str = ""  # "2 (support plan): why", the unit's level for this meeting
    overdue: int = 0  # open actions past their due date


@dataclass(frozen=True)
class ChairCover:
    """The chair's pack first page."""

    organisation: str
    period_label: str
    period_start: date
    period_end: date
    meeting_date: date
    n_units: int
    oldest_data_as_of: date | None
    run_at: datetime


def w3c_date(when: datetime) -> str:
    """A W3C date-time with its UTC offset, as PDF metadata needs (a naive time is local time)."""
    return (when if when.tzinfo else when.astimezone()).isoformat(timespec="seconds")


def page_frame(data: CycleData, header: str) -> PageFrame:
    """A pack's page frame: ``header`` on every page, the organisation and period in the footer."""
    org = data.config.organisation.name
    return PageFrame(organisation=org, header=header, footer=f"{org} · {period_text(data)}",
                     created=w3c_date(data.run_at))


def period_text(data: CycleData) -> str:
    return f"{data.period.label} ({fmt_date(data.period.start)} – {fmt_date(data.period.end)})"
