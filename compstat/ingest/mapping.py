"""Map a raw text frame onto observations, keeping every row that fails with its reason.

Pure: a frame in, ``(observations, rejected, skipped, flagged)`` out. A row is rejected for the
first problem found: a mapped value holding a control character other than tab and line breaks
(``control_character_reason``: NUL cannot be stored in PostgreSQL text; one rule on every store), then,
in column order, unit, date, value. A value must be a finite number from 0 to
``MAX_VALUE``, and whole unless only measures of kind ``value`` read its row (``value_problems``). A
coordinate that cannot be read (not a number, out of range) does not reject its row: the record is
counted without coordinates and kept in ``flagged`` with the field and reason, as a rejected row is.
Dates are read as ``compstat.ingest.dates`` says (the source's declared day/month order; times with a
zone in the organisation's). Numbers (value, coordinates) are read with the source's decimal mark
(``sources[].decimal``: ``.`` or ``,``). Where the source has a record key (``record_id``, or
``quality.duplicate_keys``), a row identical to an earlier one in every mapped column is an exact copy: it
is quarantined, not counted. Rows whose unit is the source's configured organisation total
(``quality.totals``) are kept aside the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from compstat.config import WEEKDAYS, Config, Source
from compstat.errors import SourceError
from compstat.ingest.dates import DateReading, expected, parse_dates, read_dates
from compstat.measure_filter import matches_filter
from compstat.store.models import LOCATION_LENGTH

OBSERVATION_COLUMNS = [
    "unit_code", "occurred_on", "occurred_at", "category", "subcategory",
    "value", "latitude", "longitude", "record_id", "source_row", "location",
]
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UNKNOWN_UNIT = "unit '{}' is not in the config (add it, or map it with unit_map)"
TOTAL_ROW = ("a total for the whole organisation: not loaded (the organisation's figures are the sum of its "
             "units; the quality check compares the two)")
EXACT_COPY = "exact copy of row {} (same {} and every other mapped column): not counted"
REJECTED_FIELDS = ["source_row", "field", "reason", "raw"]
COUNTED_WITHOUT_COORDINATES = ": counted, without coordinates (not on maps)"
# Python's ``\s`` as the characters themselves: pandas hands this pattern to pyarrow (RE2, whose ``\s`` is ASCII
# only), where ``\s+`` would fall back to Python's ``re`` row by row (2× slower)
WHITESPACE_RUN = "[" + "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "]+"  # none above U+3000
ON_OR_NEAR = r"(?i)^on or near\b"  # police.uk's prefix of every anonymised street-level location
THOUSANDS_WITH_COMMA_DECIMAL = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?")
MAX_VALUE = 1e12  # the largest count or value loaded (a trillion): far beyond any real one; sums stay in int64
TOO_LARGE = f"is too large (at most {MAX_VALUE:,.0f} is loaded)"
CHUNK_ROWS = 200_000  # rows validated at a time
EXPONENT_NOT_ZERO = r"^[+-]?[\d.,\s]*[1-9][\d.,\s]*[eE]"  # a number such as 1e-400: not zero as written
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")  # C0 controls but tab, line feed, return
C0_NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC "
            "FS GS RS US").split()
HOLDS_CONTROL = ("'{}' holds the control character U+{:04X} ({}): not loaded (a value may hold tabs and line "
                 "breaks, no other control character)")


@dataclass(frozen=True)
class Mapped:
    observations: pd.DataFrame  # OBSERVATION_COLUMNS
    rejected: pd.DataFrame  # source_row, field, reason, raw
    rows_read: int
    rows_skipped: int  # rows of units outside the config, when the source says skip
    flagged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECTED_FIELDS))
    # counted rows with a field that could not be read (coordinates), like ``rejected``
    note: str = ""  # how the dates were read, where the file's own values decided it (``DateReading``)


def required_columns(source: Source) -> list[str]:
    cols = [c for c in source.columns.model_dump().values() if c]
    for expression in source.values.values():
        cols += list(IDENTIFIER.findall(expression))
    return list(dict.fromkeys(cols))


def map_rows(frame: pd.DataFrame, source: Source, config: Config, location: str,
             first_line: int, today: date, chunk_rows: int = CHUNK_ROWS, strict_dates: bool = True,
             lines: np.ndarray | None = None) -> Mapped:
    """Validate and convert the rows of one input, ``chunk_rows`` at a time (the memory of validation stays
    that of one chunk; exact copies are found across the whole input first). Its dates are surveyed first
    (``dates.read_dates``; ``strict_dates=False`` for rows read again, a part of an input loaded before).
    ``lines``: each row's line in the file (default: ``first_line`` on, one a row)."""
    missing = [c for c in required_columns(source) if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{location}: column(s) {', '.join(repr(c) for c in missing)} named in source "
            f"'{source.name}' not found; the file has: {', '.join(map(str, frame.columns))}"
        )
    frame = frame.reset_index(drop=True)
    line = pd.Series(np.arange(first_line, first_line + len(frame)) if lines is None else lines, index=frame.index)
    dates = read_dates(frame[source.columns.date], line, source, config, location, strict_dates)
    copy_of = exact_copies(frame, required_columns(source), line, chunk_rows) \
        if record_key(source, config) else pd.Series(dtype="Int64")
    parts = [_map_chunk(frame.iloc[start:start + chunk_rows], source, config, line, copy_of, today, dates)
             for start in range(0, max(len(frame), 1), chunk_rows)]
    keyed = [p[0] for p in parts]
    if any(obs["occurred_at"].notna().any() for chunk in keyed for obs in chunk):  # times in some chunk: in all
        keyed = [[obs.assign(occurred_at=obs["occurred_on"] + " 00:00:00") if obs["occurred_at"].isna().all()
                  else obs for obs in chunk] for chunk in keyed]
    observations = pd.concat([obs for k in range(len(keyed[0])) for obs in (chunk[k] for chunk in keyed)],
                             ignore_index=True)
    rejected = [p[1] for p in parts if len(p[1])]
    flagged = [p[2] for p in parts if len(p[2])]
    return Mapped(observations,
                  pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame(columns=REJECTED_FIELDS),
                  len(frame), sum(p[3] for p in parts),
                  pd.concat(flagged, ignore_index=True) if flagged else pd.DataFrame(columns=REJECTED_FIELDS),
                  dates.note)


def _map_chunk(frame: pd.DataFrame, source: Source, config: Config, all_lines: pd.Series, copy_of: pd.Series,
               today: date, dates: DateReading) -> tuple[list[pd.DataFrame], pd.DataFrame, pd.DataFrame, int]:
    """One chunk of ``map_rows``: its observations (one frame per value expression, or one), rejected rows,
    flagged rows and rows skipped. ``copy_of``: the line of the earlier identical row, for exact copies;
    ``dates``: how the whole input's dates are read."""
    cols = source.columns
    line = all_lines.loc[frame.index]
    text = {c: frame[c].astype(str).str.strip() for c in required_columns(source)}
    problems: list[pd.DataFrame] = []
    bad = pd.Series(False, index=frame.index)

    def reject(mask: pd.Series, field: str, message: str, shown: pd.Series | None = None) -> None:
        """Reject the rows in ``mask`` not already rejected; ``{}`` in message shows the value."""
        nonlocal bad
        mask = mask & ~bad
        if mask.any():
            values = shown[mask].astype(str) if shown is not None else pd.Series("", index=frame.index[mask])
            reasons = [message.format(v) for v in values]
            problems.append(pd.DataFrame({"index": frame.index[mask], "field": field, "reason": reasons}))
            bad = bad | mask

    def reject_values(problem: pd.Series, field: str, template: str, shown: pd.Series) -> None:
        """Reject the rows with a value ``problem`` ('' where none): ``template``, whose ``{}`` shows the value
        (a computed number as short text), then the problem."""
        failed = problem.ne("")
        if failed.any():
            values = shown[failed].map(_number_text) if pd.api.types.is_float_dtype(shown) else shown[failed]
            words = [template.format(v) + " " + p for v, p in zip(values.astype(str), problem[failed], strict=True)]
            reject(failed, field, "{}", pd.Series(words, index=frame.index[failed]).reindex(frame.index))

    # any mapped value holding a control character (NUL, ESC, ...): the row is quarantined, on every store
    for c in required_columns(source):
        held = text[c].str.contains(CONTROL_CHARACTERS.pattern, regex=True)
        if held.any():
            reasons = [control_character_reason(c, v) for v in text[c][held]]
            reject(held, c, "{}", pd.Series(reasons, index=frame.index[held.to_numpy()]).reindex(frame.index))

    # unit: match code, then name (case-insensitive), then the source's unit_map
    unit_field = cols.unit or "unit"
    raw_unit = text[cols.unit] if cols.unit else pd.Series(source.unit or "", index=frame.index)
    unit = resolve_units(raw_unit, source, config)
    reject(raw_unit.eq(""), unit_field, "unit is empty")
    total_label = config.quality.totals.get(source.name)
    if total_label is not None:
        reject(unit.isna() & raw_unit.eq(total_label), unit_field, TOTAL_ROW)
    unknown = unit.isna() & ~bad
    skipped = 0
    if source.other_units == "skip":
        skipped = int(unknown.sum())
        bad = bad | unknown
    else:
        reject(unknown, unit_field, UNKNOWN_UNIT, raw_unit)

    # date
    raw_date = text[cols.date]
    when = parse_dates(raw_date, source.date_format, dates.order, config.organisation.timezone)
    reject(when.isna(), cols.date, "date '{}' is not a date (expected " + _braced(expected(source, dates.order)) + ")",
           raw_date)
    reject(when >= pd.Timestamp(today) + pd.Timedelta(days=1), cols.date, "date '{}' is in the future", raw_date)
    if source.date_is == "week":
        when = week_middle(when, WEEKDAYS.index(config.cadence.week_start))

    # values: one observation per row, or one per configured value expression; a CSV's numbers are text in the
    # source's decimal mark, while Excel, Parquet and SQL numbers arrive as numbers (written with '.')
    decimal = source.text_decimal
    category = text[cols.category] if cols.category else pd.Series(source.category or "", index=frame.index)
    subcategory = text[cols.subcategory] if cols.subcategory else pd.Series("", index=frame.index)
    value_frames: list[tuple[str | None, pd.Series]] = []
    if source.values:
        numeric = {c: parse_numbers(text[c], decimal)
                   for c in required_columns(source) if c in _expression_columns(source)}
        for c, series in numeric.items():
            reject_values(value_problems(series, written=text[c]), c, "'{}' in '" + _braced(c) + "'", text[c])
        env = pd.DataFrame(numeric)
        streams = category if cols.category else subcategory  # each expression's rows: its category, by stream
        for values_key, expression in source.values.items():
            value = pd.Series(env.eval(expression), index=frame.index, dtype=float)
            whole = whole_number_reasons(pd.DataFrame({"category": values_key, "subcategory": streams}), value, config)
            reject_values(value_problems(value, whole=whole), "values." + values_key,
                          _braced(f"{values_key} = {expression} = ") + "{}", value)
            value_frames.append((values_key, value))
    else:
        value = pd.Series(1.0, index=frame.index)  # an incident record: one
        if cols.value:
            value = parse_numbers(text[cols.value], decimal)
            whole = whole_number_reasons(pd.DataFrame({"category": category, "subcategory": subcategory}), value,
                                         config)
            reject_values(value_problems(value, whole=whole, written=text[cols.value]), cols.value, "value '{}'",
                          text[cols.value])
        value_frames.append((None, value.astype(float)))

    lat = lon = pd.Series(np.nan, index=frame.index)
    flags: list[pd.DataFrame] = []
    if cols.latitude and cols.longitude:
        lat = parse_numbers(text[cols.latitude], decimal, thousands=False)
        lon = parse_numbers(text[cols.longitude], decimal, thousands=False)
        unreadable = pd.Series(False, index=frame.index)

        def flag(mask: pd.Series, column: str, message: str, shown: pd.Series) -> None:
            """Keep the rows in ``mask`` (first problem only) counted, without coordinates, with the reason."""
            nonlocal unreadable
            mask = mask & ~unreadable
            if mask.any():
                reasons = [message.format(v) + COUNTED_WITHOUT_COORDINATES for v in shown[mask].astype(str)]
                flags.append(pd.DataFrame({"index": frame.index[mask], "field": column, "reason": reasons}))
                unreadable = unreadable | mask

        for name, column, parsed in (("latitude", cols.latitude, lat), ("longitude", cols.longitude, lon)):
            flag(parsed.isna() & text[column].ne(""), column, name + " '{}' is not a number", text[column])
        flag(lat.abs() > 90, cols.latitude, "latitude {} is outside -90..90", lat)
        flag(lon.abs() > 180, cols.longitude, "longitude {} is outside -180..180", lon)
        lat, lon = lat.mask(unreadable), lon.mask(unreadable)

    key = record_key(source, config)
    if key:
        first_copy = copy_of[copy_of.index.isin(frame.index)]
        same = " and ".join(_source_column(source, f) for f in key).replace("{", "{{").replace("}", "}}")
        reject(first_copy.reindex(frame.index).notna(), _source_column(source, key[0]),
               EXACT_COPY.format("{}", same), first_copy.reindex(frame.index))

    good = ~bad
    base = pd.DataFrame({
        "unit_code": unit[good],
        "occurred_on": when[good].dt.strftime("%Y-%m-%d"),
        "occurred_at": when[good].dt.strftime("%Y-%m-%d %H:%M:%S") if _has_time(when[good]) else None,
        "category": category[good],
        "subcategory": subcategory[good],
        "latitude": lat[good],
        "longitude": lon[good],
        "record_id": text[cols.record_id][good] if cols.record_id else None,
        "source_row": line[good],
        "location": location_names(text[cols.location][good]) if cols.location else None,
    })
    parts = []
    for value_category, value in value_frames:
        part = base.assign(value=value[good])
        if value_category is not None:
            part = part.assign(subcategory=part["category"] if cols.category else part["subcategory"],
                               category=value_category)
        parts.append(part[OBSERVATION_COLUMNS])

    rejected = _rejected_frame(frame, problems, line)
    kept = [f[f["index"].map(good)] for f in flags]  # a row rejected for something else is not also flagged
    return parts, rejected, _rejected_frame(frame, [f for f in kept if len(f)], line), skipped


def control_character_reason(column: str, value: str) -> str:
    """Why a value holding a control character (``CONTROL_CHARACTERS``: NUL, ESC, ...) is refused, naming the
    first one; '' when it holds none. The one rule for every input (data sources, minutes) on every store:
    PostgreSQL cannot hold NUL in text, and the others are never data."""
    found = CONTROL_CHARACTERS.search(value)
    if found is None:
        return ""
    code = ord(found.group())
    return HOLDS_CONTROL.format(column, code, C0_NAMES[code])


def location_names(text: pd.Series) -> pd.Series:
    """Location names as written, spaces collapsed and cut to ``LOCATION_LENGTH`` characters; None where blank.
    police.uk's anonymising prefix "On or near" is dropped, so "On or near" alone (a withheld place) is blank."""
    names = text.str.replace(WHITESPACE_RUN, " ", regex=True).str.strip()
    names = names.str.replace(ON_OR_NEAR, "", regex=True).str.strip().str.slice(0, LOCATION_LENGTH)
    return names.where(names.ne(""), None)


def week_middle(when: pd.Series, week_start: int) -> pd.Series:
    """The middle day (start + 3 days) of the week starting on weekday ``week_start`` (0 = Monday) that holds
    each date: where a weekly total counts, so that it falls in the year its week belongs to."""
    day = when.dt.normalize()
    shift: pd.Series = pd.to_timedelta((day.dt.day_of_week - week_start) % 7 - 3, unit="D")
    return pd.Series(day - shift, index=when.index)


def parse_numbers(text: pd.Series, decimal: str, thousands: bool = True) -> pd.Series:
    """Numbers written with ``decimal`` as the decimal mark (``.`` or ``,``); NaN where a text is not one.

    With ``.``, commas are thousands separators (``1,234.5``). With ``,``, a ``.`` is read as a thousands
    separator only in groups of three (``1.234,5``; ``12.5`` is not a number in such a file); spaces inside
    a number are dropped. ``thousands=False`` (coordinates) reads no thousands separator at all.
    """
    if decimal == ",":
        compact = text.str.replace(r"[\s\u00a0\u202f]", "", regex=True)
        if thousands:
            grouped = compact.str.fullmatch(THOUSANDS_WITH_COMMA_DECIMAL.pattern)
            compact = compact.where(~grouped, compact.str.replace(".", "", regex=False))
        compact = compact.where(~compact.str.contains(".", regex=False), "")
        return pd.to_numeric(compact.str.replace(",", ".", regex=False), errors="coerce")
    return pd.to_numeric(text.str.replace(",", "", regex=False) if thousands else text, errors="coerce")


def value_problems(value: pd.Series, whole: pd.Series | None = None, written: pd.Series | None = None) -> pd.Series:
    """Why each parsed value cannot be loaded, as words to follow the value ('' where it can), first problem
    first: not a number (NaN), infinite (``inf``, or a result divided by 0), beyond ``MAX_VALUE`` (``1e400``,
    which overflows to infinity, too), too small to hold (``1e-400``, which reads as 0), negative, or not
    whole where ``whole`` says why a count is expected (``whole_number_reasons``; '' where a fraction is
    allowed). ``written`` is the text as written, where the value was read from one."""
    if whole is None:
        whole = pd.Series("", index=value.index)
    infinite = pd.Series(np.isinf(value), index=value.index)
    underflow = pd.Series(False, index=value.index)
    if written is not None:  # only the few infinite or zero values' texts are read again
        infinite[infinite] = written[infinite].str.contains("inf", case=False, regex=False)
        zero = value.eq(0) & written.ne("0")
        underflow[zero] = written[zero].str.contains(EXPONENT_NOT_ZERO, regex=True)
    fraction = whole.ne("") & np.isfinite(value) & value.mod(1).ne(0)
    checks = [(value.isna(), "is not a number"), (infinite, "is not a finite number"),
              (value.abs() > MAX_VALUE, TOO_LARGE), (underflow, "is too small to hold (it would be read as 0)"),
              (value < 0, "is negative"), (fraction, "is not a whole number: " + whole)]
    problem = pd.Series("", index=value.index, dtype=object)
    for failed, reason in reversed(checks):  # the first problem is written last, over any later one
        if failed.any():
            problem[failed] = reason[failed] if isinstance(reason, pd.Series) else reason
    return problem


def whole_number_reasons(rows: pd.DataFrame, value: pd.Series, config: Config) -> pd.Series:
    """For each row (``category``, ``subcategory``) with a fractional ``value``, why it must be a whole number
    ('' where a fraction is allowed, and for whole values): a measure of kind ``count`` reads it, or no
    measure of kind ``value`` does (a count is the default). A rate reads its numerator's and denominator's
    rows through those measures, so their kinds decide."""
    reasons = pd.Series("", index=rows.index, dtype=object)
    fractional = np.isfinite(value) & value.mod(1).ne(0)
    if not fractional.any():
        return reasons
    some = rows[fractional]
    counted = pd.Series("", index=some.index, dtype=object)
    valued = pd.Series(False, index=some.index)
    for m in config.measures:
        if m.kind == "count":
            counted = counted.where(counted.ne("") | ~matches_filter(some, m), m.id)
        elif m.kind == "value":
            valued |= matches_filter(some, m)
    reasons.loc[some.index] = np.where(
        counted.ne(""), "measure '" + counted + "' (a count) reads this row; only a measure of kind value may be "
                        "fractional",
        np.where(valued, "", "no measure of kind value reads this row, so a count is expected"))
    return reasons


def _braced(text: str) -> str:
    """``text`` to sit in a ``str.format`` template as written (a column named ``a{b}``)."""
    return text.replace("{", "{{").replace("}", "}}")


def _number_text(value: float) -> str:
    """A computed value as short text: ``-3``, ``23.5``, ``1e+20``, ``inf``."""
    return f"{value:.15g}"


def resolve_units(raw: pd.Series, source: Source, config: Config) -> pd.Series:
    """Each raw unit value's unit code: the source's unit_map, then a leaf unit's code, then its name
    (case-insensitive); NaN where none matches. Values are compared stripped."""
    lookup = {u.code: u.code for u in config.leaf_units}
    lookup.update({u.name.casefold(): u.code for u in config.leaf_units})
    text = raw.astype(str).str.strip()
    resolve = {v: source.unit_map.get(v) or lookup.get(v) or lookup.get(v.casefold()) for v in text.unique()}
    return text.map(resolve)


def record_key(source: Source, config: Config) -> list[str]:
    """The mapped fields that identify one record of ``source`` (empty: rows have no identity)."""
    configured = config.quality.duplicate_keys.get(source.name)
    if configured:
        return list(configured)
    return ["record_id"] if source.columns.record_id else []


def _source_column(source: Source, field: str) -> str:
    """The source's column for a mapped field (``unit`` → ``district``)."""
    return getattr(source.columns, field, None) or field


def exact_copies(frame: pd.DataFrame, columns: list[str], line: pd.Series, chunk_rows: int = CHUNK_ROWS) -> pd.Series:
    """For each row identical (stripped) to an earlier row in ``columns``, the earlier row's line number (else
    absent). Rows are hashed ``chunk_rows`` at a time (one 64-bit number each); rows sharing a hash are then
    compared as text, so a hash collision never makes a copy."""
    hashes = np.concatenate([pd.util.hash_pandas_object(_stripped(frame.iloc[s:s + chunk_rows], columns),
                                                        index=False).to_numpy()
                             for s in range(0, len(frame), chunk_rows)]) if len(frame) else np.array([], "uint64")
    keyed = pd.Series(hashes, index=frame.index)
    repeated = keyed.duplicated(keep=False)
    if not repeated.any():
        return pd.Series(dtype="Int64")
    text = _stripped(frame[repeated], columns)  # only rows whose hash is shared: compared exactly
    first = line[text.index].groupby([text[c] for c in text.columns], sort=False).transform("first")
    copies = text.duplicated(keep="first")
    return first[copies].astype("Int64")


def _stripped(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: frame[c].astype(str).str.strip() for c in columns}, index=frame.index)


def _expression_columns(source: Source) -> set[str]:
    return {name for e in source.values.values() for name in IDENTIFIER.findall(e)}


def _has_time(when: pd.Series) -> bool:
    return bool(len(when)) and bool((when != when.dt.normalize()).any())


def _rejected_frame(frame: pd.DataFrame, problems: list[pd.DataFrame], line: pd.Series) -> pd.DataFrame:
    if not problems:
        return pd.DataFrame(columns=REJECTED_FIELDS)
    found = pd.concat(problems, ignore_index=True).sort_values("index")
    raw = frame.loc[found["index"]].to_dict(orient="records")
    return pd.DataFrame({
        "source_row": line.loc[found["index"]].to_numpy(),
        "field": found["field"].to_numpy(),
        "reason": found["reason"].to_numpy(),
        "raw": [json.dumps(r, ensure_ascii=False, default=str) for r in raw],
    })
