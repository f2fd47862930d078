"""What one cycle computed: handed to the packs and written to the cycle's folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from compstat.config import Config
from compstat.periods import Period, Window


@dataclass(frozen=True)
class CycleData:
    """Everything a pack may show; all figures trace back to these frames.

    - ``table``: the CompStat period table (``analysis.period_table.TABLE_COLUMNS``), one row
      per unit (plus ``_total`` for the organisation) × reported measure × window.
    - ``series``: each measure's value per period for the chart span
      (unit_code, measure_id, period_start, value, numerator, denominator).
    - ``actions``: the action log for this meeting (``actions.ACTION_COLUMNS``).
    - ``data_as_of``: the latest observation date per unit code.
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
