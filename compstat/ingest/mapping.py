"""Map a raw text frame onto observations, keeping every row that fails with its reason.

Pure: a frame in, ``(observations, rejected, skipped)`` out. A row is rejected for the
first problem found, in column order: unit, date, value, coordinates. Where the source has a
record key (``record_id``, or ``quality.duplicate_keys``), a row identical to an earlier one
in every mapped column is an exact copy: it is quarantined, not counted. Rows whose unit is
the source's configured organisation total (``quality.totals``) are kept aside the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from compstat.config import Config, Source
from compstat.errors import SourceError

OBSERVATION_COLUMNS = [
    "unit_code", "occurred_on", "occurred_at", "category", "subcategory",
    "value", "latitude", "longitude", "record_id", "source_row",
]
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UNKNOWN_UNIT = "unit '{}' is not in the config (add it, or map it with unit_map)"
TOTAL_ROW = ("a total for the whole organisation: not loaded (the organisation's figures are the sum of its "
             "units; the quality check compares the two)")
EXACT_COPY = "exact copy of row {} (same {} and every other mapped column): not counted"


@dataclass(frozen=True)
class Mapped:
    observations: pd.DataFrame  # OBSERVATION_COLUMNS
    rejected: pd.DataFrame  # source_row, field, reason, raw
    rows_read: int
    rows_skipped: int  # rows of units outside the config, when the source says skip


def required_columns(source: Source) -> list[str]:
    cols = [c for c in source.columns.model_dump().values() if c]
    for expression in source.values.values():
        cols += list(IDENTIFIER.findall(expression))
    return list(dict.fromkeys(cols))


def map_rows(frame: pd.DataFrame, source: Source, config: Config, location: str,
             first_line: int, today: date) -> Mapped:
    """Validate and convert the rows of one input."""
    missing = [c for c in required_columns(source) if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{location}: column(s) {', '.join(repr(c) for c in missing)} named in source "
            f"'{source.name}' not found; the file has: {', '.join(map(str, frame.columns))}"
        )
    cols = source.columns
    n = len(frame)
    line = pd.Series(np.arange(first_line, first_line + n), index=frame.index)
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

    # unit: match code, then name (case-insensitive), then the source's unit_map
    raw_unit = text[cols.unit]
    unit = resolve_units(raw_unit, source, config)
    reject(raw_unit.eq(""), cols.unit, "unit is empty")
    total_label = config.quality.totals.get(source.name)
    if total_label is not None:
        reject(unit.isna() & raw_unit.eq(total_label), cols.unit, TOTAL_ROW)
    unknown = unit.isna() & ~bad
    skipped = 0
    if source.other_units == "skip":
        skipped = int(unknown.sum())
        bad = bad | unknown
    else:
        reject(unknown, cols.unit, UNKNOWN_UNIT, raw_unit)

    # date
    raw_date = text[cols.date]
    when = _parse_dates(raw_date, source.date_format)
    expected = source.date_format or "a date such as 2026-11-23 or 2026-11-23 14:05"
    reject(when.isna(), cols.date, "date '{}' is not a date (expected " + expected + ")", raw_date)
    reject(when >= pd.Timestamp(today) + pd.Timedelta(days=1), cols.date, "date '{}' is in the future", raw_date)

    # values: one observation per row, or one per configured value expression
    value_frames: list[tuple[str | None, pd.Series]] = []
    if source.values:
        numeric = {c: pd.to_numeric(text[c].str.replace(",", ""), errors="coerce")
                   for c in required_columns(source) if c in _expression_columns(source)}
        for c, series in numeric.items():
            reject(series.isna(), c, "'{}' in '" + c + "' is not a number", text[c])
        env = pd.DataFrame(numeric)
        for category, expression in source.values.items():
            value_frames.append((category, pd.Series(env.eval(expression), index=frame.index, dtype=float)))
    else:
        if cols.value:
            value = pd.to_numeric(text[cols.value].str.replace(",", ""), errors="coerce")
            reject(value.isna(), cols.value, "value '{}' is not a number", text[cols.value])
        else:
            value = pd.Series(1.0, index=frame.index)
        value_frames.append((None, value.astype(float)))
    for _, value in value_frames:
        reject(value < 0, cols.value or "values", "value {} is negative", value)

    lat = lon = pd.Series(np.nan, index=frame.index)
    if cols.latitude and cols.longitude:
        lat = pd.to_numeric(text[cols.latitude], errors="coerce")
        lon = pd.to_numeric(text[cols.longitude], errors="coerce")
        for name, column, parsed in (("latitude", cols.latitude, lat), ("longitude", cols.longitude, lon)):
            reject(parsed.isna() & text[column].ne(""), column, name + " '{}' is not a number", text[column])
        reject(lat.abs() > 90, cols.latitude, "latitude {} is outside -90..90", lat)
        reject(lon.abs() > 180, cols.longitude, "longitude {} is outside -180..180", lon)

    key = record_key(source, config)
    if key:
        first_copy = _exact_copies(pd.DataFrame({c: text[c] for c in required_columns(source)})[~bad], line)
        same = " and ".join(_source_column(source, f) for f in key).replace("{", "{{").replace("}", "}}")
        reject(first_copy.reindex(frame.index).notna(), _source_column(source, key[0]),
               EXACT_COPY.format("{}", same), first_copy.reindex(frame.index))

    good = ~bad
    base = pd.DataFrame({
        "unit_code": unit[good],
        "occurred_on": when[good].dt.strftime("%Y-%m-%d"),
        "occurred_at": when[good].dt.strftime("%Y-%m-%d %H:%M:%S") if _has_time(when[good]) else None,
        "category": text[cols.category][good] if cols.category else (source.category or ""),
        "subcategory": text[cols.subcategory][good] if cols.subcategory else "",
        "latitude": lat[good],
        "longitude": lon[good],
        "record_id": text[cols.record_id][good] if cols.record_id else None,
        "source_row": line[good],
    })
    parts = []
    for value_category, value in value_frames:
        part = base.assign(value=value[good])
        if value_category is not None:
            part = part.assign(subcategory=part["category"] if cols.category else part["subcategory"],
                               category=value_category)
        parts.append(part)
    observations = pd.concat(parts, ignore_index=True)[OBSERVATION_COLUMNS] if parts else base

    rejected = _rejected_frame(frame, problems, line)
    return Mapped(observations, rejected, n, skipped)


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


def _exact_copies(text: pd.DataFrame, line: pd.Series) -> pd.Series:
    """For each row identical to an earlier row, the earlier row's line number (else absent)."""
    repeated = text.duplicated(keep=False)
    if not repeated.any():
        return pd.Series(dtype="Int64")
    rows = text[repeated]
    first = line[rows.index].groupby([rows[c] for c in rows.columns], sort=False).transform("first")
    copies = text.duplicated(keep="first")
    return first[copies[repeated]].astype("Int64")


def _expression_columns(source: Source) -> set[str]:
    return {name for e in source.values.values() for name in IDENTIFIER.findall(e)}


def _parse_dates(raw: pd.Series, fmt: str | None) -> pd.Series:
    if fmt:
        return pd.to_datetime(raw, format=fmt, errors="coerce")
    parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    if parsed.isna().any():
        retry = parsed.isna() & raw.ne("")
        parsed[retry] = pd.to_datetime(raw[retry], format="mixed", dayfirst=False, errors="coerce")
    return parsed


def _has_time(when: pd.Series) -> bool:
    return bool(len(when)) and bool((when != when.dt.normalize()).any())


def _rejected_frame(frame: pd.DataFrame, problems: list[pd.DataFrame], line: pd.Series) -> pd.DataFrame:
    if not problems:
        return pd.DataFrame(columns=["source_row", "field", "reason", "raw"])
    found = pd.concat(problems, ignore_index=True).sort_values("index")
    raw = frame.loc[found["index"]].to_dict(orient="records")
    return pd.DataFrame({
        "source_row": line.loc[found["index"]].to_numpy(),
        "field": found["field"].to_numpy(),
        "reason": found["reason"].to_numpy(),
        "raw": [json.dumps(r, ensure_ascii=False, default=str) for r in raw],
    })
