"""The chair's pack at big-city scale: 78 precincts under 8 patrol boroughs, 19 weekly measures
(some rare), rendered once (the chair's pack only, no unit packs) and read back with pdfplumber."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pdfplumber
import pytest

from compstat.analysis.measures import TOTAL
from compstat.packs.context import chair_pack, unit_pack
from compstat.packs.context.appendix import column_slices
from compstat.packs.context.themes import LISTED_UNITS, MIN_EVENTS, theme_units
from compstat.packs.render import html_to_pdf, pack_images, render_html, templates_dir
from compstat.results import CycleData
from tests.bigforce import BOROUGHS, MEASURES, UNITS, big_force, codes

BODY_PAGES = 12
RARE = ("murder", "shooting_inc", "shooting_vic", "hate_crime", "traffic_fatal")
PLANTED_ROBBERY = {c for k, c in enumerate(codes()) if k % 3 == 0}  # robbery surged here (bigforce.make_weekly)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> CycleData:
    """The force as the issue's was: no populations (so no unit has a similar-units comparison of counts)."""
    return big_force(tmp_path_factory.mktemp("metro"), populations=False)


def render(pack: object, target: Path) -> list[str]:
    """Lay out one pack (no worker pool) and return each page's text."""
    folder = templates_dir()
    html_to_pdf(render_html(pack.template, folder, pack=pack), target, folder, pack_images(pack))  # type: ignore[attr-defined]
    with pdfplumber.open(target) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


@pytest.fixture(scope="module")
def chair_pdf(big: CycleData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("chair") / "chair-pack.pdf"
    render(chair_pack(big), target)
    return target


@pytest.fixture(scope="module")
def pages(chair_pdf: Path) -> list[str]:
    with pdfplumber.open(chair_pdf) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


def heading_page(pages: list[str], heading: str) -> int:
    """The 1-based page whose lines include ``heading`` alone (a section heading, not a contents line)."""
    return next(i for i, text in enumerate(pages, start=1) if heading in text.splitlines())


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_synthetic_force_is_big_city_shaped(big: CycleData) -> None:
    config = big.config
    assert len(config.leaf_units) == UNITS and len(config.units) == BOROUGHS and len(config.reported_measures) == 19
    weekly = big.daily
    assert weekly is not None and weekly["date"].dt.day_of_week.eq(0).all()  # pre-aggregated: one row a week
    murder = weekly[(weekly.measure_id == "murder") & (weekly.unit_code != TOTAL)]
    assert (murder["total"] == 0).mean() > 0.9  # rare: most precinct-weeks are 0


def test_body_is_at_most_twelve_pages_and_the_appendix_holds_the_rest(pages: list[str]) -> None:
    appendix = heading_page(pages, "A. Units at a glance")
    assert appendix - 1 <= BODY_PAGES, f"the body runs to page {appendix - 1}"
    assert "APPENDIX: EVERY UNIT, FOR REFERENCE" in pages[appendix - 1]
    body = "\n".join(pages[1:appendix - 1])
    for n, title in enumerate(["Actions from the last meeting", "Force-wide themes", "Force-wide performance",
                               "What to probe", "Recognition", "Units on the intervention ladder",
                               "Data-quality summary"], start=1):
        assert f"{n}. {title}" in body.splitlines(), title
    # lists cut short say how many more there are and where
    assert re.search(r"… and \d+ more findings: each unit's top 3 are in appendix C \(What to probe, unit by unit\)",
                     flat(body))
    assert re.search(r"… and \d+ more units on the ladder: every unit is listed in appendix E", flat(body))
    assert re.search(r"24 open actions not yet due|16 open actions not yet due: listed in appendix F", flat(body))
    # every unit is in the appendix's glance, under its patrol borough
    rest = "\n".join(pages[appendix - 1:])
    for code in codes():
        assert f"Precinct {int(code)} {code}" in rest
    assert all(f"Patrol Borough {b}" in rest for b in range(1, BOROUGHS + 1))


def test_contents_fit_on_the_cover_and_give_each_sections_page(big: CycleData, pages: list[str]) -> None:
    cover = pages[0]
    listed = re.findall(r"^([0-9]+|[A-H])\. (.+?)(?: — .*)? (\d+)$", cover.split("Contents", 1)[1], flags=re.M)
    assert len(listed) == len(chair_pack(big).contents.entries)  # every line on the cover: none alone on page 2
    assert [n for n, _, _ in listed][:7] == [str(n) for n in range(1, 8)] and listed[7][0] == "A"
    for number, title, page in listed:
        assert int(page) == heading_page(pages, f"{number}. {title}"), title


def test_no_heading_is_left_alone_at_the_foot_of_a_page(chair_pdf: Path, pages: list[str]) -> None:
    headings = re.compile(r"^([0-9]+|[A-H])\. [A-Z]|^Part \d of \d:|^Patrol Borough \d$|^Overdue \(")
    short = []
    for number, text in enumerate(pages[1:], start=2):
        lines = [ln for ln in text.splitlines() if not re.search(r"Page \d+ of \d+$", ln)]
        assert not headings.search(lines[-1]), f"page {number} ends with the heading {lines[-1]!r}"
        if len(lines) <= 5:
            short.append(number)
    with pdfplumber.open(chair_pdf) as pdf:  # a page with little text must hold a chart
        for number in short:
            assert pdf.pages[number - 1].images, f"page {number} is nearly empty"


@pytest.mark.parametrize(("n", "sizes"), [(19, [6, 7, 6]), (14, [7, 7]), (5, [5]), (8, [4, 4])])
def test_glance_parts_are_even_and_at_most_seven_measures(n: int, sizes: list[int]) -> None:
    assert [s.stop - s.start for s in column_slices(n)] == sizes


def test_a_table_longer_than_a_page_splits_with_its_header_repeated(big: CycleData, pages: list[str]) -> None:
    start = heading_page(pages, "A. Units at a glance")
    parts = column_slices(len(MEASURES))
    first = [m.name for m in big.config.reported_measures][parts[0]]
    second = heading_page(pages, f"Part 2 of {len(parts)}: {big.config.reported_measures[parts[1].start].name} to "
                                 f"{big.config.reported_measures[parts[1].stop - 1].name}")
    header = "Unit " + " ".join(first)
    assert second - start >= 2  # the part runs over more than one page ...
    for page in pages[start - 1:second - 1]:
        assert header in page.splitlines()  # ... and each page repeats the column headings
    assert "Precinct 1 001" in pages[start - 1]  # the table starts under its heading, not pushed to the next page
    seen = [int(n) for page in pages[start - 1:second] for n in re.findall(r"^Precinct (\d+) \d{3} ", page, re.M)]
    assert seen[:UNITS] == list(range(1, UNITS + 1))  # rows split between pages, none lost or repeated


def test_no_raw_measure_id_in_the_pack(big: CycleData, pages: list[str]) -> None:
    text = "\n".join(pages)
    ids = [i for i, name, _ in MEASURES if i.lower() not in name.lower()]
    assert "fel_assault" in ids and "gla" in ids
    for measure_id in ids:
        assert not re.search(rf"\b{measure_id}\b", text), measure_id
    # the ladder's reasons, where ids used to appear, name measures
    assert re.search(r"(Robbery|Felony assault|[A-Z][a-z ]+) in special-cause concern with no open action", flat(text))


def test_themes_name_a_unit_once_per_measure_and_rest_on_more_than_two_events(big: CycleData) -> None:
    assert big.analysis is not None
    worse, better = theme_units(big)
    for measure_id in set(worse) | set(better):
        assert not set(worse.get(measure_id, [])) & set(better.get(measure_id, [])), measure_id
    # rare measures: every count is small, so no unit is worsening or improving on them
    rows = {r.measure_id: r for r in chair_pack(big).themes.rows}
    for measure_id in RARE:
        assert (rows[measure_id].n_worsening, rows[measure_id].n_improving) == (0, 0), measure_id
    recognition = big.analysis.recognition
    zero = recognition[(recognition.measure_id == "murder") & (recognition.current == 0)
                       & (recognition.comparison == 0)]
    assert zero.empty  # the analysis offers no 'murder 0 against 0' (probe.rests_on_few_events), nor do the themes
    # each unit in a list rests on a finding of its own history beyond the noise guard
    for frame, lists in ((big.analysis.probe, worse), (recognition, better)):
        for measure_id, units in lists.items():
            for unit in units:
                own = frame[(frame.unit_code == unit) & (frame.measure_id == measure_id)
                            & frame.evidence.str.contains("change|spc")]
                assert any(abs(r.current - r.comparison) > MIN_EVENTS and max(r.current, r.comparison) >= 10
                           for r in own.itertuples()), (unit, measure_id)
    # the planted robbery surge is the theme
    robbery = rows["robbery"]
    assert robbery.theme_label and robbery.n_worsening > LISTED_UNITS
    assert len(set(worse["robbery"]) & PLANTED_ROBBERY) >= 0.8 * len(worse["robbery"])


def fake_finding(data: CycleData, frame: str, unit: str, current: float, comparison: float, score: float,
                 evidence: str = "change") -> CycleData:
    """``data`` with one more finding about ``unit``'s felony assault in ``analysis.<frame>``."""
    assert data.analysis is not None
    findings = getattr(data.analysis, frame)
    row = {**findings.iloc[0].to_dict(), "unit_code": unit, "measure_id": "fel_assault",
           "measure_name": "Felony assault", "current": current, "comparison": comparison, "score": score,
           "evidence": evidence, "window": "28d", "rank": 999}
    return replace(data, analysis=replace(data.analysis, **{frame: pd.concat([findings, pd.DataFrame([row])])}))


@pytest.mark.parametrize(("current", "comparison", "counted"), [
    (12, 10, False),  # a two-event rise: noise
    (13, 10, True),  # three events: counted
    (9, 4, False),  # both below small_number (10)
    (1, 0, False),  # one against none
])
def test_noise_guard(big: CycleData, current: float, comparison: float, counted: bool) -> None:
    base = theme_units(big)[0].get("fel_assault", [])
    unit = next(c for c in codes() if c not in base)
    worse, _ = theme_units(fake_finding(big, "probe", unit, current, comparison, 1.0, "spc"))
    assert (unit in worse.get("fel_assault", [])) is counted


def test_a_unit_both_ways_on_one_measure_is_listed_once(big: CycleData) -> None:
    unit = next(c for c in codes() if c not in theme_units(big)[0].get("fel_assault", []))
    both = fake_finding(fake_finding(big, "probe", unit, 40, 20, 3.0), "recognition", unit, 10, 30, 2.0)
    worse, better = theme_units(both)
    assert unit in worse["fel_assault"] and unit not in better.get("fel_assault", [])
    flipped = fake_finding(fake_finding(big, "probe", unit, 40, 20, 2.0), "recognition", unit, 10, 30, 3.0)
    worse, better = theme_units(flipped)
    assert unit not in worse.get("fel_assault", []) and unit in better["fel_assault"]
    # a 'worsening' finding whose count fell is not worsening
    wrong_way = fake_finding(big, "probe", unit, 10, 30, 3.0)
    assert unit not in theme_units(wrong_way)[0].get("fel_assault", [])


def test_long_theme_lists_are_summarised_by_borough_and_named_in_the_appendix(big: CycleData,
                                                                             pages: list[str]) -> None:
    robbery = next(r for r in chair_pack(big).themes.rows if r.measure_id == "robbery")
    assert robbery.worsening.endswith("(named in the appendix)")
    counts = dict(re.findall(r"(Patrol Borough \d) (\d+)", robbery.worsening))
    assert sum(int(n) for n in counts.values()) == robbery.n_worsening
    start = heading_page(pages, "B. Units behind the themes")
    appendix = flat("\n".join(pages[start - 1:heading_page(pages, "C. What to probe, unit by unit")]))
    for group in robbery.worsening_groups:
        assert counts[group.parent] == str(len(group.units))
        for unit in group.units:
            assert unit in appendix


def test_probes_in_the_appendix_are_grouped_by_borough(big: CycleData, pages: list[str]) -> None:
    assert big.analysis is not None
    start = heading_page(pages, "C. What to probe, unit by unit")
    end = heading_page(pages, "D. Recognition, unit by unit")
    section = "\n".join(pages[start - 1:end])
    section = section[section.index("C. What to probe, unit by unit"):section.index("D. Recognition, unit by unit")]
    boroughs = [int(b) for b in re.findall(r"^Patrol Borough (\d)$", section, re.M)]
    assert boroughs == sorted(boroughs) and len(boroughs) >= 6
    parents = big.config.parents()
    probe = big.analysis.probe
    for r in probe[probe.unit_code != TOTAL].sort_values("rank").groupby("unit_code").head(3).itertuples():
        block = section[section.index(f"Patrol Borough {parents[r.unit_code][2:]}\n"):]
        assert f"{r.rank} {r.unit_name}" in block


def test_a_chart_that_cannot_be_drawn_says_why(big: CycleData, tmp_path: Path) -> None:
    pack = unit_pack(big, big.config.leaf_units[0])
    assert pack.charts.peers is None
    note = "Similar units: no comparison — no population given for this unit"
    assert any(n.startswith(note) for n in pack.charts.not_drawn)
    text = render(pack, tmp_path / "pack.pdf")
    charts = heading_page(text, "3. Charts: variation, year to date, similar units")
    assert note in flat("\n".join(text[charts - 1:]))
    # the year to date chart's title sits on the page that holds the chart (never alone at a foot)
    with pdfplumber.open(tmp_path / "pack.pdf") as pdf:
        for page in pdf.pages:
            for hit in page.search("Year to date against last year"):
                assert any(image["top"] > hit["top"] for image in page.images), page.page_number
