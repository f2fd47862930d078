"""An XmR chart as PNG bytes, drawn from ``spc()``'s result.

Readable in greyscale: the mean is solid, the process limits dashed, the target dotted,
and special-cause points differ by marker shape as well as Okabe-Ito colour. Drawn on a
standalone Agg figure with local settings, so no global matplotlib state is touched.

The PNG's ``Description`` text chunk says what was drawn, counted from the plotted artists:
``points=36; special_cause_improvement=5; ...`` (``chart_description``), so a reader (or a
test) can check the chart without looking at its pixels.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from compstat.analysis.spc import CONCERN, IMPROVEMENT, NEUTRAL_HIGH, NEUTRAL_LOW

# Okabe & Ito (2008), colour-blind safe.
BLACK, GREEN, BLUE, VERMILLION, GREY = "#000000", "#009E73", "#0072B2", "#D55E00", "#7F7F7F"
# point type → (legend label, marker, colour): the one set of marks, also used by the packs' charts
# (``compstat.packs.charts``), so a triangle means a concern wherever an analyst meets it.
SPC_MARKS = {
    CONCERN: ("Special cause: concern", "^", VERMILLION),
    IMPROVEMENT: ("Special cause: improvement", "s", BLUE),
    NEUTRAL_HIGH: ("Special cause: high", "D", BLACK),
    NEUTRAL_LOW: ("Special cause: low", "D", BLACK),
}
MARKER_AREA = {"^": 36, "s": 28, "D": 24}  # scatter sizes (points²) that look alike
_RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 7.5,
    "text.parse_math": False,  # names from config or data ("$5k", "a $x$") are text, never mathtext
}


def spc_chart(result: pd.DataFrame, title: str, y_label: str = "", *, width_in: float = 7.0,
              height_in: float = 2.8, dpi: int = 150) -> bytes:
    """A PNG of the values, the mean and process limits per rebase group, the target if set,
    and the special-cause points."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width_in, height_in), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        x, y = result["x"], result["y"].to_numpy(dtype=float)
        ax.plot(x, y, color=GREY, linewidth=1.0, marker="o", markersize=2.5, label="Value", zorder=2)
        for number, (_, group) in enumerate(result.groupby("rebase_group", sort=True)):
            first = number == 0
            ax.plot(group["x"], group["mean"], color=BLACK, linewidth=1.2, linestyle="-",
                    label="Mean" if first else None, zorder=1)
            for column in ("lpl", "upl"):
                ax.plot(group["x"], group[column], color=BLACK, linewidth=0.9, linestyle=(0, (5, 3)),
                        label="Process limits" if first and column == "upl" else None, zorder=1)
        target = result["target"].dropna() if "target" in result else pd.Series(dtype=float)
        if not target.empty:
            ax.axhline(float(target.iloc[0]), color=GREEN, linewidth=1.3, linestyle=(0, (1, 1.5)),
                       label="Target", zorder=1)
        drawn = {"points": int(np.isfinite(y).sum())}
        for point_type, (label, marker, colour) in SPC_MARKS.items():
            mask = (result["point_type"] == point_type).to_numpy(dtype=bool, na_value=False)
            if mask.any():
                markers = ax.scatter(x[mask], y[mask], marker=marker, s=MARKER_AREA[marker], color=colour,
                                     edgecolors=BLACK,
                                     linewidths=0.5, label=label, zorder=3)
                drawn[point_type] = int(np.asarray(markers.get_offsets()).shape[0])
        ax.set_title(title)
        if y_label:
            ax.set_ylabel(y_label)
        if pd.api.types.is_datetime64_any_dtype(x):
            locator = mdates.AutoDateLocator(minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.margins(x=0.01)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout(pad=0.4)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None, "Description": chart_description(drawn)})
        return buffer.getvalue()


def chart_description(drawn: dict[str, int]) -> str:
    """``points=N`` then each special-cause type drawn with its count, as in the PNG's Description."""
    return "; ".join(f"{name}={count}" for name, count in drawn.items())
