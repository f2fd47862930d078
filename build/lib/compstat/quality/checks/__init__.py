"""The data-quality checks, declared in one place (``CHECKS``), one module each.

Each check is a small object with a ``name``, a ``default_severity`` and ``run(ctx) ->
list[Finding]``; checks that make a comparison unsafe also have ``marks(ctx)``, a frame of
``COMPARISON_COLUMNS`` (not like-for-like, or fragile). All are pure functions of the
``QualityContext`` and vectorised over units, measures and days; ``common`` holds what several share.
"""

from __future__ import annotations

from compstat.quality.checks.changes import Changes
from compstat.quality.checks.common import Check, MarksComparisons, rejection_kind
from compstat.quality.checks.completeness import Completeness
from compstat.quality.checks.consistency import Consistency
from compstat.quality.checks.duplicates import Duplicates
from compstat.quality.checks.revisions import Revisions
from compstat.quality.checks.structure import Structure
from compstat.quality.checks.timeliness import Timeliness
from compstat.quality.checks.validity import Validity

CHECKS: tuple[Check, ...] = (Completeness(), Timeliness(), Validity(), Duplicates(), Revisions(), Structure(),
                             Consistency(), Changes())

__all__ = [
    "CHECKS", "Changes", "Check", "Completeness", "Consistency", "Duplicates", "MarksComparisons", "Revisions",
    "Structure", "Timeliness", "Validity", "rejection_kind",
]
