"""Is a change real? Exact rate-ratio tests with over-dispersion, and the false discovery rate.

**The test.** Two counts ``y1`` (this period, exposure ``t1`` days) and ``y0`` (the comparison,
``t0`` days) are compared by the exact conditional test of two Poisson rates: given
``n = y1 + y0``, ``y1`` is binomial with ``p = t1 / (t1 + t0)`` when the rates are equal. The
interval for the rate ratio is Clopper–Pearson's for ``p``, mapped by
``RR = p / (1 - p) × t0 / t1`` (R's ``poisson.test``). The p-value is two-sided by doubling
the smaller tail, so it is below ``1 - confidence`` exactly when the interval excludes 1.

**Why the central p-value, not R's.** R's ``poisson.test`` (through ``binom.test``) and
scipy's ``binomtest`` use the minimum-likelihood rule instead: the sum of the probabilities
of every outcome no more likely than the one observed. With equal exposures the two rules
agree; with unequal ones (a week against two, 28 days against a 3-year baseline of 84) the
minimum-likelihood p-value can be up to half the central one (10 vs 2 at 7 and 14 days:
0.00054 against 0.00109). Compstat keeps the central rule because (1) a pack then never calls
a change significant while showing an interval that includes "no change" — the label and
the interval always agree; (2) it is defined at the non-integer effective counts ``y / φ``
that over-dispersion needs (the incomplete beta function), where the minimum-likelihood rule
has no natural extension; (3) it errs towards fewer false alarms. Analysts checking a
figure in R should compare with ``2 * min(pbinom(y1, n, p), 1 - pbinom(y1 - 1, n, p))``.

**Over-dispersion (quasi-Poisson).** Recorded crime varies more than Poisson counts do
(repeat victims, series offenders, busy weekends). Each unit × measure gets a dispersion
factor from its own history by successive differences,
``φ = Σ (y_t − y_{t−1})² / Σ (y_t + y_{t−1})`` over consecutive observed periods, which is 1
for Poisson counts and is barely moved by seasonality or a slow trend, floored at 1. The test
then uses effective counts ``y / φ`` (the variance of a count is ``φ × mean``): the binomial
tails and beta quantiles are evaluated at these non-integer counts through the regularised
incomplete beta function, which equals the exact test when ``φ = 1``. With fewer than
``MIN_PAIRS`` pairs, φ is the median of the other units' φ for the measure (1 if none).

**Many comparisons.** Across units, measures, windows and comparisons the p-values are
adjusted by Benjamini–Hochberg (q-values); a change is called significant only where
``q ≤ fdr`` (default 0.05), so at most about 1 in 20 of the changes called significant in a
cycle is expected to be noise. The divisions' tests (``hierarchy``) form a family of their own,
adjusted apart from the accountable units' and the organisation's: a division's figures are
sums of its units', so adding them to the units' family would only move the units' q-values.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special, stats

from compstat.config import Config
from compstat.figures import TOTAL
from compstat.hierarchy import divisions

FloatArray = npt.NDArray[np.float64]

MIN_PAIRS = 8
SIGNIFICANT_INCREASE = "significant increase"
SIGNIFICANT_DECREASE = "significant decrease"
NORMAL_VARIATION = "within normal variation"
NO_EVENTS = "no events"
NOT_TESTED = "not tested"
LABELS = (SIGNIFICANT_INCREASE, SIGNIFICANT_DECREASE, NORMAL_VARIATION, NO_EVENTS, NOT_TESTED)
BASES = ("last_year", "baseline")
SIGNIFICANCE_COLUMNS = [
    "unit_code", "measure_id", "window", "basis", "current", "comparison", "current_days", "comparison_days",
    "rate_ratio", "ci_low", "ci_high", "pct_change", "dispersion", "p_value", "q_value", "label", "judgement",
    "small_numbers",
]


def _upper_tail(k: FloatArray, n: FloatArray, p: FloatArray) -> FloatArray:
    """P(X ≥ k) for X ~ Binomial(n, p), continued to non-integer k and n by the incomplete beta."""
    ok = k > 0
    out = np.ones_like(k)
    out[ok] = special.betainc(k[ok], n[ok] - k[ok] + 1, p[ok])
    return out


def _lower_tail(k: FloatArray, n: FloatArray, p: FloatArray) -> FloatArray:
    """P(X ≤ k), as ``_upper_tail``."""
    ok = n - k > 0
    out = np.ones_like(k)
    out[ok] = special.betainc(n[ok] - k[ok], k[ok] + 1, 1 - p[ok])
    return out


def rate_ratio_test(current: npt.ArrayLike, comparison: npt.ArrayLike, current_exposure: npt.ArrayLike = 1.0,
                    comparison_exposure: npt.ArrayLike = 1.0, dispersion: npt.ArrayLike = 1.0,
                    confidence: float = 0.95) -> pd.DataFrame:
    """Exact conditional test of two (quasi-)Poisson rates, element by element.

    Returns rate_ratio ((y1/t1) / (y0/t0); inf when y0 is 0, NaN when both are), ci_low,
    ci_high (inf when y0 is 0) and p_value (NaN where there are no events to test).
    """
    y1, y0, t1, t0, phi = (np.atleast_1d(np.asarray(a, dtype=float)) for a in
                           np.broadcast_arrays(current, comparison, current_exposure, comparison_exposure,
                                               dispersion))
    y1, y0, t1, t0, phi = (a.copy() for a in (y1, y0, t1, t0, phi))
    phi = np.where(np.isnan(phi) | (phi < 1), 1.0, phi)
    valid = ~(np.isnan(y1) | np.isnan(y0) | np.isnan(t1) | np.isnan(t0)) & (t1 > 0) & (t0 > 0)
    k = np.where(valid, y1 / phi, 0.0)
    n = np.where(valid, (y1 + y0) / phi, 0.0)
    tested = valid & (n > 0)
    p0 = np.where(valid, t1 / np.where(valid, t1 + t0, 1.0), 0.5)
    alpha = 1 - confidence
    p_value = np.full(k.shape, np.nan)
    if tested.any():
        tails = np.minimum(_upper_tail(k[tested], n[tested], p0[tested]),
                           _lower_tail(k[tested], n[tested], p0[tested]))
        p_value[tested] = np.minimum(1.0, 2 * tails)
    p_low = np.zeros(k.shape)
    p_high = np.ones(k.shape)
    has_current = tested & (k > 0)
    p_low[has_current] = special.betaincinv(k[has_current], n[has_current] - k[has_current] + 1, alpha / 2)
    has_comparison = tested & (n - k > 0)
    p_high[has_comparison] = special.betaincinv(k[has_comparison] + 1, n[has_comparison] - k[has_comparison],
                                                1 - alpha / 2)
    scale = np.where(valid, t0 / np.where(valid, t1, 1.0), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (y1 / t1) / (y0 / t0)
        ci_low = p_low / (1 - p_low) * scale
        ci_high = np.where(p_high >= 1, np.inf, p_high / (1 - p_high)) * scale
    ratio = np.where(valid & (y1 + y0 > 0), ratio, np.nan)
    ci_low = np.where(tested, ci_low, np.nan)
    ci_high = np.where(tested, ci_high, np.nan)
    return pd.DataFrame({"rate_ratio": ratio, "ci_low": ci_low, "ci_high": ci_high, "p_value": p_value})


def benjamini_hochberg(p_values: npt.ArrayLike) -> FloatArray:
    """Benjamini–Hochberg adjusted p-values (q-values, ``scipy.stats.false_discovery_control``); NaN stays
    NaN and is not counted in m."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    present = ~np.isnan(p)
    if present.any():
        q[present] = stats.false_discovery_control(p[present], method="bh")
    return q


def successive_difference_dispersion(values: npt.ArrayLike, variances: npt.ArrayLike | None = None) -> tuple[float,
                                                                                                             int]:
    """φ and the number of consecutive pairs it rests on: Σ (y_t − y_{t−1})² / Σ (v_t + v_{t−1}).

    ``variances`` are each value's nominal (Poisson or binomial) variance; for counts they are
    the counts themselves. Pairs with a missing value on either side are left out. NaN when
    the denominator is 0 (no events at all). Not floored here.
    """
    y = np.asarray(values, dtype=float)
    v = y if variances is None else np.asarray(variances, dtype=float)
    pair = ~(np.isnan(y[1:]) | np.isnan(y[:-1]) | np.isnan(v[1:]) | np.isnan(v[:-1]))
    squares = (np.diff(y)[pair] ** 2).sum()
    expected = (v[1:] + v[:-1])[pair].sum()
    pairs = int(pair.sum())
    return (float(squares / expected) if expected > 0 else np.nan), pairs


def dispersion_table(series: pd.DataFrame, config: Config) -> pd.DataFrame:
    """φ per unit × measure from its period series (unit_code, measure_id, period_start, value,
    numerator, denominator; periods before a unit's history are NaN).

    Counts use the counts as their variance. Rates use their nominal variance: binomial
    ``r(1 − r/per)·per / den`` when the numerator never exceeds the denominator (a
    proportion), Poisson ``r·per / den`` otherwise. Value measures get no φ (NaN). Estimates
    are floored at 1; with fewer than ``MIN_PAIRS`` pairs the measure's median φ is used.
    Returns unit_code, measure_id, dispersion, dispersion_pairs, dispersion_source
    (``own history``, ``median of units`` or ``poisson``).
    """
    kinds = {m.id: m for m in config.measures}
    rows = []
    for (unit, measure_id), group in series.sort_values("period_start").groupby(["unit_code", "measure_id"],
                                                                               sort=False):
        measure = kinds[str(measure_id)]
        if measure.kind == "value":
            rows.append((unit, measure_id, np.nan, 0))
            continue
        y = group["value"].to_numpy(dtype=float)
        variances = None
        if measure.kind == "rate":
            num = group["numerator"].to_numpy(dtype=float)
            den = group["denominator"].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                den = np.where(den > 0, den, np.nan)
                proportion = bool(np.nanmax(num - den, initial=-1.0) <= 0)
                share = y / measure.per
                variances = (share * (1 - share) if proportion else share) * measure.per ** 2 / den
        phi, pairs = successive_difference_dispersion(y, variances)
        rows.append((unit, measure_id, phi, pairs))
    out = pd.DataFrame(rows, columns=["unit_code", "measure_id", "raw", "dispersion_pairs"])
    enough = (out["dispersion_pairs"] >= MIN_PAIRS) & out["raw"].notna()
    own = out["raw"].where(enough).clip(lower=1.0)
    leaf = ~out["unit_code"].isin([TOTAL, *(u.code for u in divisions(config))])  # the accountable units
    median = own[leaf].groupby(out.loc[leaf, "measure_id"]).median()
    fallback = out["measure_id"].map(median)
    value_kind = out["measure_id"].map(lambda m: kinds[str(m)].kind == "value")
    out["dispersion"] = own.fillna(fallback).fillna(1.0).where(~value_kind)
    out["dispersion_source"] = np.select([value_kind, enough, fallback.notna()],
                                         ["none", "own history", "median of units"], "poisson")
    return out[["unit_code", "measure_id", "dispersion", "dispersion_pairs", "dispersion_source"]]


def significance_table(comparisons: pd.DataFrame, dispersion: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The rate-ratio test of every count unit × measure × window, against last year and against
    the multi-year baseline, with BH q-values over the whole table and a label.

    ``comparisons`` is ``baselines.comparison_table``'s output. Rates and values are not tested
    here (label ``not tested``; their SPC chart judges them). ``judgement`` is ``worse`` or
    ``better`` for a significant change given the polarity (``change`` for neutral measures),
    else empty. ``small_numbers``: both counts below ``config.small_number``.
    """
    settings = config.analysis
    frame = comparisons.merge(dispersion[["unit_code", "measure_id", "dispersion"]],
                              on=["unit_code", "measure_id"], how="left")
    kinds = frame["measure_id"].map({m.id: m.kind for m in config.measures})
    parts = []
    for basis, value, exposure in (("last_year", "last_year", "last_year_days"),
                                   ("baseline", "baseline_total", "baseline_days")):
        parts.append(pd.DataFrame({
            "unit_code": frame["unit_code"], "measure_id": frame["measure_id"], "window": frame["window"],
            "basis": basis, "current": frame["current"], "comparison": frame[value],
            "current_days": frame["days"], "comparison_days": frame[exposure],
            "dispersion": frame["dispersion"] if settings.overdispersion else 1.0, "kind": kinds,
            "comparison_level": frame["last_year"] if basis == "last_year" else frame["baseline"],
        }))
    table = pd.concat(parts, ignore_index=True)
    counts = (table["kind"] == "count").to_numpy()
    test = rate_ratio_test(table["current"].where(counts), table["comparison"].where(counts),
                           table["current_days"], table["comparison_days"], table["dispersion"].fillna(1.0),
                           settings.confidence)
    table = pd.concat([table, test], axis=1)
    middle = table["unit_code"].isin([u.code for u in divisions(config)]).to_numpy()
    q_value = np.full(len(table), np.nan)
    for family in (~middle, middle):
        q_value[family] = benjamini_hochberg(table["p_value"].to_numpy(dtype=float)[family])
    table["q_value"] = q_value
    significant = table["q_value"] <= settings.fdr
    up = table["rate_ratio"] > 1
    table["label"] = np.select(
        [~counts, table["comparison"].isna(), table["p_value"].isna(), significant & up, significant & ~up],
        [NOT_TESTED, NOT_TESTED, NO_EVENTS, SIGNIFICANT_INCREASE, SIGNIFICANT_DECREASE], NORMAL_VARIATION)
    polarity = table["measure_id"].map({m.id: m.polarity for m in config.measures})
    worse = (up & (polarity == "lower")) | (~up & (polarity == "higher"))
    table["judgement"] = np.where(significant, np.where(polarity == "neutral", "change",
                                                        np.where(worse, "worse", "better")), "")
    with np.errstate(divide="ignore", invalid="ignore"):
        level_change = 100.0 * (table["current"] / table["comparison_level"] - 1)
    table["pct_change"] = level_change.where(table["comparison_level"].fillna(0) != 0)
    limit = config.small_number
    table["small_numbers"] = counts & (table["current"] < limit) & (table["comparison_level"] < limit)
    table["comparison"] = table["comparison_level"]
    return table[SIGNIFICANCE_COLUMNS]
