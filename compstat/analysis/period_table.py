"""The CompStat period table: each unit and measure, each window, this year vs last year."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from compstat.analysis.measures import analysis_units
from compstat.config import Config
from compstat.figures import window_figures
from compstat.periods import Window
from compstat.schemas import TABLE

TABLE_COLUMNS = [
    "unit_code", "measure_id", "window", "window_label", "start", "end", "current",
    "prev_start", "prev_end", "previous", "change", "pct_change", "small_numbers",
]


def period_table(daily: pd.DataFrame, config: Config, windows: list[Window],
                 data_start: date | None = None) -> pd.DataFrame:
    """Current and last-year values per unit × measure × window, with change and % change.

    A comparison window that starts before ``data_start`` (the earliest data held) has no
    previous value (NaN), rather than a count of 0 for days nobody supplied.
    ``pct_change`` is NaN where last year's value is 0 or missing (shown as ``*``).
    ``small_numbers`` marks counts where both values are below the config's small-number
    threshold, so that no percentage is read on them without a caveat.
    """
    units = analysis_units(config)
    measures = [m.id for m in config.reported_measures]
    figures = window_figures(daily, config, windows, None, units, measures)  # both sides, counts missing as 0
    sides = figures.pivot(index=["unit_code", "measure_id", "window"], columns="side", values="value")
    grid = pd.MultiIndex.from_product([units, measures, [w.key for w in windows]],
                                      names=["unit_code", "measure_id", "window"])
    table = sides.reindex(grid).reset_index()
    table.columns.name = None
    meta = {w.key: w for w in windows}
    for field in ("window_label", "start", "end", "prev_start", "prev_end"):
        table[field] = table["window"].map(lambda k, f=field: getattr(meta[k], f.replace("window_", "")))
    counts = table["measure_id"].map({m.id: m.kind for m in config.measures}).eq("count")
    if data_start is not None:
        before_data = table["prev_start"] < data_start
        table.loc[before_data, "previous"] = np.nan
    table["change"] = table["current"] - table["previous"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * table["change"] / table["previous"]
    table["pct_change"] = pct.where(table["previous"].fillna(0) != 0)
    limit = config.small_number
    table["small_numbers"] = counts & (table["current"] < limit) & (table["previous"] < limit)
    return TABLE.validate(table[TABLE_COLUMNS], "analysis.period_table")

