"""The Jinja filters of the packs: each number filter is a ``compstat.numbers`` formatter (one place decides
how a figure looks, so the PDF, the tests and any later output agree), with ``fmt_date`` for dates.
Missing values (None or NaN) are shown as an en dash, never as "nan".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from compstat import numbers
from compstat.numbers import MISSING

fmt_count = numbers.count
fmt_value = numbers.value
fmt_change = numbers.change
fmt_pct = numbers.pct
fmt_ratio = numbers.ratio
fmt_mean = numbers.mean
fmt_rate = numbers.rate


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

__all__ = ["FILTERS", "MISSING", "fmt_change", "fmt_count", "fmt_date", "fmt_mean", "fmt_pct", "fmt_ratio",
           "fmt_rate", "fmt_value"]
