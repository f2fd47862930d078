"""The analyst's quality report (``quality.report.quality_report``) as HTML or PDF.

Rendered by the packs' autoescaped, strict Jinja environment; PDF by WeasyPrint behind the packs'
URL fetcher, which loads nothing but files in the templates folder. It lives with the packs (above
quality), so the quality layer imports nothing from the packs.
"""

from __future__ import annotations

from pathlib import Path

from compstat.config import Config
from compstat.errors import UsageError
from compstat.packs.render import html_to_pdf, render_html
from compstat.quality.report import TEMPLATE, QualityReport, quality_report
from compstat.quality.run import QualityResult
from compstat.resources import templates_dir


def render_report(report: QualityReport) -> str:
    """The report as a standalone HTML page."""
    return render_html(TEMPLATE, templates_dir(), report=report)


def write_report(result: QualityResult, config: Config, target: Path) -> Path:
    """Write the report to ``target``: ``.html``, or ``.pdf`` through WeasyPrint."""
    suffix = target.suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise UsageError(f"--out '{target}': the report is written as .html or .pdf")
    html = render_report(quality_report(result, config))
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        target.write_text(html, encoding="utf-8")
    else:
        html_to_pdf(html, target, templates_dir())
    return target
