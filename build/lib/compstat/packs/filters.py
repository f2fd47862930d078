"""Number and date formatting for the packs, registered as Jinja filters.

One place decides how a figure looks, so the PDF, the tests and any later output agree.
Missing values (None or NaN) are shown as an en dash, never as "nan".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

MISSING = "–"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_count(value: float | None) -> str:
    """A whole number with thousands separators: 1234.0 → ``1,234``."""
    if _missing(value):
        return MISSING
    assert value is not None
    return f"{round(value):,}"


def fmt_value(value: float | None, kind: str = "count", unit_label: str = "") -> str:
    """A measure's value: counts as whole numbers, rates and values with one decimal and their label."""
    if kind == "count":
        return fmt_count(value)
    if _missing(value):
        return MISSING
    assert value is not None
    text = f"{value:,.1f}"
    if not unit_label:
        return text
    return f"{text}{unit_label}" if unit_label == "%" else f"{text} {unit_label}"


def fmt_change(value: float | None, kind: str = "count") -> str:
    """A difference with an explicit sign: ``+12``, ``-3``, ``0`` (one decimal for rates)."""
    if _missing(value):
        return MISSING
    assert value is not None
    text = f"{round(value):+,}" if kind == "count" else f"{value:+,.1f}"
    return text.lstrip("+-") if text.lstrip("+-") in ("0", "0.0") else text


def fmt_pct(value: float | None, missing: str = "*") -> str:
    """A percentage change with sign and one decimal: ``+12.5%``; NaN → ``*`` (no comparison)."""
    if _missing(value):
        return missing
    assert value is not None
    text = f"{value:+,.1f}%"
    return text.lstrip("+-") if text.lstrip("+-") == "0.0%" else text


def fmt_ratio(value: float | None) -> str:
    """A ratio with two significant figures and ``×``: ``2.6×``, ``0.48×``, ``12×``; NaN → en dash."""
    if _missing(value):
        return MISSING
    assert value is not None
    if value >= 10:
        return f"{value:,.0f}×"
    if 0 < value < 0.01:
        return "<0.01×"
    return f"{value:.2g}×"


def fmt_mean(value: float | None, kind: str = "count", unit_label: str = "") -> str:
    """A mean of a measure's values: a count's with one decimal unless whole (``10.7``, ``3``), else ``fmt_value``."""
    if kind != "count" or _missing(value):
        return fmt_value(value, kind, unit_label)
    assert value is not None
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def fmt_rate(value: float | None) -> str:
    """A rate with three significant figures and thousands separators: ``0.0315``, ``1.64``, ``12.3``, ``1,234``."""
    if _missing(value):
        return MISSING
    assert value is not None
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}"


def fmt_date(value: date | datetime | None, with_time: bool = False) -> str:
    """``17 Nov 2026`` (``17 Nov 2026 09:30`` with time); None → en dash."""
    if value is None:
        return MISSING
    text = f"{value.day} {value:%b %Y}"
    if with_time and isinstance(value, datetime):
        text += f" {value:%H:%M}"
    return text


FILTERS: dict[str, Callable[..., Any]] = {
    "fmt_count": fmt_count,
    "fmt_value": fmt_value,
    "fmt_change": fmt_change,
    "fmt_pct": fmt_pct,
    "fmt_date": fmt_date,
    "fmt_ratio": fmt_ratio,
    "fmt_mean": fmt_mean,
    "fmt_rate": fmt_rate,
}
