"""The command line as a user meets it: switches that read as switches, workers one per core, and
tables that wrap rather than cut text off at the width of a pipe."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from compstat import cli
from compstat.cli import app
from compstat.parallel import usable_cores
from tests.test_quality_cycle import incidents


def commands(group: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and subcommand of the CLI (typer's click objects), with the words that call it."""
    group = group or typer.main.get_group(app)
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))


ALL = [" ".join(path) for path, _ in commands()]


def test_every_command_is_reached() -> None:
    assert {"run-cycle", "check", "analyse", "actions list", "actions add", "quarantine list", "spc"} <= set(ALL)


@pytest.mark.parametrize("words", ["", *ALL])
def test_help_shows_switches_as_switches(words: str) -> None:
    """No option's help says `<bool>`: a boolean option is a switch (`--verbose`, `--no-screen`), given
    alone, and its help line shows it with no value after it."""
    result = CliRunner().invoke(app, [*words.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    command = dict(commands())[tuple(words.split())] if words else typer.main.get_group(app)
    for param in command.params:
        if param.param_type_name == "option" and param.is_flag:
            for opt in [*param.opts, *param.secondary_opts]:
                if opt.startswith("--"):  # the switch, then its help (or a comma and its short form)
                    assert re.search(rf"{re.escape(opt)}(\s{{2,}}|,|\n)", result.output), (words, opt)


def test_a_switch_is_given_alone(small_config_path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 's.db'}"
    wrong = runner.invoke(app, ["run-cycle", "--config", str(small_config_path), "--db", db,
                                "--accept-warnings", "true"])
    assert wrong.exit_code == 2 and "unexpected extra argument" in wrong.output
    help_text = runner.invoke(app, ["run-cycle", "--help"]).output
    assert re.search(r"--accept-warnings\s{2,}Go ahead", help_text)


def test_usable_cores_follows_the_affinity_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity")
    assert usable_cores() == 64
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores() == 1
    monkeypatch.setattr(os, "process_cpu_count", lambda: 6, raising=False)
    assert usable_cores() == 6


def test_workers_default_to_one_per_usable_core(monkeypatch: pytest.MonkeyPatch, small_config_path: Path,
                                                tmp_path: Path) -> None:
    """Not a fixed 2: the CLI leaves the count to the library, whose default is one per usable core, and
    its help says so."""
    from compstat import cycle, reissue
    from compstat.packs import render

    for function in (cycle.run_cycle, reissue.reissue_cycle, render.render_packs):
        assert inspect.signature(function).parameters["workers"].default is None, function.__name__
    calls: list[Any] = []
    monkeypatch.setattr(render, "usable_cores", lambda: 1)
    monkeypatch.setattr(render, "_render", lambda job, data=None: calls.append(job) or render.RenderedPack(
        job.target, job.unit_code, 0.0))
    monkeypatch.setattr(render, "pack_inputs", lambda data, unit_code: None)  # no context from this stand-in
    monkeypatch.setattr(render, "ProcessPoolExecutor", None)  # a pool would fail: one core, no pool
    monkeypatch.setattr(render, "divisions", lambda config: [])
    from compstat.config import load_config

    data = type("Data", (), {"config": load_config(small_config_path)})()
    render.render_packs(data, tmp_path / "out")  # type: ignore[arg-type]
    assert len(calls) == 3  # A, B and the chair's, in this process

    seen: dict[str, Any] = {}

    def fake_run_cycle(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise cli.UsageError("stop here")

    monkeypatch.setattr(cycle, "run_cycle", fake_run_cycle)
    CliRunner().invoke(app, ["run-cycle", "--config", str(small_config_path), "--db", "sqlite://"])
    assert seen["workers"] is None
    for command in ("run-cycle", "reissue"):
        text = " ".join(CliRunner().invoke(app, [command, "--help"]).output.split())
        assert f"(default: one per usable core, {usable_cores()} here)" in text


LONG = ("Agree a dispersal order with the council for the recreation ground and its approaches, with patrols "
        "from 3pm to 11pm on Fridays and Saturdays; see https://example.org/a-very-long-link-to-the-plan-document")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output 80 columns wide, as rich prints to a pipe."""
    monkeypatch.setattr(cli, "console", Console(width=80, highlight=False, soft_wrap=True))


def test_actions_list_wraps_long_text_at_80_columns(narrow: None, small_config_path: Path, tmp_path: Path) -> None:
    base = ["--config", str(small_config_path), "--db", f"sqlite:///{tmp_path / 'cli.db'}"]
    (tmp_path / "incidents.csv").write_text(incidents("2026-03-22"), encoding="utf-8")  # the list judges on data
    runner = CliRunner()
    for unit, action in (("A", LONG), ("B", "Short one")):
        added = runner.invoke(app, ["actions", "add", *base, "--unit", unit, "--action", action, "--owner",
                                    "Chief Inspector Alexandra Fotheringham-Smythe", "--by", "chair",
                                    "--period", "2026-W10"])
        assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["actions", "list", *base, "--period", "2026-W11"])
    assert listed.exit_code == 0, listed.output
    table = listed.output.split("The 2026-W11 cycle has not run yet")[0]  # then a sentence the terminal wraps
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "…" not in listed.output
    for text in (LONG, "Chief Inspector Alexandra Fotheringham-Smythe", "Short one", "2026-03-17"):
        assert squeeze(text) in squeeze(listed.output), text


def test_analyse_prints_every_reason_and_question_whole_at_80_columns(narrow: None, small_config_path: Path,
                                                                      tmp_path: Path) -> None:
    from compstat.config import load_config
    from compstat.preview import preview_analysis
    from tests.test_analyse_cli import write_history

    config = load_config(small_config_path)
    write_history(config)
    db = f"sqlite:///{tmp_path / 'analyse.db'}"
    result = CliRunner().invoke(app, ["analyse", "--config", str(small_config_path), "--db", db,
                                      "--period", "2026-W10", "--today", "2026-03-10"])
    assert result.exit_code == 0, result.output
    tables = result.output.split("Quality, as in the packs")[0]  # then sentences the terminal wraps
    assert max(len(line) for line in tables.splitlines()) <= 80
    assert "…" not in result.output
    data = preview_analysis(config, db, "2026-W10", None)
    assert data.analysis is not None
    shown = squeeze(result.output)
    findings = [*data.analysis.probe.head(config.analysis.top).itertuples(),
                *data.analysis.recognition.head(config.analysis.top).itertuples()]
    assert findings
    for row in findings:
        for text in (row.reason, row.question, f"{row.unit_name} ({row.unit_code})"):
            assert squeeze(str(text)) in shown, text


def test_a_table_that_fits_stays_a_table() -> None:
    """Records are the fallback for many columns; a table whose columns fit wraps inside its cells."""
    console = Console(width=80, highlight=False, soft_wrap=True, record=True)
    table = cli._table("unit", "note", title="Notes")
    table.add_row("A", "word " * 40)
    console.print(table)
    text = console.export_text()
    assert re.search(r"┃ unit ┃ note +┃", text), text
    assert squeeze("word " * 40) in squeeze(text.replace("│", ""))
    assert max(len(line) for line in text.splitlines()) <= 80


TOTALS_CONFIG = """\
organisation: {name: Testshire Police, slug: testshire}
units:
  - {code: A, name: Alpha}
  - {code: B, name: Bravo}
measures:
  - {id: burglary, name: Burglary, filter: {category: burglary}}
sources:
  - name: counts
    path: counts.csv
    columns: {unit: unit, date: day, category: offence, value: n}
quality:
  totals: {counts: ALL}
"""


def test_quarantine_list_keeps_organisation_totals_apart_from_rejects(tmp_path: Path) -> None:
    """Organisation totals (quality.totals) are kept aside for the consistency check, not rejected: the
    list counts them and shows the rows that were rejected, a total with 'nil' for its count among them
    with that reason (where the quality finding sends the reader)."""
    from datetime import date

    from compstat.config import load_config
    from compstat.ingest import ingest_all
    from compstat.store import connect, transaction

    path = tmp_path / "totals.yaml"
    path.write_text(TOTALS_CONFIG, encoding="utf-8")
    rows = ["unit,day,offence,n", "A,2026-03-02,burglary,2", "B,2026-03-02,burglary,1", "ALL,2026-03-02,burglary,3",
            "A,2026-03-03,burglary,1", "ALL,2026-03-03,burglary,nil", "ALL,2026-03-04,burglary,0",
            "B,2026-03-04,burglary,lots"]
    (tmp_path / "counts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'q.db'}"
    engine = connect(db)
    with transaction(engine) as session:
        ingest_all(session, load_config(path), date(2026, 3, 9), db)
    engine.dispose()
    runner = CliRunner()
    listed = runner.invoke(app, ["quarantine", "list", "--config", str(path), "--db", db])
    assert listed.exit_code == 0, listed.output
    text = " ".join(listed.output.split())
    assert text.startswith("2 rejected rows")
    assert "value 'nil' is not a number (an organisation total" in text and "value 'lots' is not a number" in text
    assert "a total for the whole organisation" not in text
    assert "(2 organisation-total rows kept aside for the consistency check are not listed)" in text
    exported = runner.invoke(app, ["quarantine", "list", "--config", str(path), "--db", db, "--export",
                                   str(tmp_path / "q.csv")])
    assert exported.exit_code == 0, exported.output
    assert ("2 rejected rows (2 organisation-total rows kept aside for the consistency check are not listed) "
            "written to") in " ".join(exported.output.split())
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "q.csv")) == 2
