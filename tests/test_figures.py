"""The cycle's figures (``compstat.figures``): the store aggregated once per cycle, and the quality
checks' comparison figures the same as the period table's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.orm import Session

from compstat.analysis.period_table import period_table
from compstat.config import Config
from compstat.cycle import analysis_start, cycle_figures, run_cycle
from compstat.figures import build_figures
from compstat.ingest import ingest_all
from compstat.periods import comparison_windows, parse_period
from compstat.quality.context import first_day_read, load_context
from compstat.store import DailyTotal, IngestedFile, TotalledFile, connect
from compstat.store.totals import TOTAL_KEYS, TOTAL_VALUES, forget_totals, make_totals, untotalled
from tests.test_ingest import TODAY, write_incidents

# A daily aggregation of the observations: values summed per category (and day).
AGGREGATION = re.compile(r"sum\(observations\.value\).*from observations.*group by.*observations\.category",
                         re.IGNORECASE | re.DOTALL)


def aggregations(statements: list[str]) -> list[str]:
    return [s for s in statements if AGGREGATION.search(s)]


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs while the test runs."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


@pytest.mark.slow
def test_a_cycle_of_new_inputs_never_aggregates_the_stored_records(small_config: Config, store_url: str,
                                                                   tmp_path: Path, statements: list[str]) -> None:
    """Ingest sums each new input version as it stores it (``store_totals``): the cycle's figures read those
    totals (each version's stream) and no query sums the observations table."""
    write_incidents(small_config)
    run_cycle(small_config, store_url, "2026-W10", out_root=tmp_path / "cycles", today=TODAY, workers=1)
    assert aggregations(statements) == []
    assert any("totalled_files.figures" in s.lower() and s.lstrip().upper().startswith("SELECT")
               for s in statements)  # each version's totals as one stream (store.totals.figures_stream)


def stored_totals(session: Session) -> pd.DataFrame:
    columns = [*TOTAL_KEYS, *TOTAL_VALUES]
    rows = session.execute(select(*[getattr(DailyTotal, c) for c in columns])).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    return frame.sort_values(list(TOTAL_KEYS), ignore_index=True)


def assert_ingest_totals_are_the_group_by(session: Session) -> None:
    """The totals ingest stored equal the database's own GROUP BY of the stored observations
    (``make_totals``, after forgetting them): same keys, same sums and counts, nothing missing."""
    files = [int(i) for i in session.scalars(select(IngestedFile.id))]
    assert untotalled(session, files) == []
    at_ingest = stored_totals(session)
    assert len(at_ingest) > 0
    forget_totals(session, files)
    assert stored_totals(session).empty
    make_totals(session, files)
    pd.testing.assert_frame_equal(at_ingest, stored_totals(session), check_exact=True)
    session.rollback()


@contextmanager
def ingested(config: Config, store_url: str) -> Iterator[Session]:
    """A session on ``store_url`` after ingesting the test incidents (``write_incidents``) for ``config``."""
    write_incidents(config)
    engine = connect(store_url)
    try:
        with Session(engine) as session:
            ingest_all(session, config, TODAY, store_url)
            yield session
    finally:
        engine.dispose()


def test_ingest_totals_are_the_stores_group_by(small_config: Config, store_url: str) -> None:
    with ingested(small_config, store_url) as session:
        session.commit()
        assert_ingest_totals_are_the_group_by(session)


@pytest.mark.slow
def test_ingest_totals_are_the_group_by_on_the_demo(demo_run: tuple[Config, Path, Path, str]) -> None:
    """The demo's incidents, weekly counts (values other than 1, subcategories) and replaced versions."""
    engine = connect(demo_run[3])
    try:
        with Session(engine) as session:
            assert_ingest_totals_are_the_group_by(session)
    finally:
        engine.dispose()


def assert_figures_from_streams_are_those_from_rows(session: Session, config: Config) -> None:
    """The figures from each version's stream (made at ingest from its frame) equal those from its totals'
    rows (a store whose streams are not kept yet), which keeps the streams for the next read."""
    start = date(2000, 1, 1)
    from_streams = build_figures(session, config, start).by_source
    assert len(from_streams) > 0
    session.execute(update(TotalledFile).values(figures=None))
    from_rows = build_figures(session, config, start).by_source
    assert session.scalar(select(func.count()).select_from(TotalledFile).where(TotalledFile.figures.is_(None))) == 0
    again = build_figures(session, config, start).by_source
    pd.testing.assert_frame_equal(from_streams, from_rows, check_exact=True)
    pd.testing.assert_frame_equal(from_streams, again, check_exact=True)
    session.rollback()


def test_figures_read_each_versions_stream_as_its_rows(small_config: Config, store_url: str) -> None:
    with ingested(small_config, store_url) as session:
        assert_figures_from_streams_are_those_from_rows(session, small_config)


@pytest.mark.slow
def test_figures_read_each_versions_stream_as_its_rows_on_the_demo(demo_run: tuple[Config, Path, Path, str]) -> None:
    """The demo's weekly counts (values other than 1, subcategories) and replaced versions."""
    engine = connect(demo_run[3])
    try:
        with Session(engine) as session:
            assert_figures_from_streams_are_those_from_rows(session, demo_run[0])
    finally:
        engine.dispose()


def test_figures_cover_what_quality_and_analysis_read(small_config: Config, store_url: str) -> None:
    """One build serves both steps; asking for a day before the figures start is an error, not a silent gap."""
    with ingested(small_config, store_url) as session:
        period = parse_period("2026-W10", small_config.cadence)
        figures = cycle_figures(session, small_config, period)
        assert figures.start == min(first_day_read(session, small_config, period),
                                    analysis_start(small_config, period))
        assert figures.daily_between(figures.start, period.end)["date"].max() <= pd.Timestamp(period.end)
        with pytest.raises(ValueError, match="figures read from"):
            figures.daily_between(date(1990, 1, 1))
        later = build_figures(session, small_config, period.start)
        assert later.by_source["date"].min() >= pd.Timestamp(period.start)


@pytest.mark.slow
def test_quality_window_figures_are_the_period_tables(demo_run: tuple[Config, Path, Path, str]) -> None:
    """On the demo, every unit × measure × window's current and previous value that the quality checks
    judge is the figure the period table (as written by the cycle) shows."""
    config, _, folder, store = demo_run
    period = parse_period("2026-W48", config.cadence)
    engine = connect(store)
    try:
        with Session(engine) as session:
            figures = cycle_figures(session, config, period)
            ctx = load_context(session, config, period, [], date(2026, 11, 30), stored=False, figures=figures)
            quality = ctx.current_figures.pivot(index=["unit_code", "measure_id", "window"], columns="side",
                                                values="value")
            windows = comparison_windows(period, config.cadence)
            table = period_table(figures.daily_between(analysis_start(config, period), period.end), config,
                                 windows, figures.data_start).set_index(["unit_code", "measure_id", "window"])
    finally:
        engine.dispose()
    written = pd.read_csv(folder / "period_table.csv").set_index(["unit_code", "measure_id", "window"])
    reported = {m.id for m in config.reported_measures}
    quality = quality[quality.index.get_level_values("measure_id").isin(reported)]
    assert len(quality) == len(ctx.leaf_codes + ["_total"]) * len(reported) * len(windows)
    for name, side in (("current", "current"), ("previous", "previous")):
        mine = quality[side]
        assert np.array_equal(mine.to_numpy(), table.loc[mine.index, name].to_numpy(), equal_nan=True), name
        assert np.allclose(mine.to_numpy(), written.loc[mine.index, name].to_numpy(), rtol=1e-5,
                           equal_nan=True), name
