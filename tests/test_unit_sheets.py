"""``packs.unit_packs: called``: full packs for the units the meeting calls, a CompStat sheet for the rest."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from compstat.config import Config
from compstat.packs import RenderedPack, render, render_packs
from compstat.packs.context import called_units, chair_pack, unit_pack, unit_sheet
from compstat.packs.context.agenda import called_line
from compstat.packs.context.chair import CALLED_FINDINGS_LEAD
from compstat.packs.filters import fmt_change, fmt_pct, fmt_value
from compstat.packs.render import _Job, longest_first, pack_inputs, sheets_while_reading
from compstat.results import CycleData
from tests.test_packs import CHARTS_HEADING, cycle_data, pdf_text, table_row  # noqa: F401 (a fixture)

PERIOD = "2026-W10"


def with_settings(config: Config, **sections: object) -> Config:
    return Config.model_validate({**config.model_dump(), "base_dir": config.base_dir, **sections})


def findings(data: CycleData, *rows: tuple[str, int]) -> pd.DataFrame:
    """Findings to probe as the analysis ranks them, (unit, rank) each: copies of the analysis' first finding."""
    assert data.analysis is not None
    first = data.analysis.probe.iloc[[0] * len(rows)].reset_index(drop=True)
    return first.assign(unit_code=[unit for unit, _ in rows], rank=[rank for _, rank in rows])


def escalation(levels: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([{"unit_code": unit, "escalation_level": level, "escalation_label": "",
                          "escalation_reason": ""} for unit, level in levels.items()])


def called_data(data: CycleData, probe: pd.DataFrame, levels: dict[str, int], **sections: object) -> CycleData:
    assert data.analysis is not None
    config = with_settings(data.config, packs={"unit_packs": "called", **sections.pop("packs", {})},  # type: ignore[dict-item]
                           meeting={"host": {PERIOD: "N3/B"}}, **sections)
    return replace(data, config=config, analysis=replace(data.analysis, probe=probe), escalation=escalation(levels))


def test_called_units_are_the_host_the_top_findings_the_escalated_and_the_named(cycle_data: CycleData) -> None:  # noqa: F811
    data = called_data(cycle_data, findings(cycle_data, ("N2", 5), ("_total", 1), ("D1", 2), ("N2", 3)),
                       {"N1": 2, "N2": 1, "N3/B": 0})
    assert called_units(data) == {
        "N1": "escalation level 2",
        "N2": "the chair's findings to probe (ranks 3 and 5)",
        "N3/B": "the host unit",
    }
    named = called_data(cycle_data, findings(cycle_data), {}, packs={"full": ["N2"]})
    assert called_units(named) == {"N2": "named in the config (packs.full)", "N3/B": "the host unit"}


def test_only_the_chairs_top_findings_and_the_support_level_call_a_unit(cycle_data: CycleData) -> None:  # noqa: F811
    """Ten findings in the chair's list: the eleventh, and escalation level 1 (challenge), call no one."""
    top_ten = [("N2", rank) for rank in range(1, 11)]
    data = called_data(cycle_data, findings(cycle_data, *top_ten, ("N1", 11)), {"N1": 1})
    assert called_units(data) == {"N2": "the chair's findings to probe (ranks 1, 2, 3, 4, 5, 6, 7, 8, 9 and 10)",
                                  "N3/B": "the host unit"}
    support_one = called_data(cycle_data, findings(cycle_data), {"N1": 1},
                              accountability={"escalation": {"support_level": 1}})
    assert called_units(support_one) == {"N1": "escalation level 1", "N3/B": "the host unit"}


def test_the_sheet_has_the_full_packs_cover_findings(cycle_data: CycleData) -> None:  # noqa: F811
    unit = next(u for u in cycle_data.config.leaf_units if u.code == "N2")
    sheet = unit_sheet(cycle_data, unit, {"N1": "the host unit"})
    full = unit_pack(cycle_data, unit)
    assert (sheet.headline.probes, sheet.headline.recognise) == (full.headline.probes, full.headline.recognise)
    assert sheet.cover == full.cover
    assert sheet.headline.probes  # N2's burglary surge: the sheet names what to probe
    assert sheet.table.rows and not sheet.table.longer
    assert "go to the 1 unit the meeting calls" in sheet.why


@pytest.fixture(scope="module")
def sheets(cycle_data: CycleData, tmp_path_factory: pytest.TempPathFactory) -> tuple[CycleData, list[RenderedPack]]:  # noqa: F811
    """N1 (escalation level 2) and N3/B (the host) called; N2, whose findings are left out, gets a sheet."""
    assert cycle_data.analysis is not None
    probe = cycle_data.analysis.probe
    data = called_data(cycle_data, probe[probe["unit_code"] != "N2"], {"N1": 2, "N2": 0, "N3/B": 0})
    return data, render_packs(data, tmp_path_factory.mktemp("sheets"), workers=1)


def test_units_not_called_get_a_sheet_under_the_packs_name(sheets: tuple[CycleData, list[RenderedPack]]) -> None:
    _, rendered = sheets
    assert [(p.path.name, p.sheet) for p in rendered] == [
        ("pack-N1.pdf", False), ("pack-N2.pdf", True), ("pack-N3_B.pdf", False), ("chair-pack.pdf", False)]
    full = pdf_text(rendered[0].path)
    assert CHARTS_HEADING in full and "briefing pack" in full.lower()


def test_sheet_text_and_figures(sheets: tuple[CycleData, list[RenderedPack]]) -> None:
    data, rendered = sheets
    path = rendered[1].path
    assert len(PdfReader(path).pages) <= 2
    text = pdf_text(path)
    assert "CompStat sheet for the accountability meeting · 2026-W10" in text
    assert "Hill & Vale" in text and "Supt B. O'Neill" in text  # escaped, shown as written
    assert "This unit is not called to this meeting" in " ".join(text.split())
    assert "Charts:" not in text and "Map:" not in text
    table = text[text.index("Performance against last year"):]
    for measure in data.config.reported_measures:
        line = next(ln for ln in table.splitlines() if ln.startswith(measure.name))
        expected = []
        for w in data.windows:
            r = table_row(data, "N2", measure.id, w.key)
            pct = fmt_pct(r.pct_change, "*" if r.previous == 0 else "–") + ("†" if r.small_numbers else "")
            expected.append(" ".join([fmt_value(r.current, measure.kind, measure.unit_label),
                                      fmt_value(r.previous, measure.kind, measure.unit_label),
                                      fmt_change(r.change, measure.kind), pct]))
        assert line == f"{measure.name} {' '.join(expected)}"


def test_a_sheet_is_never_reused_as_the_full_pack(sheets: tuple[CycleData, list[RenderedPack]]) -> None:
    data, rendered = sheets
    called = called_units(data)
    assert rendered[1].inputs == pack_inputs(data, "N2", called) != pack_inputs(data, "N2", None)


def test_full_names_accountable_units_only(cycle_data: CycleData) -> None:  # noqa: F811
    with pytest.raises(ValueError, match=r"packs.full.0: 'D1' is not an accountable unit"):
        with_settings(cycle_data.config, packs={"full": ["D1"]})
    assert cycle_data.config.packs.unit_packs == "all"  # the default: every unit its full pack


def test_the_chairs_agenda_names_the_units_with_full_packs(sheets: tuple[CycleData, list[RenderedPack]],
                                                            cycle_data: CycleData) -> None:  # noqa: F811
    data, rendered = sheets
    line = ("Full briefing packs for the 2 units this meeting calls: Northtown (N1), Brookside (N3/B). "
            "The other 1 unit has a CompStat sheet (packs.unit_packs: called).")
    assert called_line(data) == line
    assert line in " ".join(pdf_text(rendered[-1].path).split())
    assert called_line(cycle_data) == ""  # every unit its full pack: nothing to say


def test_workers_take_the_longest_packs_first(tmp_path: Path) -> None:
    """The chair's pack, the divisions', the full unit packs, then the sheets: the last to end are short."""
    called = {"N1": "the host unit", "N3": "escalation level 2"}

    def job(code: str | None, leaf: bool) -> _Job:
        return _Job(code, tmp_path / f"{code}.pdf", tmp_path, None, called if leaf else None, leaf)

    jobs = [job("N1", True), job("N2", True), job("N3", True), job("D1", False), job(None, False)]
    assert [j.unit_code for j in longest_first(jobs)] == [None, "D1", "N1", "N3", "N2"]
    every = [replace(j, called=None) for j in jobs]  # packs.unit_packs: all
    assert [j.unit_code for j in longest_first(every)] == [None, "D1", "N1", "N2", "N3"]


def test_with_sheets_the_chairs_appendix_lists_the_called_units_findings(cycle_data: CycleData) -> None:  # noqa: F811
    """N2 holds the chair's ten findings, N1 only the eleventh: N1 is not called, so its finding is on its sheet,
    not in the appendix; the division's (D1) stays. With every unit's full pack, the appendix lists N1's too."""
    probe = findings(cycle_data, *[("N2", rank) for rank in range(1, 11)], ("N1", 11), ("D1", 12))
    data = called_data(cycle_data, probe, {})
    pack = chair_pack(data)
    listed = [(row.unit_code, row.rank) for group in pack.appendix.probe for row in group.rows]
    assert listed == [("N2", 1), ("N2", 2), ("N2", 3), ("D1", 12)]  # in rank order, the division's own in its group
    assert pack.appendix.findings_lead == CALLED_FINDINGS_LEAD
    assert pack.probe.more_message == ("… and 2 more findings: each called unit's top 3 are in appendix B (What to "
                                       "probe, unit by unit); the other units' are on their CompStat sheets.")
    every = chair_pack(replace(data, config=with_settings(data.config, packs={"unit_packs": "all"})))
    assert ("N1", 11) in [(row.unit_code, row.rank) for group in every.appendix.probe for row in group.rows]
    assert every.probe.more_message == ("… and 2 more findings: each unit's top 3 are in appendix B (What to probe, "
                                        "unit by unit).")


def test_the_workers_make_sheets_while_the_run_reads_the_map_points(
        sheets: tuple[CycleData, list[RenderedPack]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the data without map points and how to add them, two workers make the same packs, byte for byte, as
    one process given the whole data; the points are read once, of the units with a full pack only (the sheets
    show no map), and the run's files are gone afterwards."""
    data, expected = sheets
    monkeypatch.setattr(render, "SHARED_MEMORY", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    read: list[Collection[str] | None] = []

    def with_maps(bare: CycleData, *, units: Collection[str] | None) -> CycleData:
        read.append(units)
        assert data.points is not None and units is not None
        return replace(bare, points=data.points[data.points["unit_code"].isin(units)], incidents=data.incidents)

    assert data.points is not None  # the test force's (it has no places tables: incidents None)
    bare = replace(data, points=None, incidents=None)
    made = render_packs(bare, tmp_path / "packs", workers=2, maps=with_maps)
    assert read == [frozenset(called_units(data))]
    assert len(read[0]) < len(data.config.leaf_units) and data.points["unit_code"].isin(read[0]).mean() < 1
    assert [(p.path.name, p.sheet, p.inputs, p.sha256) for p in made] == [
        (p.path.name, p.sheet, p.inputs, p.sha256) for p in expected]
    assert list((tmp_path / "shm").iterdir()) == []


def test_a_failure_to_read_the_map_points_stops_the_packs(
        sheets: tuple[CycleData, list[RenderedPack]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = sheets
    monkeypatch.setattr(render, "SHARED_MEMORY", tmp_path / "shm")
    (tmp_path / "shm").mkdir()

    def broken(bare: CycleData, *, units: Collection[str] | None) -> CycleData:
        raise OSError("the store went away")

    with pytest.raises(OSError, match="the store went away"):
        render_packs(replace(data, points=None, incidents=None), tmp_path / "packs", workers=2, maps=broken)
    assert list((tmp_path / "shm").iterdir()) == []


def test_while_the_points_are_read_half_the_sheets_go_first(tmp_path: Path) -> None:
    called = {"N1": "the host unit"}

    def job(code: str | None, leaf: bool) -> _Job:
        return _Job(code, tmp_path / f"{code}.pdf", tmp_path, None, called if leaf else None, leaf)

    jobs = [job("N1", True), job("N2", True), job("N3", True), job("N4", True), job("N5", True), job("D1", False),
            job(None, False)]
    assert [j.unit_code for j in sheets_while_reading(jobs)] == ["N2", "N3", None, "D1", "N1", "N4", "N5"]
