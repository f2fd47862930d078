"""The cycle configuration: a YAML file validated once into typed pydantic models.

Every key is documented in the README ("Configuration"). Errors name the file, the key
path, the YAML line and what was expected.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from compstat.errors import ConfigError
from compstat.safepaths import RESERVED, name_clashes
from compstat.terminal import visible

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEK_LABEL = re.compile(r"^(\d{4})-W(\d{2})$")  # a weekly period label, 2026-W48 (compstat.periods)
MONTH_LABEL = re.compile(r"^(\d{4})-(\d{2})$")  # a monthly period label, 2026-11
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")  # a bare address: name@host.domain
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_KEY = re.compile(r"pass|secret|token|credential|api_?key", re.IGNORECASE)
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
ZONED_FORMAT = re.compile(r"%[zZ]")  # a date_format that reads a time zone


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # no .inf or .nan


class Organisation(_Model):
    name: str
    slug: str = Field(description="short name used for output folders and the store")
    boundaries: str | None = Field(None, description="GeoJSON of unit boundaries (config-relative), drawn on maps")
    boundary_key: str = Field("code", description="the GeoJSON feature property that holds the unit code")
    date_order: Literal["day_first", "month_first"] | None = Field(
        None, description="how every source's dates of two numbers and a year (03/04/2026) are read, unless the "
                          "source says (sources[].dayfirst): day_first (dd/mm/yyyy, UK) or month_first (mm/dd/yyyy, "
                          "US); unset, a file whose values read both ways is refused")
    timezone: str | None = Field(
        None, description="the organisation's time zone (IANA name, e.g. Europe/London): a time with a zone or UTC "
                          "offset is converted to it and counted on its local day; unset, such a file is refused")

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_' only")
        if RESERVED.match(value):
            raise ValueError(f"'{value}' is a name Windows reserves for a device: it cannot name an output folder")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"'{value}' is not a time zone name (use an IANA name such as Europe/London, "
                             "America/New_York or UTC)") from None
        return value


class Cadence(_Model):
    period: Literal["weekly", "monthly"] = "weekly"
    week_start: Literal[WEEKDAYS] = "monday"  # type: ignore[valid-type]
    year_start_month: int = Field(1, ge=1, le=12)
    meeting_lag_days: int = Field(3, ge=0, le=60)
    prior_year: Literal["same_weekday", "same_dates"] = Field(
        "same_weekday", description="last year's week and 28 days: 364 days back (weekdays line up) or the same "
                                    "calendar dates one year back (29 February as 28 February)")


def check_email(value: str) -> str:
    """A bare e-mail address (``name@host.domain``, no display name, no spaces or line breaks), or ValueError."""
    if not EMAIL.match(value) or len(value) > 254:
        raise ValueError(f"'{visible(value)}' is not an e-mail address (expected name@example.org, with no "
                         "display name or spaces)")
    return value


EmailAddress = Annotated[str, AfterValidator(check_email)]  # a config field holding one address


class Unit(_Model):
    code: str
    name: str
    commander: str = ""
    email: EmailAddress | None = Field(None, description="the commander's e-mail address: `compstat distribute` "
                                                         "sends the unit's (or division's) pack and minutes there")
    population: float | None = Field(None, gt=0)
    context: dict[str, float] = Field(default_factory=dict)
    children: list[Unit] = Field(default_factory=list)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        """A code is typed (``--unit``) and matched against the data: control and invisible format characters
        are refused. Other characters, ``/`` included, are allowed; file names made from a code are confined
        to their folder (``safepaths``)."""
        if visible(value) != value:
            raise ValueError(f"'{visible(value)}' holds control or invisible characters (shown here as ␛, \\u202e, "
                             "...): write the code in visible characters")
        return value


class Target(_Model):
    kind: Literal["level", "reduction", "floor"] = "level"
    value: float = Field(description="the organisation's target (and, for rates, values and reductions, each unit's)")
    baseline: Literal["last_year", "multi_year_mean"] = Field(
        "last_year", description="what a reduction is measured from: last year, or the mean of analysis.baseline_years")
    units: dict[str, float] = Field(default_factory=dict,
                                    description="per accountable unit code: that unit's own target value")


class MeasureFilter(_Model):
    category: list[str] = Field(default_factory=list)
    subcategory: list[str] = Field(default_factory=list)

    @field_validator("category", "subcategory", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def covers(outer: MeasureFilter, inner: MeasureFilter) -> bool:
    """Every record ``inner`` selects, ``outer`` selects too (an empty list selects every value)."""
    def within(wide: list[str], narrow: list[str]) -> bool:
        return not wide or (bool(narrow) and set(narrow) <= set(wide))

    return within(outer.category, inner.category) and within(outer.subcategory, inner.subcategory)


class Measure(_Model):
    id: str
    name: str
    kind: Literal["count", "rate", "value"] = "count"
    filter: MeasureFilter = Field(default_factory=MeasureFilter)
    numerator: str | None = None
    denominator: str | None = None
    per: float = Field(1.0, gt=0)
    aggregate: Literal["mean", "sum", "last"] = "mean"
    polarity: Literal["lower", "higher", "neutral"] = "lower"
    target: Target | None = None
    report: bool = True
    unit_label: str = ""

    @model_validator(mode="after")
    def _kind_fields(self) -> Measure:
        if self.kind == "rate" and not (self.numerator and self.denominator):
            raise ValueError("a rate measure needs 'numerator' and 'denominator' (measure ids)")
        if self.kind != "rate" and (self.numerator or self.denominator):
            raise ValueError("'numerator'/'denominator' are only for kind: rate")
        return self


class Columns(_Model):
    unit: str | None = None  # or a source-wide sources[].unit
    date: str
    category: str | None = None
    subcategory: str | None = None
    value: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    record_id: str | None = None
    location: str | None = None  # a named place (address, block, street, location category): repeat locations


class Source(_Model):
    name: str
    format: Literal["csv", "excel", "parquet", "sql"] | None = None
    path: str | None = None
    query: str | None = None
    url: str | None = None
    sheet: str | int | None = 0
    delimiter: str | None = None
    decimal: Literal[".", ","] = Field(".", description="the decimal mark of a CSV's numbers (values, coordinates)")
    date_is: Literal["day", "week"] = Field(
        "day", description="day: each row counts on its date; week: each row is a total for the configured week "
                           "holding its date, counted on that week's middle day (so in the year its week belongs to)")
    columns: Columns
    values: dict[str, str] = Field(default_factory=dict)
    category: str | None = None
    unit: str | None = Field(None, description="the one unit code of every row, for a file without a unit column")
    date_format: str | None = Field(None, description="strptime format the dates are written in, read exactly")
    dayfirst: bool | None = Field(
        None, description="dates of two numbers and a year (03/04/2026): true, day first (dd/mm/yyyy); false, month "
                          "first (mm/dd/yyyy); unset, organisation.date_order")
    unit_map: dict[str, str] = Field(default_factory=dict)
    other_units: Literal["reject", "skip"] = "reject"
    mode: Literal["replace", "append"] = "replace"

    @model_validator(mode="after")
    def _where(self) -> Source:
        if self.resolved_format == "sql":
            if not self.query:
                raise ValueError("a sql source needs 'query'")
        elif not self.path:
            raise ValueError("a file source needs 'path'")
        if self.values and self.columns.value:
            raise ValueError("give either columns.value or values, not both")
        if self.columns.unit is None and self.unit is None:
            raise ValueError("columns.unit is missing: name the column holding each row's unit (or give unit: "
                             "CODE, one unit for every row of a file without a unit column)")
        if self.date_format and self.dayfirst is not None:
            raise ValueError("give either date_format (the exact format) or dayfirst, not both")
        if self.columns.unit is not None and self.unit is not None:
            raise ValueError("give either columns.unit (the column holding each row's unit) or unit (one unit "
                             "code for every row), not both")
        return self

    @property
    def text_decimal(self) -> str:
        """The decimal mark of the numbers as read: a CSV's own; Excel, Parquet and SQL give numbers ('.')."""
        return self.decimal if self.resolved_format == "csv" else "."

    @property
    def resolved_format(self) -> str:
        if self.format:
            return self.format
        if self.query:
            return "sql"
        suffixes = "".join(Path(self.path or "").suffixes).lower()
        if ".xls" in suffixes:
            return "excel"
        if ".parquet" in suffixes:
            return "parquet"
        return "csv"


# --- Settings owned by the later steps. Each class is edited only for its own step. ---


CHECK_NAMES = ("completeness", "timeliness", "validity", "duplicates", "revisions", "structure", "consistency",
               "changes")
SEVERITY_NAMES = ("blocking", "warning", "info")
RECORD_FIELDS = ("unit", "date", "category", "subcategory", "value", "latitude", "longitude", "record_id",
                 "location")


class CheckSettings(_Model):
    """One check's switch, severity and scope (``quality.checks.<name>``)."""

    enabled: bool = True
    severity: Literal[SEVERITY_NAMES] | None = Field(  # type: ignore[valid-type]
        None, description="replaces the severity of the check's blocking and warning findings")
    sources: list[str] = Field(default_factory=list, description="only findings about these sources (empty: all)")
    measures: list[str] = Field(default_factory=list, description="only findings about these measures (empty: all)")


class Area(_Model):
    """The area's bounding box: coordinates outside it are findings of the validity check."""

    min_lat: float = Field(ge=-90, le=90)
    max_lat: float = Field(ge=-90, le=90)
    min_lon: float = Field(ge=-180, le=180)
    max_lon: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _ordered(self) -> Area:
        if self.min_lat >= self.max_lat or self.min_lon >= self.max_lon:
            raise ValueError("min_lat must be below max_lat and min_lon below max_lon")
        return self


class DataChange(_Model):
    """A dated change in what the figures mean: comparisons spanning it are not like-for-like."""

    date: date
    kind: Literal["definition", "boundary", "split", "merger", "closure", "rename", "other"] = "definition"
    units: list[str] = Field(default_factory=list, description="unit codes it affects (empty: all)")
    measures: list[str] = Field(default_factory=list, description="measure ids it affects (empty: all)")
    description: str
    within_organisation: bool = Field(
        False, description="it only moves data between the units it names: the organisation's total is unaffected")

    @model_validator(mode="after")
    def _closure_names_units(self) -> DataChange:
        if self.kind == "closure" and not self.units:
            raise ValueError("a closure names the units that close (units: [codes])")
        return self


class ImplausiblyLow(_Model):
    """When a unit's count is flagged as probable missing data rather than a fall."""

    ratio: float = Field(0.5, gt=0, le=1, description="at most this share of the unit's own average")
    probability: float = Field(0.0001, gt=0, lt=0.5, description="and this unlikely given its own variation")
    min_expected: float = Field(5.0, ge=0, description="only for units averaging at least this many a period")


class GapSettings(_Model):
    """Runs of zero (or missing) periods that a series' own rate cannot explain: collection gaps."""

    min_run: int = Field(2, ge=2, description="periods in a row, at least, for a run of zeros to be judged as one")
    blocking_units: int = Field(3, ge=1, description="a gap in the headline comparisons of this many units blocks")
    blocking_share: float = Field(0.25, gt=0, le=1, description="or of this share of the units")


class RevisionTolerance(_Model):
    """Revisions within both limits are summarised as info; larger ones are warnings."""

    count: float = Field(2, ge=0)
    percent: float = Field(5, ge=0)


class QualitySettings(_Model):
    """The `quality:` section: which data-quality checks run and with what thresholds (issue #3)."""

    checks: dict[str, CheckSettings] = Field(default_factory=dict)
    on_stale: Literal["defer", "warn"] = "defer"
    expected_lag_days: dict[str, int] = Field(default_factory=dict, description="per source: days of lag expected")
    area: Area | None = None
    duplicate_keys: dict[str, list[Literal[RECORD_FIELDS]]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="per source: the fields that identify a record (default: record_id)")
    lookback_periods: int = Field(12, ge=4, le=104, description="periods of a unit's own history used as normal")
    implausibly_low: ImplausiblyLow = Field(default_factory=ImplausiblyLow)
    gaps: GapSettings = Field(default_factory=GapSettings)
    revision_tolerance: RevisionTolerance = Field(default_factory=RevisionTolerance)
    totals: dict[str, str] = Field(default_factory=dict, description="per source: the unit value of total rows")
    changes: list[DataChange] = Field(default_factory=list)

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: dict[str, CheckSettings]) -> dict[str, CheckSettings]:
        unknown = sorted(set(value) - set(CHECK_NAMES))
        if unknown:
            raise ValueError(f"unknown check(s) {', '.join(unknown)}; the checks are {', '.join(CHECK_NAMES)}")
        return value

    @field_validator("expected_lag_days")
    @classmethod
    def _non_negative(cls, value: dict[str, int]) -> dict[str, int]:
        if any(days < 0 for days in value.values()):
            raise ValueError("lags are days, 0 or more")
        return value

    def check(self, name: str) -> CheckSettings:
        return self.checks.get(name, CheckSettings())


class ChangePoint(_Model):
    """A declared change (new recording rules, a boundary change): SPC limits are recomputed from ``date``."""

    date: date
    units: list[str] = Field(default_factory=list, description="unit codes it applies to (empty: all)")
    measures: list[str] = Field(default_factory=list, description="measure ids it applies to (empty: all)")
    reason: str = ""


class SpcBaseline(_Model):
    """The dates whose points set the SPC limits, held for the later points (either end may be open)."""

    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SpcBaseline:
        if self.start is None and self.end is None:
            raise ValueError("give start, end or both (dates)")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class SpcSettings(_Model):
    """The `analysis.spc:` section: the XmR charts of each unit's weekly (monthly) series."""

    periods: int | None = Field(None, ge=3, description="periods charted (default 104 weeks or 36 months)")
    fix_after: int | None = Field(None, ge=2, description="limits from the first n points, then held")
    baseline: SpcBaseline | None = Field(None, description="limits from the points in these dates, then held")
    rebase: list[ChangePoint] = Field(default_factory=list)
    trend_length: int = Field(7, ge=2)
    shift_length: int = Field(7, ge=2)
    screen_outliers: bool = True

    @field_validator("rebase", mode="before")
    @classmethod
    def _dates_as_change_points(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"date": v} if isinstance(v, date | str) else v for v in value]
        return value


class RareSettings(_Model):
    """The `analysis.rare:` section: how rare-event series (murder, shootings) are judged (issue #10)."""

    max_mean: float = Field(1.0, ge=0, description="a count series averaging below this many a period is rare")
    min_events: int = Field(10, ge=3, description="events in the charted span a t-chart needs")
    min_events_difference: int = Field(
        2, ge=0, description="no finding rests on a difference of this many events or fewer in its comparison")


class AnalysisSettings(_Model):
    """The `analysis:` section: significance, SPC, peer groups and targets (issue #4)."""

    confidence: float = Field(0.95, gt=0.5, lt=1, description="level of every interval")
    fdr: float = Field(0.05, gt=0, lt=1, description="false discovery rate (Benjamini-Hochberg) for 'significant'")
    baseline_years: int = Field(3, ge=1, le=10, description="years in the multi-year mean baseline")
    per_population: float = Field(1000, gt=0, description="count rates are per this many residents")
    overdispersion: bool = True
    spc: SpcSettings = Field(default_factory=SpcSettings)
    rare: RareSettings = Field(default_factory=RareSettings)
    peer_groups: dict[str, list[str]] = Field(default_factory=dict)
    peers_k: int = Field(5, ge=1)
    peer_variables: list[str] = Field(default_factory=list, description="default: population and every context key")
    measure_priority: dict[str, float] = Field(default_factory=dict)
    headline_window: Literal["period", "28d", "3m", "ytd"] | None = Field(
        None, description="window findings lead with (default: 28 days, or 3 months for a monthly cadence)")
    top: int = Field(10, ge=1, description="findings shown by default")

    @field_validator("measure_priority")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if v <= 0]
        if bad:
            raise ValueError(f"priorities must be above 0: {', '.join(bad)}")
        return value


Requirement = Literal["none", "significant", "spc", "either"]
TRIGGER_REQUIREMENTS: tuple[Requirement, ...] = ("none", "significant", "spc", "either")


class Trigger(_Model):
    """A threshold on one measure in one comparison window; met when every bound given is crossed and
    the evidence it ``requires`` holds: ``none`` (the raw figure alone), ``significant`` (the analysis
    calls the change against last year in that window significant, after the false discovery rate,
    the way the bound points), ``spc`` (the latest period is a special cause on the unit's SPC chart,
    that way) or ``either``."""

    window: Literal["period", "28d", "3m", "ytd"] | None = None  # None: 28 days (weekly) or 3 months (monthly)
    change_pct_above: float | None = None
    change_pct_below: float | None = None
    value_above: float | None = None
    value_below: float | None = None
    concern: bool = False
    requires: Requirement = "none"

    @field_validator("requires", mode="before")
    @classmethod
    def _known_requirement(cls, value: object) -> object:
        if value is None or value is False:  # YAML reads `requires: no` as false
            return "none"
        if not isinstance(value, str) or value.strip().lower() not in TRIGGER_REQUIREMENTS:
            raise ValueError(f"requires must be one of none, significant, spc, either (got {value!r}): "
                             "'significant' fires only on a significant change against last year, 'spc' only "
                             "on an SPC special cause, 'either' on one or the other, 'none' on the raw figure")
        return value.strip().lower()

    @model_validator(mode="after")
    def _some_bound(self) -> Trigger:
        bounds = (self.change_pct_above, self.change_pct_below, self.value_above, self.value_below)
        if all(b is None for b in bounds) and not self.concern:
            raise ValueError("give at least one of change_pct_above, change_pct_below, value_above, "
                             "value_below, concern")
        return self


class Agreement(_Model):
    """Who answers for one measure in one unit, and what triggers support or intervention."""

    officer: str
    support_if: Trigger | None = None
    intervene_if: Trigger | None = None
    note: str = ""


class EscalationLadder(_Model):
    """The named levels and how many missed meetings reach each level above the first."""

    levels: list[str] = Field(default_factory=lambda: [
        "challenge", "increased challenge", "support plan", "formal intervention"])
    missed_meetings: list[int] = Field(default_factory=lambda: [1, 2, 3])
    concern_without_action: bool = True
    support_level: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _steps(self) -> EscalationLadder:
        if len(self.levels) < 2:
            raise ValueError("give at least two levels")
        if len(self.missed_meetings) != len(self.levels) - 1:
            raise ValueError("missed_meetings needs one number per level above the first "
                             f"({len(self.levels) - 1})")
        steps = self.missed_meetings
        if steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("missed_meetings must be positive and increasing, e.g. [1, 2, 3]")
        if self.support_level >= len(self.levels):
            raise ValueError(f"support_level must be below {len(self.levels)} (the number of levels)")
        return self


class AccountabilitySettings(_Model):
    """The `accountability:` section: named officers, triggers and the escalation ladder (issue #5)."""

    agreements: dict[str, dict[str, Agreement]] = Field(default_factory=dict)
    escalation: EscalationLadder = Field(default_factory=EscalationLadder)
    stale_after_days: int = Field(14, ge=1)
    effect_max_days: int = Field(84, ge=7)


class MeetingSettings(_Model):
    """The `meeting:` section: who hosts each meeting's deep dive (the chair's agenda, issue #6), when the meeting
    is held and when its briefs and minutes are due (delivery, issue #15)."""

    host: dict[str, str] = Field(default_factory=dict, description="period label → unit code; otherwise rotation")
    time: str = Field("10:00", description="the meeting's time of day (HH:MM, 24-hour) on its day, in "
                                           "organisation.timezone if set (else the machine's local time)")
    brief_hours: int = Field(48, ge=0, le=24 * 28, description="packs are due this many hours before the meeting")
    minutes_days: int = Field(2, ge=0, le=28, description="the follow-up minutes are due this many days after it")
    chair: EmailAddress | None = Field(None, description="the chair's e-mail address: the chair's pack and every "
                                                         "unit's minutes are sent there")

    @field_validator("time", mode="before")
    @classmethod
    def _sexagesimal(cls, value: Any) -> Any:
        """YAML 1.1 reads an unquoted 10:00 as the base-60 number 600: read it back as the time it was."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            return f"{value // 60:02d}:{value % 60:02d}"
        return value

    @field_validator("time")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not CLOCK.match(value):
            raise ValueError(f"'{visible(value)}' is not a time of day: write HH:MM, 24-hour, e.g. '10:00' (quoted)")
        return value


class DeliverySettings(_Model):
    """The `delivery:` section: the SMTP server `compstat distribute` sends through (issue #15). Credentials are
    never written here: ``username_env``/``password_env`` name environment variables that hold them."""

    host: str = Field("localhost", min_length=1, description="the SMTP server's host name")
    port: int | None = Field(None, ge=1, le=65535, description="default 587 (starttls), 465 (ssl) or 25 (none)")
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls: upgrade the connection (STARTTLS); ssl: TLS from the start; none: plain "
                                "(a local relay only)")
    sender: EmailAddress = Field(description="the From address of every message")
    username_env: str | None = Field(None, description="the environment variable holding the SMTP user name")
    password_env: str | None = Field(None, description="the environment variable holding the SMTP password")
    timeout: float = Field(30, gt=0, le=600, description="seconds to wait for the server")
    retries: int = Field(2, ge=0, le=10, description="tries again after a transient error (4xx, a dropped "
                                                     "connection), within one run")
    retry_seconds: float = Field(2, ge=0, le=300, description="seconds between those tries")
    ca_file: str | None = Field(None, description="a PEM file of the authority that signed the server's "
                                                  "certificate (an internal relay), relative to the config; default: "
                                                  "the system's trusted authorities")

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        """A key that looks like a credential (password, secret, token) is refused, naming the safe way."""
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and SECRET_KEY.search(key) and not key.endswith("_env"):
                    raise ValueError(f"'{visible(key)}': credentials are never written in the config; put the "
                                     "value in an environment variable and give its NAME as password_env "
                                     "(or username_env)")
        return data

    @field_validator("username_env", "password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(f"'{visible(value)}' is not an environment variable name (letters, digits and '_'; "
                             "the NAME of the variable holding the credential, not the credential)")
        return value

    @model_validator(mode="after")
    def _no_plain_password(self) -> DeliverySettings:
        """A log-in over an unencrypted connection is allowed only to a relay on this machine."""
        if self.security == "none" and self.username_env is not None and not loopback(self.host):
            raise ValueError(f"security 'none' with a log-in would send the password to '{visible(self.host)}' "
                             "unencrypted: use security 'starttls' or 'ssl' ('none' is for a relay on this "
                             "machine only)")
        return self

    @property
    def resolved_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


def loopback(host: str) -> bool:
    """``host`` is this machine: localhost or a loopback address."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Limits(_Model):
    """The `limits:` section: the largest spreadsheets read, refused before parsing (issue #12)."""

    spreadsheet_rows: int = Field(1_000_000, ge=1, description="rows below the header of a data source's sheet")
    spreadsheet_bytes: int = Field(200_000_000, ge=1, description="a data source workbook's XML, uncompressed")
    action_sheet_rows: int = Field(5_000, ge=1, description="rows of an imported action sheet or minutes")
    action_sheet_bytes: int = Field(20_000_000, ge=1, description="an imported action sheet's XML, uncompressed")
    compression_ratio: float = Field(100, ge=2, description="a workbook member expanding more than this is refused")


class Disclosure(_Model):
    """`publish.disclosure:`: statistical disclosure control of the public report card (on by default)."""

    enabled: bool = Field(True, description="apply disclosure control to every published count")
    threshold: int = Field(5, ge=2, le=100, description="counts from 1 to threshold - 1 are never published exactly")
    method: Literal["suppress", "round"] = Field(
        "suppress", description="suppress: a small count is shown as 'fewer than <threshold>' and other figures are "
                                "withheld so it cannot be worked out from a total; round: every count (totals too) "
                                "is rounded to the nearest multiple of round_to")
    round_to: int = Field(5, ge=2, le=100, description="the rounding base of method: round")


class PublishSettings(_Model):
    """The `publish:` section: what `compstat publish` puts on the public report card (issue #15)."""

    measures: list[str] = Field(default_factory=list, description="ids of the count measures published; none "
                                                                  "by default: a measure is public only when listed")
    divisions: bool = Field(True, description="a page per division as well as per unit")
    disclosure: Disclosure = Field(default_factory=Disclosure)


class PackSettings(_Model):
    """The `packs:` section: which units get a full briefing pack each cycle (issue #13)."""

    unit_packs: Literal["all", "called"] = Field(
        "all", description="all: a full pack for every unit; called: full packs only for the units the meeting "
                           "calls (the host unit, the units of the chair's top findings to probe, units at or above "
                           "the escalation ladder's support level, and `full`), and a short CompStat sheet (figures, "
                           "findings, actions) for every other unit: a force of hundreds of units whose meeting "
                           "calls a few")
    full: list[str] = Field(default_factory=list, description="unit codes that always get a full pack")


class Config(_Model):
    organisation: Organisation
    store: str = "sqlite:///compstat.db"
    cadence: Cadence = Field(default_factory=Cadence)
    units: list[Unit]
    measures: list[Measure]
    sources: list[Source]
    small_number: int = Field(10, ge=0)
    output_dir: str = "cycles"
    quality: QualitySettings = Field(default_factory=QualitySettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    accountability: AccountabilitySettings = Field(default_factory=AccountabilitySettings)
    meeting: MeetingSettings = Field(default_factory=MeetingSettings)
    delivery: DeliverySettings | None = Field(None, description="the SMTP server of `compstat distribute`")
    limits: Limits = Field(default_factory=Limits)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    packs: PackSettings = Field(default_factory=PackSettings)
    base_dir: Path = Field(Path("."), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _relative_to_config(cls, data: Any) -> Any:
        """``store``, ``sources[].url`` (a SQLite file), ``output_dir`` and ``delivery.ca_file`` are relative to
        the config file's folder, as every path in the config is; ``--db``, ``COMPSTAT_DB`` and ``--out`` are not
        read here, so they stay relative to the working directory."""
        if not isinstance(data, dict):
            return data
        base = Path(data.get("base_dir", "."))
        data = dict(data)
        if isinstance(data.get("store"), str):
            data["store"] = sqlite_relative_to(data["store"], base)
        if isinstance(data.get("output_dir"), str):
            data["output_dir"] = str(_relative_to(data["output_dir"], base))
        delivery = data.get("delivery")
        if isinstance(delivery, dict) and isinstance(delivery.get("ca_file"), str):
            data["delivery"] = {**delivery, "ca_file": str(_relative_to(delivery["ca_file"], base))}
        if isinstance(data.get("sources"), list):
            data["sources"] = [{**s, "url": sqlite_relative_to(s["url"], base)}
                               if isinstance(s, dict) and isinstance(s.get("url"), str) else s
                               for s in data["sources"]]
        return data

    @model_validator(mode="after")
    def _references(self) -> Config:
        codes = [u.code for u in iter_units(self.units)]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"unit codes must be unique; repeated: {', '.join(dupes)}")
        if clashes := name_clashes(codes):  # one pack, one minutes file: one would overwrite the other
            first, second, name = clashes[0]
            raise ValueError(f"units '{first}' and '{second}' would share output files (both '{name}': file names "
                             "keep letters, digits, '.', '_' and '-', and ignore case): give one of them another code")
        ids = [m.id for m in self.measures]
        if len(set(ids)) != len(ids):
            raise ValueError("measure ids must be unique")
        for m in self.measures:
            for ref in (m.numerator, m.denominator):
                if ref is not None and ref not in ids:
                    raise ValueError(f"measure '{m.id}' refers to unknown measure '{ref}'")
                if ref is not None and self.measure(ref).kind == "rate":
                    raise ValueError(f"measure '{m.id}': a rate's parts must not be rates")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        leaf_codes = {u.code for u in self.leaf_units}
        for s in self.sources:
            if s.unit is not None and s.unit not in leaf_codes:
                raise ValueError(f"source '{s.name}': unit '{s.unit}' is not an accountable unit (one without "
                                 "children)")
        zoned = [s.name for s in self.sources if s.date_format and ZONED_FORMAT.search(s.date_format)]
        if zoned and self.organisation.timezone is None:
            raise ValueError(f"source '{zoned[0]}': date_format reads a time zone (%z or %Z): set "
                             "organisation.timezone (an IANA name such as Europe/London), the zone its times are "
                             "converted to")
        weekly_totals = [s.name for s in self.sources if s.date_is == "week"]
        if weekly_totals and self.cadence.period != "weekly":
            raise ValueError(f"source '{weekly_totals[0]}': date_is: week needs cadence.period: weekly")
        for index, published in enumerate(self.publish.measures):
            if published not in ids:
                raise ValueError(f"publish.measures.{index}: '{published}' is not a measure id")
            if self.measure(published).kind != "count":
                raise ValueError(f"publish.measures.{index}: '{published}' is a {self.measure(published).kind}; "
                                 "only count measures are published (with disclosure control)")
        if self.publish.disclosure.enabled:
            public = [self.measure(m) for m in self.publish.measures]
            for part in public:
                whole = next((w for w in public if covers(w.filter, part.filter) and not covers(part.filter, w.filter)),
                             None)
                if whole is not None:
                    raise ValueError(f"publish.measures: '{part.id}' is part of '{whole.id}' (every record it counts, "
                                     f"'{whole.id}' counts too): published together, a reader could subtract one "
                                     "from the other and recover a count disclosure control withheld; publish one")
        leaves = {u.code for u in self.leaf_units}
        label = WEEK_LABEL if self.cadence.period == "weekly" else MONTH_LABEL
        for period, code in self.meeting.host.items():
            if not label.match(period):
                raise ValueError(f"meeting.host: '{period}' is not a {self.cadence.period} period label "
                                 f"(such as {'2026-W48' if self.cadence.period == 'weekly' else '2026-11'})")
            if code not in leaves:
                raise ValueError(f"meeting.host.{period}: '{code}' is not an accountable unit")
        for index, code in enumerate(self.packs.full):
            if code not in leaves:
                raise ValueError(f"packs.full.{index}: '{code}' is not an accountable unit (one without children)")
        return self

    def measure(self, measure_id: str) -> Measure:
        return next(m for m in self.measures if m.id == measure_id)

    @property
    def reported_measures(self) -> list[Measure]:
        return [m for m in self.measures if m.report]

    @property
    def leaf_units(self) -> list[Unit]:
        """The accountable units: every unit without children gets a pack."""
        return [u for u in iter_units(self.units) if not u.children]

    def parents(self) -> dict[str, str | None]:
        """Map each unit code to its parent's code (None at the top)."""
        out: dict[str, str | None] = {}

        def walk(units: list[Unit], parent: str | None) -> None:
            for u in units:
                out[u.code] = parent
                walk(u.children, u.code)

        walk(self.units, None)
        return out

    def resolve_path(self, path: str) -> Path:
        """Paths in the config are relative to the config file."""
        return _relative_to(path, self.base_dir)


def _relative_to(path: str, base: Path) -> Path:
    p = Path(os.path.expanduser(path))
    return Path(os.path.normpath(p if p.is_absolute() else base / p))


def sqlite_relative_to(url: str, base: Path) -> str:
    """A SQLite URL's relative file resolved against ``base``; any other URL (PostgreSQL, ``:memory:``, a
    ``file:`` URI, one SQLAlchemy cannot parse, which connecting reports) as given."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    database = parsed.database
    if (parsed.get_backend_name() != "sqlite" or not database or database == ":memory:"
            or database.startswith("file:") or Path(database).is_absolute()):
        return url
    return parsed.set(database=str(_relative_to(database, base))).render_as_string(hide_password=False)


def iter_units(units: list[Unit]) -> Iterator[Unit]:
    for u in units:
        yield u
        yield from iter_units(u.children)


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; raise ConfigError naming key, line and expectation."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (organisation, units, measures, sources)")
    try:
        config = Config.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc, node)) from None
    problems = target_unit_problems(config)
    if problems:
        lines = []
        for loc, message in problems:
            line = _line_of(node, loc)
            lines.append(f"{path}:{line}: {'.'.join(map(str, loc))}: {message}" if line else
                         f"{path}: {'.'.join(map(str, loc))}: {message}")
        raise ConfigError("invalid config\n  " + "\n  ".join(lines))
    return config


def target_unit_problems(config: Config) -> list[tuple[list[Any], str]]:
    """(key path, message) for each ``measures[].target.units`` code that is not an accountable unit."""
    leaves = [u.code for u in config.leaf_units]
    others = {u.code for u in iter_units(config.units)} - set(leaves)
    shown = ", ".join(leaves[:10]) + (f" and {len(leaves) - 10} more" if len(leaves) > 10 else "")
    problems: list[tuple[list[Any], str]] = []
    for i, m in enumerate(config.measures):
        for code in (m.target.units if m.target else {}):
            if code in leaves:
                continue
            why = ("has units below it: targets are set for accountable units (those without children)"
                   if code in others else "is the organisation: its target is 'value'" if code == "_total"
                   else f"is not a unit code (the accountable units are {shown})")
            problems.append((["measures", i, "target", "units", code], f"'{code}' {why}"))
    return problems


def _describe(path: Path, exc: ValidationError, node: yaml.Node | None) -> str:
    """One line per problem; text written as a number (``code: 001`` unquoted) is one line with a hint and a
    count of the other keys like it, not one unexplained error each."""
    lines = []
    numbers: list[tuple[str, int | None]] = []  # (key, line) of each text value YAML read as a number
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal[")))]
        key = ".".join(str(p) for p in loc).replace(".[key]", " (a key)") or "(top level)"
        line = _line_of(node, loc)
        where = f"{path}:{line}" if line else str(path)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see README 'Configuration')"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif _is_number(err):
            numbers.append((key, line))
            if len(numbers) > 1:
                continue
            message = _number_hint(err["input"], _node_at(node, loc))
        lines.append(f"{where}: {key}: {message}")
    if len(numbers) > 1:
        more = [f"{key} (line {line})" if line else key for key, line in numbers[1:]]
        lines.append(f"{path}: and {len(more)} more text value{'s' if len(more) > 1 else ''} written as "
                     f"number{'s' if len(more) > 1 else ''}, quote each: {', '.join(more[:5])}"
                     + (f" and {len(more) - 5} more" if len(more) > 5 else ""))
    return "invalid config\n  " + "\n  ".join(lines)


def _is_number(err: Any) -> bool:
    """A text field given a YAML number (``code: 001`` → 1)."""
    value = err.get("input")
    return err["type"] == "string_type" and isinstance(value, int | float) and not isinstance(value, bool)


def _number_hint(value: float, node: yaml.Node | None) -> str:
    """``1 is a number; quote it ('001') if the code has leading zeros``, from the YAML text as written."""
    written = str(node.value) if isinstance(node, yaml.ScalarNode) else str(value)
    if written.lstrip("+-").startswith("0") and len(written.lstrip("+-")) > 1 and written != str(value):
        how = f" (YAML reads {written} as {value})" if written.lstrip("0") != str(value) else ""
        return f"{value} is a number{how}; quote it ('{written}') if the code has leading zeros"
    return f"{value} is a number; quote it ('{written}'): codes and names are text"


def _node_at(node: yaml.Node | None, loc: list[Any]) -> yaml.Node | None:
    """The YAML node at a pydantic error location (a mapping's key node for ``[key]``), if found."""
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if _key_is(k, part)), None)
            if pair is None:
                return None
            node = pair[0] if i + 1 < len(loc) and loc[i + 1] == "[key]" else pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        elif part == "[key]":
            continue
        else:
            return None
    return node


def _key_is(key: yaml.Node, part: Any) -> bool:
    """Whether a mapping's key node is the key ``part`` (as YAML reads it: ``001`` is the key 1)."""
    if key.value == part:
        return True
    if isinstance(part, str) or not isinstance(key, yaml.ScalarNode):
        return False
    try:
        return bool(yaml.safe_load(key.value) == part) and key.tag != "tag:yaml.org,2002:str"
    except yaml.YAMLError:
        return False


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """Find the YAML line of a pydantic error location (best effort)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if _key_is(k, part)), None)
            if match is None:
                key_node = next((k for k, _ in node.value if _key_is(k, part)), None)
                return key_node.start_mark.line + 1 if key_node else line
            if isinstance(part, str):
                key_node = next(k for k, _ in node.value if _key_is(k, part))
                line = key_node.start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
