"""What one cycle computed: handed to the packs and written to the cycle's folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import pandas as pd

from compstat.analysis.analyse import AnalysisResult
from compstat.config import Config
from compstat.health import HealthTrend
from compstat.periods import Period, Window
from compstat.schemas import CAVEATS, CYCLE_FRAMES

if TYPE_CHECKING:
    from compstat.quality import QualityResult


@dataclass(frozen=True)
class CycleData:
    """Everything a pack may show; all figures trace back to these frames.

    - ``table``: the CompStat period table (``analysis.period_table.TABLE_COLUMNS``), one row
      per unit (plus ``_total`` for the organisation) × reported measure × window.
    - ``series``: each measure's value per period for the chart span
      (unit_code, measure_id, period_start, value, numerator, denominator).
    - ``actions``: the action log for this meeting (``actions.ACTION_COLUMNS``).
    - ``escalation``: each leaf unit's escalation level for this meeting, with its label and
      reason (``actions.UNIT_LEVEL_COLUMNS``): open actions, unanswered special-cause concerns
      and met agreement triggers (``actions.meeting_escalation``); None when not assessed.
    - ``triggers``: every agreement trigger judged on ``table``, met or not, with the figure
      (``actions.TRIGGER_COLUMNS``); None when not assessed.
    - ``health``: the meeting's own health over the last meetings, this one last (``health.HealthTrend``);
      None when not assessed.
    - ``data_as_of``: the latest observation date per unit code.
    - ``points``: incidents with coordinates over the map's span (the last 28 days and the
      52 weeks before; unit_code, occurred_on, latitude, longitude); None without coordinates.
    - ``incidents``: incident records with a location or a time in the headline window, the same span
      before it and last year (``analysis.places.INCIDENT_COLUMNS``), for the repeat-locations and
      day × time-of-day tables; None when there are none.
    - ``daily``: daily totals per unit and non-rate measure (``analysis.measures.DAILY_COLUMNS``)
      for exact year-to-date charts; None falls back to the weekly (monthly) ``series``.
    - ``analysis``: significance, SPC, peers, trajectories and ranked findings
      (``analysis.analyse.AnalysisResult``); None when the analysis was not run.
    - ``quality``: the quality findings and the comparison caveats (``quality.QualityResult``:
      ``findings``, ``comparisons`` with ``like_for_like`` and ``fragile`` per unit × measure ×
      window, data as of per source); None when the quality step did not run.
    """

    config: Config
    period: Period
    windows: list[Window]
    meeting_date: date
    run_at: datetime
    table: pd.DataFrame
    series: pd.DataFrame
    actions: pd.DataFrame
    data_as_of: dict[str, date] = field(default_factory=dict)
    rows_rejected: int = 0
    points: pd.DataFrame | None = None
    incidents: pd.DataFrame | None = None
    daily: pd.DataFrame | None = None
    analysis: AnalysisResult | None = None
    quality: QualityResult | None = None
    escalation: pd.DataFrame | None = None
    triggers: pd.DataFrame | None = None
    health: HealthTrend | None = None

    def __post_init__(self) -> None:
        """Every frame meets its schema (``compstat.schemas``), in the process that built it: a renamed
        column stops the cycle here, naming the frame and the column, not inside a render worker."""
        for name, schema in CYCLE_FRAMES.items():
            frame = getattr(self, name)
            if frame is not None:
                schema.validate(frame)
        if self.quality is not None:
            CAVEATS.validate(self.quality.comparisons)
