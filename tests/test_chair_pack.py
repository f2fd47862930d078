"""The chair's pack at big-city scale: 78 precincts under 8 patrol boroughs, 19 weekly measures
(some rare), rendered once (the chair's pack only, no unit packs) and read back with pdfplumber."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pdfplumber
import pytest

from compstat.analysis.spc import CONCERN, IMPROVEMENT
from compstat.figures import TOTAL
from compstat.packs.context import chair_pack, unit_pack
from compstat.packs.context.agenda import host_unit, period_ordinal
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
                               "Host unit deep dive", "What to probe", "Recognition",
                               "Units on the intervention ladder", "Data-quality summary"], start=1):
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


def test_contents_fit_on_page_two_and_give_each_sections_page(big: CycleData, pages: list[str]) -> None:
    agenda = pages[1]  # page 1 says whom to probe; the agenda and the contents follow
    listed = re.findall(r"^([0-9]+|[A-H])\. (.+?)(?: — .*)? (\d+)$", agenda.split("Contents", 1)[1], flags=re.M)
    assert len(listed) == len(chair_pack(big).contents.entries)  # every line on page 2: none alone on page 3
    assert [n for n, _, _ in listed][:8] == [str(n) for n in range(1, 9)] and listed[8][0] == "A"
    for number, title, page in listed:
        assert int(page) == heading_page(pages, f"{number}. {title}"), title


def test_no_heading_is_left_alone_at_the_foot_of_a_page(chair_pdf: Path, pages: list[str]) -> None:
    headings = re.compile(r"^([0-9]+|[A-H])\. [A-Z]|^Part \d of \d:|^Patrol Borough \d$|^Overdue \(")
    short = []
    for number, text in enumerate(pages[2:], start=3):  # after page 1 and the agenda and contents
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
    header = "Unit " + " ".join(name.split()[0] for name in first)  # the headings' first lines (long names wrap)
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


def test_themes_table_keeps_the_measures_with_something_to_say(big: CycleData, pages: list[str]) -> None:
    """A measure with no unit worsening or improving on its own history, the force's change not significant and
    its SPC common cause takes no row: it is named once after the table (its figures are in the next section)."""
    assert big.analysis is not None
    themes = chair_pack(big).themes
    spc = big.analysis.spc[big.analysis.spc.unit_code == TOTAL].set_index("measure_id")["variation"]
    for r in themes.rows:
        if r.n_worsening or r.n_improving or spc.get(r.measure_id) in (CONCERN, IMPROVEMENT):
            assert not r.quiet and r in themes.shown, r.measure_id
        if r.quiet:
            assert r not in themes.shown and not r.force_test.startswith("significant"), r.measure_id
    quiet = [r.measure_name for r in themes.rows if r.quiet]
    assert quiet and len(themes.shown) + len(quiet) == len(big.config.reported_measures)
    assert "murder" not in {r.measure_id for r in themes.shown}  # 0 in most precinct-weeks: nothing to say
    assert ("Nothing to note (no unit moving on its own history, the force within normal variation and common "
            f"cause; their figures are in the next section): {', '.join(quiet)}.") in flat(" ".join(pages))


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


FIRST_PAGE_HEADINGS = ["Ranked probes", "Intervention ladder", "Overdue actions", "Recognition"]


def test_page_one_says_whom_to_probe_in_one_page(big: CycleData, pages: list[str]) -> None:
    """The chair's two minutes: ranked probes, the ladder, overdue actions and recognition all on page 1;
    the agenda starts page 2."""
    assert big.analysis is not None
    first = pages[0].splitlines()
    for heading in FIRST_PAGE_HEADINGS:
        assert heading in first, heading
    probe = big.analysis.probe
    top = probe[probe.unit_code != TOTAL].sort_values("rank").iloc[0]
    line = next(ln for ln in first if ln.startswith(f"1 {top.unit_name} {top.unit_code} {top.measure_name} "))
    assert f"{top.current:g} vs " in line  # the figure beside it
    assert "significant rise" in line or "SPC signal" in line  # and why it is not noise
    pack = chair_pack(big)
    ladder = pack.ladder.rows[0]
    assert any(ln.startswith(f"{ladder.unit_name} {ladder.unit_code} {ladder.level} {ladder.label}") for ln in first)
    overdue = sum(r.overdue for r in pack.actions.log.carried)
    assert f"{overdue} actions past due" in pages[0]
    assert pages[1].splitlines()[1] == "Agenda"  # page 2 starts something else
    assert "Agenda" not in first


def test_host_rotation_prefers_a_unit_with_findings_to_probe(big: CycleData) -> None:
    assert big.analysis is not None
    leaves = big.config.leaf_units
    due = period_ordinal(big) % len(leaves)
    probe = big.analysis.probe
    after = [leaves[(due + k) % len(leaves)] for k in range(1, len(leaves))]
    nearest = next(u for u in after if (probe.unit_code == u.code).any())
    skipped = probe[probe.unit_code != leaves[due].code]  # the unit due has nothing to probe
    host = host_unit(replace(big, analysis=replace(big.analysis, probe=skipped)))
    assert host is not None and host.unit_code == nearest.code
    assert f"{leaves[due].name} ({leaves[due].code}), due first, has nothing to probe" in host.chosen_by
    assert host.concerns  # the host has something to ask about
    nothing = host_unit(replace(big, analysis=replace(big.analysis, probe=probe.iloc[:0])))
    assert nothing is not None and nothing.unit_code == leaves[due].code  # with nothing anywhere, the unit due
    assert nothing.chosen_by.endswith("no unit has findings to probe this period")


def test_the_host_unit_has_its_deep_dive_section(big: CycleData, pages: list[str]) -> None:
    pack = chair_pack(big)
    assert pack.host is not None and pack.agenda.host is not None
    host = pack.agenda.host
    start = heading_page(pages, "4. Host unit deep dive")
    end = heading_page(pages, "5. What to probe")
    section = flat("\n".join(pages[start - 1:end]))
    section = section[section.index("4. Host unit deep dive"):section.index("5. What to probe")]
    assert f"{host.unit_name} ({host.unit_code}), {host.chosen_by}" in section
    for part in ("Key figures", "To probe", "To recognise", "Questions"):
        assert part in section, part
    for row in pack.host.probes:
        assert f"{row.rank} {row.unit_name}" in section  # every finding about the host
    assert {r.measure_id for r in pack.host.table.rows} >= {
        m.id for m in big.config.reported_measures if m.name in {f.measure_name for f in pack.host.probes}}
    for mark in {c.mark for r in pack.host.table.rows for c in r.cells if c.mark}:  # each mark explained
        assert any(note.startswith(mark) for note in pack.host.table.footnotes), mark
    agenda = next(i for i in pack.agenda.items if i.title == "Host unit deep dive")
    assert agenda.detail.endswith("section 4 of this pack")


def test_the_big_forces_chair_pack_keeps_the_layout_budget(chair_pdf: Path) -> None:
    """tests/test_layout.py's rules on the 78-unit pack: nothing past the margin, no short page mid-section."""
    from tests.test_layout import budget_faults, page_layouts

    assert budget_faults(page_layouts(chair_pdf)) == []


def test_page_one_words_a_ladder_reason_in_a_line_and_the_evidence_in_a_few_words(big: CycleData) -> None:
    from compstat.packs.context.first_page import finding_figure, one_line, why_not_noise

    reason = ("action 3: due 2026-11-25, not done at 1 meeting; Vehicle crime: intervene trigger met (28 days: % "
              "change on last year above +75; 28 against 15 last year over 28 days, +86.7%)")
    assert one_line(reason) == "action 3: due 2026-11-25, not done at 1 meeting; Vehicle crime: intervene trigger met"
    assert one_line("a; b (x (y; z)); c; d") == "a; b; and 2 more"
    row = {"measure_id": "robbery", "evidence": "change,spc,peers", "pct_change": 50.0, "q_value": 0.0004,
           "periods_running": 3, "peer_label": "significantly above", "small_numbers": False, "current": 15,
           "comparison": 10, "window": "28d", "basis": "last_year"}
    assert why_not_noise(big, row) == ("significant rise (q < 0.001); SPC signal: 3 weeks running; "
                                       "significantly above similar units")
    assert finding_figure(big, row) == "15 vs 10 (+50%), 28 days vs last year"
    baseline = {**row, "comparison": 7.3333, "basis": "baseline", "pct_change": 104.6, "evidence": "spc",
                "periods_running": 1}
    assert finding_figure(big, baseline) == "15 vs 7.33 (+105%), 28 days vs 3-year average"
    assert why_not_noise(big, baseline) == "SPC signal: outside its limits this week"
