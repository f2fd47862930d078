"""The action log as far as the cycle spine needs it: raise, update with history, carry forward."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from compstat.actions import (
    NewAction,
    add_action,
    carry_forward_actions,
    closure_window,
    import_minutes,
    update_action,
)
from compstat.cli import app
from compstat.config import Config
from compstat.errors import SourceError, UsageError
from compstat.periods import Period, parse_period
from compstat.store import ActionUpdate, Cycle, connect, transaction
from tests.test_quality_cycle import incidents

# Weekly, Monday start, meetings 2 days after each week: W08 (16-22 Feb 2026) meets Tue 24 Feb,
# W09 on 3 March, W10 on 10 March, W11 on 17 March.


def test_carry_forward_ages_overdue_and_completed(small_config: Config, store_url: str) -> None:
    cadence = small_config.cadence
    engine = connect(store_url)
    with transaction(engine) as session:
        w8 = parse_period("2026-W08", cadence)
        patrol = NewAction("A", "Patrol the estate", "Insp A", date(2026, 3, 1))
        a = add_action(session, small_config, w8, patrol, "chair")
        b = add_action(session, small_config, w8, NewAction("B", "Review CCTV", "Insp B", date(2026, 3, 20)), "chair")
        c = add_action(session, small_config, w8, NewAction("B", "Old plan", "Insp B", date(2026, 2, 27)), "chair")
        ids = a.id, b.id, c.id
    with transaction(engine) as session:
        update_action(session, ids[2], "Insp B", status="done", note="finished", at=datetime(2026, 3, 5, 9))
        log = carry_forward_actions(session, small_config, parse_period("2026-W10", cadence)).set_index("id")
        assert log.loc[ids[0], "meetings_carried"] == 2 and bool(log.loc[ids[0], "overdue"])
        assert not bool(log.loc[ids[1], "overdue"])
        assert log.loc[ids[2], "status"] == "done" and not bool(log.loc[ids[2], "carried"])
        history = session.scalars(select(ActionUpdate).where(ActionUpdate.action_id == ids[2])).all()
        assert [(h.field, h.old, h.new, h.by) for h in history] == [
            ("created", "", "open", "chair"), ("status", "open", "done", "Insp B")]
    engine.dispose()


def store_cycle(session: Session, period: Period, run_at: datetime) -> None:
    """A cycle's row as run-cycle records it (only its run time matters here)."""
    session.add(Cycle(org="testshire", period=period.label, period_start=period.start, period_end=period.end,
                      run_at=run_at, output_dir="", manifest="{}"))
    session.flush()


def test_closed_action_appears_once(small_config: Config, tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 's.db'}")
    cadence = small_config.cadence
    w03, w04 = parse_period("2026-W03", cadence), parse_period("2026-W04", cadence)  # meetings 20 and 27 Jan
    with transaction(engine) as session:
        action = add_action(session, small_config, parse_period("2026-W01", cadence),
                            NewAction("A", "x", "y", date(2026, 1, 20)), "chair", at=datetime(2026, 1, 6, 12))
        update_action(session, action.id, "y", "done", "all done", closed_on=date(2026, 1, 14),
                      at=datetime(2026, 1, 14, 17))  # recorded during W03, after the W02 meeting (13 Jan)
        assert list(carry_forward_actions(session, small_config, w03)["closing_note"]) == ["all done"]
        assert len(carry_forward_actions(session, small_config, w04)) == 0
        assert closure_window(session, small_config, w04) == (datetime(2026, 1, 20), datetime(2026, 1, 27, 23, 59,
                                                                                                  59, 999999))
    engine.dispose()


def test_a_late_closure_with_an_earlier_done_on_date_appears_once(small_config: Config, tmp_path: Path) -> None:
    """Closed after the last pack was made, but done (by its done-on date) before the last meeting:
    it is "completed since last meeting" at the next meeting, and only there."""
    engine = connect(f"sqlite:///{tmp_path / 's.db'}")
    cadence = small_config.cadence
    w08, w09, w10, w11 = (parse_period(f"2026-W{n:02d}", cadence) for n in (8, 9, 10, 11))
    with transaction(engine) as session:
        late = add_action(session, small_config, w08, NewAction("A", "Close the alley", "Insp A", date(2026, 3, 3)),
                          "chair", at=datetime(2026, 2, 24, 12))
        store_cycle(session, w09, datetime(2026, 3, 2, 8, 0))  # the W09 pack, made the day before its meeting
        update_action(session, late.id, "Insp A", "done", "gate fitted", closed_on=date(2026, 3, 1),
                      at=datetime(2026, 3, 6, 10, 0))  # recorded after the W09 meeting; done before it
        assert late.id not in set(carry_forward_actions(session, small_config, w09)["id"])  # its pack ran before
        at_w10 = carry_forward_actions(session, small_config, w10).set_index("id")
        assert (at_w10.loc[late.id, "status"], bool(at_w10.loc[late.id, "carried"])) == ("done", False)
        assert at_w10.loc[late.id, "closed_on"] == date(2026, 3, 1)
        store_cycle(session, w10, datetime(2026, 3, 9, 8, 0))
        assert late.id not in set(carry_forward_actions(session, small_config, w11)["id"])  # shown once
        assert late.id in set(carry_forward_actions(session, small_config, w10)["id"])  # W10 as its pack showed it
        assert late.id not in set(carry_forward_actions(session, small_config, w10,
                                                        as_of=datetime(2026, 3, 6, 9, 59))["id"])
    engine.dispose()


def test_import_minutes_reports_every_bad_row(small_config: Config, tmp_path: Path) -> None:
    minutes = tmp_path / "minutes.csv"
    minutes.write_text("unit,action,owner,due,measure\nA,Do it,Insp A,2026-03-20,burglary\n"
                       "Q,Do it,Insp Q,2026-03-20,\nB,Do it,Insp B,soon,\n", encoding="utf-8")
    engine = connect(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(SourceError) as err, transaction(engine) as session:
        import_minutes(session, small_config, minutes, parse_period("2026-W10", small_config.cadence), "x")
    assert f"{minutes}:3: unit 'Q' is not in the config" in str(err.value)
    assert f"{minutes}:4: due 'soon' is not a date" in str(err.value)
    minutes.write_text("unit,action,owner,due,measure\nA,Do it,Insp A,2026-03-20,burglary\n", encoding="utf-8")
    with transaction(engine) as session:
        period = parse_period("2026-W10", small_config.cadence)
        first = import_minutes(session, small_config, minutes, period, "x", at=datetime(2026, 3, 10, 14, 5))
        assert (first.added, first.imported_before) == (1, None)
        again = import_minutes(session, small_config, minutes, period, "x")  # same file: once
        assert (again.added, again.imported_before) == (0, datetime(2026, 3, 10, 14, 5))
        assert again.describe(minutes) == (f"{minutes}: already imported on 2026-03-10 14:05; no actions added "
                                           "(a file is imported once, by content)")
    with pytest.raises(SourceError, match="no such minutes file"), transaction(engine) as session:
        import_minutes(session, small_config, tmp_path / "nope.csv", period, "x")
    engine.dispose()


def test_import_minutes_cli_missing_file_and_reimport(small_config_path: Path, tmp_path: Path) -> None:
    base = ["--config", str(small_config_path), "--db", f"sqlite:///{tmp_path / 'cli.db'}"]
    runner = CliRunner()
    missing = runner.invoke(app, ["actions", "import-minutes", *base, str(tmp_path / "nope.csv"),
                                  "--period", "2026-W10"])
    assert missing.exit_code == 2, missing.output
    assert missing.output == f"Error: {tmp_path / 'nope.csv'}: no such minutes file (expected a CSV or XLSX)\n"
    minutes = tmp_path / "m.csv"
    minutes.write_text("unit,action,owner\nA,Do it,Insp A\n", encoding="utf-8")
    first = runner.invoke(app, ["actions", "import-minutes", *base, str(minutes), "--period", "2026-W10"])
    assert first.exit_code == 0 and f"1 actions added from {minutes}." in first.output
    again = runner.invoke(app, ["actions", "import-minutes", *base, str(minutes), "--period", "2026-W10"])
    assert again.exit_code == 0, again.output
    assert f"{minutes}: already imported on {date.today():%Y-%m-%d}" in again.output


def test_done_on_is_only_for_closing(small_config: Config, tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 's.db'}")
    with transaction(engine) as session:
        action = add_action(session, small_config, parse_period("2026-W10", small_config.cadence),
                            NewAction("A", "x", "Insp A"), "chair", at=datetime(2026, 3, 10, 12))
        for status in (None, "in progress"):
            with pytest.raises(UsageError, match=f"a done-on date is only for closing an action \\(action "
                                                 f"{action.id} would be (open|in progress)\\)"):
                update_action(session, action.id, "Insp A", status, closed_on=date(2026, 3, 11),
                              at=datetime(2026, 3, 12, 9))
        assert session.scalars(select(ActionUpdate).where(ActionUpdate.action_id == action.id)).all()[-1].field == (
            "created")
        done = update_action(session, action.id, "Insp A", "done", closed_on=date(2026, 3, 11),
                             at=datetime(2026, 3, 12, 9))
        assert done.closed_on == date(2026, 3, 11)
    engine.dispose()


def test_actions_cli(small_config_path: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    (tmp_path / "incidents.csv").write_text(incidents("2026-03-22"), encoding="utf-8")  # the list judges on data
    base = ["--config", str(small_config_path), "--db", db]
    runner = CliRunner()
    added = runner.invoke(app, ["actions", "add", *base, "--unit", "A", "--action", "Visit hotspots",
                                "--owner", "Insp A", "--by", "chair", "--period", "2026-W10"])
    assert added.exit_code == 0 and "Action 1 raised for A, due 2026-03-17" in added.output
    # 2026-W10's meeting is held on 2026-03-10 (3 days after the week): an action it agrees is not due before it
    early = runner.invoke(app, ["actions", "add", *base, "--unit", "A", "--action", "Too late already", "--owner",
                                "Insp A", "--by", "chair", "--period", "2026-W10", "--due", "2026-03-09"])
    assert early.exit_code == 2 and "--due 2026-03-09 is before the meeting that raises the action" in early.output
    assert "Traceback" not in early.output
    updated = runner.invoke(app, ["actions", "update", *base, "1", "--by", "Insp A", "--status", "in progress"])
    assert updated.exit_code == 0 and "Action 1 is in progress" in updated.output
    wrong = runner.invoke(app, ["actions", "update", *base, "1", "--by", "Insp A", "--status", "finished"])
    assert wrong.exit_code == 2 or wrong.exit_code == 1
    assert "expected one of open, in progress, done, dropped" in wrong.output
    listed = runner.invoke(app, ["actions", "list", *base, "--period", "2026-W11"])
    assert "Visit hotspots" in listed.output and "in progress" in listed.output
    missing = runner.invoke(app, ["actions", "update", *base, "99", "--by", "x", "--note", "hello"])
    assert missing.exit_code != 0 and "no action with id 99" in missing.output


MARKUP = "[/]"


def test_text_that_looks_like_rich_markup_is_printed_literally(small_config_path: Path, tmp_path: Path) -> None:
    """Descriptions, notes, owners, statuses and error messages are data: printed as written."""
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    (tmp_path / "incidents.csv").write_text(incidents("2026-03-22"), encoding="utf-8")
    base = ["--config", str(small_config_path), "--db", db]
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output

    run("actions", "add", *base, "--unit", "A", "--action", "Review [/b] hotspots [bold]now", "--owner",
        f"Insp {MARKUP} Jones", "--by", "chair [red]", "--period", "2026-W10")
    run("actions", "update", *base, "1", "--by", "Insp [/]", "--note", f"note {MARKUP} [link=x]y[/link]",
        "--support-requested", "[/] two PCSOs")
    listed = run("actions", "list", *base, "--period", "2026-W11", "--unit", "A")
    assert "Review [/b] hotspots [bold]now" in listed and f"Insp {MARKUP} Jones" in listed
    history = run("actions", "history", *base, "1")
    for text in (f"note {MARKUP} [link=x]y[/link]", "chair [red]", "Insp [/]", "[/] two PCSOs"):
        assert text in history, text
    wrong = run("actions", "update", *base, "1", "--by", "x", "--status", MARKUP, code=2)
    assert wrong == "Error: status '[/]': expected one of open, in progress, done, dropped\n"


def test_import_agreements_and_quarantine_print_data_literally(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from compstat.actions.spreadsheet import COLUMNS
    from compstat.store import IngestedFile, RejectedRow
    from tests.conftest import SMALL_CONFIG

    path = tmp_path / "c.yaml"
    agreement = ("accountability:\n  agreements:\n    A:\n      burglary: {officer: 'Insp [/] Smith', "
                 "support_if: {change_pct_above: 20}, note: '[bold]Elm[/bold] estate'}\n")
    path.write_text(SMALL_CONFIG + agreement, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 's.db'}"
    base = ["--config", str(path), "--db", db]
    runner = CliRunner()
    shown = runner.invoke(app, ["agreements", "show", "--config", str(path), "--unit", "A"])
    assert shown.exit_code == 0, shown.output
    assert "Insp [/] Smith" in shown.output and "[bold]Elm[/bold] estate" in shown.output

    runner.invoke(app, ["actions", "add", *base, "--unit", "A", "--action", "x", "--owner", "y", "--by", "z",
                        "--period", "2026-W10"])
    sheet_path = tmp_path / "a.xlsx"
    assert runner.invoke(app, ["actions", "export", *base, "--unit", "A", "--out", str(sheet_path),
                               "--period", "2026-W11"]).exit_code == 0
    book = load_workbook(sheet_path)
    status = next(i for i, c in enumerate(COLUMNS, start=1) if c.key == "status")
    book["Actions"].cell(2, status).value = "[/]"
    book.save(sheet_path)
    imported = runner.invoke(app, ["actions", "import", *base, str(sheet_path), "--by", "[red]Insp"])
    assert imported.exit_code == 1, imported.output
    assert "malformed row 2: status '[/]': expected one of open, in progress, done, dropped" in imported.output

    engine = connect(db)
    with transaction(engine) as session:
        source = IngestedFile(org="testshire", source="incidents", path="/data/[b]a.csv", sha256="0" * 64,
                              rows_read=1, rows_loaded=0, rows_rejected=1, ingested_at=datetime(2026, 3, 1))
        session.add(source)
        session.flush()
        session.add(RejectedRow(file_id=source.id, org="testshire", source_row=7, field="unit",
                                reason="unit '[/]' is not in the config", raw="{}"))
    engine.dispose()
    listed = runner.invoke(app, ["quarantine", "list", *base])
    assert listed.exit_code == 0, listed.output
    assert "[b]a.csv" in listed.output and "unit '[/]' is not in the config" in listed.output
