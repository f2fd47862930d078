"""Hostile input: text from data or people never sends control sequences to the terminal (issue #12, item 4).

A unit name, a note or a data value holding ``ESC ]0;TITLE BEL`` (retitle the window) or ``ESC [2J``
(clear the screen) is shown with its control characters visible (``␛]0;TITLE␇``), in every table and
message of the CLI and in the Markdown minutes; what is stored is unchanged.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from compstat.actions import NewAction, add_action, update_action
from compstat.actions.minutes import markdown_text, write_minutes
from compstat.cli import app
from compstat.config import load_config
from compstat.periods import parse_period
from compstat.store import Action, connect, transaction
from compstat.terminal import visible
from tests.conftest import SMALL_CONFIG
from tests.test_quality_cycle import incidents

TITLE, CLEAR = "\x1b]0;TITLE\x07", "\x1b[2J"
SHOWN_TITLE, SHOWN_CLEAR = "␛]0;TITLE␇", "␛[2J"


@pytest.mark.parametrize(("text", "shown"), [
    (TITLE + CLEAR, SHOWN_TITLE + SHOWN_CLEAR), ("\x00\x08\x7f", "␀␈␡"), ("a\rb", "a␍b"), ("a\nb\tc", "a␊b␉c"),
    ("\x9b2J", "\\x9b2J"), ("abc\u202edcba", "abc\\u202edcba"), ("\u2066x\u2069\u200b", "\\u2066x\\u2069\\u200b"),
    ("Süd · “quoted” ✓ ␛", "Süd · “quoted” ✓ ␛"), ("", ""),
])
def test_visible_shows_control_and_bidi_characters(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_visible_keeps_lines_when_asked_but_never_a_carriage_return() -> None:
    assert visible("a\nb\tc\rd\x1b", lines=True) == "a\nb\tc␍d␛"
    assert visible(None) == "" and visible(7) == "7"


def hostile_config(tmp_path: Path) -> Path:
    """The small config, its organisation's and Alpha's names holding escape sequences."""
    text = (SMALL_CONFIG.replace("{name: Testshire Police,", '{name: "Testshire \\e[2J Police",')
            .replace("name: Alpha,", 'name: "Alpha \\e]0;TITLE\\a",'))
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_shown(output: str, *expected: str) -> None:
    assert "\x1b" not in output and "\x07" not in output, repr(output)
    for text in expected:
        assert text in output, (text, output)


def test_run_cycle_shows_escape_sequences_from_config_and_data(tmp_path: Path) -> None:
    config = hostile_config(tmp_path)
    data = incidents("2026-03-08") + (f"R90001,{TITLE}X,2026-03-03 10:00,burglary,53.1,-2.1\n"
                                      f"R90002,A,2026-03-03 10:00,{CLEAR}burglary,53.1,-2.1\n")
    (tmp_path / "incidents.csv").write_text(data, encoding="utf-8")
    result = CliRunner().invoke(app, ["run-cycle", "--config", str(config), "--db", f"sqlite:///{tmp_path / 's.db'}",
                                      "--period", "2026-W10", "--out", str(tmp_path / "out"), "--today", "2026-03-10",
                                      "--workers", "1", "--verbose"])
    assert result.exit_code == 0, result.output
    assert_shown(result.output, "Testshire ␛[2J Police: running cycle",  # data rows holding ESC are refused (#17)
                 "'unit' holds the control character U+001B (ESC)", "'offence' holds the control character U+001B")
    listed = CliRunner().invoke(app, ["quarantine", "list", "--config", str(config), "--db",
                                      f"sqlite:///{tmp_path / 's.db'}"])
    assert listed.exit_code == 0, listed.output
    assert_shown(listed.output, "'unit' holds the control character U+001B (ESC)")


@pytest.fixture
def hostile_actions(tmp_path: Path) -> tuple[list[str], int]:
    """An action whose description, owner, note and author hold escape sequences: (CLI args, its id)."""
    config_path = hostile_config(tmp_path)
    (tmp_path / "incidents.csv").write_text(incidents("2026-03-22"), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 's.db'}"
    config = load_config(config_path)
    engine = connect(db)
    with transaction(engine) as session:
        action = add_action(session, config, parse_period("2026-W10", config.cadence),
                            NewAction("A", f"Patrol {TITLE} the estate", f"Insp {CLEAR}", date(2026, 3, 17)),
                            f"chair{CLEAR}")
        update_action(session, action.id, f"Insp{TITLE}", note=f"half done\r{CLEAR}all done")
        action_id = action.id
    engine.dispose()
    return ["--config", str(config_path), "--db", db], action_id


def test_actions_list_and_history_show_escape_sequences(hostile_actions: tuple[list[str], int]) -> None:
    base, action_id = hostile_actions
    runner = CliRunner()
    listed = runner.invoke(app, ["actions", "list", *base, "--period", "2026-W11"])
    assert listed.exit_code == 0, listed.output
    assert_shown(listed.output, f"Patrol {SHOWN_TITLE} the estate", f"Insp {SHOWN_CLEAR}")
    history = runner.invoke(app, ["actions", "history", *base, str(action_id)])
    assert history.exit_code == 0, history.output
    assert_shown(history.output, f"chair{SHOWN_CLEAR}", f"Insp{SHOWN_TITLE}", f"half done␍{SHOWN_CLEAR}all done")
    engine = connect(base[-1])
    with transaction(engine) as session:  # shown visibly, stored as written
        stored = session.scalars(select(Action).where(Action.id == action_id)).one()
        assert stored.description == f"Patrol {TITLE} the estate" and stored.last_note == f"half done\r{CLEAR}all done"
    engine.dispose()


def test_error_messages_show_escape_sequences(hostile_actions: tuple[list[str], int]) -> None:
    base, _ = hostile_actions
    wrong = CliRunner().invoke(app, ["actions", "list", *base, "--unit", f"{TITLE}A"])
    assert wrong.exit_code == 2
    assert_shown(wrong.output, f"Error: --unit '{SHOWN_TITLE}A' is not an accountable unit")
    status = CliRunner().invoke(app, ["actions", "update", *base, "1", "--by", "x", "--status", CLEAR])
    assert status.exit_code == 2
    assert_shown(status.output, f"status '{SHOWN_CLEAR}'")


def test_a_config_error_shows_the_code_it_refuses(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SMALL_CONFIG.replace("{code: A,", '{code: "\\e[2JA",'), encoding="utf-8")
    result = CliRunner().invoke(app, ["agreements", "show", "--config", str(path)])
    assert result.exit_code == 2
    assert_shown(result.output, "'␛[2JA' holds control or invisible characters")


def test_minutes_show_escape_sequences(hostile_actions: tuple[list[str], int], tmp_path: Path) -> None:
    base, _ = hostile_actions
    config = load_config(Path(base[1]))
    engine = connect(base[-1])
    with transaction(engine) as session:
        paths = write_minutes(session, config, parse_period("2026-W10", config.cadence), out_root=tmp_path / "out")
    engine.dispose()
    note = paths[0].read_text(encoding="utf-8")
    assert "\x1b" not in note and "\x07" not in note and "\r" not in note
    assert "# Follow-up note: Alpha ␛\\]0;TITLE␇ (A)" in note  # `]` escaped for Markdown
    assert "Patrol ␛\\]0;TITLE␇ the estate" in note
    assert markdown_text("a\u202eb|c") == "a\\\\u202eb\\|c"  # the escape's backslash is escaped for Markdown
