"""The middle of the hierarchy (``hierarchy``): divisions' figures are their units' sums,
checked against pandas sums of the raw rows; a division's finding when only the sum is significant;
quality marks rolled up; peers among divisions."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.analyse import analyse_cycle
from compstat.analysis.baselines import populations
from compstat.analysis.measures import analysis_units
from compstat.analysis.period_table import period_table
from compstat.config import Config
from compstat.errors import DataError
from compstat.figures import TOTAL, daily_measures
from compstat.hierarchy import (
    division_leaves,
    division_peer_groups,
    roll_up_marks,
    unit_levels,
)
from compstat.periods import comparison_windows, parse_period
from compstat.reissue import same_figures
from compstat.store import Cycle, CycleResult, connect, transaction

# Two areas; area A holds two boroughs of precincts, area Z one borough (so Z and its borough B3 hold
# the same precincts). Precinct P5 has no population, so B3's and Z's come from their own config.
LEVELS = {
    "organisation": {"name": "Metro Police", "slug": "metro"},
    "cadence": {"period": "weekly", "week_start": "monday", "year_start_month": 1},
    "small_number": 10,
    "units": [
        {"code": "A", "name": "Area A", "commander": "Cmdr A", "children": [
            {"code": "B1", "name": "Borough One", "commander": "Ch Supt One", "children": [
                {"code": "P1", "name": "Precinct 1", "population": 40000},
                {"code": "P2", "name": "Precinct 2", "population": 60000}]},
            {"code": "B2", "name": "Borough Two", "commander": "Ch Supt Two", "children": [
                {"code": "P3", "name": "Precinct 3", "population": 30000},
                {"code": "P4", "name": "Precinct 4", "population": 20000}]}]},
        {"code": "Z", "name": "Area Z", "commander": "Cmdr Z", "children": [
            {"code": "B3", "name": "Borough Three", "population": 55000, "children": [
                {"code": "P5", "name": "Precinct 5"},
                {"code": "P6", "name": "Precinct 6", "population": 25000}]}]},
    ],
    "measures": [
        {"id": "robbery", "name": "Robbery", "filter": {"category": "robbery"}},
        {"id": "calls", "name": "Calls", "filter": {"category": "call"}, "report": False},
        {"id": "answered", "name": "Answered", "filter": {"category": "answered"}, "report": False},
        {"id": "answer_rate", "name": "Calls answered", "kind": "rate", "numerator": "answered",
         "denominator": "calls", "per": 100, "polarity": "higher"},
        {"id": "wait", "name": "Wait (minutes)", "kind": "value", "filter": {"category": "wait"}},
    ],
    "sources": [{"name": "x", "path": "x.csv", "columns": {"unit": "u", "date": "d"}}],
}
PRECINCTS = ["P1", "P2", "P3", "P4", "P5", "P6"]
END = date(2026, 11, 29)  # 2026-W48


@pytest.fixture(scope="module")
def config() -> Config:
    return Config.model_validate(LEVELS)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """Raw rows as the store holds them: one per precinct, category and a random subset of days,
    with random values (robbery counts, calls, answered calls, a wait in minutes averaged per row)."""
    rng = np.random.default_rng(10)
    days = pd.date_range("2024-06-01", END, freq="D")
    rows = []
    for unit in PRECINCTS:
        for category, low, high in (("robbery", 0, 4), ("call", 20, 40), ("answered", 10, 20), ("wait", 1, 30)):
            picked = days[rng.random(len(days)) < 0.8]
            rows.append(pd.DataFrame({"unit_code": unit, "category": category, "subcategory": "", "date": picked,
                                      "total": rng.integers(low, high, len(picked)).astype(float),
                                      "n": rng.integers(1, 3, len(picked))}))
    return pd.concat(rows, ignore_index=True)


def test_divisions_are_every_unit_with_units_below_it(config: Config) -> None:
    assert division_leaves(config) == {"A": ["P1", "P2", "P3", "P4"], "B1": ["P1", "P2"], "B2": ["P3", "P4"],
                                       "Z": ["P5", "P6"], "B3": ["P5", "P6"]}
    assert analysis_units(config) == [*PRECINCTS, "A", "B1", "B2", "Z", "B3", TOTAL]
    levels = unit_levels(config, TOTAL)
    assert levels["P1"] == "unit" and levels["B1"] == levels["Z"] == "division" and levels[TOTAL] == "organisation"


def test_a_single_top_unit_holding_every_unit_is_the_organisation(small_config: Config) -> None:
    assert division_leaves(small_config) == {}  # D1 holds A and B: its figures are the _total rows


def test_populations_of_divisions(config: Config) -> None:
    pops = populations(config)
    assert pops["B1"] == 100000 and pops["B2"] == 50000 and pops["A"] == 150000  # sums of their children
    assert pops["B3"] == 55000 and pops["Z"] == 55000  # its own; Z sums its one child, B3
    assert np.isnan(pops["P5"]) and np.isnan(pops[TOTAL])


def test_a_borough_row_equals_the_sum_of_its_precincts(config: Config, raw: pd.DataFrame) -> None:
    period = parse_period("2026-W48", config.cadence)
    windows = comparison_windows(period, config.cadence)
    table = period_table(daily_measures(raw, config), config, windows).set_index(
        ["unit_code", "measure_id", "window"])
    checked = 0
    for code, precincts in division_leaves(config).items():
        mine = raw[raw["unit_code"].isin(precincts)]
        for w in windows:
            for side, start, end in (("current", w.start, w.end), ("previous", w.prev_start, w.prev_end)):
                rows = mine[(mine["date"] >= pd.Timestamp(start)) & (mine["date"] <= pd.Timestamp(end))]
                total = rows.groupby("category")["total"].sum()
                expected = {
                    "robbery": total["robbery"],
                    "answer_rate": 100 * total["answered"] / total["call"],
                    "wait": total["wait"] / rows.loc[rows["category"] == "wait", "n"].sum(),
                }
                for measure, value in expected.items():
                    assert table.loc[(code, measure, w.key), side] == pytest.approx(value, rel=1e-12), (
                        code, measure, w.key, side)
                    checked += 1
    assert checked == 5 * 3 * 2 * 3
    # and a division's row is also the sum of its children's rows (A = B1 + B2)
    for w in windows:
        for side in ("current", "previous"):
            assert table.loc[("A", "robbery", w.key), side] == (
                table.loc[("B1", "robbery", w.key), side] + table.loc[("B2", "robbery", w.key), side])


def _weekly_rows(unit: str, last: date, weeks: int, base: int, recent: list[int]) -> pd.DataFrame:
    """One robbery row each Monday: ``base`` a week, then ``recent`` for the last weeks."""
    mondays = [last - timedelta(days=6 + 7 * k) for k in range(weeks)][::-1]
    values = [base] * (weeks - len(recent)) + recent
    return pd.DataFrame({"unit_code": unit, "category": "robbery", "subcategory": "",
                         "date": pd.to_datetime(mondays), "total": np.array(values, dtype=float), "n": 1})


def test_a_division_finding_when_only_the_sum_of_its_units_is_significant() -> None:
    """Four precincts each up from 100 to 125 robberies over 28 days: none is significant alone
    (exact test, equal exposures: 2·P(X ≥ 125) for X ~ Binomial(225, ½) = 0.1094), the borough's
    500 against 400 is (2·P(X ≥ 500) for X ~ Binomial(900, ½) = 0.000956; scipy.stats.binom)."""
    raw_config = {**LEVELS, "measures": [{"id": "robbery", "name": "Robbery", "filter": {"category": "robbery"}}]}
    raw_config["units"] = [
        {"code": "N", "name": "North Borough", "children": [{"code": f"N{i}", "name": f"North {i}"} for i in range(4)]},
        {"code": "S", "name": "South Borough", "children": [{"code": f"S{i}", "name": f"South {i}"} for i in range(4)]},
    ]
    config = Config.model_validate(raw_config)
    rising = [31, 31, 31, 32]  # 125 in the last 28 days; every other week 25 (100 in 28 days)
    rows = [_weekly_rows(f"N{i}", END, 200, 25, rising) for i in range(4)]
    rows += [_weekly_rows(f"S{i}", END, 200, 25, []) for i in range(4)]
    daily = daily_measures(pd.concat(rows, ignore_index=True), config)
    period = parse_period("2026-W48", config.cadence)
    result = analyse_cycle(daily, config, period, comparison_windows(period, config.cadence))
    sig = result.significance.set_index(["unit_code", "measure_id", "window", "basis"])
    north = sig.loc[("N", "robbery", "28d", "last_year")]
    assert (north["current"], north["comparison"]) == (500, 400)
    assert north["p_value"] == pytest.approx(0.000956, abs=1e-6) and north["label"] == "significant increase"
    for i in range(4):
        unit = sig.loc[(f"N{i}", "robbery", "28d", "last_year")]
        assert (unit["current"], unit["comparison"]) == (125, 100)
        assert unit["p_value"] == pytest.approx(0.1094, abs=1e-4) and unit["label"] == "within normal variation"
    found = result.probe[(result.probe["unit_code"] == "N") & (result.probe["measure_id"] == "robbery")]
    assert len(found) == 1
    assert found.iloc[0]["level"] == "division" and found.iloc[0]["unit_name"] == "North Borough"
    assert "Robbery up 25% on last year's 28 days (500 vs 400" in found.iloc[0]["reason"]
    changes = result.probe[result.probe["evidence"].str.contains("change")]
    assert set(changes["unit_code"]) == {"N"}  # no unit has a significant change of its own
    # N and S are compared with each other: the only two divisions at their level
    peers = result.peers.set_index(["unit_code", "measure_id", "window"])
    assert peers.loc[("N", "robbery", "28d"), "peers"] == "S"


def test_leaf_figures_do_not_move_when_divisions_are_added() -> None:
    """The same precincts with and without the borough level: every unit's and the organisation's
    analysis is the same (divisions' tests are a false-discovery family of their own)."""
    flat_config = {**LEVELS, "measures": [{"id": "robbery", "name": "Robbery", "filter": {"category": "robbery"}}]}
    flat_config["units"] = [{"code": f"P{i}", "name": f"P {i}", "population": 1000 * (i + 1)} for i in range(4)]
    nested = {**flat_config, "units": [
        {"code": "B1", "name": "B1", "children": flat_config["units"][:2]},
        {"code": "B2", "name": "B2", "children": flat_config["units"][2:]}]}
    rng = np.random.default_rng(3)
    rows = pd.concat([_weekly_rows(f"P{i}", END, 200, 0, list(rng.poisson(20 + 3 * i, 200))) for i in range(4)])
    out = []
    for raw_config in (flat_config, nested):
        config = Config.model_validate(raw_config)
        period = parse_period("2026-W48", config.cadence)
        out.append(analyse_cycle(daily_measures(rows, config), config, period,
                                 comparison_windows(period, config.cadence)))
    flat, with_divisions = out
    keep = ~with_divisions.significance["unit_code"].isin(["B1", "B2"])
    pd.testing.assert_frame_equal(flat.significance, with_divisions.significance[keep].reset_index(drop=True))
    keep = ~with_divisions.spc["unit_code"].isin(["B1", "B2"])
    pd.testing.assert_frame_equal(flat.spc, with_divisions.spc[keep].reset_index(drop=True))
    keep = ~with_divisions.peers["unit_code"].isin(["B1", "B2"])
    pd.testing.assert_frame_equal(flat.peers, with_divisions.peers[keep].reset_index(drop=True))


def test_a_division_comparison_is_not_like_for_like_when_a_unit_s_is(config: Config) -> None:
    marks = pd.DataFrame([
        {"unit_code": "P3", "measure_id": "robbery", "window": "ytd", "fragile": False, "like_for_like": False,
         "reason": "spans the merger of 2026-04-01"},
        {"unit_code": "P4", "measure_id": "robbery", "window": "ytd", "fragile": False, "like_for_like": False,
         "reason": "spans the merger of 2026-04-01"},
        {"unit_code": "P1", "measure_id": "robbery", "window": "28d", "fragile": True, "like_for_like": True,
         "reason": "late recording"},
    ])
    rolled = roll_up_marks(marks, config)
    assert rolled is not None
    added = rolled.iloc[len(marks):].set_index(["unit_code", "measure_id", "window"])
    assert set(added.index) == {("B2", "robbery", "ytd"), ("A", "robbery", "ytd")}
    assert not added["like_for_like"].any() and not added["fragile"].any()  # a unit's fragility is not rolled up
    assert added.loc[("B2", "robbery", "ytd"), "reason"] == (
        "in Precinct 3 (P3), Precinct 4 (P4): spans the merger of 2026-04-01")


def test_a_division_alone_at_its_level_has_no_peers(config: Config) -> None:
    groups = division_peer_groups(config)
    assert groups["A"][1] == ["Z"] and groups["B1"][1] == ["B2", "B3"]
    assert "B3" in groups  # B3 sits at level 2 with B1 and B2
    one_level = Config.model_validate({**LEVELS, "units": [
        LEVELS["units"][0], {"code": "P9", "name": "Precinct 9", "population": 1000}]})
    assert division_peer_groups(one_level).keys() == {"B1", "B2"}  # A is the only division at level 1


def test_a_cycle_recorded_before_divisions_can_still_be_re_issued(tmp_path: Path) -> None:
    """Re-issue checks every recomputed figure against the stored ones: a division's rows, which an
    older cycle did not store, are left out; a division whose rows were stored is checked."""
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    stored = [("P1", "robbery", "28d", 10.0, 8.0), ("P2", "robbery", "28d", 5.0, 4.0)]
    with transaction(engine) as session:
        cycle = Cycle(org="metro", period="2026-W48", period_start=date(2026, 11, 23), period_end=END,
                      run_at=datetime(2026, 11, 30, 7), output_dir="x", manifest="{}")
        session.add(cycle)
        session.flush()
        session.add_all(CycleResult(cycle_id=cycle.id, unit_code=u, measure_id=m, window=w, current=c, previous=p)
                        for u, m, w, c, p in stored)
        session.flush()
        recomputed = pd.DataFrame(stored + [("B1", "robbery", "28d", 15.0, 12.0)],
                                  columns=["unit_code", "measure_id", "window", "current", "previous"])
        same_figures(session, cycle.id, recomputed, "2026-W48", ["B1"])  # B1 was never stored: not compared
        with pytest.raises(DataError, match="B1 robbery 28d current: stored nan"):
            same_figures(session, cycle.id, recomputed, "2026-W48")  # as if B1 were a unit
        session.add(CycleResult(cycle_id=cycle.id, unit_code="B1", measure_id="robbery", window="28d", current=16.0,
                                previous=12.0))
        session.flush()
        with pytest.raises(DataError, match="B1 robbery 28d current: stored 16.0, now 15.0"):
            same_figures(session, cycle.id, recomputed, "2026-W48", ["B1"])  # stored, so checked


def test_a_division_with_divisions_below_it_gets_a_pack(config: Config, raw: pd.DataFrame, tmp_path: Path) -> None:
    """Area A's pack (three levels: area → boroughs → precincts) lists its boroughs side by side with
    their figures and its own row, and its period table; a ‡ on a precinct's comparison reaches the
    area and the borough, with a footnote naming the precinct."""
    from compstat.packs.render import build_pack, html_to_pdf, pack_images, render_html, templates_dir
    from compstat.quality import QualityResult
    from compstat.results import CycleData
    from tests.packtext import pdf_text

    period = parse_period("2026-W48", config.cadence)
    windows = comparison_windows(period, config.cadence)
    daily = daily_measures(raw, config)
    table = period_table(daily, config, windows)
    marks = pd.DataFrame([{"unit_code": "P3", "measure_id": "robbery", "window": "28d", "fragile": False,
                           "like_for_like": False, "reason": "spans the boundary change of 2026-11-10"}])
    quality = QualityResult(period=period, findings=(), comparisons=marks, data_as_of={}, data_as_of_by_source={})
    data = CycleData(config=config, period=period, windows=windows, meeting_date=END + timedelta(days=3),
                     run_at=datetime(2026, 11, 30, 7), table=table,
                     series=pd.DataFrame(columns=["unit_code", "measure_id", "period_start", "value", "numerator",
                                                  "denominator"]),
                     actions=pd.DataFrame(), data_as_of=dict.fromkeys(PRECINCTS, END), daily=daily,
                     analysis=analyse_cycle(daily, config, period, windows, quality=marks), quality=quality)
    pack = build_pack(data, "A")
    target = tmp_path / pack.filename
    assert pack.filename == "pack-A.pdf"
    folder = templates_dir()
    html_to_pdf(render_html(pack.template, folder, pack=pack), target, folder, pack_images(pack))
    text = pdf_text(target)
    flat = " ".join(text.split())
    assert "Area A A Division pack for the accountability meeting · 2026-W48" in flat
    assert "Commander Cmdr A" in flat and "Units 2: Borough One (B1), Borough Two (B2)" in flat
    side = text[text.index("1. Its units side by side: 28 days"):text.index("2. The division against last year")]
    side = side.replace(" \n", "\n")
    robbery = table[(table["measure_id"] == "robbery") & (table["window"] == "28d")].set_index("unit_code")
    for name, code in (("Borough One", "B1"), ("Borough Two", "B2"), ("Area A", "A")):
        pair = re.search(r"(\d+) vs (\d+)", side[side.index(f"{name}\n{code}\n"):])  # robbery: the first column
        assert pair is not None
        assert (int(pair[1]), int(pair[2])) == (robbery.loc[code, "current"], robbery.loc[code, "previous"]), code
    assert robbery.loc["A", "current"] == robbery.loc["B1", "current"] + robbery.loc["B2", "current"]
    assert "‡ not like-for-like (Robbery: B2 and A): in Precinct 3 (P3): spans the boundary change of 2026-11-10" in (
        " ".join(side.split()))


def test_the_chairs_lists_mark_a_divisions_own_finding() -> None:
    from compstat.packs.context.findings import finding_rows
    frame = pd.DataFrame({"rank": [1, 2, 3], "unit_code": ["A", "B1", "_total"], "measure_name": ["Robbery"] * 3,
                          "reason": ["r"] * 3, "kind": ["", "", ""], "level": ["division", "unit", "organisation"]})
    rows = finding_rows(frame, {"A": "Area A", "B1": "Borough One"})
    assert [(r.unit_name, r.level) for r in rows] == [("Area A", "division"), ("Borough One", "")]
