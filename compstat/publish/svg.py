"""Inline SVG line charts of the report card, written by hand: this year against last year per span.

Every text is escaped (``html.escape``); the chart is ``role="img"`` labelled by its ``<title>`` and
``<desc>`` (the text alternative, which states what the chart shows); a figure not published (fewer than
the threshold, withheld, no data) is a gap in its line, never a point. Nothing refers outside the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 44, 16, 56
THIS_YEAR = "#1d4f91"  # 8.6:1 on white
LAST_YEAR = "#595959"  # 7:1 on white


def _nice_max(value: float) -> float:
    if value <= 5:
        return 5.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if factor * step >= value:
            return float(factor * step)
    return float(10 * step)  # pragma: no cover


def _paths(values: Sequence[int | None], x: Sequence[float], y_of: object) -> list[str]:
    """One path per run of published values (a gap where a value is not published)."""
    runs: list[list[str]] = [[]]
    for xi, v in zip(x, values, strict=True):
        if v is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(f"{xi:.1f},{y_of(v):.1f}")  # type: ignore[operator]
    return [" ".join(r) for r in runs if r]


def trend_chart(chart_id: str, title: str, description: str, labels: Sequence[str],
                this_year: Sequence[int | None], last_year: Sequence[int | None]) -> str:
    """An SVG line chart: ``this_year`` (solid, circles) and ``last_year`` (dashed, squares) over ``labels``."""
    published = [v for v in (*this_year, *last_year) if v is not None]
    top = _nice_max(max(published, default=0))
    n = len(labels)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x = [LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2) for i in range(n)]

    def y_of(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
           f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" class="chart">',
           f'<title id="{chart_id}-title">{escape(title)}</title>',
           f'<desc id="{chart_id}-desc">{escape(description)}</desc>']
    for i in range(6):
        value = top * i / 5
        y = y_of(value)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d0d0"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="#333">'
                   f'{value:g}</text>')
    for i, label in enumerate(labels):
        if i % 3 == 0 or i == n - 1:
            out.append(f'<text x="{x[i]:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" font-size="11" '
                       f'fill="#333">{escape(label)}</text>')
    for values, colour, dash, marker in ((last_year, LAST_YEAR, ' stroke-dasharray="6 4"', "square"),
                                         (this_year, THIS_YEAR, "", "circle")):
        for points in _paths(values, x, y_of):
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"{dash}/>')
        for xi, v in zip(x, values, strict=True):
            if v is None:
                continue
            if marker == "circle":
                out.append(f'<circle cx="{xi:.1f}" cy="{y_of(v):.1f}" r="4" fill="{colour}"/>')
            else:
                out.append(f'<rect x="{xi - 3.5:.1f}" y="{y_of(v) - 3.5:.1f}" width="7" height="7" fill="{colour}"/>')
    legend_y = HEIGHT - 14
    out.append(f'<line x1="{LEFT}" x2="{LEFT + 24}" y1="{legend_y}" y2="{legend_y}" stroke="{THIS_YEAR}" '
               f'stroke-width="2.5"/><text x="{LEFT + 30}" y="{legend_y + 4}" font-size="12" fill="#222">'
               'This year</text>')
    out.append(f'<line x1="{LEFT + 120}" x2="{LEFT + 144}" y1="{legend_y}" y2="{legend_y}" stroke="{LAST_YEAR}" '
               f'stroke-width="2.5" stroke-dasharray="6 4"/><text x="{LEFT + 150}" y="{legend_y + 4}" '
               'font-size="12" fill="#222">Same time last year</text>')
    out.append("</svg>")
    return "\n".join(out)
