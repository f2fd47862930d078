"""Dates as a source writes them, read without a guess.

ISO dates (``2026-03-04``, ``2026-03-04T10:00``) and year-first dates (``2026/03/04``) need nothing. A date
written as two numbers then a year (``03/04/2026``, ``3.4.26``, ``03-04-2026``) is read in the order the source
declares (``sources[].dayfirst``, else ``organisation.date_order``). Undeclared, the file's own values decide
only when some can be read one way alone (``13/03/2026``: day first) and none the other; a file with values
that read both ways (``03/04/2026``) and nothing to decide, or with values that contradict each other
(``13/01/2026`` and ``01/13/2026``), is refused with examples (``DateReading``). ``sources[].date_format``
reads exactly that ``strptime`` format.

A time with a time zone or UTC offset (``Z``, ``+01:00``, a Parquet timestamp with a zone) is converted to
``organisation.timezone`` and its day taken there; a time without one is already the organisation's local
time. With no ``organisation.timezone``, a file holding such times is refused (the day would be a guess).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from compstat.config import Config, Source
from compstat.errors import SourceError

Order = Literal["day_first", "month_first"]
NUMERIC = r"^(?P<a>\d{1,2})[./-](?P<b>\d{1,2})[./-](?P<y>\d{4}|\d{2})(?P<rest>\D.*)?$"  # 03/04/2026 [time]
YEAR_FIRST = r"^(?P<y>\d{4})[./](?P<m>\d{1,2})[./](?P<d>\d{1,2})(?P<rest>\D.*)?$"  # 2026/03/04 [time]
OFFSET = r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:[ap]\.?m\.?\s*)?(?:z|utc|gmt|[+-]\d\d(?::?\d\d)?)\s*$"  # a zone
PADDING = [  # (what needs it, pattern, rewrite), in turn: 3/4/2026 → 03/04/2026, 03/04/26 → 03/04/2026 (as %y)
    (r"^\d[./-]", r"^(\d)([./-])", r"0\1\2"),
    (r"^\d\d[./-]\d[./-]", r"^(\d\d[./-])(\d)([./-])", r"\10\2\3"),  # RE2: \10 is \1, then 0
    (r"^\d\d[./-]\d\d[./-]\d\d(\D|$)", r"^(\d\d[./-]\d\d[./-])([0-6]\d)(\D.*)?$", r"\120\2\3"),
    (r"^\d\d[./-]\d\d[./-]\d\d(\D|$)", r"^(\d\d[./-]\d\d[./-])([7-9]\d)(\D.*)?$", r"\119\2\3"),
]
REORDERED = r"^(\d\d)[./-](\d\d)[./-](\d{4})"
AS_ISO: dict[Order, str] = {"day_first": r"\3-\2-\1", "month_first": r"\3-\1-\2"}
GUESSED = r"(^|\D)\d{1,2}[./-]\d{1,2}[./-]\d{2,4}(\D|$)|^\d{1,2}[./-]\d{1,2}(\D|$)"  # Tue 03/04/2026, 3/4
EXAMPLES = 3
WRITTEN = {"day_first": "dd/mm/yyyy, day first", "month_first": "mm/dd/yyyy, month first"}


@dataclass(frozen=True)
class DateReading:
    """How a whole input's dates are read: the order of its day/month/year dates (None: no value depends on
    it) and, where the file's own values decided the order, a note saying so."""

    order: Order | None = None
    note: str = ""


def declared_order(source: Source, config: Config) -> Order | None:
    """The day/month order the config declares for ``source``: its ``dayfirst``, else the organisation's."""
    if source.dayfirst is not None:
        return "day_first" if source.dayfirst else "month_first"
    return config.organisation.date_order


def read_dates(raw: pd.Series, line: pd.Series, source: Source, config: Config, location: str,
               strict: bool = True) -> DateReading:
    """Survey one input's whole date column (``raw``; ``line``: each row's line number) before any row is read:
    refuse it (``SourceError``, with examples and the key to set) when its day/month order is undeclared and
    its values do not decide it, or when it holds times with a zone and no ``organisation.timezone`` is set.
    Not ``strict`` (rows of an input checked before, read again): nothing is refused; undecided, each value is
    read only if one order alone can read it."""
    if source.date_format:
        return DateReading(declared_order(source, config))
    text = _arrow(raw)  # not stripped (a copy of the whole column): the patterns allow spaces around
    where = f"{location}: the dates in '{source.columns.date}' (source '{source.name}')"
    if strict and config.organisation.timezone is None:
        zoned = _true(pc.match_substring_regex(text, OFFSET, ignore_case=True))
        if zoned.any():
            raise SourceError(
                f"{where}: {_count(zoned, 'carries|carry')} a time zone or UTC offset, e.g. "
                f"{_examples(text, line, zoned)}: "
                "set organisation.timezone (an IANA name such as Europe/London) so that each is converted to the "
                "organisation's local time and counted on its local day")
    order = declared_order(source, config)
    if order is not None:
        return DateReading(order)
    numeric = _true(pc.match_substring_regex(text, r"^\s*" + NUMERIC[1:]))
    if not numeric.any():
        return DateReading()
    a, b, year, _ = _numbers(pc.utf8_trim_whitespace(pc.filter(text, pa.array(numeric))))
    as_day_first, as_month_first = _calendar(year, b, a), _calendar(year, a, b)
    rows = np.flatnonzero(numeric)
    day_only = rows[as_day_first & ~as_month_first]
    month_only = rows[as_month_first & ~as_day_first]
    either = rows[as_day_first & as_month_first & (a != b)]
    key = (f"declare the order: sources[{config.sources.index(source)}].dayfirst: true (dd/mm/yyyy) or false "
           "(mm/dd/yyyy), or organisation.date_order: day_first or month_first for every source, or "
           "sources[].date_format")
    if not strict:
        return DateReading("day_first" if len(day_only) and not len(month_only) else
                           "month_first" if len(month_only) and not len(day_only) else None)
    if len(day_only) and len(month_only):
        raise SourceError(
            f"{where} contradict each other: {_count(day_only)} can only be day first, e.g. "
            f"{_examples(text, line, day_only)}, and {_count(month_only)} only month first, e.g. "
            f"{_examples(text, line, month_only)}. {key[0].upper()}{key[1:]}; the values that do not fit it are "
            "then quarantined with their line")
    if not len(day_only) and not len(month_only):
        if len(either):
            raise SourceError(
                f"{where} are ambiguous: {_count(either, 'reads|read')} both as day/month and as month/day, e.g. "
                f"{_examples(text, line, either)}, and no value decides which. {key[0].upper()}{key[1:]}")
        return DateReading()
    order, decided = ("day_first", day_only) if len(day_only) else ("month_first", month_only)
    note = "" if not len(either) else (
        f"dates read {WRITTEN[order]}: {_count(decided)} can only be read that way, e.g. "
        f"{_examples(text, line, decided)}; {_count(either)} would read either way (e.g. "
        f"{_examples(text, line, either, 1)}). To be certain, {key}")
    return DateReading(order, note)


def reread_order(raw: pd.Series, source: Source, config: Config) -> Order | None:
    """The day/month order to read again some rows of an input checked before (``read_dates``, not strict)."""
    return read_dates(raw, pd.Series(range(len(raw)), index=raw.index), source, config, "", strict=False).order


def parse_dates(text: pd.Series, fmt: str | None, order: Order | None, zone: str | None) -> pd.Series:
    """Each (stripped) text's date and time, as naive local time in ``zone``; NaT where it is not a date.

    ``fmt``: a ``strptime`` format, read exactly. Otherwise ISO 8601 first; then dates of two numbers and a year
    in ``order`` (with no order, a value is read only if one reading alone is possible: ``13/03/2026``, not
    ``03/04/2026``), and year-first ones; then other written forms (``4 March 2026``), but never one holding
    day and month as numbers in another form (``Tue 03/04/2026``, ``3/4``), whose order would be a guess. A
    value with a zone is converted to ``zone`` (UTC where none is given: ``read_dates`` refuses such a file
    first)."""
    if fmt:
        return _read(text, fmt, zone)
    when = _read(text, "ISO8601", zone)
    retry = when.isna() & text.ne("")
    if retry.any():
        rest = text[retry]
        found = _reordered(rest, order, zone) if order is not None else \
            pd.Series(pd.NaT, index=rest.index, dtype="datetime64[us]")
        left = found.isna()  # not numeric, or in a form the fast path does not read (2:05 PM), or no date
        if left.any():
            iso = _as_iso(rest[left], order)  # NaN: not numeric; "": numbers that make no date in that order
            written = iso.where(iso.notna(), rest[left])
            again = _read(written, "ISO8601", zone)
            loose = again.isna() & written.ne("")
            loose &= iso.notna() | ~pd.Series(_true(pc.match_substring_regex(_arrow(written), GUESSED)),
                                              index=written.index)  # never dateutil's month-first guess
            if loose.any():
                again[loose] = _read(written[loose], "mixed", zone)
            found[left] = again
        when[retry] = found
    return when.astype("datetime64[us]")


def expected(source: Source, order: Order | None) -> str:
    """What a date of ``source`` should look like, for a rejected row's reason."""
    if source.date_format:
        return source.date_format
    numeric = f", 23/11/2026 ({WRITTEN[order].split(', ')[1]})" if order == "day_first" else \
        f", 11/23/2026 ({WRITTEN[order].split(', ')[1]})" if order == "month_first" else ""
    return f"a date such as 2026-11-23{numeric} or 2026-11-23 14:05"


def _read(text: pd.Series, fmt: str, zone: str | None) -> pd.Series:
    """``pd.to_datetime`` in ``fmt``, as naive local time: values with a zone converted to ``zone``, whether every
    value has one (of one offset or several) or only some."""
    try:
        when = _to_datetime(text, fmt, utc=False)
        if pd.api.types.is_datetime64_any_dtype(when.dtype):
            return _local(when, zone).astype("datetime64[us]")
    except (ValueError, TypeError):  # values with and without a zone, or several UTC offsets
        pass
    zoned = pd.Series(_true(pc.match_substring_regex(_arrow(text), OFFSET, ignore_case=True)), index=text.index)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    try:
        naive = _to_datetime(text[~zoned], fmt, utc=False)
        if pd.api.types.is_datetime64_any_dtype(naive.dtype):
            out[~zoned] = _local(naive, zone).astype("datetime64[us]")
    except (ValueError, TypeError):  # a zone written in a form OFFSET does not know: left unread (NaT)
        pass
    if zoned.any():
        out[zoned] = _local(_to_datetime(text[zoned], fmt, utc=True), zone).astype("datetime64[us]")
    return out


def _to_datetime(text: pd.Series, fmt: str, utc: bool) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateutil's notes on unknown zone names, format inference
        return pd.Series(pd.to_datetime(text, format=fmt, errors="coerce", utc=utc), index=text.index)


def _local(when: pd.Series, zone: str | None) -> pd.Series:
    """Naive times in ``zone`` (zoned values converted; naive ones are already local)."""
    if isinstance(when.dtype, pd.DatetimeTZDtype):
        return pd.Series(when.dt.tz_convert(zone or "UTC").dt.tz_localize(None), index=when.index)
    return when


def _reordered(text: pd.Series, order: Order, zone: str | None) -> pd.Series:
    """The numeric dates among ``text`` read in ``order`` at ISO speed (rewritten as ISO by Arrow: padded,
    ``26`` as 2026, reordered); NaT for every other text and where the rewritten text is not ISO 8601."""
    arr = _arrow(text)
    numeric = pa.array(_true(pc.match_substring_regex(arr, NUMERIC)))
    for needs, pattern, rewrite in PADDING:  # a regex test is cheap, a rewrite is not: only where needed
        if pc.any(pc.match_substring_regex(arr, needs)).as_py():
            arr = pc.replace_substring_regex(arr, pattern, rewrite)
    arr = pc.replace_substring_regex(arr, REORDERED, AS_ISO[order])
    iso = pc.if_else(numeric, arr, pa.scalar("", arr.type))
    return _read(pd.Series(pd.array(iso, dtype="str"), index=text.index), "ISO8601", zone)


def _as_iso(text: pd.Series, order: Order | None) -> pd.Series:
    """Numeric dates (``03/04/2026 10:00``, ``2026/3/4``) rewritten as ISO (``2026-04-03 10:00``); NaN where a
    text is not one, "" where its numbers make no day of the calendar in ``order`` (with no order: in the one
    order that does, and in none where both do)."""
    arr = _arrow(text)
    iso = pd.Series(np.nan, index=text.index, dtype="str")
    numeric = _true(pc.match_substring_regex(arr, NUMERIC))
    if numeric.any():
        a, b, year, rest = _numbers(pc.filter(arr, pa.array(numeric)))
        month_first = b > 12 if order is None else np.full(len(a), order == "month_first")
        undecided = (a <= 12) & (b <= 12) & (a != b) if order is None else np.zeros(len(a), dtype=bool)
        iso[numeric] = _iso_text(year, np.where(month_first, a, b), np.where(month_first, b, a), rest, ~undecided)
    year_first = _true(pc.match_substring_regex(arr, YEAR_FIRST)) & ~numeric
    if year_first.any():
        parts = pc.extract_regex(pc.filter(arr, pa.array(year_first)), YEAR_FIRST)
        y, m, d = (pc.cast(pc.struct_field(parts, [i]), pa.int64()).to_numpy(zero_copy_only=False) for i in range(3))
        iso[year_first] = _iso_text(y, m, d, pc.struct_field(parts, [3]), np.ones(len(y), dtype=bool))
    return iso


def _iso_text(year: np.ndarray, month: np.ndarray, day: np.ndarray, rest: pa.Array, readable: np.ndarray) \
        -> pd.api.extensions.ExtensionArray:
    """``yyyy-mm-dd`` + rest where ``readable`` and the numbers are a day of the calendar, else ""."""
    valid = readable & _calendar(year, month, day)
    digits = pc.cast(pa.array(np.where(valid, ((10_000 + year) * 100 + month) * 100 + day, 0)), pa.large_string())
    dash = pa.scalar("-", pa.large_string())
    joined = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(digits, 1, 5), dash, pc.utf8_slice_codeunits(digits, 5, 7), dash,
        pc.utf8_slice_codeunits(digits, 7, 9), pc.fill_null(pc.cast(rest, pa.large_string()), ""),
        pa.scalar("", pa.large_string()))
    empty = pa.scalar("", pa.large_string())
    text: pd.api.extensions.ExtensionArray = pd.array(pc.if_else(pa.array(valid), joined, empty), dtype="str")
    return text


def _numbers(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
    """The first and second numbers, the year (``26``: 2026, as ``%y`` reads it) and the rest (a time) of dates
    matching ``NUMERIC``."""
    parts = pc.extract_regex(text, NUMERIC)
    a, b, year = (pc.cast(pc.struct_field(parts, [i]), pa.int64()).to_numpy(zero_copy_only=False)
                  for i in range(3))
    year = np.where(year < 100, np.where(year < 69, 2000, 1900) + year, year)
    return a, b, year, pc.struct_field(parts, [3])


def _calendar(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether each (year, month, day) is a day of the calendar."""
    known = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 1, 12) - 1] + (leap & (month == 2))
    return np.asarray(known & (day >= 1) & (day <= days), dtype=bool)


def _arrow(text: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A text column as Arrow strings (no copy for Arrow-backed text)."""
    try:
        return pa.array(text, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # objects that are not all text (a frame built by hand)
        return pa.array(text.astype(str), from_pandas=True)


def _true(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _count(rows: np.ndarray, verb: str = "") -> str:
    """``3 values`` (positions or a mask), and ``verb`` (``reads|read``) in agreement."""
    n = int(rows.sum()) if rows.dtype == bool else len(rows)
    said = verb.split("|")[n != 1] if verb else ""
    return f"{n:,} value{'s' if n != 1 else ''}" + (f" {said}" if said else "")


def _examples(text: pa.Array | pa.ChunkedArray, line: pd.Series, rows: np.ndarray, most: int = EXAMPLES) -> str:
    """The first ``most`` of ``rows`` (positions or a mask) as ``'03/04/2026' (line 5)``."""
    positions = np.flatnonzero(rows) if rows.dtype == bool else rows
    return ", ".join(f"'{str(text[int(i)].as_py()).strip()}' (line {int(line.iloc[int(i)])})"
                     for i in positions[:most])
