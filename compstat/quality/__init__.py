"""Quality assurance: settle every argument about the data before the meeting.

The checks are declared in one place (``checks.CHECKS``): completeness, timeliness, validity,
duplicates, revisions, structure, consistency and declared changes. ``run_quality`` loads
a ``QualityContext`` from the store (``context.load_context``, the only store access) and runs
them; ``gate`` stops a cycle on blocking findings unless overridden; ``check_data`` runs the
step alone for ``compstat check``, and ``report`` writes its HTML or PDF report.
"""

from __future__ import annotations

from compstat.figures import window_figures
from compstat.quality.checks import CHECKS, Check, MarksComparisons
from compstat.quality.checks.revisions import revisions
from compstat.quality.context import QualityContext, load_context
from compstat.quality.findings import COMPARISON_COLUMNS, SEVERITIES, Finding
from compstat.quality.run import QualityResult, assess, blocked_message, check_data, gate, run_quality

__all__ = [
    "CHECKS", "COMPARISON_COLUMNS", "SEVERITIES", "Check", "Finding", "MarksComparisons", "QualityContext",
    "QualityResult", "assess", "blocked_message", "check_data", "gate", "load_context", "revisions", "run_quality",
    "window_figures",
]
