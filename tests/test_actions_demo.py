"""The demo's follow-up story, as `make demo` tells it: actions raised at the 2026-W47 meeting, N4's
commander updating them from the exported spreadsheet, and the 2026-W48 packs opening with them;
each unit's escalation level in the packs, worked out by hand from the period table and the
config's triggers, and the same level from `compstat actions list` and `compstat minutes`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from compstat.cli import app
from tests.conftest import DEMO_END as END
from tests.packtext import pdf_text

SHARE = "Share robbery suspect descriptions with the night-time economy partners"
PLAN = "Set up a problem-solving plan for the street robbery series around Bramley Park precinct"
LEVELS = ["challenge", "increased challenge", "support plan", "formal intervention"]


@pytest.fixture(scope="module")
def demo(demo_w48: tuple[list[str], Path, str, dict[str, object]]) -> tuple[list[str], Path, str, dict[str, object]]:
    """``compstat demo`` then the W48 cycle, in a scratch store (the session's ``demo_w48``)."""
    return demo_w48


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def pack_text(folder: Path, unit: str | None) -> str:
    return " ".join(pdf_text(folder / (f"pack-{unit}.pdf" if unit else "chair-pack.pdf")).split())


def test_demo_records_the_meeting_and_a_commanders_spreadsheet(
        demo: tuple[list[str], Path, str, dict[str, object]]) -> None:
    base, folder, output, _ = demo
    sheet = folder.parents[2] / "demo-data" / "actions-N4-2026-W48.xlsx"
    lines = output.splitlines()
    assert lines[:3] == [
        f"Demo data to {END} written to {folder.parents[2] / 'demo-data'}/; 8 actions recorded from the 2026-W47 "
        "meeting.",
        f"N4's commander filled in {sheet}: 2 actions updated, 0 unchanged.",
        "Demo sign-ins for `compstat serve` (demo only; each password is shown this once):"]
    accounts = [line.split() for line in lines[3:]]
    assert [(a[0], " ".join(a[2:])) for a in accounts] == [
        ("n4.commander", "commander of N4 Bramley Park"), ("north.commander", "division commander of N North Division"),
        ("chair", "the chair: every unit"), ("analyst", "an analyst: every unit")]
    history = [" ".join(line.replace("│", " ").split()) for line in run("actions", "history", *base, "2").splitlines()]
    status = next(line for line in history if " status open done " in f" {line} ")  # the SHARE action's closing
    for text in ("2026-11-29 18:00", "Ch Insp Marcus Brennan", "Descriptions briefed to 14 venues on Friday",
                 "spreadsheet actions-N4-2026-W48.xlsx"):
        assert text in status, (text, status)


def test_the_next_packs_open_with_the_updated_actions(demo: tuple[list[str], Path, str, dict[str, object]]) -> None:
    _, folder, _, _ = demo
    text = pack_text(folder, "N4")
    cover_end = text.index("Page 1 of")  # the cover lists the sections; the first section follows it
    first = text.index("1. Actions from the last meeting", cover_end)
    actions = text[first:text.index("2. Performance against last year", cover_end)]
    assert "1 open · 0 overdue · 1 completed since last meeting" in actions
    carried, completed = actions.split("Completed since last meeting")
    assert PLAN.split(" around")[0] in carried and "In progress" in carried
    assert "Last note: Problem profile drafted with the analyst" in carried
    assert "Support requested: Two days of a crime analyst" in carried
    assert "Escalation: level 0 challenge: not yet due" in carried
    assert SHARE.split(" with")[0] in completed and "Done" in completed and "27 Nov 2026" in completed
    assert "Closing note: Descriptions briefed to 14 venues on Friday" in completed
    assert "Did it work: " in completed  # due by the W48 meeting and linked to robbery: judged


def hand_level(table: pd.DataFrame, agreements: dict[str, dict[str, dict[str, dict[str, float]]]], unit: str,
               concern: set[tuple[str, str]], action_measures: set[str], missed_level: int,
               beyond_noise: set[tuple[str, str]]) -> tuple[int, float]:
    """The README's rule, by hand: the highest open action's level; +1 for a measure in concern with no
    action; at least 2 for a met support trigger, 3 for a met intervention trigger (28 days). The demo's
    triggers require evidence (``requires: either``): a raw % above the bound counts only when the unit's
    28 days are a significant increase or its SPC chart a special cause of concern (``beyond_noise``)."""
    level = missed_level + (1 if any(u == unit and m not in action_measures for u, m in concern) else 0)
    pct = float("nan")
    for measure, agreement in agreements.get(unit, {}).items():
        assert agreement["intervene_if"]["requires"] == agreement["support_if"]["requires"] == "either"
        pct = float(table.loc[(unit, measure, "28d"), "pct_change"])
        confirmed = (unit, measure) in beyond_noise
        if pct > agreement["intervene_if"]["change_pct_above"] and confirmed:
            level = 3
        elif pct > agreement["support_if"]["change_pct_above"] and confirmed:
            level = max(level, 2)
    return min(level, 3), pct


def test_unit_levels_in_the_packs_are_worked_out_from_the_table_and_the_triggers(
        demo: tuple[list[str], Path, str, dict[str, object]], tmp_path: Path) -> None:
    base, folder, _, raw = demo
    table = pd.read_csv(folder / "period_table.csv").set_index(["unit_code", "measure_id", "window"])
    spc = pd.read_csv(folder / "analysis_spc.csv")
    concern = set(zip(*spc[spc["variation"] == "special_cause_concern"][["unit_code", "measure_id"]].T.values,
                      strict=True))
    tests = pd.read_csv(folder / "analysis_significance.csv")
    rising = tests[(tests["window"] == "28d") & (tests["basis"] == "last_year")
                   & (tests["label"] == "significant increase")]
    beyond_noise = concern | set(zip(rising["unit_code"], rising["measure_id"], strict=True))
    agreements = raw["accountability"]["agreements"]  # type: ignore[index]
    # N4: robbery +50% (15 against 10) over 28 days: above the +25 support trigger, not the +75 one, but
    # within normal variation: not escalated by it; its open action (the plan) is not due yet, the other is
    # done; shoplifting is in special-cause concern with no open action.
    n4, n4_pct = hand_level(table, agreements, "N4", concern, {"robbery"}, 0, beyond_noise)
    assert 25 < n4_pct <= 75 and ("N4", "robbery") not in beyond_noise and n4 == 1
    # S2: vehicle crime +86.7% (28 against 15): above the +75 intervention trigger, within normal variation;
    # its action 3 has missed one meeting.
    s2, s2_pct = hand_level(table, agreements, "S2", concern, {"vehicle"}, 1, beyond_noise)
    assert s2_pct > 75 and ("S2", "vehicle") not in beyond_noise and s2 == 1
    # E4: no agreement; burglary in special-cause concern and its only action answers no measure.
    assert ("E4", "burglary") in concern
    e4, _ = hand_level(table, agreements, "E4", concern, set(), 0, beyond_noise)
    assert e4 == 1
    # with the weekly measures E4 has other special-cause concerns too, named in one sentence (sorted by id)
    names = {m["id"]: m["name"] for m in raw["measures"]}  # type: ignore[index]
    e4_concerns = ", ".join(names[m] for m in sorted(m for u, m in concern if u == "E4"))
    s2_note = ("Vehicle crime: raw intervene trigger (+87%, 28 vs 15 over 28 days) met, but within normal "
               "variation: not escalated")
    n4_note = ("Robbery: raw support trigger (+50%, 15 vs 10 over 28 days) met, but within normal variation: "
               "not escalated")
    for unit, level, figure in (("N4", n4, n4_note), ("S2", s2, s2_note),
                                ("E4", 1, f"{e4_concerns} in special-cause concern with no open action")):
        text = pack_text(folder, unit)
        cover = text[:text.index("Page 1 of")]
        assert f"Escalation level {level} ({LEVELS[level]})" in cover, unit
        assert f"Current escalation level: {level} ({LEVELS[level]}): " in text, unit
        assert figure in text[text.index("Current escalation level"):], unit
        listed = " ".join(run("actions", "list", *base, "--period", "2026-W48", "--unit", unit).split())
        assert f"Unit {unit}: level {level} {LEVELS[level]} (" in listed and figure in listed, listed
    accountability = pack_text(folder, "S2")[pack_text(folder, "S2").index("Current escalation level"):]
    assert ("28 days: % change on last year above +75, only if significant or a special cause on its SPC chart "
            "not met: 28 against 15 last year over 28 days, +86.7%; the raw figure crossed its bound, but within "
            "normal variation (q = 0.99), common cause variation on its SPC chart: not escalated") in accountability
    accountability = pack_text(folder, "N4")[pack_text(folder, "N4").index("Current escalation level"):]
    assert "not met: 15 against 10 last year over 28 days, +50.0%; the raw figure crossed its bound" in accountability
    chair = pack_text(folder, None)
    ladder = chair[chair.index("7. Units on the intervention ladder", chair.index("Page 2 of")):]
    for name, note in (("Castleton Moor", s2_note), ("Bramley Park", n4_note)):  # the ladder says it beside the level
        assert note in ladder[ladder.index(name):], name
    written = run("minutes", *base, "--period", "2026-W48", "--out", str(tmp_path))  # not the session's folder
    assert "12 follow-up notes" in written
    note = (tmp_path / "demo" / "2026-W48" / "minutes" / "N4.md").read_text(encoding="utf-8")
    unanswered = ", ".join(names[m] for m in sorted(m for u, m in concern if u == "N4" and m != "robbery"))
    assert f"- Escalation level: **increased challenge** ({unanswered} in special-cause concern with no open " \
           f"action; {n4_note})" in note
