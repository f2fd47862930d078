"""Which rows a measure counts: its category and subcategory filter, applied to a frame.

Below ingest (which marks the rows a measure counts) and the analysis and quality checks (which
count them), so each imports it from here rather than from one another.
"""

from __future__ import annotations

import pandas as pd

from compstat.config import Measure


def matches_filter(frame: pd.DataFrame, measure: Measure) -> pd.Series:
    """Which rows (with category and subcategory columns) the measure's filter counts."""
    mask = pd.Series(True, index=frame.index)
    if measure.filter.category:
        mask &= frame["category"].isin(measure.filter.category)
    if measure.filter.subcategory:
        mask &= frame["subcategory"].isin(measure.filter.subcategory)
    return mask
