"""The cycle configuration: a YAML file validated once into typed pydantic models.

Every key is documented in the README ("Configuration"). Errors name the file, the key
path, the YAML line and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from compstat.errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisation(_Model):
    name: str
    slug: str = Field(description="short name used for output folders and the store")

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_' only")
        return value


class Cadence(_Model):
    period: Literal["weekly", "monthly"] = "weekly"
    week_start: Literal[WEEKDAYS] = "monday"  # type: ignore[valid-type]
    year_start_month: int = Field(1, ge=1, le=12)
    meeting_lag_days: int = Field(3, ge=0, le=60)


class Unit(_Model):
    code: str
    name: str
    commander: str = ""
    population: float | None = Field(None, gt=0)
    context: dict[str, float] = Field(default_factory=dict)
    children: list[Unit] = Field(default_factory=list)


class Target(_Model):
    kind: Literal["level", "reduction", "floor"] = "level"
    value: float


class MeasureFilter(_Model):
    category: list[str] = Field(default_factory=list)
    subcategory: list[str] = Field(default_factory=list)

    @field_validator("category", "subcategory", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


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
    unit: str
    date: str
    category: str | None = None
    subcategory: str | None = None
    value: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    record_id: str | None = None


class Source(_Model):
    name: str
    format: Literal["csv", "excel", "parquet", "sql"] | None = None
    path: str | None = None
    query: str | None = None
    url: str | None = None
    sheet: str | int | None = 0
    delimiter: str | None = None
    columns: Columns
    values: dict[str, str] = Field(default_factory=dict)
    category: str | None = None
    date_format: str | None = None
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
        return self

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


class QualitySettings(_Model):
    """The `quality:` section: which data-quality checks run and with what thresholds (issue #3)."""


class AnalysisSettings(_Model):
    """The `analysis:` section: significance, SPC, peer groups and targets (issue #4)."""


class AccountabilitySettings(_Model):
    """The `accountability:` section: named officers, triggers and the escalation ladder (issue #5)."""


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
    base_dir: Path = Field(Path("."), exclude=True)

    @model_validator(mode="after")
    def _references(self) -> Config:
        codes = [u.code for u in iter_units(self.units)]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"unit codes must be unique; repeated: {', '.join(dupes)}")
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
        p = Path(os.path.expanduser(path))
        return Path(os.path.normpath(p if p.is_absolute() else self.base_dir / p))


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
        return Config.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc, node)) from None


def _describe(path: Path, exc: ValidationError, node: yaml.Node | None) -> str:
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal[")))]
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(node, loc)
        where = f"{path}:{line}" if line else str(path)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see README 'Configuration')"
        elif err["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{where}: {key}: {message}")
    return "invalid config\n  " + "\n  ".join(lines)


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """Find the YAML line of a pydantic error location (best effort)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                key_node = next((k for k, _ in node.value if k.value == part), None)
                return key_node.start_mark.line + 1 if key_node else line
            if isinstance(part, str):
                key_node = next(k for k, _ in node.value if k.value == part)
                line = key_node.start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
