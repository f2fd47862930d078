"""Typed contracts between layers (``compstat.schemas``): a renamed column is refused where the frame is
produced, naming the frame and the column, and the pack contexts read typed rows."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from compstat import schemas
from compstat.actions import ACTION_COLUMNS, escalation
from compstat.actions.escalation import TRIGGER_COLUMNS, UNIT_LEVEL_COLUMNS, meeting_escalation
from compstat.analysis import baselines, peers, rare, significance, spc_series, trajectory
from compstat.analysis.analyse import FINDING_RESULT_COLUMNS, AnalysisResult
from compstat.analysis.period_table import TABLE_COLUMNS
from compstat.analysis.places import INCIDENT_COLUMNS
from compstat.config import Config
from compstat.cycle import POINT_COLUMNS
from compstat.figures import DAILY_COLUMNS
from compstat.quality import context as quality_context
from compstat.quality.findings import COMPARISON_COLUMNS
from compstat.schemas import SchemaError


@pytest.mark.parametrize(("schema", "columns"), [
    (schemas.TABLE, TABLE_COLUMNS), (schemas.ACTIONS, ACTION_COLUMNS), (schemas.ESCALATION, UNIT_LEVEL_COLUMNS),
    (schemas.TRIGGERS, TRIGGER_COLUMNS), (schemas.DAILY, DAILY_COLUMNS), (schemas.INCIDENTS, INCIDENT_COLUMNS),
    (schemas.POINTS, POINT_COLUMNS), (schemas.CAVEATS, COMPARISON_COLUMNS), (schemas.FINDINGS, FINDING_RESULT_COLUMNS),
    (schemas.RECOGNITION, FINDING_RESULT_COLUMNS), (schemas.BASELINES, baselines.COMPARISON_COLUMNS),
    (schemas.SIGNIFICANCE, significance.SIGNIFICANCE_COLUMNS), (schemas.SPC, rare.SPC_METHOD_COLUMNS),
    (schemas.SPC_POINTS, spc_series.SPC_POINT_COLUMNS), (schemas.PEERS, peers.PEER_COLUMNS),
    (schemas.TRAJECTORY, trajectory.TRAJECTORY_COLUMNS), (schemas.TRAJECTORY_PATH, trajectory.PATH_COLUMNS),
    (schemas.RARE, rare.RARE_COLUMNS), (schemas.RARE_POINTS, rare.T_POINT_COLUMNS),
    (schemas.RARE_EVENTS, rare.RARE_EVENT_COLUMNS),
], ids=lambda v: v.frame if isinstance(v, schemas.Schema) else "")
def test_each_schema_declares_the_columns_its_producer_writes(schema: schemas.Schema[object],
                                                              columns: list[str]) -> None:
    assert schema.columns == list(columns)


def test_every_cycle_frame_has_a_schema() -> None:
    from dataclasses import fields

    from compstat.results import CycleData

    frames = {f.name for f in fields(CycleData) if "DataFrame" in str(f.type)}
    assert frames == set(schemas.CYCLE_FRAMES)
    analysed = {f.name for f in fields(AnalysisResult) if "DataFrame" in str(f.type)}
    assert analysed == set(schemas.ANALYSIS_FRAMES)


def test_every_frame_a_check_reads_has_a_schema() -> None:
    from dataclasses import fields

    frames = {f.name for f in fields(quality_context.QualityContext) if "DataFrame" in str(f.type)}
    assert frames == set(schemas.QUALITY_FRAMES)


@pytest.mark.parametrize(("producer", "renamed", "message"), [
    ("_coordinates", {"outside": "outside_area"},
     "QualityContext.coordinates (from quality.context.load_context): missing column 'outside'"),
    ("inputs_in_use", {"rows_read": "read"},
     "QualityContext.inputs (from quality.context.load_context): missing column 'rows_read'"),
])
def test_a_renamed_column_a_check_reads_is_refused_where_the_context_is_made(
        small_config: Config, tmp_path: object, monkeypatch: pytest.MonkeyPatch, producer: str,
        renamed: dict[str, str], message: str) -> None:
    """The quality checks' frames are checked when ``load_context`` makes them, before any check runs."""
    from sqlalchemy.orm import Session

    from compstat.periods import parse_period
    from compstat.store import connect

    real = getattr(quality_context, producer)
    monkeypatch.setattr(quality_context, producer, lambda *a, **k: real(*a, **k).rename(columns=renamed))
    engine = connect(f"sqlite:///{tmp_path}/store.db")
    try:
        with Session(engine) as session, pytest.raises(SchemaError) as caught:
            quality_context.load_context(session, small_config, parse_period("2026-W10", small_config.cadence), [],
                                         date(2026, 3, 12))
    finally:
        engine.dispose()
    assert str(caught.value).startswith(message)


def _table_row(**values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(TABLE_COLUMNS, 0.0)
    row.update(unit_code="A", measure_id="burglary", window="28d", window_label="28 days", start=date(2026, 11, 2),
               end=date(2026, 11, 29), prev_start=date(2025, 11, 3), prev_end=date(2025, 11, 30),
               small_numbers=False)
    row.update(values)
    return row


def test_a_renamed_column_is_refused_at_its_producer(small_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """``meeting_escalation`` produces the escalation levels; a column renamed inside it (here, by the
    function it calls) stops it with an error naming the frame, the producer and the column."""
    real = escalation.unit_levels
    monkeypatch.setattr(escalation, "unit_levels",
                        lambda *a, **k: real(*a, **k).rename(columns={"escalation_level": "level"}))
    log = pd.DataFrame(columns=ACTION_COLUMNS)
    table = pd.DataFrame([_table_row()])
    with pytest.raises(SchemaError) as caught:
        meeting_escalation(log, table, small_config)
    assert str(caught.value).startswith(
        "CycleData.escalation (from actions.meeting_escalation): missing column 'escalation_level' "
        "(it has 'level' instead)")


def test_the_period_table_is_checked_as_it_is_built() -> None:
    renamed = pd.DataFrame([_table_row()]).rename(columns={"current": "this_year"})
    with pytest.raises(SchemaError, match=r"CycleData.table \(from analysis.period_table\): missing column "
                                          r"'current' \(it has 'this_year' instead\)"):
        schemas.TABLE.validate(renamed, "analysis.period_table")
    text = pd.DataFrame([_table_row(current="twelve")])
    with pytest.raises(SchemaError, match="CycleData.table: column 'current' should hold numbers, not"):
        schemas.TABLE.validate(text)


def test_an_analysis_frame_renamed_is_refused_when_the_result_is_built() -> None:
    frames = {name: pd.DataFrame(columns=schema.columns) for name, schema in schemas.ANALYSIS_FRAMES.items()}
    AnalysisResult(**frames)  # every frame as declared: accepted
    frames["probe"] = frames["probe"].rename(columns={"measure_name": "measure"})
    with pytest.raises(SchemaError, match=r"AnalysisResult.probe \(from analysis.analyse\): missing column "
                                          r"'measure_name' \(it has 'measure' instead\)"):
        AnalysisResult(**frames)


def test_cycle_data_refuses_a_renamed_column(small_config: Config) -> None:
    from compstat.periods import comparison_windows, parse_period
    from compstat.results import CycleData

    period = parse_period("2026-W48", small_config.cadence)

    def cycle_data(table: pd.DataFrame) -> CycleData:
        return CycleData(config=small_config, period=period, windows=comparison_windows(period, small_config.cadence),
                         meeting_date=date(2026, 12, 2), run_at=datetime(2026, 12, 1, 7), table=table,
                         series=pd.DataFrame(columns=schemas.SERIES.columns), actions=pd.DataFrame())

    cycle_data(pd.DataFrame([_table_row()]))
    with pytest.raises(SchemaError, match=r"CycleData.table: missing column 'window'"):
        cycle_data(pd.DataFrame([_table_row()]).drop(columns="window"))


def test_typed_rows() -> None:
    frame = pd.DataFrame([_table_row(current=12.0, previous=10.0, extra="ignored")])
    (row,) = schemas.TABLE.rows(frame)
    assert isinstance(row, schemas.TableRow)
    assert (row.unit_code, row.window, row.current, row.previous, row.small_numbers) == ("A", "28d", 12.0, 10.0, False)
    assert schemas.TABLE.rows(None) == [] and schemas.TABLE.rows(pd.DataFrame()) == []
