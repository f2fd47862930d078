"""The layout budget, read back from every demo pack (chair, divisions, units) with pdfplumber:

- nothing (word, table rule or background, chart) runs past the right margin;
- no page is less than a third full, except a section's last page: the page before one that
  starts a new section (a section heading, h2, in 13 pt bold, at the top of its body) and the
  document's last page;
- no page ends with a heading (h2 or h3: bold, 10.5 pt or more) whose content went to the next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pdfplumber
import pytest

from compstat.config import Config

MM = 72 / 25.4
MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM = 20 * MM, 15 * MM, 18 * MM  # templates/pack.css @page
SECTION_SIZE = 13.0  # h2's font size in pack.css
HEADING_SIZE = 10.4  # h3 (10.5 pt) and up, in bold
TOLERANCE = 1.0  # points
MIN_FULL = 1 / 3


@dataclass(frozen=True)
class PageLayout:
    number: int
    full: float  # how far down the body area the lowest content reaches, 0 to 1
    past_margin: tuple[str, ...]  # what runs past the right margin
    starts_section: bool  # a section heading at the top of the body
    ends_with_heading: str  # the last line, when it is a heading


def page_layouts(path: Path) -> list[PageLayout]:
    """Each page's layout facts: the body is the page inside the top and bottom margins (the running
    header and footer sit in the margins)."""
    out = []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            top, bottom, right = MARGIN_TOP, page.height - MARGIN_BOTTOM, page.width - MARGIN_RIGHT

            def inside(obj: dict[str, float], top: float = top, bottom: float = bottom) -> bool:
                return bool(obj["top"] >= top - TOLERANCE and obj["bottom"] <= bottom + TOLERANCE)

            words = [w for w in page.extract_words(extra_attrs=["size", "fontname"]) if inside(w)]
            shapes = [o for o in (*page.rects, *page.lines, *page.images) if inside(o)]
            lowest = max((o["bottom"] for o in (*words, *shapes)), default=top)
            past = tuple(f"{w['text']!r} to x={w['x1']:.0f}" for w in words if w["x1"] > right + TOLERANCE)
            past += tuple(f"a {o.get('object_type', 'shape')} to x={o['x1']:.0f}" for o in shapes
                          if o["x1"] > right + TOLERANCE)
            heading = [w for w in words if w["size"] >= SECTION_SIZE - 0.1 and "Bold" in w["fontname"]]
            starts = any(w["top"] < top + 25 * MM for w in heading)
            last_line = [w for w in words if abs(w["bottom"] - max((x["bottom"] for x in words), default=0)) < 2]
            ends = (" ".join(w["text"] for w in last_line)
                    if last_line and all(w["size"] >= HEADING_SIZE and "Bold" in w["fontname"] for w in last_line)
                    and not any(o["bottom"] > last_line[0]["bottom"] + TOLERANCE for o in shapes) else "")
            out.append(PageLayout(page.page_number, (lowest - top) / (bottom - top), past, starts, ends))
    return out


def budget_faults(layouts: list[PageLayout]) -> list[str]:
    """What breaks the layout budget, page by page."""
    faults = []
    for i, page in enumerate(layouts):
        if page.past_margin:
            faults.append(f"page {page.number}: past the right margin: {', '.join(page.past_margin[:3])}")
        last_of_section = i == len(layouts) - 1 or layouts[i + 1].starts_section
        if page.full < MIN_FULL and not last_of_section:
            faults.append(f"page {page.number} is {page.full:.0%} full in the middle of a section")
        if page.ends_with_heading:
            faults.append(f"page {page.number} ends with the heading {page.ends_with_heading!r}")
    return faults


@pytest.fixture(scope="module")
def demo_layouts(demo_run: tuple[Config, Path, Path, str]) -> dict[str, list[PageLayout]]:
    _, _, folder, _ = demo_run
    return {path.name: page_layouts(path) for path in sorted(folder.glob("*.pdf"))}


def test_every_demo_pack_keeps_the_layout_budget(demo_layouts: dict[str, list[PageLayout]]) -> None:
    assert len(demo_layouts) == 16  # the chair's, 3 divisions', 12 units'
    faults = {name: found for name, layouts in demo_layouts.items() if (found := budget_faults(layouts))}
    assert not faults, faults


def test_the_budget_catches_what_it_should() -> None:
    """The scanner's rules on made-up pages: a short page mid-section, past the margin, a heading at the foot."""
    def page(n: int, full: float, starts: bool = False, past: tuple[str, ...] = (), ends: str = "") -> PageLayout:
        return PageLayout(n, full, past, starts, ends)

    fine = [page(1, 0.7, True), page(2, 0.2), page(3, 0.9, True), page(4, 0.1)]  # short: before a section, last
    assert budget_faults(fine) == []
    short = [page(1, 0.9, True), page(2, 0.3), page(3, 0.9)]
    assert budget_faults(short) == ["page 2 is 30% full in the middle of a section"]
    assert budget_faults([page(1, 0.9, True, ("'SPC' to x=567",))]) == [
        "page 1: past the right margin: 'SPC' to x=567"]
    assert budget_faults([page(1, 0.9, True, ends="7. Accountability"), page(2, 0.1, False)]) == [
        "page 1 ends with the heading '7. Accountability'"]
