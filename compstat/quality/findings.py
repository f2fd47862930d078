"""A finding: what is wrong with the data, where, how bad and how many rows, in plain English."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from compstat.config import SEVERITY_NAMES, Config

SEVERITIES = SEVERITY_NAMES  # blocking stops the cycle before packs; warning and info are reported
COMPARISON_COLUMNS = ["unit_code", "measure_id", "window", "fragile", "like_for_like", "reason"]


QUARANTINE_STORED_HINT = "List them with `compstat quarantine list`"
QUARANTINE_CHECK_HINT = ("Nothing was stored, so export them with `compstat check --quarantine FILE.csv` "
                         "(same --config and --period)")


@dataclass(frozen=True)
class Finding:
    """One quality finding, stored with the cycle (``findings`` table, manifest) and shown to the analyst.

    - ``check``, ``severity`` (blocking, warning, info) and ``message`` (plain English).
    - ``unit_code``: the one unit the finding is about, else None (several units, an input, the
      organisation).
    - ``rows``: rows (or, for counts and revisions, the size of the gap) affected; 0 when not a count.
    - ``measure_id``, ``period``, ``source``: what it concerns, when it concerns one.
    - ``units``: every unit the finding concerns, with the rows affected in each (0 where the
      finding is about missing data or a change rather than rows), for per-unit notes in the
      packs; empty when the finding is about a whole input or the organisation only. A
      finding with ``unit_code`` set has ``units == {unit_code: rows}`` unless the check says more.
      Codes may be values that are not units of the config (the rows of an unknown unit).
    """

    check: str
    severity: str
    message: str
    unit_code: str | None = None
    rows: int = 0
    measure_id: str | None = None
    period: str | None = None
    source: str | None = None
    units: dict[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.unit_code is not None and not self.units:
            object.__setattr__(self, "units", {self.unit_code: self.rows})

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Finding:
        """A finding as stored in a manifest (``as_dict``)."""
        units = raw.get("units") or {}
        return cls(check=str(raw["check"]), severity=str(raw["severity"]), message=str(raw["message"]),
                   unit_code=_text(raw.get("unit_code")), rows=int(str(raw.get("rows") or 0)),
                   measure_id=_text(raw.get("measure_id")), period=_text(raw.get("period")),
                   source=_text(raw.get("source")),
                   units={str(k): int(v) for k, v in units.items()} if isinstance(units, dict) else {})


def _text(value: object) -> str | None:
    return None if value is None else str(value)


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
