"""The command line: each command parses its options, makes one library call and reports.

Exit codes: 0 success; 1 the data stopped the cycle (e.g. no data for the period);
2 a usage mistake (bad config, bad argument, unreadable source).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from compstat import actions as action_log
from compstat.config import Config, load_config
from compstat.errors import CompstatError, UsageError, file_system_error, writing
from compstat.parallel import usable_cores
from compstat.periods import last_complete_period, parse_period
from compstat.safepaths import confined
from compstat.store import connect, resolve_url, transaction
from compstat.store.db import store_transaction
from compstat.store.lock import action_transaction
from compstat.terminal import visible

# Plain help (rich_markup_mode=None): a switch shows as `--accept-warnings`, never `--accept-warnings <bool>`
# (typer's rich help gives every option a type, switches too), and the help reads the same piped or in a terminal.
HELP_STYLE: dict[str, Any] = {"no_args_is_help": True, "rich_markup_mode": None}
app = typer.Typer(help="Compstat-style accountability cycles: ingest, assure, analyse, follow up, brief.",
                  pretty_exceptions_enable=False, add_completion=False, **HELP_STYLE)
actions_app = typer.Typer(help="The action log: raise, list and update actions.", **HELP_STYLE)
agreements_app = typer.Typer(help="Accountability agreements: named officers, triggers, escalation.", **HELP_STYLE)
quarantine_app = typer.Typer(help="Rows rejected at ingest, with their reasons.", **HELP_STYLE)
app.add_typer(actions_app, name="actions")
app.add_typer(agreements_app, name="agreements")
users_app = typer.Typer(help="Accounts of `compstat serve`: add, list, disable, reset.", **HELP_STYLE)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(users_app, name="users")


class VisibleConsole(Console):
    """A rich console that shows control characters in the text it is given (``terminal.visible``) rather
    than passing them to the terminal: every message is built from text the program may not have
    written (unit codes, names, notes, file names). Rich's own styling is added after, so it still works."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(visible(o, lines=True) if isinstance(o, str) else o for o in objects), **kwargs)


console = VisibleConsole(highlight=False, soft_wrap=True)
err_console = VisibleConsole(stderr=True, highlight=False, soft_wrap=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The cycle's YAML config.")]
DbOpt = Annotated[str | None, typer.Option("--db", help=(
    "Store URL, a SQLite file relative to the working directory (default: COMPSTAT_DB, then the config's store, "
    "relative to the config's folder)."))]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Print every quality finding (default: grouped by check with counts).")]
WorkersOpt = Annotated[int | None, typer.Option(
    min=1, metavar="N",
    help=f"Processes rendering packs in parallel (default: one per usable core, {usable_cores()} here).")]
F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn a CompstatError into one line on stderr and its exit code; no traceback. The message
    (which quotes the user's data) is printed as text, never as rich markup. An OSError (a folder
    that cannot be written, a full disk) is reported as ``errors.file_system_error`` says, exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CompstatError as exc:
            _print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # the machine's state: a read-only folder, a full disk, a missing permission
            fault = file_system_error(exc)
            _print_error(fault)
            raise typer.Exit(fault.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _print_error(exc: Exception) -> None:
    err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True)


def _load(path: Path) -> Config:
    """The config, with its accountability agreements checked against its units and measures."""
    cfg = load_config(path)
    action_log.check_agreements(cfg, path)
    return cfg


class WrappingTable(Table):
    """A rich table that never cuts text off: a cell too long for its column wraps, and a word too long
    folds onto the next line (no "…"). When the columns cannot all fit the console's width with each
    text column at least ``MIN_TEXT`` characters wide (many columns at 80, the width of a pipe), each
    row is printed as a block of "header  value" lines instead, so no column is squeezed to a few letters."""

    MIN_TEXT = 16

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        """A row whose text cells show their control characters (``terminal.visible``)."""
        super().add_row(*(visible(r, lines=True) if isinstance(r, str) else r for r in renderables), **kwargs)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = [self._measure_column(console, options, c) for c in self.columns]
        narrowest = sum(min(w.maximum, max(w.minimum, self.MIN_TEXT)) for w in widths)
        if not self.columns or narrowest + self._extra_width <= options.max_width:
            yield from super().__rich_console__(console, options)
            return
        if self.title:
            yield self.title
        for row in range(self.row_count):
            record = Table.grid(padding=(0, 2))
            record.add_column(no_wrap=True, style="bold", min_width=max(len(str(c.header)) for c in self.columns))
            record.add_column(overflow="fold")
            for column in self.columns:
                cell = column._cells[row]
                if cell != "":
                    record.add_row(column.header, cell)
            yield Rule(style="dim")
            yield record


def _table(*headers: str, title: str, **options: Any) -> WrappingTable:
    """A table whose columns wrap and fold rather than truncate (see ``WrappingTable``)."""
    table = WrappingTable(title=visible(title), **options)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def _cells(*values: object) -> list[str]:
    """Table cells from data: each value as text, escaped so rich prints it literally."""
    return [escape("" if v is None else str(v)) for v in values]


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
    workers: WorkersOpt = None,
    today: Annotated[str | None, typer.Option(help="Run as if today were this date (YYYY-MM-DD).")] = None,
    accept_warnings: Annotated[bool, typer.Option(
        "--accept-warnings", help="Go ahead despite blocking quality findings (recorded in the manifest).")] = False,
    go_ahead: Annotated[bool, typer.Option(
        "--go-ahead", help="Go ahead although some units' data for the period has not arrived (recorded).")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run one cycle: ingest, quality, analysis, actions, packs. Blocking quality findings stop it (exit 1)."""
    from compstat.cycle import run_cycle

    cfg = _load(config)
    url = resolve_url(db, cfg.store)

    def progress(step: str, seconds: float) -> None:
        console.print(f"  [green]✓[/] {step:<9} {seconds:7.2f} s")

    console.print(f"[bold]{escape(cfg.organisation.name)}[/]: running cycle")
    outcome = run_cycle(cfg, url, period, out_root=out, today=_parse_date(today, "--today"),
                        workers=workers, progress=progress, accept_warnings=accept_warnings,
                        go_ahead_if_stale=go_ahead)
    loaded = [r for r in outcome.ingest if r.status == "loaded"]
    console.print(f"Period {outcome.period.label} ({outcome.period.start} to {outcome.period.end}); "
                  f"{len(loaded)} new input(s), {sum(r.rows_loaded for r in loaded):,} rows loaded, "
                  f"{sum(r.rows_rejected for r in loaded):,} rejected")
    for report in outcome.ingest:
        if report.note:  # a move, a copy, rows already held from another input
            console.print(f"  {report.location}: {report.note}", markup=False)
    _print_findings(outcome.findings, verbose, outcome.settings_warnings)
    quality = outcome.quality
    if quality is not None and quality.accepted:
        console.print(f"[bold red]Went ahead despite {len(quality.accepted)} blocking finding(s)[/] "
                      "(--accept-warnings): recorded in manifest.json", markup=True)
    if quality is not None and quality.stale_units:
        console.print(f"[bold red]Went ahead without the data of {escape(', '.join(quality.stale_units))}[/]: "
                      "recorded in manifest.json", markup=True)
    for stale in outcome.removed_stale:
        console.print(f"removed stale staged folder {stale} (left by a run that was stopped)", markup=False)
    if outcome.settled:  # an earlier run whose commit could not be confirmed
        console.print(outcome.settled, markup=False)
    if outcome.reused:
        console.print(f"reused {len(outcome.reused)} of {len(outcome.packs)} packs (unchanged inputs)", markup=False)
    if outcome.charts_reused[0]:
        console.print("reused {} of {} XmR charts (unchanged series)".format(*outcome.charts_reused), markup=False)
    if outcome.unchanged_since:
        console.print(f"Nothing changed since the run of {outcome.unchanged_since}: its outputs stand, "
                      f"store untouched: {outcome.out_dir}", markup=False)
        return
    console.print(f"{len(outcome.packs)} packs written to [bold]{escape(str(outcome.out_dir))}[/]")
    if outcome.sheets:
        n = len(outcome.sheets)
        console.print(f"of these, {n} {'is a CompStat sheet' if n == 1 else 'are CompStat sheets'}, for the "
                      f"{'unit' if n == 1 else 'units'} this meeting does not call (packs.unit_packs: called)",
                      markup=False)


def _print_findings(findings: list[Any], verbose: bool = False, settings: tuple[str, ...] = ()) -> None:
    """The quality findings by severity, most serious first, grouped by check with counts (every line with
    ``verbose``), then the analysis settings' warnings; messages printed verbatim."""
    from compstat.quality.summary import VERBOSE_HINT, finding_sections, settings_lines

    colours = {"blocking": "red", "warning": "yellow", "info": "cyan"}
    if not findings:
        console.print("Quality: no findings")
    sections = finding_sections(findings, verbose)
    for section in sections:
        console.print(f"[bold {colours[section.severity]}]{section.heading}[/]", markup=True)
        for line in section.lines:
            console.print(f"  {line}", markup=False)
    summarised = sum(s.summarised for s in sections)
    if summarised:
        console.print(f"({summarised} findings summarised by check: {VERBOSE_HINT})", markup=False)
    if settings:
        console.print(f"[bold yellow]Settings warnings ({len(settings)})[/]", markup=True)
        for line in settings_lines(settings, verbose):
            console.print(f"  {line}", markup=False)


@app.command()
@reports_errors
def check(
    config: ConfigOpt,
    period: Annotated[str | None, typer.Option(help="e.g. 2026-W47 or 2026-11 (default: last complete one).")] = None,
    db: DbOpt = None,
    out: Annotated[Path | None, typer.Option(
        help="Report file, .html or .pdf (default: <output_dir>/<org>/quality-<period>.html).")] = None,
    today: Annotated[str | None, typer.Option(help="Run as if today were this date (YYYY-MM-DD).")] = None,
    quarantine: Annotated[Path | None, typer.Option(
        help="Also write every quarantined row (this run's too, which is not stored) to this .csv or .xlsx.")]
    = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run ingest and the quality checks alone, store nothing, and write the quality report.

    Exit 1 when a finding would block the cycle; 0 otherwise.
    """
    from compstat.packs.quality_report import write_report
    from compstat.quality import check_data

    cfg = load_config(config)
    if out is not None and out.suffix.lower() not in (".html", ".pdf"):
        raise UsageError(f"--out '{out}': the report is written as .html or .pdf")
    if quarantine is not None:
        _check_export(quarantine, "--quarantine")
    result = check_data(cfg, resolve_url(db, cfg.store), period, _parse_date(today, "--today"), quarantine)
    console.print(f"[bold]{escape(cfg.organisation.name)}[/]: data quality for {result.period.label} "
                  f"({result.period.start} to {result.period.end}); nothing was stored", markup=True)
    _print_findings(list(result.findings), verbose)
    target = out or confined(Path(cfg.output_dir), f"{cfg.organisation.slug}/quality-{result.period.label}.html",
                             resolve=False)
    with writing(target):
        write_report(result, cfg, target)
    console.print(f"Quality report written to [bold]{escape(str(target))}[/]", markup=True)
    if quarantine is not None:
        console.print(f"Quarantined rows written to [bold]{escape(str(quarantine))}[/]", markup=True)
    if result.blocking:
        err_console.print(f"{len(result.blocking)} blocking finding(s): run-cycle would stop for "
                          f"{result.period.label}", markup=False)
        raise typer.Exit(1)


@app.command()
@reports_errors
def publish(
    config: ConfigOpt,
    period: Annotated[str | None, typer.Option(help="e.g. 2026-W47 or 2026-11 (default: last complete one).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder of the site (default: <output_dir>/<org>/public-<period>/).")] = None,
    db: DbOpt = None,
) -> None:
    """Write the public report card: a static website (no script, nothing fetched) with a page for the
    organisation and each unit, the public measures' trends against last year under disclosure control,
    the actions marked public, and the same figures as CSV and JSON."""
    from compstat.publish.site import write_site

    cfg = _load(config)
    when = parse_period(period, cfg.cadence) if period else last_complete_period(date.today(), cfg.cadence)
    target = out or confined(Path(cfg.output_dir), f"{cfg.organisation.slug}/public-{when.label}", resolve=False)
    with writing(target), transaction(connect(resolve_url(db, cfg.store))) as session:
        report = write_site(session, cfg, when, target)
    rules = cfg.publish.disclosure
    control = ("off" if not rules.enabled else f"counts below {rules.threshold} suppressed"
               if rules.method == "suppress" else f"counts rounded to {rules.round_to}")
    console.print(f"Public report card for {when.label}: {len(report.pages)} pages, "
                  f"{len(cfg.publish.measures)} public measures, disclosure control {control}", markup=False)
    console.print(f"Open {report.out / 'index.html'}", markup=False)


@app.command()
@reports_errors
def demo(
    config: ConfigOpt = Path("config/demo.yaml"),
    out: Annotated[Path | None, typer.Option(
        help="Folder for the demo data (default: the folder the config's first source reads).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day of data (default: end of last complete week).")] = None,
    db: DbOpt = None,
) -> None:
    """Write the synthetic demo force's data, record the last meeting's actions, and apply one
    commander's spreadsheet of updates made since."""
    from compstat.demo import DEMO_UPDATES_UNIT, make_demo_accounts, record_demo_follow_up, write_demo

    cfg = _load(config)
    first = next((s.path for s in cfg.sources if s.path), None)
    out = out or (cfg.resolve_path(first).parent if first else Path("demo-data"))
    last_day = _parse_date(end, "--end") or last_complete_period(date.today(), cfg.cadence).end
    with writing(out):
        paths = write_demo(out, last_day, n_units=len(cfg.leaf_units))
    with writing(out), action_transaction(resolve_url(db, cfg.store)) as session:
        story = record_demo_follow_up(session, cfg, paths["minutes"], last_day, out)
        accounts = make_demo_accounts(session, cfg)
    recorded = (f"the {story.meeting} meeting's actions were already recorded" if story.already_recorded
                else f"{story.added} actions recorded from the {story.meeting} meeting")
    console.print(f"Demo data to {last_day} written to {out}/; {recorded}.", markup=False)
    console.print(f"{DEMO_UPDATES_UNIT}'s commander filled in {story.sheet}: {story.applied} actions updated, "
                  f"{story.unchanged} unchanged.", markup=False)
    _print_demo_accounts(accounts, config)


def _print_demo_accounts(accounts: list[Any], config: Path) -> None:
    """The demo's sign-ins for ``compstat serve``: new passwords shown once, accounts already there named."""
    new = [a for a in accounts if a.password is not None]
    kept = [a.username for a in accounts if a.password is None]
    if new:
        console.print("Demo sign-ins for `compstat serve` (demo only; each password is shown this once):",
                      markup=False)
        width = max(len(a.username) for a in new)
        for account in new:
            console.print(f"  {account.username:<{width}}  {account.password}  {account.description}", markup=False)
    if kept:
        console.print(f"Demo accounts {', '.join(kept)} were already there: left as they were (`compstat users reset "
                      f"--config {config} NAME` gives one a new password).", markup=False)


@actions_app.command("list")
@reports_errors
def actions_list(config: ConfigOpt, unit: Annotated[str | None, typer.Option()] = None, db: DbOpt = None,
                 period: Annotated[str | None, typer.Option(help="Meeting period (default: the next meeting).")] = None,
                 ) -> None:
    """List the action log as it stands for a meeting: level, overdue, stale, did it work.

    Judged as in the meeting's packs: on its stored cycle once it has run, else on the data held
    now by the cycle's own judgement (exit 1 when there is no data for the period)."""
    from compstat.preview import meeting_judgement

    cfg = _load(config)
    when = parse_period(period, cfg.cadence) if period else action_log.upcoming_period(cfg, date.today())
    _check_unit(cfg, unit)
    judged = meeting_judgement(cfg, resolve_url(db, cfg.store), when)
    log, levels = judged.log, judged.levels
    if unit:
        log = log[log["unit_code"] == unit]
    meeting = action_log.meeting_date(cfg, when)
    table = _table("id", "unit", "action", "owner", "due", "status", "carried", "level", "flags", "did it work",
                   title=f"Action log for the {when.label} meeting ({meeting})")
    for row in log.itertuples():
        flags = " ".join(f for f, on in (("OVERDUE", row.overdue), ("STALE", row.stale)) if on)
        table.add_row(*_cells(row.id, row.unit_code, row.description, row.owner, row.due_date, row.status,
                              row.meetings_carried,
                              f"{row.escalation_level} {row.escalation_label}" if row.carried else "", flags,
                              row.effect_text))
    console.print(table)
    if unit:
        level = levels.set_index("unit_code").loc[unit]
        console.print(f"Unit {unit}: level {level.escalation_level} {level.escalation_label} "
                      f"({level.escalation_reason})", markup=False)
    if not judged.recorded:
        console.print(f"The {when.label} cycle has not run yet: levels and \"did it work\" are judged on the data "
                      "held now, as its packs would show them (nothing was recorded).", markup=False)


@actions_app.command("add")
@reports_errors
def actions_add(config: ConfigOpt, unit: Annotated[str, typer.Option()], action: Annotated[str, typer.Option()],
                owner: Annotated[str, typer.Option()], by: Annotated[str, typer.Option()],
                due: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: next meeting).")] = None,
                measure: Annotated[str | None, typer.Option()] = None,
                period: Annotated[str | None, typer.Option(help="Meeting that raised it.")] = None,
                kind: Annotated[str, typer.Option(help="commitment or data-request.")] = "commitment",
                support_requested: Annotated[str, typer.Option(help="Support the unit asked for.")] = "",
                support_offered: Annotated[str, typer.Option(help="Support offered at the meeting.")] = "",
                db: DbOpt = None) -> None:
    """Raise an action at a meeting."""
    cfg = _load(config)
    raised = parse_period(period, cfg.cadence) if period else last_complete_period(date.today(), cfg.cadence)
    due_date = _parse_date(due, "--due") or action_log.next_meeting_date(cfg, raised)
    held = action_log.meeting_date(cfg, raised)
    if due_date < held:
        raise UsageError(f"--due {due_date} is before the meeting that raises the action ({raised.label}, held "
                         f"{held}): an action is due on or after the meeting that agrees it")
    with action_transaction(resolve_url(db, cfg.store)) as session:
        new = action_log.add_action(session, cfg, raised, action_log.NewAction(
            unit, action, owner, due_date, measure, kind, support_requested, support_offered), by)
        console.print(f"Action {new.id} raised for {unit}, due {due_date}.", markup=False)


@actions_app.command("update")
@reports_errors
def actions_update(config: ConfigOpt, action_id: Annotated[int, typer.Argument()],
                   by: Annotated[str, typer.Option()],
                   status: Annotated[str | None, typer.Option(help="open, in progress, done or dropped.")] = None,
                   note: Annotated[str, typer.Option()] = "",
                   reason: Annotated[str, typer.Option(help="Why it is dropped (needed to drop).")] = "",
                   support_requested: Annotated[str | None, typer.Option()] = None,
                   support_offered: Annotated[str | None, typer.Option()] = None,
                   due: Annotated[str | None, typer.Option(help="New due date (YYYY-MM-DD).")] = None,
                   done_on: Annotated[str | None, typer.Option(help="Date it was done (default: today).")] = None,
                   public: Annotated[bool, typer.Option(
                       "--public", help="Show it on the public report card (description, unit, status, due date).")]
                   = False,
                   not_public: Annotated[bool, typer.Option(
                       "--not-public", help="Stop showing it on the public report card.")] = False,
                   db: DbOpt = None) -> None:
    """Update an action's status, add a progress note, or record support; every change is kept."""
    if public and not_public:
        raise UsageError("--public and --not-public: give one of them")
    cfg = _load(config)
    with action_transaction(resolve_url(db, cfg.store)) as session:
        updated = action_log.update_action(
            session, action_id, by, status, note, reason=reason, support_requested=support_requested,
            support_offered=support_offered, due_date=_parse_date(due, "--due"),
            closed_on=_parse_date(done_on, "--done-on"), org=cfg.organisation.slug,
            public=True if public else False if not_public else None)
        shown = " It is on the public report card." if updated.public else ""
        console.print(f"Action {updated.id} is {updated.status}.{shown}", markup=False)


@actions_app.command("history")
@reports_errors
def actions_history(config: ConfigOpt, action_id: Annotated[int, typer.Argument()], db: DbOpt = None) -> None:
    """Show every recorded change to an action: who, when, old → new, and via what."""
    cfg = _load(config)
    with transaction(connect(resolve_url(db, cfg.store))) as session:
        rows = action_log.action_history(session, action_id, cfg.organisation.slug)
        table = _table("at", "by", "field", "old", "new", "note", "via", title=f"History of action {action_id}")
        for u in rows:
            table.add_row(*_cells(f"{u.at:%Y-%m-%d %H:%M}", u.by, u.field, u.old, u.new, u.note, u.via))
    console.print(table)


@actions_app.command("export")
@reports_errors
def actions_export(config: ConfigOpt, unit: Annotated[str, typer.Option()],
                   out: Annotated[Path | None, typer.Option(help="XLSX file (default: actions-UNIT-PERIOD.xlsx).")]
                   = None,
                   period: Annotated[str | None, typer.Option(help="Meeting (default: the next one).")] = None,
                   by: Annotated[str, typer.Option(help="Who exported it (kept in the file).")] = "",
                   db: DbOpt = None) -> None:
    """Write a unit's open actions to an XLSX for its commander to fill in (✎ columns editable)."""
    from compstat.actions.spreadsheet import export_actions, export_name

    if out is not None and out.suffix.lower() != ".xlsx":
        raise UsageError(f"--out '{out}': the export is a spreadsheet for the commander, written as .xlsx")
    cfg = _load(config)
    when = parse_period(period, cfg.cadence) if period else action_log.upcoming_period(cfg, date.today())
    path = out or confined(Path("."), export_name(unit, when))  # the code cannot lead out of the folder
    with writing(path), transaction(connect(resolve_url(db, cfg.store))) as session:
        n = export_actions(session, cfg, unit, path, when, by=by)
    console.print(f"{n} open actions of {unit} written to {path}", markup=False)


@actions_app.command("import")
@reports_errors
def actions_import(config: ConfigOpt, file: Annotated[Path, typer.Argument()],
                   by: Annotated[str, typer.Option(help="Who filled it in (recorded in each action's history).")],
                   db: DbOpt = None) -> None:
    """Apply a filled-in export. Exit 0: every row applied or unchanged; 1: some rows were conflicts,
    malformed or refused (another unit's action; the others are applied); 2: the file cannot be read or
    its signature does not verify (nothing applied)."""
    from compstat.actions.spreadsheet import import_action_updates

    cfg = _load(config)
    with action_transaction(resolve_url(db, cfg.store)) as session:
        report = import_action_updates(session, cfg, file, by)
    for outcome in ("applied", "conflict", "malformed", "refused"):
        for row in report.of(outcome):
            colour = {"applied": "green", "conflict": "yellow", "malformed": "red", "refused": "red"}[outcome]
            console.print(f"  [{colour}]{outcome}[/] {escape(row.message)}", markup=True)
    for warning in report.warnings:
        console.print(f"  [yellow]warning[/] {escape(warning)}", markup=True)
    console.print(f"{file}: {len(report.of('applied'))} applied, {len(report.of('unchanged'))} unchanged, "
                  f"{len(report.of('conflict'))} conflicts, {len(report.of('malformed'))} malformed, "
                  f"{len(report.of('refused'))} refused", markup=False)
    if not report.complete:
        raise typer.Exit(1)


@actions_app.command("import-minutes")
@reports_errors
def actions_import_minutes(config: ConfigOpt, file: Annotated[Path, typer.Argument()],
                           period: Annotated[str | None, typer.Option(help="Meeting that raised them.")] = None,
                           by: Annotated[str, typer.Option()] = "minutes", db: DbOpt = None) -> None:
    """Add the actions of a meeting's minutes (CSV or XLSX: unit, action, owner, due, measure, kind, ...)."""
    cfg = _load(config)
    raised = parse_period(period, cfg.cadence) if period else last_complete_period(date.today(), cfg.cadence)
    with action_transaction(resolve_url(db, cfg.store)) as session:
        result = action_log.import_minutes(session, cfg, file, raised, by)
    console.print(result.describe(file), markup=False)


@agreements_app.command("show")
@reports_errors
def agreements_show(config: ConfigOpt,
                    unit: Annotated[str | None, typer.Option(help="One unit (default: every unit).")] = None) -> None:
    """Print the accountability agreements (officer, support and intervention triggers) and the ladder."""
    cfg = _load(config)
    _check_unit(cfg, unit)
    codes = [unit] if unit else [u.code for u in cfg.leaf_units]
    lines = [line for code in codes for line in action_log.unit_agreements(cfg, code)]
    table = _table("unit", "measure", "responsible officer", "support if", "intervention if", "note",
                   title="Accountability agreements")
    for line in lines:
        table.add_row(*_cells(line.unit_code, line.measure_name, line.officer, line.support_if or "–",
                              line.intervene_if or "–", line.note))
    if lines:
        console.print(table)
    else:
        console.print(f"No accountability agreement is recorded for {unit or 'any unit'}.", markup=False)
    ladder = cfg.accountability.escalation
    steps = " → ".join(f"{i} {name}" for i, name in enumerate(ladder.levels))
    console.print(f"Escalation ladder: {steps}", markup=False)
    console.print(action_log.describe_rule(ladder), markup=False)
    console.print(f"Actions not updated for more than {cfg.accountability.stale_after_days} days are flagged stale.",
                  markup=False)


@app.command()
@reports_errors
def minutes(config: ConfigOpt,
            period: Annotated[str | None, typer.Option(help="Meeting period (default: the last meeting held).")]
            = None,
            out: Annotated[Path | None, typer.Option(help="Output root (default: the config's output_dir).")] = None,
            db: DbOpt = None) -> None:
    """Write each unit's follow-up note after a meeting: commitments, owners, dates, data requested."""
    from compstat.actions.minutes import write_minutes
    from compstat.preview import meeting_judgement

    cfg = _load(config)
    when = parse_period(period, cfg.cadence) if period else action_log.latest_meeting_period(cfg, date.today())
    url = resolve_url(db, cfg.store)
    judged = meeting_judgement(cfg, url, when)
    with writing(out or Path(cfg.output_dir)), transaction(connect(url)) as session:
        paths = write_minutes(session, cfg, when, out_root=out,
                              judged=(judged.log, judged.levels, judged.triggers))
    folder = paths[0].parent if paths else "nowhere"
    console.print(f"{len(paths)} follow-up notes for the {when.label} meeting written to {folder}", markup=False)


@app.command()
@reports_errors
def health(config: ConfigOpt,
           period: Annotated[str | None, typer.Option(help="Meeting period (default: the last meeting held).")]
           = None,
           cycles: Annotated[int, typer.Option(min=1, max=104, help="Meetings in the trend, this one last.")] = 8,
           db: DbOpt = None) -> None:
    """The meeting's own health per meeting: packs on time, minutes sent, actions updated, overdue and
    stale, closed and whether they worked, units that have not updated; special causes over the meetings."""
    from datetime import datetime

    from compstat.health import HEALTH_MEASURES, load_health

    cfg = _load(config)
    when = parse_period(period, cfg.cadence) if period else action_log.latest_meeting_period(cfg, date.today())
    with store_transaction(resolve_url(db, cfg.store)) as session:
        trend = load_health(session, cfg, when, cycles=cycles, as_of=datetime.now().replace(microsecond=0),
                            judge_effects=True)
    table = _table("meeting", "packs (h before)", "minutes", "updated", "overdue", "stale", "closed", "worked",
                   "not updated", "flags", title=f"Meeting health up to the {when.label} meeting")
    for m in trend.meetings:
        hours = "not recorded" if m.pack_hours is None else f"{m.pack_hours:.0f} {'ok' if m.packs_on_time else 'LATE'}"
        share = m.updated_share
        updated = "-" if share is None else f"{m.updated}/{m.open_actions} ({100 * share:.0f}%)"
        worked = "-" if m.judged is None else f"{m.worked}/{m.judged}"
        table.add_row(*_cells(f"{m.period} {m.meeting:%Y-%m-%d %H:%M}", hours, m.minutes_status, updated, m.overdue,
                              m.stale, f"{m.done} done, {m.dropped} dropped", worked,
                              " ".join(m.not_updated) or "-", "; ".join(m.flags) or "-"))
    console.print(table)
    latest = trend.latest
    if latest is not None and latest.units:
        units = _table("unit", "open", "updated", "overdue", "stale", title=f"Open actions by unit, {latest.period}")
        for u in latest.units:
            units.add_row(*_cells(u.unit_code, u.open, u.updated, u.overdue, u.stale))
        console.print(units)
    for measure, kind in trend.special:
        console.print(f"{HEALTH_MEASURES[measure][0]}: a special cause of {kind} at the {when.label} meeting",
                      markup=False)


@app.command()
@reports_errors
def distribute(config: ConfigOpt,
               period: Annotated[str | None, typer.Option(
                   help="Meeting period (default: the latest period with a cycle in the store).")] = None,
               dry_run: Annotated[bool, typer.Option(
                   "--dry-run", help="Print what would be sent; send and record nothing.")] = False,
               db: DbOpt = None,
               now: Annotated[str | None, typer.Option(
                   help="The moment to judge lateness against and record sends at (ISO, e.g. 2026-11-29T09:00; "
                        "default: the clock).")] = None) -> None:
    """E-mail each commander their pack and the chair the chair's pack before the meeting, and the minutes
    after it; each send recorded, nothing sent twice, failures retried next run (exit 1 when any failed)."""
    from datetime import datetime

    from sqlalchemy import select

    from compstat.delivery import distribute as send_all
    from compstat.store import Cycle

    cfg = _load(config)
    moment = None
    if now is not None:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError:
            raise UsageError(f"--now '{now}': expected an ISO date and time such as 2026-11-29T09:00") from None
    engine = connect(resolve_url(db, cfg.store))
    try:
        if period is None:
            with transaction(engine) as session:
                latest = session.scalar(select(Cycle.period).where(Cycle.org == cfg.organisation.slug)
                                        .order_by(Cycle.period_end.desc()).limit(1))
            if latest is None:
                raise UsageError("no cycle in the store yet: run `compstat run-cycle` first (or give --period)")
            period = latest
        report = send_all(cfg, engine, parse_period(period, cfg.cadence), dry_run=dry_run, now=moment)
    finally:
        engine.dispose()
    for line in report.lines():
        console.print(line, markup=False)
    if report.failed and not dry_run:
        raise typer.Exit(1)


def _check_unit(cfg: Config, unit: str | None) -> None:
    if unit is not None and unit not in {u.code for u in cfg.leaf_units}:
        raise UsageError(f"--unit '{unit}' is not an accountable unit in the config")


@quarantine_app.command("list")
@reports_errors
def quarantine_list(config: ConfigOpt, db: DbOpt = None,
                    source: Annotated[str | None, typer.Option(help="Only this source's rows.")] = None,
                    export: Annotated[Path | None, typer.Option(
                        help="Write all the rows to this file: .csv or .xlsx.")] = None,
                    limit: Annotated[int, typer.Option(help="Rows to print.")] = 50) -> None:
    """List rows quarantined at ingest with the field and reason (all of them with --export). Organisation
    totals a source supplies (quality.totals) are counted, not listed: they are kept aside, not rejected."""
    from compstat.ingest import export_quarantine, quarantined_rows
    from compstat.ingest.mapping import COUNTED_WITHOUT_COORDINATES
    from compstat.quality.context import quarantine_listing

    cfg = load_config(config)
    if source is not None and source not in {s.name for s in cfg.sources}:
        raise UsageError(f"--source '{source}': the config's sources are {', '.join(s.name for s in cfg.sources)}")
    if export is not None:
        _check_export(export, "--export")
    with transaction(connect(resolve_url(db, cfg.store))) as session:
        rows, totals = quarantine_listing(quarantined_rows(session, cfg.organisation.slug, source), cfg, date.today())
    counted = int(rows["reason"].str.endswith(COUNTED_WITHOUT_COORDINATES).sum())
    title = f"{len(rows) - counted} rejected rows" + (
        f" and {counted} counted without their unreadable coordinates" if counted else "") + (
        f" ({totals} organisation-total rows kept aside for the consistency check are not listed)" if totals else "")
    if export:
        with writing(export):
            export_quarantine(rows, export)
        console.print(f"{title} written to {export}", markup=False)
        return
    table = _table("file", "row", "field", "reason", title=title)
    for r in rows.head(limit).itertuples():
        table.add_row(*_cells(Path(str(r.file)).name, r.row, r.field, r.reason))
    console.print(table)
    if len(rows) > limit:
        console.print(f"… and {len(rows) - limit} more (--limit, or --export for every row)", markup=False)
    if rows.empty and not totals:
        console.print("Nothing is quarantined in the store. A `compstat check`, or a run-cycle that stopped, stores "
                      "nothing: `compstat check --quarantine FILE.csv` exports the rows such a run quarantined.",
                      markup=False)


def _check_export(path: Path, option: str) -> None:
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError(f"{option} '{path}': write a .csv or an .xlsx file")


@app.command()
@reports_errors
def reissue(
    config: ConfigOpt,
    period: Annotated[str, typer.Option(help="The recorded cycle to re-issue, e.g. 2026-W47 or 2026-11.")],
    db: DbOpt = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for the re-issued outputs (default: <output_dir>/<org>/<period>-reissued).")] = None,
    workers: WorkersOpt = None,
) -> None:
    """Re-render a recorded cycle's outputs from exactly the data versions it used. Changes nothing stored."""
    from compstat.reissue import reissue_cycle

    cfg = load_config(config)
    outcome = reissue_cycle(cfg, resolve_url(db, cfg.store), period, out_dir=out, workers=workers)
    console.print(f"{outcome.period.label} re-issued from its recorded data versions: {len(outcome.packs)} packs "
                  f"and the period table written to {outcome.out_dir} (actions as they stand now)", markup=False)


@app.command("spc")
@reports_errors
def spc_command(
    file: Annotated[Path, typer.Argument(help="A CSV with one row per period.")],
    x: Annotated[str, typer.Option("--x", help="Column of the periods (dates or numbers).")],
    y: Annotated[str, typer.Option("--y", help="Column of the values (blank: a missing point).")],
    improvement: Annotated[str, typer.Option(help="Which way is better: increase, decrease or neutral.")] = "neutral",
    target: Annotated[float | None, typer.Option(help="A target, for the assurance icon.")] = None,
    rebase: Annotated[list[str] | None, typer.Option(help="A change point (YYYY-MM-DD); repeat for more.")] = None,
    fix_after: Annotated[int | None, typer.Option(help="Limits from the first N points, then held.")] = None,
    baseline_start: Annotated[str | None, typer.Option(
        help="First date (YYYY-MM-DD) of the baseline whose points set the limits; wins over --fix-after.")] = None,
    baseline_end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD) of the baseline.")] = None,
    no_screen: Annotated[bool, typer.Option("--no-screen", help="Keep large moving ranges (NHS Excel tool).")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the points to this CSV (default: standard output).")] = None,
    chart: Annotated[Path | None, typer.Option(help="Draw the chart to this PNG.")] = None,
) -> None:
    """An XmR chart (NHS Making Data Count) of one series: mean, limits, special causes, point types."""
    from compstat.analysis.spc import SpcOptions, assurance, in_baseline, spc, variation
    from compstat.analysis.spc_series import spc_input
    from compstat.cells import write_csv
    from compstat.files import replaced_atomically, write_atomically

    if improvement not in ("increase", "decrease", "neutral"):
        raise UsageError(f"--improvement '{improvement}': expected increase, decrease or neutral")
    changes = tuple(d for d in (_parse_date(value, "--rebase") for value in rebase or []) if d is not None)
    if fix_after is not None and fix_after < 2:
        raise UsageError(f"--fix-after {fix_after}: expected at least 2 points")
    base_start, base_end = _parse_date(baseline_start, "--baseline-start"), _parse_date(baseline_end, "--baseline-end")
    if base_start is not None and base_end is not None and base_start > base_end:
        raise UsageError(f"--baseline-start {base_start} is after --baseline-end {base_end}")
    try:
        raw = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file}: cannot read the CSV ({exc})") from None
    points = spc_input(raw, x, y)
    dated = pd.api.types.is_datetime64_any_dtype(points["x"])
    if changes and not dated:
        raise UsageError(f"--rebase needs dates in column '{x}'")
    if (base_start or base_end) and not dated:
        raise UsageError(f"--baseline-start/--baseline-end need dates in column '{x}'")
    options = SpcOptions(improvement=improvement, target=target, rebase=changes,  # type: ignore[arg-type]
                         fix_after=fix_after, screen_outliers=not no_screen, baseline_start=base_start,
                         baseline_end=base_end)
    if options.has_baseline and not (in_baseline(points["x"], options) & points["y"].notna().to_numpy()).any():
        raise UsageError(f"the baseline ({base_start or 'start'} to {base_end or 'end'}) holds no points of "
                         f"column '{y}'")
    result = spc(points, options=options)
    if chart is not None:
        from compstat.analysis.spc_chart import spc_chart

        write_atomically(chart, spc_chart(result, title=y, y_label=y))
    if out is None:
        typer.echo(write_csv(result, index=False), nl=False)
        return
    with replaced_atomically(out) as temp:
        write_csv(result, temp, index=False)
    last = result.iloc[-1]
    icon = assurance(result, options)
    console.print(f"{len(result)} points; latest limits {last['lpl']:.6g} to {last['upl']:.6g} around "
                  f"{last['mean']:.6g}; variation: {variation(result)}"
                  + (f"; assurance: {icon}" if icon else "") + f"; written to {out}", markup=False)


@app.command("analyse")
@reports_errors
def analyse_command(
    config: ConfigOpt,
    period: Annotated[str | None, typer.Option(help="e.g. 2026-W47 or 2026-11 (default: last complete one).")] = None,
    unit: Annotated[str | None, typer.Option(help="Only this unit's or division's findings (or _total).")] = None,
    db: DbOpt = None,
    top: Annotated[int | None, typer.Option(
        min=1, metavar="N", help="Findings per table (default: analysis.top).")] = None,
    today: Annotated[str | None, typer.Option(help="Run as if today were this date (YYYY-MM-DD).")] = None,
) -> None:
    """Ingest and analyse a period, then print what to probe and what to recognise. Records nothing."""
    from compstat.analysis.analyse import check_settings
    from compstat.analysis.measures import analysis_units
    from compstat.figures import TOTAL
    from compstat.preview import preview_analysis

    cfg = load_config(config)
    if unit is not None and unit not in analysis_units(cfg):
        raise UsageError(f"--unit '{unit}' is not an accountable unit or division in the config (or {TOTAL})")
    for note in check_settings(cfg):
        err_console.print(f"[yellow]Warning:[/] {escape(note)}", markup=True)
    data = preview_analysis(cfg, resolve_url(db, cfg.store), period, _parse_date(today, "--today"))
    assert data.analysis is not None
    limit = top or cfg.analysis.top
    where = f"{unit} " if unit else ""
    for title, frame in ((f"What to probe: {where}{data.period.label}", data.analysis.probe),
                         (f"What to recognise: {where}{data.period.label}", data.analysis.recognition)):
        if unit is not None:
            frame = frame[frame["unit_code"] == unit]
        console.print(_findings_table(frame.head(limit), f"{title} ({len(frame)} found)"))
    if data.quality is not None:
        counts, marks = data.quality.counts(), data.quality.comparisons
        unlike = int((~marks["like_for_like"].astype(bool)).sum())
        console.print(f"Quality, as in the packs: {counts['blocking']} blocking, {counts['warning']} warning and "
                      f"{counts['info']} info finding(s) (`compstat check` lists them); {unlike} comparisons not "
                      "like-for-like (nothing is recognised on them; findings that cite them are marked).",
                      markup=False)
        if counts["blocking"]:
            err_console.print(f"run-cycle would stop for {data.period.label}: see `compstat check`.", markup=False)
    console.print("Score = priority × size × certainty × (1 + ln(1 + periods running)) × lens × quality; see "
                  "README 'How compstat judges a change'. Nothing was recorded: run-cycle records the cycle.")


def _findings_table(frame: pd.DataFrame, title: str) -> Table:
    table = _table("#", "unit", "measure", "score", "evidence", "why", "ask", title=escape(title),
                   title_justify="left")
    for row in frame.itertuples():
        evidence, kind = str(row.evidence).replace(",", ", "), str(row.kind)
        if kind:
            evidence = f"{kind}: {evidence}"
        table.add_row(str(row.rank), escape(f"{row.unit_name} ({row.unit_code})"), escape(str(row.measure_name)),
                      f"{row.score:.2f}", escape(evidence), escape(str(row.reason)), escape(str(row.question)))
    return table


@app.command()
@reports_errors
def serve(
    config: ConfigOpt,
    host: Annotated[str, typer.Option(help="Address to listen on (behind a TLS proxy for a team: see the README).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    db: DbOpt = None,
    https_only: Annotated[bool, typer.Option(
        "--https-only", help="Send the session cookie only over HTTPS (set when served behind a TLS proxy).")] = False,
) -> None:
    """Serve the web pages where commanders update their actions and the chair sees who has (sign-in needed)."""
    import uvicorn

    from compstat.web.app import create_app

    cfg = _load(config)
    web_app = create_app(cfg, resolve_url(db, cfg.store), https_only=https_only)
    console.print(f"compstat serving {cfg.organisation.name} on http://{host}:{port}/ (Ctrl+C stops)", markup=False)
    uvicorn.run(web_app, host=host, port=port, log_level="warning", proxy_headers=True, server_header=False)


UsernameArg = Annotated[str, typer.Argument(help="The account's username (sign-in name).")]


def _shown_once(secret: str) -> str:
    return f"One-time password (shown only now; they choose their own at their first sign-in): {secret}"


@users_app.command("add")
@reports_errors
def users_add(
    config: ConfigOpt, username: UsernameArg,
    role: Annotated[str, typer.Option(help="commander, division, chair, analyst or admin.")],
    unit: Annotated[list[str] | None, typer.Option(
        help="A unit the commander answers for (a division, for a division commander); repeat for more.")] = None,
    name: Annotated[str, typer.Option(help="The name pages show (default: the username).")] = "",
    db: DbOpt = None,
) -> None:
    """Add an account, and print its one-time password once."""
    from compstat.web.accounts import add_user

    cfg = _load(config)
    with store_transaction(resolve_url(db, cfg.store)) as session:
        made = add_user(session, cfg, username, role, unit or [], display_name=name)
        summary = _account_summary(made.user.username, made.user.role, made.user.units)
    console.print(f"Added {summary}.", markup=False)
    console.print(_shown_once(made.one_time_password), markup=False)


def _account_summary(username: str, role: str, units: str) -> str:
    codes = units.replace(",", ", ")
    what = {"commander": f"commander of {codes}", "division": f"division commander of {codes}"}.get(role, role)
    return f"{username} ({what})"


@users_app.command("list")
@reports_errors
def users_list(config: ConfigOpt, db: DbOpt = None) -> None:
    """List the accounts: role, units, disabled, locked, last sign-in (never a password or its hash)."""
    from datetime import datetime

    from compstat.web.accounts import list_users

    cfg = _load(config)
    with store_transaction(resolve_url(db, cfg.store)) as session:
        users = list_users(session, cfg.organisation.slug)
        now = datetime.now()
        rows = [_cells(u.username, u.display_name, u.role, u.units.replace(",", " "),
                       "yes" if u.disabled else "", "change password" if u.must_change else "",
                       f"until {u.locked_until:%Y-%m-%d %H:%M}" if u.locked_until and u.locked_until > now else "",
                       f"{u.last_login:%Y-%m-%d %H:%M}" if u.last_login else "never") for u in users]
    if not rows:
        console.print(f"No accounts for {cfg.organisation.name} yet: add one with `compstat users add`.",
                      markup=False)
        return
    table = _table("username", "name", "role", "units", "disabled", "next sign-in", "locked", "last sign-in",
                   title=f"Accounts of {cfg.organisation.name}")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@users_app.command("disable")
@reports_errors
def users_disable(config: ConfigOpt, username: UsernameArg, db: DbOpt = None) -> None:
    """Disable an account: it can no longer sign in, and its open sessions end."""
    from compstat.web.accounts import disable_user

    cfg = _load(config)
    with store_transaction(resolve_url(db, cfg.store)) as session:
        disable_user(session, cfg.organisation.slug, username)
    console.print(f"Disabled {username}: it can no longer sign in, and its sessions have ended.", markup=False)


@users_app.command("reset")
@reports_errors
def users_reset(config: ConfigOpt, username: UsernameArg, db: DbOpt = None) -> None:
    """Give an account a new one-time password (printed once); its sessions end and any lock-out is lifted."""
    from compstat.web.accounts import find_user, reset_password

    cfg = _load(config)
    with store_transaction(resolve_url(db, cfg.store)) as session:
        secret = reset_password(session, cfg.organisation.slug, username)
        user = find_user(session, cfg.organisation.slug, username)
        disabled = bool(user and user.disabled)
    console.print(f"Reset {username}: its sessions have ended and any lock-out is lifted"
                  f"{' (it stays disabled)' if disabled else ''}.", markup=False)
    console.print(_shown_once(secret), markup=False)


if __name__ == "__main__":  # python -m compstat.cli, as .venv/bin/compstat
    app()
