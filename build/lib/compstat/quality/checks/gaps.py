"""Runs of zero periods that a series' own rate cannot explain: collection gaps recorded as zeros.

For pre-aggregated data a zero row is a value, and a run of them can be a collection gap (an input
that carried zeros for weeks). A series here is a unit's total from one input (every row some count
measure counts) or a unit's count measure. For each run of ``k ≥ gaps.min_run`` consecutive zero (or
missing) periods inside the unit's history, the series' rate is taken from the history outside the
run: the ``s`` events of up to ``lookback_periods`` periods before it (``n`` of them, at least
``MIN_SIDE``) and, separately, after it. Over-dispersion comes from the series' successive
differences, ``φ = Σ (y_t − y_{t−1})² / Σ (y_t + y_{t−1})`` (pairs inside long runs of zeros left
out, floored at 1): a zero period has the negative binomial chance ``P0 = exp(−c λ)`` with
``c = ln φ / (φ − 1)`` (1 when ``φ = 1``). The rate itself is uncertain (a rare series' two events in
twelve weeks say little), so the chance of ``k`` zero periods is the predictive one, averaged over
``λ ~ Gamma(s/φ, n/φ)``: ``(1 + k c φ / n)^(−s/φ)``, which is ``(n / (n + k))^s`` for Poisson counts.
The likelier of the two sides is used, so a season or trend cannot make a run look unlikely.
A run is a gap when that is below ``implausibly_low.probability`` — divided by the number of earlier
periods judged unless the run reaches the cycle's period — and it overlaps a period the comparisons
read. A run that opens a series' history (the series starts later) is not judged: that is where
its history starts. So a rare series' zeros (a murder series at 0.05 a week) are never a gap, while a busy series
that drops to zero for two weeks is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_SIDE = 4  # periods needed on a side of a run to take the series' rate from it

RUN_COLUMNS = ["row", "first", "last", "periods", "rate", "chance", "stopped", "flagged"]


def zero_runs(y: np.ndarray, valid: np.ndarray, judged: np.ndarray, lookback: int, min_run: int,
              probability: float, earlier: int, open_start: np.ndarray | None = None) -> pd.DataFrame:
    """Every run of ``min_run`` or more zero periods of each row of ``y`` (series × periods, the last
    column the cycle's period) inside ``valid`` that overlaps a ``judged`` period and has a rate on at
    least one side: ``RUN_COLUMNS`` (``first`` and ``last`` are column positions, inclusive; ``flagged``:
    the run is a gap). ``open_start``: the rows whose history began before the first column, so that a
    run there is inside it (default all); for the others a run that opens the row is its start."""
    rows, cols = y.shape
    if rows == 0 or cols == 0:
        return pd.DataFrame(columns=RUN_COLUMNS)
    zero = valid & (y == 0)
    edges = np.diff(np.pad(zero.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    r, start = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)  # exclusive; row-major order pairs each start with its stop
    length = stop - start
    keep = length >= min_run
    r, start, stop, length = r[keep], start[keep], stop[keep], length[keep]

    values = np.where(valid, y, 0.0)
    total = np.concatenate([np.zeros((rows, 1)), np.cumsum(values, axis=1)], axis=1)
    count = np.concatenate([np.zeros((rows, 1)), np.cumsum(valid, axis=1)], axis=1)
    lo = np.maximum(start - lookback, 0)
    hi = np.minimum(stop + lookback, cols)
    n_before = count[r, start] - count[r, lo]
    n_after = count[r, hi] - count[r, stop]
    s_before = total[r, start] - total[r, lo]
    s_after = total[r, hi] - total[r, stop]

    long_zero = np.zeros((rows, cols + 1), dtype=np.int64)  # periods inside runs judged: left out of φ
    np.add.at(long_zero, (r, start), 1)
    np.add.at(long_zero, (r, stop), -1)
    in_run = np.cumsum(long_zero, axis=1)[:, :cols] > 0
    phi = _dispersion(values, valid & ~in_run)[r]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_zero = np.where(phi > 1, np.log(phi) / (phi - 1), 1.0)  # -log P0 per unit of rate
    before = _run_chance(length, s_before, n_before, phi, per_zero)
    after = _run_chance(length, s_after, n_after, phi, per_zero)
    chance = np.fmax(before, after)  # the likelier side where both exist, else the one there is
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.fmin(np.where(n_before >= MIN_SIDE, s_before / n_before, np.nan),
                       np.where(n_after >= MIN_SIDE, s_after / n_after, np.nan))

    seen = np.concatenate([[0], np.cumsum(judged)])
    overlaps = (seen[stop] - seen[start]) > 0
    stopped = stop == cols
    threshold = np.where(stopped, probability, probability / max(earlier, 1))
    # a run that opens a series' history (after the span's first period) is its start, not a gap in it
    opening = np.argmax(valid, axis=1)[r] == start
    before_span = np.ones(rows, dtype=bool) if open_start is None else np.asarray(open_start, dtype=bool)
    usable = overlaps & ~np.isnan(chance) & (np.nan_to_num(rate) > 0) & ~(opening & ((start > 0) | ~before_span[r]))
    return pd.DataFrame({
        "row": r[usable], "first": start[usable], "last": stop[usable] - 1, "periods": length[usable],
        "rate": rate[usable], "chance": chance[usable], "stopped": stopped[usable],
        "flagged": (chance < threshold)[usable]})


def _run_chance(length: np.ndarray, events: np.ndarray, periods: np.ndarray, phi: np.ndarray,
                per_zero: np.ndarray) -> np.ndarray:
    """P(``length`` zero periods) given ``events`` in ``periods`` on one side (NaN with fewer than
    ``MIN_SIDE``): the rate's uncertainty included — with ``λ ~ Gamma(events/φ, periods/φ)`` and
    ``P0 = exp(−c λ)``, ``E[P0^k] = (1 + k c φ / n)^(−s/φ)`` (``(n / (n + k))^s`` for Poisson)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        chance = np.power(1 + length * per_zero * phi / np.maximum(periods, 1), -events / phi)
    return np.where(periods >= MIN_SIDE, chance, np.nan)


def _dispersion(values: np.ndarray, use: np.ndarray) -> np.ndarray:
    """φ per row from successive differences of the ``use``d periods, floored at 1."""
    pair = use[:, 1:] & use[:, :-1]
    diff = np.where(pair, (values[:, 1:] - values[:, :-1]) ** 2, 0.0).sum(axis=1)
    size = np.where(pair, values[:, 1:] + values[:, :-1], 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(size > 0, diff / size, 1.0)
    return np.asarray(np.maximum(phi, 1.0), dtype=float)


def intervals(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """A cluster number for each interval ``[first, last]``: overlapping intervals share one."""
    order = np.argsort(first, kind="stable")
    cluster = np.empty(len(first), dtype=np.int64)
    current, reach = -1, -1
    for i in order:
        if first[i] > reach:
            current += 1
            reach = last[i]
        else:
            reach = max(reach, last[i])
        cluster[i] = current
    return cluster
