"""The command line: each command parses its options, makes one library call and reports.

Exit codes: 0 success; 1 the data stopped the cycle (e.g. no data for the period);
2 a usage mistake (bad config, bad argument, unreadable source).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from compstat import actions as action_log
from compstat.config import Config, load_config
from compstat.errors import CompstatError, UsageError
from compstat.periods import Period, last_complete_period, next_period, parse_period, previous_period
from compstat.store import IngestedFile, RejectedRow, connect, resolve_url, transaction

app = typer.Typer(help="Compstat-style accountability cycles: ingest, assure, analyse, follow up, brief.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
actions_app = typer.Typer(help="The action log: raise, list and update actions.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rows rejected at ingest, with their reasons.", no_args_is_help=True)
app.add_typer(actions_app, name="actions")
app.add_typer(quarantine_app, name="quarantine")
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The cycle's YAML config.")]
DbOpt = Annotated[str | None, typer.Option("--db", help="Store URL (default: COMPSTAT_DB, then the config's store).")]
F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn a CompstatError into one line on stderr and its exit code; no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CompstatError as exc:
            err_console.print(f"[bold red]Error:[/] {exc}", markup=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} '{value}': expected a date such as 2026-11-23") from None


@app.command("run-cycle")
@reports_errors
def run_cycle_command(
    config: ConfigOpt,
    period: Annotated[str | None, typer.Option(help="e.g. 2026-W47 or 2026-11 (default: last complete one).")] = None,
    db: DbOpt = None,
    out: Annotated[Path | None, typer.Option(help="Output root (default: the config's output_dir).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes rendering packs in parallel.")] = 2,
    today: Annotated[str | None, typer.Option(help="Run as if today were this date (YYYY-MM-DD).")] = None,
) -> None:
    """Run one cycle: ingest, quality, analysis, actions, packs."""
    from compstat.cycle import run_cycle

    cfg = load_config(config)
    url = resolve_url(db, cfg.store)

    def progress(step: str, seconds: float) -> None:
        console.print(f"  [green]✓[/] {step:<9} {seconds:7.2f} s")

    console.print(f"[bold]{cfg.organisation.name}[/]: running cycle")
    outcome = run_cycle(cfg, url, period, out_root=out, today=_parse_date(today, "--today"),
                        workers=workers, progress=progress)
    loaded = [r for r in outcome.ingest if r.status == "loaded"]
    console.print(f"Period {outcome.period.label} ({outcome.period.start} to {outcome.period.end}); "
                  f"{len(loaded)} new input(s), {sum(r.rows_loaded for r in loaded):,} rows loaded, "
                  f"{sum(r.rows_rejected for r in loaded):,} rejected")
    for finding in outcome.findings:
        console.print(f"  [yellow]{finding.severity}[/] {finding.check}: {finding.message}", markup=True)
    console.print(f"{len(outcome.packs)} packs written to [bold]{outcome.out_dir}[/]")


@app.command()
@reports_errors
def demo(
    config: ConfigOpt = Path("config/demo.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for the demo data.")] = Path("demo-data"),
    end: Annotated[str | None, typer.Option(help="Last day of data (default: end of last complete week).")] = None,
    db: DbOpt = None,
) -> None:
    """Write the synthetic demo force's data and record the last meeting's actions."""
    from compstat.demo import write_demo

    cfg = load_config(config)
    last_day = _parse_date(end, "--end") or last_complete_period(date.today(), cfg.cadence).end
    paths = write_demo(out, last_day, n_units=len(cfg.leaf_units))
    last_meeting = previous_period(last_complete_period(last_day + pd.Timedelta(days=1), cfg.cadence), cfg.cadence)
    engine = connect(resolve_url(db, cfg.store))
    with transaction(engine) as session:
        added = action_log.import_minutes(session, cfg, paths["minutes"], last_meeting, by="demo")
    console.print(f"Demo data to {last_day} written to {out}/; {added} actions recorded from the "
                  f"{last_meeting.label} meeting.")


@actions_app.command("list")
@reports_errors
def actions_list(config: ConfigOpt, unit: Annotated[str | None, typer.Option()] = None, db: DbOpt = None,
                 period: Annotated[str | None, typer.Option(help="Meeting period (default: last complete).")] = None,
                 ) -> None:
    """List the action log as it stands for a meeting."""
    cfg = load_config(config)
    when = parse_period(period, cfg.cadence) if period else last_complete_period(date.today(), cfg.cadence)
    with transaction(connect(resolve_url(db, cfg.store))) as session:
        log = action_log.carry_forward_actions(session, cfg, when)
    if unit:
        log = log[log["unit_code"] == unit]
    table = Table("id", "unit", "action", "owner", "due", "status", "carried", "overdue")
    for row in log.itertuples():
        table.add_row(str(row.id), str(row.unit_code), str(row.description), str(row.owner), str(row.due_date),
                      str(row.status), str(row.meetings_carried), "OVERDUE" if row.overdue else "")
    console.print(table)


@actions_app.command("add")
@reports_errors
def actions_add(config: ConfigOpt, unit: Annotated[str, typer.Option()], action: Annotated[str, typer.Option()],
                owner: Annotated[str, typer.Option()], by: Annotated[str, typer.Option()],
                due: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: next meeting).")] = None,
                measure: Annotated[str | None, typer.Option()] = None,
                period: Annotated[str | None, typer.Option(help="Meeting that raised it.")] = None,
                db: DbOpt = None) -> None:
    """Raise an action at a meeting."""
    cfg = load_config(config)
    raised = parse_period(period, cfg.cadence) if period else last_complete_period(date.today(), cfg.cadence)
    due_date = _parse_date(due, "--due") or _next_meeting(cfg, raised)
    with transaction(connect(resolve_url(db, cfg.store))) as session:
        new = action_log.add_action(session, cfg, raised,
                                    action_log.NewAction(unit, action, owner, due_date, measure), by)
        console.print(f"Action {new.id} raised for {unit}, due {due_date}.")


@actions_app.command("update")
@reports_errors
def actions_update(config: ConfigOpt, action_id: Annotated[int, typer.Argument()],
                   by: Annotated[str, typer.Option()],
                   status: Annotated[str | None, typer.Option()] = None,
                   note: Annotated[str, typer.Option()] = "", db: DbOpt = None) -> None:
    """Update an action's status or add a progress note."""
    cfg = load_config(config)
    with transaction(connect(resolve_url(db, cfg.store))) as session:
        updated = action_log.update_action(session, action_id, by, status, note)
        console.print(f"Action {updated.id} is {updated.status}.")


@actions_app.command("import-minutes")
@reports_errors
def actions_import_minutes(config: ConfigOpt, file: Annotated[Path, typer.Argument()],
                           period: Annotated[str | None, typer.Option(help="Meeting that raised them.")] = None,
                           by: Annotated[str, typer.Option()] = "minutes", db: DbOpt = None) -> None:
    """Add the actions of a meeting's minutes (CSV: unit, action, owner, due, measure)."""
    cfg = load_config(config)
    raised = parse_period(period, cfg.cadence) if period else last_complete_period(date.today(), cfg.cadence)
    with transaction(connect(resolve_url(db, cfg.store))) as session:
        added = action_log.import_minutes(session, cfg, file, raised, by)
    console.print(f"{added} actions added from {file}.")


@quarantine_app.command("list")
@reports_errors
def quarantine_list(config: ConfigOpt, db: DbOpt = None,
                    export: Annotated[Path | None, typer.Option(help="Write all rows to this CSV.")] = None,
                    limit: Annotated[int, typer.Option(help="Rows to print.")] = 50) -> None:
    """List rows rejected at ingest with the field and reason (all of them with --export)."""
    cfg = load_config(config)
    with transaction(connect(resolve_url(db, cfg.store))) as session:
        stmt = (select(IngestedFile.path, RejectedRow.source_row, RejectedRow.field, RejectedRow.reason,
                       RejectedRow.raw)
                .join(IngestedFile, IngestedFile.id == RejectedRow.file_id)
                .where(RejectedRow.org == cfg.organisation.slug, IngestedFile.superseded.is_(False))
                .order_by(IngestedFile.path, RejectedRow.source_row))
        rows = pd.DataFrame(session.execute(stmt).all(), columns=["file", "row", "field", "reason", "raw"])
    if export:
        rows.to_csv(export, index=False)
        console.print(f"{len(rows)} rejected rows written to {export}")
        return
    table = Table("file", "row", "field", "reason", title=f"{len(rows)} rejected rows")
    for r in rows.head(limit).itertuples():
        table.add_row(Path(str(r.file)).name, str(r.row), str(r.field), str(r.reason))
    console.print(table)


def _next_meeting(cfg: Config, raised: Period) -> date:
    """The meeting after the one that reviewed ``raised``."""
    return next_period(raised, cfg.cadence).end + timedelta(days=cfg.cadence.meeting_lag_days)
