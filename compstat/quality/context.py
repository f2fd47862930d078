"""What the checks read: ``QualityContext``, loaded once from the store by ``load_context``.

``load_context`` is the only code here that touches the store. Its daily rows are the cycle's figures
(``compstat.figures``: one aggregation in the database per input source, unit, category, subcategory and
day, shared with the analysis; built here from the earliest date any check needs when not given), so the
checks stay vectorised pandas on small frames: 77 units × 3 years of incidents become about 300,000
daily rows. Everything else in this module is pure.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, String, case, cast, func, or_, select
from sqlalchemy.orm import Session

from compstat.config import Config, Source, iter_units
from compstat.errors import CompstatError, ConfigError
from compstat.figures import (
    DAILY_SOURCE_COLUMNS,
    TOTAL,
    Figures,
    between,
    build_figures,
    daily_measures,
    window_figures,
)
from compstat.ingest import IngestReport, inputs_in_use
from compstat.ingest.mapping import TOTAL_ROW, map_rows, record_key
from compstat.periods import Period, Window, comparison_windows, parse_period, period_containing, recent_periods
from compstat.schemas import COORDINATES, DUPLICATES, QUALITY_FRAMES, REJECTED, Schema
from compstat.store import Cycle, CycleResult, DailyTotal, IngestedFile, Observation, RejectedRow
from compstat.store.db import unindexed_on_sqlite
from compstat.store.totals import of_org

REJECTED_COLUMNS = REJECTED.columns
COORDINATE_COLUMNS = COORDINATES.columns
DUPLICATE_COLUMNS = DUPLICATES.columns
STORE_FIELDS = {"unit": "unit_code", "category": "category", "subcategory": "subcategory", "value": "value",
                "latitude": "latitude", "longitude": "longitude", "record_id": "record_id",
                "location": "location"}


@dataclass(frozen=True)
class PreviousCycle:
    """The last cycle of an earlier period: the figures its packs showed and its manifest."""

    period: Period
    windows: list[Window]
    results: pd.DataFrame  # unit_code, measure_id, window, current, previous (as stored in cycle_results)
    manifest: dict[str, Any]


@dataclass(frozen=True)
class QualityContext:
    """Everything a check may read. Frames are plain pandas; the cached properties are derived once.

    - ``daily``: ``DAILY_SOURCE_COLUMNS`` from ``span_start`` to the latest data, every unit code
      in the store (including codes no longer in the config).
    - ``latest``: source, unit_code, latest (date): each unit's latest record per source, all time.
    - ``inputs``: the inputs in use (``INPUT_COLUMNS``); ``reports``: what this run ingested.
    - ``rejected``: every quarantined row of the inputs in use (``REJECTED_COLUMNS``).
    - ``coordinates``: rows outside ``quality.area`` and rows without coordinates per source and
      unit from ``checked_from`` to the period end (empty without an area or coordinates).
    - ``duplicates``: groups of rows sharing a record key, or identical rows where a source has
      no key, from ``checked_from`` to the period end (``DUPLICATE_COLUMNS``; ``inputs``: how many
      input versions the group's rows come from), every group.
    - ``coordinates`` and ``duplicates`` may still be being read (a ``Future``, ``load_context``'s ``reads``):
      checks read them as ``coordinate_counts`` and ``duplicate_groups``, which wait for them.
    - ``rows_from``: the first day of this cycle's and the previous cycle's comparisons (and of the
      period's lookback), from which rows are checked one by one; ``span_start`` is earlier still
      when the completeness check needs the lookback before last year's first period.
    - ``supplied_totals``: the organisation totals some sources supply (``quality.totals``), as
      daily rows by category with unit ``_total``; ``totals_rejected``: supplied total rows that
      could not be read (``REJECTED_COLUMNS``: a count written as text, a bad date).
    - ``first_seen``: each unit's first non-zero figure in the store, for units whose figures start after
      ``span_start`` (units with earlier figures are absent): zero rows before it are not history.
    - ``previous``: the last cycle of an earlier period, if any.
    - ``stored``: whether this run's ingest is kept (a cycle that goes ahead), or rolled back
      (``compstat check``): decides which command a finding points to for quarantined rows.
    """

    config: Config
    period: Period
    today: date
    span_start: date
    data_start: date | None
    daily: pd.DataFrame
    latest: pd.DataFrame
    inputs: pd.DataFrame
    reports: tuple[IngestReport, ...] = ()
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECTED_COLUMNS))
    coordinates: pd.DataFrame | Future[pd.DataFrame] = field(
        default_factory=lambda: pd.DataFrame(columns=COORDINATE_COLUMNS))
    duplicates: pd.DataFrame | Future[pd.DataFrame] = field(
        default_factory=lambda: pd.DataFrame(columns=DUPLICATE_COLUMNS))
    supplied_totals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=DAILY_SOURCE_COLUMNS[1:]))
    totals_rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECTED_COLUMNS))
    first_seen: dict[str, date] = field(default_factory=dict)
    previous: PreviousCycle | None = None
    stored: bool = True
    rows_from: date | None = None
    figures: Figures | None = field(default=None, compare=False, repr=False)  # the cycle's; ``daily`` is a span
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # results shared by checks

    @property
    def coordinate_counts(self) -> pd.DataFrame:
        """``coordinates``, once read."""
        return _when_read(self.coordinates)

    @property
    def duplicate_groups(self) -> pd.DataFrame:
        """``duplicates``, once read."""
        return _when_read(self.duplicates)

    def finish_reads(self) -> None:
        """Wait for the frames still being read; a read that failed raises here, though no check needed it."""
        for frame in (self.coordinates, self.duplicates):
            _when_read(frame)

    @property
    def checked_from(self) -> date:
        """The first day of the rows the validity and duplicates checks look at (not before the data)."""
        first = self.rows_from or self.span_start
        return max(first, self.data_start) if self.data_start is not None else first

    @cached_property
    def windows(self) -> list[Window]:
        return comparison_windows(self.period, self.config.cadence)

    @cached_property
    def leaf_codes(self) -> list[str]:
        return [u.code for u in self.config.leaf_units]

    @cached_property
    def all_by_category(self) -> pd.DataFrame:
        """Daily totals over all sources for every unit code in the store (the analysis' input format)."""
        if self.figures is not None:
            return self.figures.by_category.pipe(between, self.span_start, None)
        keys = ["unit_code", "category", "subcategory", "date"]
        return self.daily.groupby(keys, as_index=False)[["total", "n"]].sum()

    @cached_property
    def by_category(self) -> pd.DataFrame:
        """``all_by_category`` for the units in the config."""
        frame = self.all_by_category
        return frame[frame["unit_code"].isin(self.leaf_codes)].reset_index(drop=True)

    @cached_property
    def measures_daily(self) -> pd.DataFrame:
        """Daily totals per unit and non-rate measure, plus the organisation (``_total``).

        The organisation total is computed as the packs compute it (``cycle.analyse``): over every
        unit code in the store, so rows of a unit no longer in the config count in it (the
        structure check reports them). The cycle's figures' (``Figures.daily``) when given.
        """
        if self.figures is not None:
            return self.figures.daily_between(self.span_start)
        return daily_measures(self.all_by_category, self.config)

    @cached_property
    def unit_latest(self) -> dict[str, date]:
        """Each unit's latest record over all sources."""
        latest = self.latest.groupby("unit_code")["latest"].max()
        return {str(code): day for code, day in latest.items()}

    @cached_property
    def ended(self) -> dict[str, date]:
        """Units that a declared ``merger`` or ``closure`` ended: named in the change and with no data
        from its date on. From that date the unit is expected to have no data (timeliness and
        completeness skip it)."""
        out: dict[str, date] = {}
        for change in self.config.quality.changes:
            if change.kind not in ("merger", "closure"):
                continue
            for code in leaf_codes_of(self.config, change.units):
                last = self.unit_latest.get(code)
                if last is None or last < change.date:
                    out[code] = min(change.date, out.get(code, change.date))
        return out

    @cached_property
    def current_figures(self) -> pd.DataFrame:
        """This cycle's comparison figures, both sides, every measure (``FIGURE_COLUMNS``)."""
        return window_figures(self.measures_daily, self.config, self.windows, self.data_start)

    def periods(self, count: int) -> list[Period]:
        """The ``count`` periods ending with this one, oldest first."""
        return recent_periods(self.period, self.config.cadence, count)


# --- the loader: the only store access of the quality step ---------------------------------


def load_context(session: Session, config: Config, period: Period, reports: Sequence[IngestReport],
                 today: date, stored: bool = True, figures: Figures | None = None,
                 reads: Executor | None = None) -> QualityContext:
    """Read what the checks need for ``period`` from the store (inside the caller's transaction).

    ``stored``: the caller keeps this run's ingest (False for ``compstat check``, which rolls back).
    ``figures``: the cycle's (``build_figures``), read from ``first_day_needed`` or earlier; built here
    when not given or when they start later.
    ``reads``: an executor of one thread that reads the rows the validity and duplicates checks count (the
    slowest reads: at national scale 13 s of the database's time) on the session's connection while the
    first checks run; the context's ``coordinates`` and ``duplicates`` are then futures, and the session must
    not be used until they are done (``run_quality``).
    """
    check_references(config)
    org = config.organisation.slug
    previous = _previous_cycle(session, config, period)
    span_start = first_day_needed(config, period, previous)
    rows_from = first_day_needed(config, period, previous, completeness=False)
    inputs = inputs_in_use(session, org)
    sources = dict(zip(inputs["file_id"], inputs["source"], strict=True))
    if figures is None or figures.start > span_start:
        figures = build_figures(session, config, span_start)
    daily = figures.by_source_from(span_start)
    rejected = _rejected(session, org)
    totals, totals_rejected = supplied_totals(rejected, config, today)
    latest = _latest(session, config, daily, sources)
    first_seen = _first_seen(session, org, daily, span_start)
    connection = session.connection()  # the last reads: they may run on another thread (``reads``)
    coordinates = _read(reads, COORDINATES, _coordinates, connection, config, rows_from, period.end, sources)
    duplicates = _read(reads, DUPLICATES, _duplicates, connection, config, inputs, rows_from, period.end)
    context = QualityContext(
        config=config, period=period, today=today, span_start=span_start,
        data_start=figures.data_start, daily=daily, latest=latest, inputs=inputs, reports=tuple(reports),
        rejected=rejected, coordinates=coordinates, duplicates=duplicates, supplied_totals=totals,
        totals_rejected=totals_rejected, first_seen=first_seen, previous=previous, stored=stored,
        rows_from=rows_from, figures=figures,
    )
    for name, schema in QUALITY_FRAMES.items():  # the checks' contract, checked here where the frames are made
        frame = getattr(context, name)
        if not isinstance(frame, Future):  # those being read are checked when read (``_read``)
            schema.validate(frame, PRODUCER)
    return context


PRODUCER = "quality.context.load_context"


def _read(reads: Executor | None, schema: Schema[Any], read: Callable[..., pd.DataFrame],
          *args: Any) -> pd.DataFrame | Future[pd.DataFrame]:
    """``read(*args)`` checked against ``schema``: at once, or on ``reads`` (a future)."""

    def checked() -> pd.DataFrame:
        return schema.validate(read(*args), PRODUCER)

    return reads.submit(checked) if reads is not None else checked()


def _when_read(frame: pd.DataFrame | Future[pd.DataFrame]) -> pd.DataFrame:
    return frame.result() if isinstance(frame, Future) else frame


def first_day_read(session: Session, config: Config, period: Period) -> date:
    """The earliest day ``load_context`` reads for ``period`` (``first_day_needed``, with the previous cycle)."""
    return first_day_needed(config, period, _previous_cycle(session, config, period))


def first_day_needed(config: Config, period: Period, previous: PreviousCycle | None = None,
                     completeness: bool = True) -> date:
    """The earliest day any check reads: last year's windows, the lookback before the period (and, for
    ``completeness``, before each period of the windows), the previous cycle's windows."""
    earliest = min(w.prev_start for w in comparison_windows(period, config.cadence))
    first = period_containing(earliest, config.cadence) if completeness else period
    starts = [earliest, recent_periods(first, config.cadence, config.quality.lookback_periods + 1)[0].start]
    if previous is not None:
        starts += [w.prev_start for w in previous.windows]
    return min(starts)


def leaf_codes_of(config: Config, codes: Sequence[str]) -> list[str]:
    """The leaf units at or below the given unit codes."""
    out: list[str] = []
    for unit in iter_units(config.units):
        if unit.code in codes:
            out += [u.code for u in iter_units([unit]) if not u.children]
    return list(dict.fromkeys(out))


def check_references(config: Config) -> None:
    """The quality section may only name sources, units and measures the config has."""
    q = config.quality
    sources = {s.name for s in config.sources}
    units = {u.code for u in iter_units(config.units)}
    measures = {m.id for m in config.measures}
    problems = []
    for key, named in (("expected_lag_days", q.expected_lag_days), ("duplicate_keys", q.duplicate_keys),
                       ("totals", q.totals)):
        problems += [f"quality.{key}.{name}: no source is called '{name}'" for name in named if name not in sources]
    for check, settings in q.checks.items():
        problems += [f"quality.checks.{check}.sources: no source is called '{s}'"
                     for s in settings.sources if s not in sources]
        problems += [f"quality.checks.{check}.measures: no measure is called '{m}'"
                     for m in settings.measures if m not in measures]
    for i, change in enumerate(q.changes):
        problems += [f"quality.changes.{i}.units: no unit has code '{u}'" for u in change.units if u not in units]
        problems += [f"quality.changes.{i}.measures: no measure is called '{m}'"
                     for m in change.measures if m not in measures]
    for source in config.sources:
        fields = q.duplicate_keys.get(source.name, [])
        unmapped = [f for f in fields if f not in ("unit", "date", "value") and getattr(source.columns, f) is None]
        problems += [f"quality.duplicate_keys.{source.name}: the source does not map '{f}'" for f in unmapped]
    if problems:
        raise ConfigError("invalid quality settings\n  " + "\n  ".join(problems))


def _previous_cycle(session: Session, config: Config, period: Period) -> PreviousCycle | None:
    org = config.organisation.slug
    cycle = session.scalar(select(Cycle).where(Cycle.org == org, Cycle.period_end < period.start)
                           .order_by(Cycle.period_end.desc()).limit(1))
    if cycle is None:
        return None
    try:
        earlier = parse_period(cycle.period, config.cadence)
    except CompstatError:  # the cadence changed since: its windows cannot be rebuilt
        return None
    rows = session.execute(select(CycleResult.unit_code, CycleResult.measure_id, CycleResult.window,
                                  CycleResult.current, CycleResult.previous)
                           .where(CycleResult.cycle_id == cycle.id)).all()
    results = pd.DataFrame(rows, columns=["unit_code", "measure_id", "window", "current", "previous"])
    try:
        manifest = json.loads(cycle.manifest or "{}")
    except json.JSONDecodeError:
        manifest = {}
    return PreviousCycle(earlier, comparison_windows(earlier, config.cadence), results,
                         manifest if isinstance(manifest, dict) else {})


def _latest(session: Session, config: Config, daily: pd.DataFrame, sources: dict[int, str]) -> pd.DataFrame:
    """Each unit's latest record per source: from the daily frame, or the store for units absent from it."""
    latest = daily.groupby(["source", "unit_code"], as_index=False).agg(latest=("date", "max"))
    missing = sorted({u.code for u in config.leaf_units} - set(latest["unit_code"]))
    if missing:
        stmt = (select(Observation.file_id, Observation.unit_code, cast(func.max(Observation.occurred_on), String(10)))
                .where(Observation.org == config.organisation.slug, Observation.unit_code.in_(missing))
                .group_by(Observation.file_id, Observation.unit_code))
        older = pd.DataFrame(list(map(tuple, session.connection().execute(stmt).all())),
                             columns=["file_id", "unit_code", "latest"])
        if not older.empty:
            older = older.assign(source=older["file_id"].map(sources).fillna("?"),
                                 latest=pd.to_datetime(older["latest"].str[:10], format="%Y-%m-%d"))
            older = older.groupby(["source", "unit_code"], as_index=False).agg(latest=("latest", "max"))
            latest = pd.concat([latest, older], ignore_index=True)
    latest["latest"] = latest["latest"].dt.date
    return latest


def first_figures(daily: pd.DataFrame, span_start: date) -> dict[str, date]:
    """Each unit's first non-zero figure in ``daily`` where that is after ``span_start``: zero rows before a
    unit's first real figure (pre-aggregated data padded with zeros) are not history."""
    real = daily[daily["total"] != 0]
    first = real.groupby("unit_code")["date"].min()
    for code in set(daily["unit_code"]) - set(first.index):  # only zeros: its rows are all it has
        first[code] = daily.loc[daily["unit_code"] == code, "date"].min()
    return {str(code): day.date() for code, day in first.items() if day.date() > span_start}


def _first_seen(session: Session, org: str, daily: pd.DataFrame, span_start: date) -> dict[str, date]:
    """The first non-zero figure of each unit whose figures in ``daily`` start after ``span_start`` and that
    has none before it (one indexed range query over the rows before ``span_start``)."""
    first = first_figures(daily, span_start)
    late = list(first)
    if not late:
        return {}
    stmt = (select(Observation.unit_code).where(Observation.org == org, Observation.occurred_on < span_start,
                                                Observation.value != 0,
                                                Observation.unit_code.in_(late)).distinct())
    earlier = set(session.scalars(stmt))
    return {code: first[code] for code in late if code not in earlier}


def _rejected(session: Session, org: str) -> pd.DataFrame:
    stmt = (select(IngestedFile.source, IngestedFile.path, RejectedRow.source_row, RejectedRow.field,
                   RejectedRow.reason, RejectedRow.raw)
            .join(IngestedFile, IngestedFile.id == RejectedRow.file_id)
            .where(RejectedRow.org == org, IngestedFile.superseded.is_(False))
            .order_by(IngestedFile.path, RejectedRow.source_row))
    return pd.DataFrame(list(map(tuple, session.connection().execute(stmt).all())), columns=REJECTED_COLUMNS)


def _coordinates(connection: Connection, config: Config, start: date, end: date,
                 sources: dict[int, str]) -> pd.DataFrame:
    """Per source and unit, the rows from ``start`` to ``end`` with coordinates outside ``quality.area`` and those
    without both (``COORDINATE_COLUMNS``), from each day's box in the daily totals (``DailyTotal``): the rows are
    read only on the days whose box crosses the area's edge (at national scale: none, or a few, of two years' 10M
    rows). Every input version in use has its totals (``build_figures`` made any missing)."""
    area = config.quality.area
    if area is None or not any(s.columns.latitude and s.columns.longitude for s in config.sources):
        return pd.DataFrame(columns=COORDINATE_COLUMNS)
    org = config.organisation.slug
    in_window = (of_org(connection, org), DailyTotal.occurred_on >= start, DailyTotal.occurred_on <= end)
    crosses = or_(DailyTotal.min_lat < area.min_lat, DailyTotal.max_lat > area.max_lat,
                  DailyTotal.min_lon < area.min_lon, DailyTotal.max_lon > area.max_lon)
    blank = (select(DailyTotal.file_id, DailyTotal.unit_code, func.sum(DailyTotal.blank),
                    func.sum(case((crosses, 1), else_=0)))
             .where(*in_window).group_by(DailyTotal.file_id, DailyTotal.unit_code))
    frame = pd.DataFrame(list(map(tuple, connection.execute(blank).all())),
                         columns=["file_id", "unit_code", "blank", "crossing"])
    days = []
    if frame["crossing"].astype(int).sum():  # as a rule none: one pass over the boxes is enough
        days = sorted(connection.scalars(select(DailyTotal.occurred_on).distinct().where(*in_window, crosses)))
    outside = pd.DataFrame(columns=["file_id", "unit_code", "outside"])
    if days:  # on those days only a row of a box that crosses can be outside: counting every row there is exact
        lat, lon = Observation.latitude, Observation.longitude
        beyond = or_(lat < area.min_lat, lat > area.max_lat, lon < area.min_lon, lon > area.max_lon)
        rows = (select(Observation.file_id, Observation.unit_code, func.count())
                .where(Observation.org == org, Observation.occurred_on.in_(days), lat.is_not(None),
                       lon.is_not(None), beyond)
                .group_by(Observation.file_id, Observation.unit_code))
        outside = pd.DataFrame(list(map(tuple, connection.execute(rows).all())),
                               columns=["file_id", "unit_code", "outside"])
    keys = {"file_id": "int64", "unit_code": "object"}
    frame = frame.drop(columns="crossing").astype(keys).merge(outside.astype(keys), on=list(keys), how="outer")
    frame["source"] = frame["file_id"].map(sources).fillna("?")
    frame[["outside", "blank"]] = frame[["outside", "blank"]].fillna(0).astype(int)
    return frame.groupby(["source", "unit_code"], as_index=False)[["outside", "blank"]].sum()[COORDINATE_COLUMNS]


def _duplicates(connection: Connection, config: Config, inputs: pd.DataFrame, start: date,
                end: date) -> pd.DataFrame:
    """Rows sharing a record key (or, without a key, identical rows) per source from ``start`` to ``end``
    (``DUPLICATE_COLUMNS``), every group however many: one windowed count over the rows, and the rows of
    the groups found. For a source of counts without a key, rows of different inputs for the same unit,
    day and category are grouped too (the same totals supplied twice)."""
    parts = []
    org = config.organisation.slug
    for source in config.sources:
        file_ids = [int(i) for i in inputs.loc[inputs["source"] == source.name, "file_id"]]
        if not file_ids:
            continue
        where = (_of_org(connection, org, inputs, file_ids), Observation.occurred_on >= start,
                 Observation.occurred_on <= end, Observation.file_id.in_(file_ids))
        every = _record_columns(source)
        key = record_key(source, config)
        if key:
            key_columns = [c for f in key for c in _store_columns(f)]
            rows = _rows_of_groups(connection, where, key_columns, every)
            if not rows.empty:
                parts.append(_classify(rows, [c.key for c in key_columns], source.name))
            continue
        day = cast(Observation.occurred_on, String(10))
        identical = (select(Observation.unit_code, day, func.count()).where(*where)  # within one input
                     .group_by(*every, Observation.file_id).having(func.count() > 1))
        found = pd.DataFrame(list(map(tuple, connection.execute(identical).all())),
                             columns=["unit_code", "day", "rows"])
        if not found.empty:
            parts.append(pd.DataFrame({
                "source": source.name, "keyed": False, "key": "", "unit_codes": found["unit_code"],
                "unit_rows": [{u: int(n)} for u, n in zip(found["unit_code"], found["rows"], strict=True)],
                "rows": found["rows"].astype(int), "exact": True, "first_day": found["day"].str[:10], "inputs": 1}))
        if len(file_ids) > 1 and (source.columns.value or source.values):
            cell = [Observation.unit_code, Observation.occurred_on, Observation.occurred_at, Observation.category,
                    Observation.subcategory]
            rows = _rows_of_groups(connection, where, cell, every)
            if not rows.empty:
                found = _classify(rows, [c.key for c in cell], source.name).assign(keyed=False)
                parts.append(found[found["inputs"] > 1])
    if not parts:
        return pd.DataFrame(columns=DUPLICATE_COLUMNS)
    return pd.concat(parts, ignore_index=True)[DUPLICATE_COLUMNS]


def _of_org(connection: Connection, org: str, inputs: pd.DataFrame, file_ids: list[int]) -> ColumnElement[bool]:
    """``Observation.org == org``; on SQLite, when ``file_ids`` hold under half the rows in use, in a form the
    (org, day) index cannot serve, so that SQLite reads just those inputs' rows through the file index (national
    weekly counts, 4% of the rows: 0.6 s against 2.1 s for a probe). PostgreSQL's planner chooses for itself."""
    loaded = inputs["rows_loaded"].astype(int)
    few = int(loaded[inputs["file_id"].isin(file_ids)].sum()) * 2 < int(loaded.sum())
    return (unindexed_on_sqlite(connection, Observation.org) if few else Observation.org) == org


def _rows_of_groups(connection: Connection, where: tuple[Any, ...], key_columns: list[Any],
                    every: list[Any]) -> pd.DataFrame:
    """Every row (record columns and ``file_id``) whose key values appear on more than one row (a grouped
    count first: with no such group, as usual, the windowed query is not run)."""
    columns = list(dict.fromkeys([*every, *key_columns]))
    any_group = select(*key_columns).where(*where).group_by(*key_columns).having(func.count() > 1).limit(1)
    if connection.execute(any_group).first() is None:
        return pd.DataFrame(columns=[*[c.key for c in columns], "file_id"])
    rows = (select(*columns, Observation.file_id,
                   func.count().over(partition_by=key_columns).label("same_key"))
            .where(*where).subquery())
    stmt = select(*[rows.c[c.key] for c in columns], rows.c.file_id).where(rows.c.same_key > 1)
    return pd.DataFrame(list(map(tuple, connection.execute(stmt).all())),
                        columns=[*[c.key for c in columns], "file_id"])


def _record_columns(source: Source) -> list[Any]:
    columns = [Observation.unit_code, Observation.occurred_on, Observation.occurred_at, Observation.category,
               Observation.subcategory, Observation.value]
    if source.columns.latitude and source.columns.longitude:
        columns += [Observation.latitude, Observation.longitude]
    if source.columns.record_id:
        columns.append(Observation.record_id)
    if source.columns.location:
        columns.append(Observation.location)
    return columns


def _store_columns(field_name: str) -> list[Any]:
    if field_name == "date":
        return [Observation.occurred_on, Observation.occurred_at]
    return [getattr(Observation, STORE_FIELDS[field_name])]


def _classify(rows: pd.DataFrame, keys: list[str], source: str) -> pd.DataFrame:
    """One row per key group: how many rows, which units, in how many inputs, and whether every row is
    identical (``file_id`` aside)."""
    text = rows.drop(columns="file_id").astype(object).where(rows.drop(columns="file_id").notna(), "").astype(str)
    grouped = text.groupby(keys, sort=False, dropna=False)
    distinct = text.drop_duplicates().groupby(keys, sort=False, dropna=False).size()
    out = pd.DataFrame({
        "rows": grouped.size(),
        "exact": distinct.reindex(grouped.size().index).eq(1),
        "inputs": rows["file_id"].groupby([text[k] for k in keys], sort=False, dropna=False).nunique(),
        "unit_codes": grouped["unit_code"].agg(lambda s: ", ".join(sorted(set(s)))),
        "first_day": grouped["occurred_on"].min().str[:10],
    })
    out["unit_rows"] = pd.Series([dict(sorted(Counter(units).items())) for units in grouped["unit_code"].agg(list)],
                                 index=out.index, dtype=object)
    out = out.reset_index()
    out["key"] = [" / ".join(p for p in parts if p) for parts in out[keys].astype(str).itertuples(index=False)]
    return out.assign(source=source, keyed=True)[DUPLICATE_COLUMNS]


def supplied_totals(rejected: pd.DataFrame, config: Config, today: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The organisation totals kept aside at ingest (``quality.totals``), as daily rows by category, and
    the total rows that fail validation as totals (``REJECTED_COLUMNS``, with their own line and reason)."""
    columns = ["unit_code", "category", "subcategory", "date", "total", "n"]
    rows = rejected[rejected["reason"] == TOTAL_ROW]
    parts, bad = [], []
    for source in config.sources:
        label = config.quality.totals.get(source.name)
        mine = rows[rows["source"] == source.name]
        if label is None or mine.empty:
            continue
        raw = pd.DataFrame([json.loads(r) for r in mine["raw"]]).astype(str)
        as_total = source.model_copy(update={"unit_map": {**source.unit_map, label: TOTAL}})
        mapped = map_rows(raw, as_total, config, "supplied totals", 0, today, strict_dates=False)
        observations = mapped.observations
        parts.append(observations.assign(date=pd.to_datetime(observations["occurred_on"], format="%Y-%m-%d"), n=1)
                     .groupby(["unit_code", "category", "subcategory", "date"], as_index=False)
                     .agg(total=("value", "sum"), n=("n", "sum")))
        failed = mapped.rejected
        if not failed.empty:
            where = mine.iloc[failed["source_row"].astype(int).to_numpy()]
            bad.append(pd.DataFrame({"source": where["source"].to_numpy(), "path": where["path"].to_numpy(),
                                     "source_row": where["source_row"].to_numpy(), "field": failed["field"].to_numpy(),
                                     "reason": failed["reason"].to_numpy(), "raw": failed["raw"].to_numpy()}))
    totals = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    failed_rows = pd.concat(bad, ignore_index=True) if bad else pd.DataFrame(columns=REJECTED_COLUMNS)
    return totals, failed_rows


TOTAL_NOT_CHECKED = " (an organisation total: left out of the consistency check)"


def quarantine_listing(rows: pd.DataFrame, config: Config, today: date) -> tuple[pd.DataFrame, int]:
    """What ``compstat quarantine list`` lists: the quarantined rows (``ingest.QUARANTINE_COLUMNS``) that
    are rejects, and how many organisation-total rows (``quality.totals``) were kept aside whole for the
    consistency check — those are not rejects. A total row that fails validation as a total (a count
    written 'nil') is a reject: listed with that reason, where the consistency finding points."""
    is_total = rows["reason"] == TOTAL_ROW
    as_rejected = rows[is_total].rename(columns={"file": "path", "row": "source_row"})
    _, failed = supplied_totals(as_rejected, config, today)
    failed = failed.rename(columns={"path": "file", "source_row": "row"})
    failed = failed.assign(reason=failed["reason"].astype(str) + TOTAL_NOT_CHECKED)[list(rows.columns)]
    listed = pd.concat([rows[~is_total], failed], ignore_index=True) if not failed.empty else rows[~is_total]
    listed = listed.sort_values(["file", "row"], kind="stable").reset_index(drop=True)
    kept = int(is_total.sum()) - failed[["file", "row"]].drop_duplicates().shape[0]
    return listed, kept
