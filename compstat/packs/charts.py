"""Charts for the packs: pure functions from data to PNG bytes.

Every chart is drawn inside ``chart_style()`` (Agg backend, DejaVu Sans, Okabe-Ito
colours) and its figure is always closed. Lines differ by style and marker as well as
colour so that a greyscale print still reads.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

# Okabe & Ito (2008), colour-blind safe.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
WIDTH_IN, HEIGHT_IN, DPI = 7.0, 2.3, 150

_RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "legend.frameon": False,
    "legend.fontsize": 8,
    "svg.fonttype": "none",
    "savefig.dpi": DPI,
}


@dataclass(frozen=True)
class TrendLine:
    """One measure's values per period, oldest first (NaN where there is no value)."""

    title: str
    starts: Sequence[date]
    values: Sequence[float]
    periods_per_year: int
    y_label: str = ""
    integer: bool = True


@contextmanager
def chart_style() -> Iterator[None]:
    """Matplotlib settings for pack charts, without touching the global rcParams.

    The backend is always Agg (no display, safe in worker processes)."""
    matplotlib.use("Agg")
    with matplotlib.rc_context(_RC):
        yield


def trend_chart(line: TrendLine) -> bytes:
    """A two-year trend: every period as a solid line, and over the latest year the same
    periods one year earlier as a dashed line. Returns PNG bytes."""
    with chart_style():
        fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
        try:
            starts = np.array(line.starts, dtype="datetime64[D]")
            values = np.array(line.values, dtype=float)
            ax.plot(starts, values, color=OKABE_ITO["blue"], linestyle="-", linewidth=1.4,
                    marker="o", markersize=2.2, label="Each period")
            lag = line.periods_per_year
            if len(values) > lag:
                ax.plot(starts[lag:], values[:-lag], color=OKABE_ITO["vermillion"], linestyle=(0, (4, 2)),
                        linewidth=1.1, marker="^", markersize=2.2, markevery=4,
                        label="Same period a year earlier")
                latest_year = mdates.date2num([starts[lag], starts[-1]])  # type: ignore[no-untyped-call]
                ax.axvspan(latest_year[0], latest_year[1], color="#F2F2F2", zorder=0, linewidth=0)
            ax.set_title(line.title)
            if line.y_label:
                ax.set_ylabel(line.y_label)
            if values[~np.isnan(values)].min(initial=0.0) >= 0:
                ax.set_ylim(bottom=0)
            if line.integer:
                ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 5, 10], integer=True))
            locator = mdates.AutoDateLocator(minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
            ax.margins(x=0.01)
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, borderaxespad=0.1,
                      handlelength=2.6)
            fig.tight_layout(pad=0.4)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", metadata={"Software": None})
            return buffer.getvalue()
        finally:
            plt.close(fig)
