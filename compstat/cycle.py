"""One accountability cycle: ingest → quality → analysis → actions → packs.

All store writes happen in one transaction, and outputs are written to a temporary folder that
replaces the period's folder at the end; the transaction commits only then. If the commit fails, the
store is asked afresh which run it holds and the folder follows it (``staged_output``); if it cannot be
asked, the earlier folder goes back and this run's waits as ``.<period>.unconfirmed`` for the next run
(``settle_unconfirmed``): the store and the period's folder hold the same run. A file-system fault
(read-only, full disk) is reported by path (``errors.file_system_error``).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import platform
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine, String, cast, delete, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from compstat import __version__
from compstat.actions import carry_forward_actions, check_agreements, evidence_from, meeting_escalation
from compstat.analysis.analyse import analyse_cycle, first_day_needed
from compstat.analysis.analyse import store_rows as analysis_store_rows
from compstat.analysis.analyse import write_csvs as write_analysis_csvs
from compstat.analysis.chart_memo import CHART_FILE, ChartMemo, saved_charts
from compstat.analysis.measures import period_series
from compstat.analysis.period_table import period_table
from compstat.analysis.places import headline_window, load_incidents, place_windows
from compstat.analysis.spc import CONCERN
from compstat.cells import read_csv, write_csv
from compstat.config import Config, iter_units
from compstat.errors import CompstatError, file_system_error, writing
from compstat.figures import Figures, build_figures
from compstat.files import follow_umask
from compstat.health import load_health
from compstat.hierarchy import divisions
from compstat.ingest import IngestReport, ingest_all
from compstat.periods import Period, comparison_windows, last_complete_period, parse_period, recent_periods
from compstat.quality import Finding, QualityResult, gate, run_quality
from compstat.quality.context import first_day_read
from compstat.quality.run import require_data
from compstat.results import CycleData
from compstat.reuse import code_version, cycle_state, earlier_packs, earlier_run, output_files
from compstat.safepaths import confined
from compstat.schemas import ACTIONS, POINTS
from compstat.store import (
    AnalysisRow,
    Cycle,
    CycleResult,
    FindingRow,
    MeasureRow,
    Observation,
    UnitRow,
    bulk_insert,
    connect,
    store_errors,
)
from compstat.store.db import read_frame
from compstat.store.lock import cycle_lock, require_lock

if TYPE_CHECKING:
    from compstat.packs.render import RenderedPack

MANIFEST_SCHEMA = 1
log = logging.getLogger(__name__)
CHART_PERIODS = {"weekly": 104, "monthly": 24}
Progress = Callable[[str, float], None]


@dataclass
class CycleOutcome:
    """What a run produced, for the CLI and for tests."""

    period: Period
    out_dir: Path
    packs: list[Path]
    table: pd.DataFrame
    ingest: list[IngestReport]
    findings: list[Finding]
    timings: dict[str, float] = field(default_factory=dict)
    pack_seconds: list[float] = field(default_factory=list)
    quality: QualityResult | None = None
    settings_warnings: tuple[str, ...] = ()  # the analysis settings' warnings (``AnalysisResult.notes``)
    removed_stale: list[Path] = field(default_factory=list)  # staged folders a killed run left (``remove_stale``)
    reused: list[Path] = field(default_factory=list)  # packs linked from the period's earlier run (``compstat.reuse``)
    unchanged_since: str | None = None  # nothing changed since this run (its run_at): its outputs stand as they were
    settled: str | None = None  # what ``settle_unconfirmed`` did with an earlier run's unconfirmed outputs
    sheets: list[Path] = field(default_factory=list)  # units' CompStat sheets (``packs.unit_packs: called``)
    pack_cpu_seconds: list[float] = field(default_factory=list)  # each pack's CPU time, as ``pack_seconds``
    charts_reused: tuple[int, int] = (0, 0)  # series whose XmR chart was the period's earlier run's, of all charted


def resolve_period(config: Config, label: str | None, today: date) -> Period:
    return parse_period(label, config.cadence) if label else last_complete_period(today, config.cadence)


def run_cycle(config: Config, store_url: str, period_label: str | None = None, *,
              out_root: Path | None = None, today: date | None = None, workers: int | None = None,
              progress: Progress | None = None, accept_warnings: bool = False,
              go_ahead_if_stale: bool = False) -> CycleOutcome:
    """Run the whole cycle for one period and write its outputs to ``<out_root>/<org>/<period>/``.

    A blocking quality finding stops the run before the packs (``BlockedError``, nothing
    changed) unless ``accept_warnings``; data that has not arrived for a unit blocks unless
    ``go_ahead_if_stale`` (or ``quality.on_stale: warn``). Overrides are recorded in the manifest.
    ``workers`` processes render the packs (default: one per usable core).

    The run holds the store's lock (``store.lock.cycle_lock``): a second cycle on the store waits for
    it, then stops with ``StoreBusyError`` naming this one. Staged folders of the period that a
    killed run left beside the output are removed first (``remove_stale``) and listed in the outcome.
    """
    from compstat.packs import render_packs, start_render_server  # heavy import (WeasyPrint), only when rendering

    check_agreements(config)
    today = today or date.today()
    period = resolve_period(config, period_label, today)
    org = config.organisation.slug
    final_dir = confined(out_root or Path(config.output_dir), f"{org}/{period.label}", resolve=False)
    steps = Steps(progress)
    state: list[str] = []
    with cycle_lock(store_url, period.label, org) as me:
        engine = connect(store_url)
        try:  # the store commits only once the outputs are in place; a failed commit puts the earlier ones back
            committed = committed_run_at(engine, org, period.label)
            removed = remove_stale(final_dir, committed)
            settled = settle_unconfirmed(final_dir, committed)
            with store_errors(engine), Session(engine) as session, \
                    staged_output(final_dir, commit=lambda: _commit(session),
                                  stored=lambda: committed_run_at(engine, org, period.label)) as work_dir:

                charts = ChartMemo()  # the XmR charts: the period's earlier run's, once this run is going ahead

                def skip_if_unchanged(reports: list[IngestReport]) -> None:
                    state.append(cycle_state(session, config, period, today, accept_warnings, go_ahead_if_stale))
                    earlier = earlier_run(final_dir, state[0], committed) if all(
                        r.status == "unchanged" for r in reports) else None
                    if earlier is not None:  # rolled back, the staged folder removed: the earlier outputs stand
                        raise _Unchanged(earlier, reports)
                    start_render_server(workers)  # its imports overlap quality and analysis
                    charts.earlier = saved_charts(final_dir / CHART_FILE, code_version())

                data, reports = judge_cycle(session, config, period, today, store_url, steps=steps,
                                            accept_warnings=accept_warnings, go_ahead_if_stale=go_ahead_if_stale,
                                            after_ingest=skip_if_unchanged, maps=False, charts=charts)
                findings = list(data.quality.findings) if data.quality is not None else []
                with steps("packs"):  # the maps step runs inside it, while the workers make the sheets
                    rendered = render_packs(data, work_dir, workers=workers,
                                            earlier=(final_dir, earlier_packs(final_dir)),
                                            maps=partial(with_maps, session, config, period, steps=steps))
                with steps("record"):
                    charts.save(work_dir / CHART_FILE, code_version())  # for a re-run of the period
                    cycle_id = record_cycle(session, config, period, data, final_dir, findings)
                    manifest = write_outputs(work_dir, config, period, data, reports, findings, steps.timings,
                                             store_url, rendered, state[0] if state else None)
                    session.execute(update(Cycle).where(Cycle.id == cycle_id).values(  # the next cycle's baseline
                        manifest=json.dumps(manifest, default=str)))
                    require_lock(session.connection(), me)  # still ours: no other cycle can have started
        except _Unchanged as same:
            return replace(same.outcome(period, final_dir, steps.timings, removed), settled=settled)
        finally:
            engine.dispose()
    packs = [final_dir / p.path.name for p in rendered]
    return CycleOutcome(period, final_dir, packs, data.table, reports, findings, steps.timings,
                        [p.seconds for p in rendered], data.quality, data.analysis.notes if data.analysis else (),
                        removed, [final_dir / p.path.name for p in rendered if p.reused], settled=settled,
                        sheets=[final_dir / p.path.name for p in rendered if p.sheet],
                        pack_cpu_seconds=[p.cpu_seconds for p in rendered],
                        charts_reused=(charts.reused, charts.charted))


def _commit(session: Session) -> None:
    """Commit the cycle's transaction; if that fails, roll back at once (SQLite: release the store's lock on the
    file) so that ``staged_output`` can ask the store, on a new connection, what it holds."""
    try:
        session.commit()
    except BaseException:
        try:
            session.rollback()
        except SQLAlchemyError:
            pass  # the connection is gone: the server has rolled back whatever it had not committed
        raise


class _Unchanged(Exception):
    """Nothing a cycle reads changed since the run whose outputs are in the period's folder (``reuse.cycle_state``,
    ``reuse.earlier_run``): raised after ingest to leave store and outputs as they are."""

    def __init__(self, manifest: dict[str, Any], reports: list[IngestReport]) -> None:
        super().__init__("unchanged")
        self.manifest, self.reports = manifest, reports

    def outcome(self, period: Period, folder: Path, timings: dict[str, float], removed: list[Path]) -> CycleOutcome:
        """What the earlier run produced, read back from its folder and manifest."""
        quality = QualityResult.from_manifest(period, self.manifest)
        records = self.manifest.get("packs") or {}
        packs = [folder / name for name in records]
        table = read_csv(folder / "period_table.csv").drop(columns=["unit_name", "measure_name"])
        return CycleOutcome(period, folder, packs, table, self.reports, list(quality.findings), timings,
                            [0.0] * len(packs), quality, tuple(self.manifest.get("analysis_notes") or ()), removed,
                            list(packs), unchanged_since=str(self.manifest["run_at"]),
                            sheets=[folder / name for name, r in records.items() if r.get("sheet")],
                            pack_cpu_seconds=[0.0] * len(packs))


def judge_cycle(session: Session, config: Config, period: Period, today: date, store_url: str, *,
                preview: bool = False, accept_warnings: bool = False, go_ahead_if_stale: bool = False,
                steps: Steps | None = None, run_at: datetime | None = None,
                after_ingest: Callable[[list[IngestReport]], None] | None = None, maps: bool = True,
                charts: ChartMemo | None = None) -> tuple[CycleData, list[IngestReport]]:
    """The one judgement of ``period`` that the packs, ``analyse``, ``actions list`` and ``minutes`` show.

    In the caller's session: ingest every source, stop on a period with no data (``DataError``,
    exit 1, as ``check`` does), run the quality checks, analyse with their comparison caveats
    (nothing recognised on a comparison that is not like-for-like; findings on caveated comparisons
    marked and ranked lower: ``analysis.probe``) and follow up the
    action log ("did it work" windows clipped to each unit's data as of date). ``preview``: a
    look that will be rolled back (no gate: blocking findings are kept, not raised; no map points;
    quarantine hints point to ``compstat check --quarantine``). Otherwise the quality gate applies
    (``accept_warnings``, ``go_ahead_if_stale``) as in ``run-cycle``. ``run_at``: when the pack is
    made (default now): actions closed after it are not "completed since last meeting". ``after_ingest``
    is called with the ingest reports before the quality step (``run_cycle``: skip an unchanged run).
    Not ``maps``: the map points are left for the caller to add (``with_maps``). ``charts``: an earlier
    run's XmR charts, for the series whose inputs are unchanged (``analysis.chart_memo``).
    """
    steps = steps or Steps()
    sync_reference(session, config)
    with steps("ingest"):
        reports = ingest_all(session, config, today, store_url)
    if after_ingest is not None:
        after_ingest(reports)
    with steps("figures"):
        require_data(session, config.organisation.slug, period)
        figures = cycle_figures(session, config, period)
    with steps("quality"):
        quality = run_quality(session, config, period, reports, today, stored=not preview, figures=figures)
        if not preview:
            quality = gate(quality, accept_warnings=accept_warnings, go_ahead_if_stale=go_ahead_if_stale)
    data = assemble(session, config, period, quality, today=today, steps=steps,
                    rows_rejected=sum(r.rows_rejected for r in reports), run_at=run_at, points=maps and not preview,
                    figures=figures, charts=charts)
    return data, reports


class Steps:
    """Times each named step of a run (``with steps("ingest"): ...``) and reports it to ``progress``."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.timings: dict[str, float] = {}
        self._report = progress or (lambda step, seconds: None)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.pause_for_tests(name)
        self.timings[name] = round(time.perf_counter() - start, 3)
        self._report(name, self.timings[name])

    @staticmethod
    def pause_for_tests(name: str) -> None:
        """Test hook only (tests/hostile/test_kill.py): with ``COMPSTAT_TEST_PAUSE_AT=<step>`` set, once that
        step's work is done (its writes made, not committed) write ``<step>`` to the file
        ``COMPSTAT_TEST_PAUSE_FILE`` and wait there to be killed."""
        if os.environ.get("COMPSTAT_TEST_PAUSE_AT") == name:
            Path(os.environ["COMPSTAT_TEST_PAUSE_FILE"]).write_text(name, encoding="utf-8")
            time.sleep(600)


@contextmanager
def staged_output(final_dir: Path, commit: Callable[[], None] | None = None,
                  stored: Callable[[], str | None] | None = None) -> Iterator[Path]:
    """A temporary folder beside ``final_dir`` that replaces it only when the block succeeds;
    on any error it is removed and ``final_dir`` stays as it was. ``commit`` (the store's) runs
    once the new folder is in place: if it fails, ``stored`` (the ``run_at`` of the cycle the store
    holds, read afresh) settles what stands (``_after_failed_commit``), so the store and the outputs agree.
    A file-system fault names the path (``errors.file_system_error``), as ``final_dir``'s when in the staged
    folder; a ``final_dir`` that is a file is refused before anything is written."""
    if final_dir.exists() and not final_dir.is_dir():
        raise file_system_error(FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final_dir)))
    try:
        final_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise file_system_error(exc) from None
    try:
        work_dir = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", dir=final_dir.parent))
        follow_umask(work_dir, folder=True)  # mkdtemp's 0700 would become the period folder's
    except OSError as exc:  # named by the folder asked for, not the staged folder's random name
        raise file_system_error(OSError(exc.errno, exc.strerror, str(final_dir.parent))) from None
    old = final_dir.with_name(f".{final_dir.name}.old")
    published = committing = False
    try:
        with writing(work_dir):
            yield work_dir
        _replace_dir(work_dir, final_dir, old)
        published = True
        Steps.pause_for_tests("published")
        if commit is not None:
            committing = True
            commit()
    except BaseException as exc:
        if published:  # the store did not commit (or may not have): settle which outputs stand
            held = _after_failed_commit(final_dir, old, stored if committing else None)
            if held is True and isinstance(exc, Exception):  # it did commit (its reply was lost): all is well
                log.warning("The store reported an error on committing (%s) but holds this run: outputs published",
                            exc)
                shutil.rmtree(old, ignore_errors=True)
                return
            if held is None:
                raise UnconfirmedError(exc, final_dir) from None
        if isinstance(exc, OSError):
            raise file_system_error(exc, final_dir, staged=(work_dir, final_dir)) from None
        raise
    finally:
        if work_dir.exists():
            shutil.rmtree(work_dir, ignore_errors=True)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


UNCONFIRMED = "unconfirmed"  # .<period>.unconfirmed: a run's outputs the store may or may not hold


class UnconfirmedError(CompstatError):
    """The store's commit failed in a way that leaves unknown whether it recorded the run (the connection was
    lost during the commit, and the store cannot be asked): the earlier outputs stand and this run's are kept
    as ``.<period>.unconfirmed`` until the next run of the period settles them (``settle_unconfirmed``)."""

    exit_code = 1

    def __init__(self, cause: BaseException, final_dir: Path) -> None:
        said = str(cause).rstrip().rstrip(".")
        super().__init__(
            f"{said}. Whether the store recorded this run of {final_dir.name} could not be checked: the earlier "
            f"outputs stand in {final_dir} and this run's are kept in {_unconfirmed(final_dir)}; the next "
            f"run-cycle for {final_dir.name} publishes them if the store holds this run, or removes them")


def _unconfirmed(final_dir: Path) -> Path:
    return final_dir.with_name(f".{final_dir.name}.{UNCONFIRMED}")


def _after_failed_commit(final_dir: Path, old: Path, stored: Callable[[], str | None] | None) -> bool | None:
    """After the store's commit failed with ``final_dir`` holding the new outputs and ``old`` the earlier ones:
    whether the store holds the new run (True: they stay), not (False: the earlier ones go back), or cannot
    be told (None: the earlier ones go back, the new ones are kept as ``.<period>.unconfirmed``). No ``stored``:
    the failure came before the commit, which therefore did not happen."""
    held: bool | None = False
    if stored is not None:
        try:
            held = stored() == _manifest_run_at(final_dir)
        except Exception:  # the store is unreachable: it may or may not have committed
            held = None
    if held is True:
        return True
    pending = _unconfirmed(final_dir)
    shutil.rmtree(pending, ignore_errors=True)
    if held is None:
        final_dir.rename(pending)
    else:
        shutil.rmtree(final_dir, ignore_errors=True)
    if old.exists():
        old.rename(final_dir)
    return held


def settle_unconfirmed(final_dir: Path, committed_run_at: str | None) -> str | None:
    """Settle the outputs a run left as ``.<period>.unconfirmed`` (``UnconfirmedError``): published in
    ``final_dir``'s place if they are the run the store committed (``committed_run_at``), else removed; says
    which, or None when there were none. Only safe under the store's cycle lock."""
    pending = _unconfirmed(final_dir)
    if not pending.is_dir() or pending.is_symlink():
        return None
    run_at = _manifest_run_at(pending)
    if run_at is not None and run_at == committed_run_at:
        old = final_dir.with_name(f".{final_dir.name}.old")
        _replace_dir(pending, final_dir, old)
        shutil.rmtree(old, ignore_errors=True)
        return f"published the outputs of the run of {run_at} in {final_dir}: the store recorded that run"
    shutil.rmtree(pending, ignore_errors=True)
    return f"removed {pending}: the outputs of a run ({run_at or 'unknown'}) that the store did not record"


STAGED_SUFFIX = re.compile(r"old|[a-z0-9_]{8}")  # tempfile.mkdtemp's random part, or _replace_dir's .old


def remove_stale(final_dir: Path, committed_run_at: str | None = None) -> list[Path]:
    """Remove the staged folders (``.<period>.xxxxxxxx``, ``.<period>.old``) that a killed run left
    beside ``final_dir`` and return them. A ``.old`` folder holds the earlier outputs of a run killed
    while swapping folders or before its store committed: it is put back when ``final_dir`` is missing,
    or when ``final_dir``'s manifest is not the run the store committed (``committed_run_at``, the
    stored cycle's ``run_at``), so store and outputs never disagree. Only safe under the store's cycle
    lock, when no live run of the period owns any of them."""
    prefix = f".{final_dir.name}."
    if not final_dir.parent.is_dir():
        return []
    old = final_dir.with_name(f"{prefix}old")
    keep = set()
    if old.is_dir() and not old.is_symlink():
        uncommitted = final_dir.is_dir() and _manifest_run_at(final_dir) != committed_run_at
        if uncommitted:  # the outputs of a run whose store never committed: set aside, removed below
            final_dir.rename(final_dir.with_name(f"{prefix}{secrets.token_hex(4)}"))
        if not final_dir.exists():
            try:
                old.rename(final_dir)
            except OSError:
                keep.add(old)  # the earlier outputs: never removed
    removed = []
    for path in sorted(final_dir.parent.iterdir()):
        if (path not in keep and path.name.startswith(prefix) and STAGED_SUFFIX.fullmatch(path.name[len(prefix):])
                and path.is_dir() and not path.is_symlink()):
            try:
                shutil.rmtree(path)
            except OSError:
                continue  # left for a later run; the cycle itself does not need it gone
            removed.append(path)
    return removed


def _manifest_run_at(folder: Path) -> str | None:
    """The ``run_at`` of the cycle whose outputs ``folder`` holds (its manifest), if readable."""
    try:
        return str(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["run_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def committed_run_at(engine: Engine, org: str, period: str) -> str | None:
    """When the store's recorded cycle of ``period`` ran (as its manifest writes it), or None."""
    with engine.connect() as conn:
        when = conn.scalar(select(Cycle.run_at).where(Cycle.org == org, Cycle.period == period))
    return when.isoformat() if when is not None else None


def assemble(session: Session, config: Config, period: Period, quality: QualityResult, *, today: date,
             steps: Steps, rows_rejected: int = 0, run_at: datetime | None = None, points: bool = True,
             figures: Figures | None = None, charts: ChartMemo | None = None) -> CycleData:
    """Everything the packs show for a period whose data and quality are settled: the analysis,
    the meeting's action log with escalation and the map points (unless not ``points``) (timed steps).
    ``figures``: the cycle's (``cycle_figures``), built here when not given; ``charts``: as ``analyse``."""
    with steps("analysis"):
        figures = figures or cycle_figures(session, config, period)
        data = analyse(figures, config, period, today, quality.data_as_of, quality.comparisons, charts)
        data = replace(data, rows_rejected=rows_rejected, quality=quality, run_at=run_at or data.run_at)
    with steps("actions"):
        data = follow_up(session, config, period, data)
    return with_maps(session, config, period, data, steps) if points else data


def with_maps(session: Session, config: Config, period: Period, data: CycleData, steps: Steps, *,
              units: Collection[str] | None = None) -> CycleData:
    """``data`` with the map points (of ``units`` only, when given: those with a map) and the incidents of the
    places tables (the ``maps`` step). ``run_cycle`` has it done while the render workers make the CompStat
    sheets, which need neither (``packs.render.MapReader``)."""
    with steps("maps"):
        return replace(data, points=load_points(session, config, period, units),
                       incidents=load_incidents(session, config, place_windows(headline_window(data.windows))))


def follow_up(session: Session, config: Config, period: Period, data: CycleData) -> CycleData:
    """``data`` with the meeting's action log, each unit's escalation level and every agreement
    trigger, judged on this cycle's period table and special-cause concerns, and the meeting's health
    over the last meetings (``health.load_health``, as at this run) (the packs read these)."""
    concerns = special_cause_concerns(data)
    log = carry_forward_actions(session, config, period, concerns=concerns, as_of=data.run_at, daily=data.daily,
                                data_as_of=data.data_as_of)
    evidence = evidence_from(data.analysis.significance, data.analysis.spc, config) if data.analysis else None
    levels, triggers = meeting_escalation(log, data.table, config, concerns, evidence)
    verdicts = {int(i): str(v) for i, v in zip(log["id"], log["effect"], strict=True)}
    health = load_health(session, config, period, as_of=data.run_at, packs_made=data.run_at,
                         effects={period.label: verdicts})
    return replace(data, actions=log, escalation=levels, triggers=triggers, health=health)


def special_cause_concerns(data: CycleData) -> set[tuple[str, str]]:
    """(unit, measure) pairs whose latest period is a special cause of concern (raises escalation)."""
    if data.analysis is None or data.analysis.spc.empty:
        return set()
    spc = data.analysis.spc
    concerning = spc[spc["variation"] == CONCERN]
    return set(zip(concerning["unit_code"], concerning["measure_id"], strict=True))


def cycle_figures(session: Session, config: Config, period: Period) -> Figures:
    """The cycle's one aggregation of the store (``figures.build_figures``), from the earliest day the
    quality checks (``quality.context.first_day_read``) or the analysis (``analysis_start``) read."""
    return build_figures(session, config, min(first_day_read(session, config, period), analysis_start(config, period)))


def analysis_start(config: Config, period: Period) -> date:
    """The first day the period table, the chart series and the analysis read (baselines go back three years)."""
    windows = comparison_windows(period, config.cadence)
    chart_periods = recent_periods(period, config.cadence, CHART_PERIODS[config.cadence.period])
    return min([chart_periods[0].start, first_day_needed(config, period, windows)] + [w.prev_start for w in windows])


def analyse(figures: Figures, config: Config, period: Period, today: date,
            data_as_of: dict[str, date], quality_comparisons: pd.DataFrame | None = None,
            charts: ChartMemo | None = None) -> CycleData:
    """Compute the period table, the chart series and the analysis (``analyse_cycle``) for ``period``
    (no actions yet) from the cycle's ``figures``, over ``analysis_start`` to the period end.
    ``quality_comparisons`` (``QualityResult.comparisons``) marks the findings on caveated comparisons;
    ``charts`` holds an earlier run's XmR charts (``analysis.chart_memo``)."""
    windows = comparison_windows(period, config.cadence)
    chart_periods = recent_periods(period, config.cadence, CHART_PERIODS[config.cadence.period])
    daily = figures.daily_between(analysis_start(config, period), period.end)
    data_start = figures.data_start
    table = period_table(daily, config, windows, data_start)
    series = period_series(daily, config, chart_periods[0].start, period.end)
    analysis = analyse_cycle(daily, config, period, windows, data_start, quality_comparisons, charts)
    return CycleData(
        config=config, period=period, windows=windows,
        meeting_date=period.end + timedelta(days=config.cadence.meeting_lag_days),
        run_at=datetime.now(), table=table, series=series,  # to the microsecond: it names the run (a re-run
        # within the same second is another run: ``_after_failed_commit`` and reuse tell runs apart by it)
        actions=pd.DataFrame(columns=ACTIONS.columns), data_as_of=data_as_of, analysis=analysis, daily=daily,
    )


MAP_DAYS = 392  # the maps' last 28 days and the 52 weeks before them (compstat.packs.maps)
POINT_COLUMNS = ["unit_code", "occurred_on", "latitude", "longitude"]


def load_points(session: Session, config: Config, period: Period,
                units: Collection[str] | None = None) -> pd.DataFrame | None:
    """Leaf units' incidents with coordinates over the ``MAP_DAYS`` days to the period end, for the
    maps; None when no source maps coordinates. ``unit_code`` is categorical (every leaf unit) to keep the
    frame small. ``units``: the units whose points to read (default: every one); with ``packs.unit_packs:
    called`` only the called units' packs have a map (national: 0.2M points, not 5.5M)."""
    if not any(s.columns.latitude and s.columns.longitude for s in config.sources):
        return None
    leaves = [u.code for u in config.leaf_units]
    which = () if units is None else (Observation.unit_code.in_(sorted(units)),)
    # Dates come back as ISO text: one vectorised parse of 400,000 is far faster than
    # SQLAlchemy's per-row date conversion.
    stmt = (select(Observation.unit_code, cast(Observation.occurred_on, String(10)), Observation.latitude,
                   Observation.longitude)
            .where(Observation.org == config.organisation.slug,
                   Observation.occurred_on >= period.end - timedelta(days=MAP_DAYS - 1),
                   Observation.occurred_on <= period.end,
                   Observation.latitude.is_not(None), Observation.longitude.is_not(None), *which))
    def compact(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.assign(unit_code=frame["unit_code"].astype(pd.CategoricalDtype(leaves)))
        frame = frame[frame["unit_code"].notna()]
        return frame.assign(occurred_on=pd.to_datetime(frame["occurred_on"], format="%Y-%m-%d"),
                            latitude=frame["latitude"].astype(float), longitude=frame["longitude"].astype(float))

    frame = read_frame(session.connection(), stmt, POINT_COLUMNS, compact).reset_index(drop=True)
    return POINTS.validate(frame, "cycle.load_points")


def sync_reference(session: Session, config: Config) -> None:
    """Make the store's units and measures match the config."""
    org = config.organisation.slug
    session.execute(delete(UnitRow).where(UnitRow.org == org))
    session.execute(delete(MeasureRow).where(MeasureRow.org == org))
    parents = config.parents()
    leaves = {u.code for u in config.leaf_units}
    session.add_all(UnitRow(org=org, code=u.code, name=u.name, parent_code=parents[u.code],
                            commander=u.commander, is_leaf=u.code in leaves) for u in iter_units(config.units))
    session.add_all(MeasureRow(org=org, measure_id=m.id, name=m.name, kind=m.kind, polarity=m.polarity)
                    for m in config.measures)
    session.flush()


def record_cycle(session: Session, config: Config, period: Period, data: CycleData, out_dir: Path,
                 findings: list[Finding]) -> int:
    """Store the cycle, the figures it showed and its quality findings; a re-run replaces them."""
    org = config.organisation.slug
    old = session.scalar(select(Cycle).where(Cycle.org == org, Cycle.period == period.label))
    if old is not None:
        session.execute(delete(CycleResult).where(CycleResult.cycle_id == old.id))
        session.execute(delete(AnalysisRow).where(AnalysisRow.cycle_id == old.id))
        session.execute(delete(FindingRow).where(FindingRow.cycle_id == old.id))
        session.delete(old)
        session.flush()
    cycle = Cycle(org=org, period=period.label, period_start=period.start, period_end=period.end,
                  run_at=data.run_at, output_dir=str(out_dir), manifest="{}")
    session.add(cycle)
    session.flush()
    results = data.table[["unit_code", "measure_id", "window", "current", "previous"]].assign(cycle_id=cycle.id)
    bulk_insert(session.connection(), CycleResult.__table__, results)  # type: ignore[arg-type]
    if data.analysis is not None:
        analysis_rows = analysis_store_rows(data.analysis).assign(cycle_id=cycle.id)
        bulk_insert(session.connection(), AnalysisRow.__table__, analysis_rows)  # type: ignore[arg-type]
    session.add_all(FindingRow(cycle_id=cycle.id, check_name=f.check, severity=f.severity, unit_code=f.unit_code,
                               measure_id=f.measure_id, period=f.period, message=f.message, rows=f.rows,
                               source=f.source, units=json.dumps(f.units, sort_keys=True))
                    for f in findings)
    session.flush()
    return cycle.id


def write_outputs(out: Path, config: Config, period: Period, data: CycleData, reports: list[IngestReport],
                  findings: list[Finding], timings: dict[str, float], store_url: str,
                  packs: Sequence[RenderedPack] = (), state: str | None = None) -> dict[str, object]:
    """The period table as CSV and manifest.json (inputs, versions, timings, quality, and each of ``packs``
    with its input hash and sha256, reused or rendered: ``compstat.reuse``); returns the manifest."""
    names = {u.code: u.name for u in iter_units(config.units)} | {"_total": config.organisation.name}
    measures = {m.id: m.name for m in config.measures}
    table = data.table.assign(unit_name=data.table["unit_code"].map(names),
                              measure_name=data.table["measure_id"].map(measures))
    write_csv(table, out / "period_table.csv", index=False, float_format="%.6g")
    if data.analysis is not None:
        write_analysis_csvs(data.analysis, out, config)
    manifest = {
        "schema_version": MANIFEST_SCHEMA,
        "organisation": config.organisation.name, "org": config.organisation.slug,
        "period": period.label, "period_start": period.start.isoformat(), "period_end": period.end.isoformat(),
        "meeting_date": data.meeting_date.isoformat(), "run_at": data.run_at.isoformat(),
        "store": make_url(store_url).render_as_string(hide_password=True),
        "inputs": [r.__dict__ for r in reports],
        "data_versions": list(data.quality.inputs) if data.quality is not None else [],  # what the figures used
        "rows_rejected": data.rows_rejected,
        "findings": [f.as_dict() for f in findings],
        "data_as_of": {k: v.isoformat() for k, v in sorted(data.data_as_of.items())},
        "quality": data.quality.manifest() if data.quality is not None else None,
        "units": {u.code: u.name for u in config.leaf_units},
        "divisions": {u.code: u.name for u in divisions(config)},
        "outputs": sorted(p.name for p in out.iterdir()) + ["manifest.json"],
        "files": output_files(out),  # with their sha256: an unchanged re-run checks them (``reuse.earlier_run``)
        "state": state,  # what the run read (``reuse.cycle_state``)
        "code_version": code_version(),  # what made the packs (``reuse.code_version``)
        "analysis_notes": list(data.analysis.notes) if data.analysis is not None else [],
        "packs": {p.path.name: {"unit": p.unit_code, "inputs": p.inputs, "sha256": p.sha256,
                                "reused": p.reused, "sheet": p.sheet} for p in packs},
        "packs_reused": sum(p.reused for p in packs),
        "timings_seconds": timings,
        "software": _versions(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return manifest


def _versions() -> dict[str, str]:
    packages = ["pandas", "numpy", "SQLAlchemy", "alembic", "WeasyPrint", "matplotlib", "Jinja2", "pydantic"]
    return {"compstat": __version__, "python": platform.python_version(), **{p: version(p) for p in packages}}


def _replace_dir(new: Path, final: Path, old: Path) -> None:
    """Put ``new`` in ``final``'s place, keeping the earlier ``final`` as ``old`` (put back if the
    swap fails) until the caller removes it."""
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    try:
        new.rename(final)
    except OSError:
        if old.exists():
            old.rename(final)
        raise
