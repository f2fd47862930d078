"""How a number is written, in one place: the packs (through the Jinja filters of ``packs.filters``), the quality
findings, the accountability wording and the analysis' sentences all format through these functions.

A missing value (None or NaN) is an en dash (``MISSING``), never ``nan``, unless a function says otherwise.

Where two hand-written formatters disagreed on one kind of number, one was kept: a trigger's % change in the
accountability line is ``pct`` (``0.0%``, not ``+0.0%``; thousands separators); a first-page finding's q-value
is ``q_value`` (two decimals from 0.1, as the accountability line has it); a first-page average of counts and
a peer figure are ``significant`` (``1,234``, where ``.3g`` gave ``1.23e+03``); a rare series' days and a ratio
share ``two_significant``. Kept apart, because the outputs pin both: ``average`` (a quality finding's expected
count, ``14.0``) and ``mean`` (a pack's, ``14``); ``rate`` (the table's rate column keeps trailing zeros,
``1.50``) and ``significant`` (sentences drop them, ``1.5``); ``actions.effect`` writes p and q with three
decimals.
"""

from __future__ import annotations

import math

MISSING = "–"


def is_missing(value: float | None) -> bool:
    """None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def count(value: float | None) -> str:
    """A whole number with thousands separators: 1234.0 → ``1,234``."""
    if value is None or is_missing(value):
        return MISSING
    return f"{round(value):,}"


def number(value: float) -> str:
    """A figure as it stands: whole numbers without decimals (``1,234``), others with one (``10.5``)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def value(number: float | None, kind: str = "count", unit_label: str = "") -> str:
    """A measure's value: counts as whole numbers, rates and values with one decimal and their label
    (``92.4%``, ``12.5 min``)."""
    if kind == "count":
        return count(number)
    if number is None or is_missing(number):
        return MISSING
    text = f"{number:,.1f}"
    if not unit_label:
        return text
    return f"{text}{unit_label}" if unit_label == "%" else f"{text} {unit_label}"


def mean(number: float | None, kind: str = "count", unit_label: str = "") -> str:
    """A mean of a measure's values: a count's with one decimal unless whole (``10.7``, ``3``), else ``value``."""
    if kind != "count" or number is None or is_missing(number):
        return value(number, kind, unit_label)
    text = f"{number:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def average(number: float) -> str:
    """An expected count in a quality finding: one decimal below 100 (``14.0``), whole from there (``1,234``)."""
    return f"{number:,.1f}" if number < 100 else f"{number:,.0f}"


def change(number: float | None, kind: str = "count") -> str:
    """A difference with an explicit sign: ``+12``, ``-3``, ``0`` (one decimal for rates and values)."""
    if number is None or is_missing(number):
        return MISSING
    text = f"{round(number):+,}" if kind == "count" else f"{number:+,.1f}"
    return text.lstrip("+-") if text.lstrip("+-") in ("0", "0.0") else text


def pct(number: float | None, missing: str = "*") -> str:
    """A percentage change with sign and one decimal: ``+12.5%``; None or NaN → ``*`` (no comparison)."""
    if number is None or is_missing(number):
        return missing
    text = f"{number:+,.1f}%"
    return text.lstrip("+-") if text.lstrip("+-") == "0.0%" else text


def pct_whole(number: float) -> str:
    """A percentage change with sign, whole, in a sentence: ``+87%``, ``-12%``."""
    return f"{number:+.0f}%"


def two_significant(number: float | None) -> str:
    """Two significant figures, whole from 10: ``0.48``, ``2.6``, ``12``, ``1,234``."""
    if number is None or is_missing(number):
        return MISSING
    return f"{number:,.0f}" if number >= 10 else f"{number:.2g}"


def ratio(number: float | None) -> str:
    """A ratio with two significant figures and ``×``: ``2.6×``, ``0.48×``, ``12×``; below 0.01, ``<0.01×``."""
    if number is None or is_missing(number):
        return MISSING
    return "<0.01×" if 0 < number < 0.01 else f"{two_significant(number)}×"


def significant(number: float | None) -> str:
    """Three significant figures, trailing zeros dropped, whole from 1,000: ``0.0978``, ``1.5``, ``12.3``,
    ``1,234``."""
    if number is None or is_missing(number):
        return MISSING
    return f"{number:,.0f}" if abs(number) >= 999.5 else f"{number:.3g}"


def rate(number: float | None) -> str:
    """A rate with three significant figures, trailing zeros kept, and thousands separators: ``0.0315``, ``1.50``,
    ``12.3``, ``1,234``."""
    if number is None or is_missing(number):
        return MISSING
    if number == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(number))))
    return f"{number:,.{digits}f}"


def q_value(q: float) -> str:
    """A q-value (false discovery rate adjusted): ``< 0.001``, ``0.012``, ``0.84``."""
    return "< 0.001" if q < 0.001 else f"{q:.3f}" if q < 0.1 else f"{q:.2f}"
