"""A finding: what is wrong with the data, where, how bad and how many rows, in plain English."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from compstat.config import SEVERITY_NAMES, Config

SEVERITIES = SEVERITY_NAMES  # blocking stops the cycle before packs; warning and info are reported
COMPARISON_COLUMNS = ["unit_code", "measure_id", "window", "fragile", "like_for_like", "reason"]


@dataclass(frozen=True)
class Finding:
    """One quality finding, stored with the cycle (``findings`` table) and shown to the analyst."""

    check: str
    severity: str
    message: str
    unit_code: str | None = None
    rows: int = 0
    measure_id: str | None = None
    period: str | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def severity_rank(severity: str) -> int:
    """0 for blocking, 1 for warning, 2 for info: for sorting the most serious first."""
    return SEVERITIES.index(severity)


def unit_label(config: Config, code: str) -> str:
    """``Riverside (N2)``; the organisation for ``_total``; the bare code for a unit not in the config."""
    if code == "_total":
        return config.organisation.name
    names = {u.code: u.name for u in config.leaf_units}
    name = names.get(code)
    if not name:
        return code
    return name if re.search(rf"\b{re.escape(code)}\b", name) else f"{name} ({code})"


def measure_label(config: Config, measure_id: str) -> str:
    return next((m.name for m in config.measures if m.id == measure_id), measure_id)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 row``, ``3 rows``, with thousands separators."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def listed(items: list[str], limit: int = 6) -> str:
    """``a, b and c``; long lists end with ``and N more``."""
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def fmt_number(value: float) -> str:
    """Whole numbers without decimals, others with one."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
