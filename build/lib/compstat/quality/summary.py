"""The quality findings (and the settings' warnings) as printed lines: grouped by check with counts, or
every line when asked (``--verbose``). Pure: findings in, lines out; the CLI prints them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from compstat.quality.findings import SEVERITIES, Finding, listed

SHOWN_PER_CHECK = 5  # a check with more findings of one severity is summarised on one line
EXAMPLE_CHARS = 160
NOUNS = {"blocking": ("blocking finding", "blocking findings"), "warning": ("warning", "warnings"),
         "info": ("note", "notes")}
VERBOSE_HINT = "run with --verbose for every line"
T = TypeVar("T")


@dataclass(frozen=True)
class Section:
    """One printed block: a heading (``Quality warning (181)``), its lines, and how many findings the
    lines summarise rather than show."""

    severity: str
    heading: str
    lines: tuple[str, ...]
    summarised: int = 0


def finding_sections(findings: Sequence[Finding], verbose: bool = False) -> list[Section]:
    """Per severity (most serious first), each check's findings: every message when there are at most
    ``SHOWN_PER_CHECK`` of them (or ``verbose``), else one line with the count, the units concerned and the
    first message as an example."""
    sections = []
    for severity in SEVERITIES:
        group = [f for f in findings if f.severity == severity]
        if not group:
            continue
        lines: list[str] = []
        summarised = 0
        for check, items in _by_key(group, lambda f: f.check):
            if verbose or len(items) <= SHOWN_PER_CHECK:
                lines += [f"{f.check}: {f.message}" for f in items]
                continue
            summarised += len(items)
            units = list(dict.fromkeys(code for f in items for code in (f.units or {})))
            where = f" ({'unit' if len(units) == 1 else 'units'} {listed(units, 8)})" if units else ""
            lines.append(f"{check}: {len(items)} {NOUNS[severity][1]}{where}; e.g. {_short(items[0].message)}")
        sections.append(Section(severity, f"Quality {severity} ({len(group)})", tuple(lines), summarised))
    return sections


def settings_lines(warnings: Iterable[str], verbose: bool = False) -> list[str]:
    """The analysis settings' warnings (``key: text``), grouped by key like the findings."""
    lines: list[str] = []
    for key, items in _by_key(list(warnings), lambda w: w.split(":", 1)[0]):
        if verbose or len(items) <= SHOWN_PER_CHECK:
            lines += items
        else:
            lines.append(f"{key}: {len(items)} warnings; e.g. {_short(items[0].split(':', 1)[-1].strip())}")
    return lines


def _by_key(items: list[T], key: Callable[[T], str]) -> list[tuple[str, list[T]]]:
    """The items grouped by ``key``, groups and items in their first order."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.items())


def _short(message: str) -> str:
    return message if len(message) <= EXAMPLE_CHARS else message[:EXAMPLE_CHARS].rsplit(" ", 1)[0] + " …"
