"""The contracts between layers: the columns of every frame a pack or a check consumes.

Each frame in ``results.CycleData`` (and ``AnalysisResult``, ``QualityResult.comparisons``, and what the
quality checks read: ``Figures.by_source`` and the ``QualityContext`` frames) has a
frozen row dataclass here; its fields are the frame's columns, its annotations their types. A
``Schema`` pairs the row class with the frame's name and is

- **validated where the frame is produced** (``Schema.validate``: the period table in
  ``analysis.period_table``, the analysis frames when ``AnalysisResult`` is built, every frame when
  ``CycleData`` is built, in the process that computed them): a missing (renamed) column raises
  ``SchemaError`` naming the frame and the column, before any pack is rendered; a column declared
  ``int`` or ``float`` must hold numbers. Extra columns are allowed; only the declared ones are
  a contract. Checking costs microseconds per frame (names and dtypes, not values);
- **read as typed rows** by the pack contexts (``Schema.rows``), so a renamed field is a mypy error.

``bool`` and ``str`` columns may hold missing values (NaN or None) where a judgement was not made.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import pandas as pd

R = TypeVar("R")


class SchemaError(TypeError):
    """A frame does not meet its declared schema: a programming error in its producer, not bad data."""


@dataclass(frozen=True)
class Schema(Generic[R]):
    """A frame's contract: its name (where it travels) and its row class (its columns and their types)."""

    frame: str
    row: type[R]
    names: tuple[str, ...] = field(init=False, repr=False)  # the row's fields: the frame's columns
    numbers: tuple[str, ...] = field(init=False, repr=False)  # those declared int or float

    def __post_init__(self) -> None:
        declared = fields(self.row)  # type: ignore[arg-type]
        object.__setattr__(self, "names", tuple(f.name for f in declared))
        object.__setattr__(self, "numbers", tuple(f.name for f in declared if f.type in ("int", "float", int, float)))

    @property
    def columns(self) -> list[str]:
        return list(self.names)

    def validate(self, frame: pd.DataFrame, producer: str = "") -> pd.DataFrame:
        """``frame`` itself if it has every declared column (numbers where declared ``int``/``float``);
        else ``SchemaError`` naming the frame, its producer and the column. A frame with neither
        rows nor columns (``pd.DataFrame()``: not produced yet) passes."""
        where = f"{self.frame}" + (f" (from {producer})" if producer else "")
        if not isinstance(frame, pd.DataFrame):
            raise SchemaError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}")
        if frame.columns.empty and frame.empty:
            return frame
        present = set(frame.columns)
        missing = [c for c in self.columns if c not in present]
        if missing:
            extra = [str(c) for c in frame.columns if c not in set(self.columns)]
            raise SchemaError(f"{where}: missing column{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(repr(c) for c in missing)}"
                              + (f" (it has {', '.join(repr(c) for c in extra)} instead)" if extra else "")
                              + f"; {self.row.__name__} in compstat/schemas.py declares the columns")
        dtypes = frame.dtypes
        for column in self.numbers:
            dtype = dtypes[column]
            if not pd.api.types.is_numeric_dtype(dtype) and not frame[column].isna().all():
                raise SchemaError(f"{where}: column {column!r} should hold numbers, not {dtype}")
        return frame

    def rows(self, frame: pd.DataFrame | None) -> list[R]:
        """The frame's rows as ``row`` objects (declared columns only; missing values as in the frame)."""
        if frame is None or frame.empty:
            return []
        self.validate(frame)
        make: Any = self.row
        return [make(*values) for values in frame[self.columns].itertuples(index=False, name=None)]


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row of CycleData.table: the period table: one row per unit x measure x window (analysis.period_table)."""

    unit_code: str
    measure_id: str
    window: str
    window_label: str
    start: date
    end: date
    current: float
    prev_start: date
    prev_end: date
    previous: float
    change: float
    pct_change: float
    small_numbers: bool


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """One row of CycleData.series: each measure's value per period (analysis.measures.period_series)."""

    unit_code: str
    measure_id: str
    period_start: datetime
    value: float
    numerator: float
    denominator: float


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One row of CycleData.actions: the meeting's action log (actions.carry_forward_actions)."""

    id: int
    unit_code: str
    measure_id: str
    description: str
    owner: str
    due_date: date
    status: str
    raised_period: str
    raised_on: date
    closed_on: date
    last_note: str
    meetings_carried: int
    overdue: bool
    carried: bool
    kind: str
    support_requested: str
    support_offered: str
    drop_reason: str
    closing_note: str
    updated_at: datetime
    last_updated_by: str
    version: int
    missed_meetings: int
    escalation_level: int
    escalation_label: str
    escalation_reason: str
    days_since_update: int
    stale: bool
    effect: str
    effect_text: str
    effect_before: float
    effect_after: float
    effect_days: int
    effect_ratio: float
    effect_p: float
    effect_q: float


@dataclass(frozen=True, slots=True)
class PointRow:
    """One row of CycleData.points: incidents with coordinates over the map's span (cycle.load_points)."""

    unit_code: str
    occurred_on: datetime
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One row of CycleData.incidents: incident records for the places tables (cycle.load_incidents)."""

    unit_code: str
    occurred_on: datetime
    occurred_at: datetime
    category: str
    subcategory: str
    location: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One row of CycleData.daily: daily totals per unit and measure (analysis.measures.daily_measures)."""

    unit_code: str
    measure_id: str
    date: datetime
    total: float
    n: int


@dataclass(frozen=True, slots=True)
class EscalationRow:
    """One row of CycleData.escalation: each leaf unit's escalation level (actions.meeting_escalation)."""

    unit_code: str
    escalation_level: int
    escalation_label: str
    escalation_reason: str


@dataclass(frozen=True, slots=True)
class TriggerRow:
    """One row of CycleData.triggers: every agreement trigger judged on the table (actions.meeting_escalation)."""

    unit_code: str
    measure_id: str
    officer: str
    trigger: str
    rule: str
    window: str
    current: float
    previous: float
    pct_change: float
    in_concern: bool
    met: bool
    judged_on: str
    requires: str
    raw_met: bool
    evidence: str
    note: str


@dataclass(frozen=True, slots=True)
class CaveatRow:
    """One row of QualityResult.comparisons: each unit x measure x window's comparison caveat (quality)."""

    unit_code: str
    measure_id: str
    window: str
    fragile: bool
    like_for_like: bool
    reason: str


@dataclass(frozen=True, slots=True)
class BaselineRow:
    """One row of AnalysisResult.comparisons: this span against earlier years (analysis.baselines)."""

    unit_code: str
    measure_id: str
    window: str
    window_label: str
    start: date
    end: date
    days: float
    current: float
    numerator: float
    denominator: float
    last_year_start: date
    last_year_end: date
    last_year: float
    last_year_days: float
    two_years_ago_start: date
    two_years_ago_end: date
    two_years_ago: float
    baseline: float
    baseline_years: int
    baseline_total: float
    baseline_days: float
    population: float
    current_rate: float
    last_year_rate: float
    two_years_ago_rate: float
    baseline_rate: float


@dataclass(frozen=True, slots=True)
class SignificanceRow:
    """One row of AnalysisResult.significance: each count's rate-ratio test (analysis.significance)."""

    unit_code: str
    measure_id: str
    window: str
    basis: str
    current: float
    comparison: float
    current_days: float
    comparison_days: float
    rate_ratio: float
    ci_low: float
    ci_high: float
    pct_change: float
    dispersion: float
    p_value: float
    q_value: float
    label: str
    judgement: str
    small_numbers: bool


@dataclass(frozen=True, slots=True)
class SpcRow:
    """One row of AnalysisResult.spc: the latest point of each SPC chart (analysis.spc_series)."""

    unit_code: str
    measure_id: str
    x: datetime
    y: float
    mean: float
    lpl: float
    upl: float
    special_cause_rule: str
    point_type: str
    variation: str
    periods_running: int
    assurance: str
    target: float
    improvement: str
    n_points: int
    short_group_warning: bool
    change_points: str
    method: str


@dataclass(frozen=True, slots=True)
class SpcPointRow:
    """One row of AnalysisResult.spc_points: every point of every XmR chart (analysis.spc_series)."""

    unit_code: str
    measure_id: str
    x: datetime
    y: float
    rebase_group: int
    short_group_warning: bool
    mean: float
    lpl: float
    upl: float
    outside_limits: bool
    relative_to_mean: float
    close_to_limits: bool
    special_cause_flag: bool
    special_cause_rule: str
    point_type: str
    target: float


@dataclass(frozen=True, slots=True)
class PeerRow:
    """One row of AnalysisResult.peers: each unit against its similar units (analysis.peers)."""

    unit_code: str
    measure_id: str
    window: str
    peer_group: str
    peers: str
    n_peers: int
    value: float
    ci_low: float
    ci_high: float
    peer_mean: float
    pct_vs_peers: float
    label: str
    judgement: str
    basis: str
    note: str
    left_out: str
    caveat: str


@dataclass(frozen=True, slots=True)
class TrajectoryRow:
    """One row of AnalysisResult.trajectory: targets, projection and delivery rating (analysis.trajectory)."""

    unit_code: str
    measure_id: str
    target_kind: str
    target_value: float
    target_basis: str
    target_level: float
    baseline_value: float
    year_end: date
    planned_to_date: float
    actual_to_date: float
    on_track: bool
    projection: float
    projection_low: float
    projection_high: float
    confidence: str
    rule: str


@dataclass(frozen=True, slots=True)
class TrajectoryPathRow:
    """One row of AnalysisResult.trajectory_path: planned and actual per period of the year (analysis.trajectory)."""

    unit_code: str
    measure_id: str
    period_start: datetime
    period_end: datetime
    planned: float
    actual: float


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One row of AnalysisResult.probe: ranked concerns or improvements (analysis.probe, analysis.analyse)."""

    rank: int
    unit_code: str
    unit_name: str
    measure_id: str
    measure_name: str
    direction: str
    kind: str
    score: float
    priority: float
    size: float
    certainty: float
    persistence: int
    quality: float
    evidence: str
    window: str
    basis: str
    current: float
    comparison: float
    pct_change: float
    q_value: float
    small_numbers: bool
    variation: str
    periods_running: int
    peer_label: str
    delivery: str
    caveat: str
    reason: str
    explanation: str
    prompt_key: str
    question: str
    support: str
    level: str


@dataclass(frozen=True, slots=True)
class RareRow:
    """One row of AnalysisResult.rare: each rare-event series' method and judgement (analysis.rare)."""

    unit_code: str
    measure_id: str
    method: str
    why: str
    mean_per_period: float
    events: int
    last_event: datetime
    gap: float
    gap_mean: float
    gap_lpl: float
    gap_upl: float
    open_gap: float
    judged: str
    point_type: str
    special_cause_rule: str
    window: str
    window_start: datetime
    window_end: datetime
    current: float
    comparison: float
    current_days: int
    comparison_days: int
    rate_ratio: float
    ci_low: float
    ci_high: float
    pct_change: float
    dispersion: float
    p_value: float
    q_value: float
    label: str
    judgement: str
    small_numbers: bool


@dataclass(frozen=True, slots=True)
class RarePointRow:
    """One row of AnalysisResult.rare_points: the t-charts' points (analysis.rare)."""

    unit_code: str
    measure_id: str
    x: datetime
    y: float
    mean: float
    lpl: float
    upl: float
    point_type: str
    special_cause_rule: str
    open: bool


@dataclass(frozen=True, slots=True)
class RareEventRow:
    """One row of AnalysisResult.rare_events: rare series' counts (analysis.rare)."""

    unit_code: str
    measure_id: str
    method: str
    period_count: float
    ytd: float
    last_year_ytd: float
    last_12m: float
    previous_12m: float


# --- what the quality checks read (``figures.build_figures``, ``quality.context.load_context``) ---------


@dataclass(frozen=True, slots=True)
class DailySourceRow:
    """One row of Figures.by_source and QualityContext.daily: a day's total per source, unit and category."""

    source: str
    unit_code: str
    category: str
    subcategory: str
    date: datetime
    total: float
    n: int


@dataclass(frozen=True, slots=True)
class LatestRow:
    """One row of QualityContext.latest: a unit's latest record in a source, all time."""

    source: str
    unit_code: str
    latest: date


@dataclass(frozen=True, slots=True)
class InputRow:
    """One row of QualityContext.inputs: an input version in use (ingest.inputs_in_use)."""

    file_id: int
    source: str
    path: str
    sha256: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_skipped: int
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """One row of QualityContext.rejected: a quarantined row of an input in use, with its reason."""

    source: str
    path: str
    source_row: int
    field: str
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class CoordinateRow:
    """One row of QualityContext.coordinates: a unit's rows outside the area, and without coordinates."""

    source: str
    unit_code: str
    outside: int
    blank: int


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    """One row of QualityContext.duplicates: a group of rows sharing a record key (or identical rows)."""

    source: str
    keyed: bool
    key: str
    unit_codes: str  # "N1, N2"
    unit_rows: dict[str, int]  # rows per unit
    rows: int
    exact: bool
    first_day: str  # YYYY-MM-DD
    inputs: int


@dataclass(frozen=True, slots=True)
class SuppliedTotalRow:
    """One row of QualityContext.supplied_totals: the organisation total a source supplies, by day."""

    unit_code: str
    category: str
    subcategory: str
    date: datetime
    total: float
    n: int


TABLE = Schema("CycleData.table", TableRow)
SERIES = Schema("CycleData.series", SeriesRow)
ACTIONS = Schema("CycleData.actions", ActionRow)
POINTS = Schema("CycleData.points", PointRow)
INCIDENTS = Schema("CycleData.incidents", IncidentRow)
DAILY = Schema("CycleData.daily", DailyRow)
ESCALATION = Schema("CycleData.escalation", EscalationRow)
TRIGGERS = Schema("CycleData.triggers", TriggerRow)
CAVEATS = Schema("QualityResult.comparisons", CaveatRow)
BASELINES = Schema("AnalysisResult.comparisons", BaselineRow)
SIGNIFICANCE = Schema("AnalysisResult.significance", SignificanceRow)
SPC = Schema("AnalysisResult.spc", SpcRow)
SPC_POINTS = Schema("AnalysisResult.spc_points", SpcPointRow)
PEERS = Schema("AnalysisResult.peers", PeerRow)
TRAJECTORY = Schema("AnalysisResult.trajectory", TrajectoryRow)
TRAJECTORY_PATH = Schema("AnalysisResult.trajectory_path", TrajectoryPathRow)
FINDINGS = Schema("AnalysisResult.probe", FindingRow)
RARE = Schema("AnalysisResult.rare", RareRow)
RARE_POINTS = Schema("AnalysisResult.rare_points", RarePointRow)
RARE_EVENTS = Schema("AnalysisResult.rare_events", RareEventRow)
RECOGNITION = Schema("AnalysisResult.recognition", FindingRow)
DAILY_SOURCES = Schema("Figures.by_source", DailySourceRow)
LATEST = Schema("QualityContext.latest", LatestRow)
INPUTS = Schema("QualityContext.inputs", InputRow)
REJECTED = Schema("QualityContext.rejected", RejectedRow)
COORDINATES = Schema("QualityContext.coordinates", CoordinateRow)
DUPLICATES = Schema("QualityContext.duplicates", DuplicateRow)
SUPPLIED_TOTALS = Schema("QualityContext.supplied_totals", SuppliedTotalRow)
CYCLE_FRAMES: dict[str, Schema[Any]] = {
    "table": TABLE, "series": SERIES, "actions": ACTIONS, "points": POINTS, "incidents": INCIDENTS, "daily": DAILY,
    "escalation": ESCALATION, "triggers": TRIGGERS,
}  # CycleData's frames by field name
ANALYSIS_FRAMES: dict[str, Schema[Any]] = {
    "comparisons": BASELINES, "significance": SIGNIFICANCE, "spc": SPC, "spc_points": SPC_POINTS, "peers": PEERS,
    "trajectory": TRAJECTORY, "trajectory_path": TRAJECTORY_PATH, "probe": FINDINGS, "recognition": RECOGNITION,
    "rare": RARE, "rare_points": RARE_POINTS, "rare_events": RARE_EVENTS,
}  # AnalysisResult's frames by field name
QUALITY_FRAMES: dict[str, Schema[Any]] = {
    "daily": DAILY_SOURCES, "latest": LATEST, "inputs": INPUTS, "rejected": REJECTED, "coordinates": COORDINATES,
    "duplicates": DUPLICATES, "supplied_totals": SUPPLIED_TOTALS, "totals_rejected": REJECTED,
}  # QualityContext's frames by field name
