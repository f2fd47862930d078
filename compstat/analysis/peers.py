"""Similar units: each unit against the average of its peers, as the Home Office's iQuanta does.

**Peers.** ``analysis.peer_groups`` names groups of unit codes; a unit's peers are the other
members of its group. Without groups — and for a unit in no configured group — a unit's peers
are the ``analysis.peers_k`` units nearest to it by Euclidean distance over standardised
context variables (each variable minus its mean over the units, divided by its standard
deviation): ``analysis.peer_variables``, or by default population and every context variable
all units have. With no variables at all (units without population or context), every other
unit is a peer (``all units``).

**Comparison.** A count is compared as a rate per ``analysis.per_population`` residents a
year (the window's count × 365 / its days, so a week, 28 days and a year to date read on one
scale: 9 burglaries in 28 days among 50,000 residents is 9 × 365/28 / 50 = 2.35 per 1,000 a
year), a rate measure as itself. The unit's value gets an exact ``confidence`` interval —
Poisson for counts (and for rates whose numerator can exceed the denominator),
Clopper–Pearson for proportions — widened for over-dispersion by using effective counts
``count / φ``. The peer average is the unweighted mean of the peers' values (the unit itself
left out). As in iQuanta, the unit is "significantly above" its peers when its whole interval
lies above the average, "significantly below" when it lies below, and "within" otherwise.

**Like for like.** A peer whose figure for the measure and window the quality step marks not
like-for-like (``QualityResult.comparisons``: a missing week, a series that stopped, a definition
change) is left out of the average; ``left_out`` names it and ``caveat`` says "average of 4 of 5
similar units: Northgate (N1) left out, not like-for-like". When
that would leave fewer than ``MIN_PEERS`` (2) peers — and fewer than there are — every peer stays in
and ``caveat`` says which of them are not like-for-like.

**No comparison is silent.** Value measures, counts of units without a population, units
without the variables to find similar units by, and units whose peers have no value are not
compared: the row's ``note`` says why (and, for a unit in no configured group, how its peers
were found). ``peer_plan`` also lists the settings that drop comparisons or matching variables
(units without a population among units with one, a context key some units lack, units in
no configured group), which ``analyse.check_settings`` reports as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from compstat.analysis.measures import key_runs
from compstat.config import Config, iter_units
from compstat.figures import TOTAL
from compstat.hierarchy import division_peer_groups, divisions

ABOVE = "significantly above"
BELOW = "significantly below"
WITHIN = "within"
ALL_UNITS = "all units"
PEER_COLUMNS = [
    "unit_code", "measure_id", "window", "peer_group", "peers", "n_peers", "value", "ci_low", "ci_high",
    "peer_mean", "pct_vs_peers", "label", "judgement", "basis", "note", "left_out", "caveat",
]
DAYS_A_YEAR = 365
MIN_PEERS = 2  # peers left in the average when some are not like-for-like; fewer: all stay, with a caveat


def peer_variables(config: Config) -> list[str]:
    """The context variables peers are matched on."""
    if config.analysis.peer_variables:
        return list(config.analysis.peer_variables)
    units = config.leaf_units
    names = ["population"] if all(u.population for u in units) else []
    shared = set.intersection(*(set(u.context) for u in units)) if units else set()
    return names + sorted(shared)


def context_frame(config: Config, variables: list[str]) -> pd.DataFrame:
    """Units × variables (population or context keys); NaN where a unit lacks one."""
    rows = {u.code: {v: (u.population if v == "population" else u.context.get(v)) for v in variables}
            for u in config.leaf_units}
    return pd.DataFrame.from_dict(rows, orient="index", columns=variables).astype(float)


def nearest_peers(context: pd.DataFrame, k: int) -> dict[str, list[str]]:
    """Each unit's ``k`` nearest units by standardised Euclidean distance (ties: config order).

    Variables with no spread are ignored (with none left, all units are equally near); units
    missing a variable get no peers.
    """
    complete = context.dropna()
    spread = complete.std(ddof=0)
    usable = spread.index[spread > 0]
    if complete.empty:
        return {}
    z = ((complete[usable] - complete[usable].mean()) / spread[usable]).to_numpy(dtype=float)
    distance = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(distance, np.inf)
    codes = complete.index.to_list()
    keep = min(k, len(codes) - 1)
    return {code: [codes[j] for j in np.argsort(distance[i], kind="stable")[:keep]] for i, code in enumerate(codes)}


@dataclass(frozen=True)
class PeerPlan:
    """Who is compared with whom, why some units are not, and what the settings leave out.

    ``groups``: unit → (group name, peer codes); ``notes``: unit → why it has no peers, or how
    its peers were found when that is not the configured way; ``warnings``: one line per
    settings problem that changes or drops comparisons (for ``analyse.check_settings``).
    """

    groups: dict[str, tuple[str, list[str]]]
    notes: dict[str, str]
    warnings: list[str]


def peer_plan(config: Config) -> PeerPlan:
    """The peers of every leaf unit: configured groups, else (and for a unit in no group) the nearest units."""
    settings = config.analysis
    codes = [u.code for u in config.leaf_units]
    grouped = {code for members in settings.peer_groups.values() for code in members}
    matched = [c for c in codes if c not in grouped]  # the units whose peers are found by matching
    variables = peer_variables(config)
    notes: dict[str, str] = {}
    warnings = _population_warning(config)
    if matched and not settings.peer_variables:
        warnings += _dropped_context(config)
    if variables:
        context = context_frame(config, variables)
        nearest = {code: (f"{settings.peers_k} most similar", peers)
                   for code, peers in nearest_peers(context, settings.peers_k).items()}
        for variable in variables:
            lacking = [c for c in context.index[context[variable].isna()] if c in matched]
            for code in lacking:
                notes.setdefault(code, f"no {_variable_name(variable)} to find similar units by")
            if lacking:
                warnings.append(f"analysis.peer_variables: {_listed(lacking)} no {_variable_name(variable)}: "
                                "no similar units can be found for them, so they get no peer comparison")
    else:
        nearest = {code: (ALL_UNITS, [c for c in codes if c != code]) for code in codes}
    if not settings.peer_groups:
        return PeerPlan(nearest, notes, warnings)
    groups: dict[str, tuple[str, list[str]]] = {}
    for name, members in settings.peer_groups.items():
        for code in members:
            groups.setdefault(code, (name, [m for m in members if m != code]))
    how = f"its {settings.peers_k} most similar units" if variables else "all other units"
    for code in matched:
        if code in nearest:
            groups[code] = nearest[code]
            notes[code] = f"in no configured peer group: compared with {how}"
    if matched:
        warnings.append(f"analysis.peer_groups: {_listed(matched, 'is', 'are')} in no peer group: each is compared "
                        f"with {how} instead")
    return PeerPlan(groups, notes, warnings)


def peer_groups(config: Config) -> dict[str, tuple[str, list[str]]]:
    """Each leaf unit's (group name, peer codes): configured groups, else the nearest units (``peer_plan``)."""
    return peer_plan(config).groups


def _variable_name(variable: str) -> str:
    return "population" if variable == "population" else f"'{variable}'"


def _listed(codes: list[str], singular: str = "has", plural: str = "have") -> str:
    shown = ", ".join(codes[:10]) + (f" and {len(codes) - 10} more" if len(codes) > 10 else "")
    return f"unit {shown} {singular}" if len(codes) == 1 else f"units {shown} {plural}"


def _population_warning(config: Config) -> list[str]:
    """Units without a population among units with one: their counts cannot be compared, and the
    default matching leaves population out for everyone."""
    units = config.leaf_units
    lacking = [u.code for u in units if not u.population]
    if not lacking or len(lacking) == len(units):
        return []
    matching = ("" if config.analysis.peer_variables or
                {u.code for u in units} <= {c for m in config.analysis.peer_groups.values() for c in m}
                else "; population is left out of the peer matching for every unit")
    return [f"units[].population: {_listed(lacking)} no population: their counts are not compared with peers "
            f"(a count is compared per resident){matching}"]


def _dropped_context(config: Config) -> list[str]:
    """The default matching uses only context keys every unit has: one some units lack is left out."""
    units = config.leaf_units
    out = []
    for key in sorted({k for u in units for k in u.context}):
        missing = [u.code for u in units if key not in u.context]
        if missing:
            out.append(f"units[].context.{key}: {_listed(missing)} no '{key}': it is left out of the peer "
                       "matching for every unit (set analysis.peer_variables to choose)")
    return out


def poisson_interval(count: np.ndarray, dispersion: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact interval for a (quasi-)Poisson mean: φ × Garwood's interval at the effective count ``count / φ``."""
    alpha = 1 - confidence
    k = count / dispersion
    ok = ~np.isnan(k)
    low, high = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    low[ok] = np.where(k[ok] > 0, special.gammaincinv(np.where(k[ok] > 0, k[ok], 1.0), alpha / 2), 0.0)
    high[ok] = special.gammaincinv(k[ok] + 1, 1 - alpha / 2)
    return low * dispersion, high * dispersion


def proportion_interval(numerator: np.ndarray, denominator: np.ndarray, dispersion: np.ndarray,
                        confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson interval for ``numerator / denominator`` at effective counts (divided by φ)."""
    alpha = 1 - confidence
    k, n = numerator / dispersion, denominator / dispersion
    ok = ~(np.isnan(k) | np.isnan(n)) & (n > 0)
    low, high = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    has = ok & (k > 0)
    low[ok] = 0.0
    low[has] = special.betaincinv(k[has], n[has] - k[has] + 1, alpha / 2)
    high[ok] = 1.0
    below = ok & (n - k > 0)
    high[below] = special.betaincinv(k[below] + 1, n[below] - k[below], 1 - alpha / 2)
    return low, high


def unit_intervals(comparisons: pd.DataFrame, dispersion: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Each unit's compared value (count rate or rate) with its interval, per window."""
    settings = config.analysis
    frame = comparisons.merge(dispersion[["unit_code", "measure_id", "dispersion"]],
                              on=["unit_code", "measure_id"], how="left")
    measures = {m.id: m for m in config.measures}
    kind = frame["measure_id"].map(lambda m: measures[m].kind).to_numpy(dtype=object)
    per = frame["measure_id"].map(lambda m: measures[m].per).to_numpy(dtype=float)
    phi = frame["dispersion"].fillna(1.0).to_numpy(dtype=float) if settings.overdispersion else np.ones(len(frame))
    phi = np.maximum(phi, 1.0)
    current = frame["current"].to_numpy(dtype=float)
    num, den = frame["numerator"].to_numpy(dtype=float), frame["denominator"].to_numpy(dtype=float)
    scale = settings.per_population / frame["population"].to_numpy(dtype=float) * DAYS_A_YEAR / frame[
        "days"].to_numpy(dtype=float)
    count_low, count_high = poisson_interval(current, phi, settings.confidence)
    proportion = (kind == "rate") & (num <= den)
    prop_low, prop_high = proportion_interval(num, den, phi, settings.confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_low, rate_high = poisson_interval(num, phi, settings.confidence)
        rate_low, rate_high = rate_low / den * per, rate_high / den * per
    value = np.select([kind == "count", kind == "rate"], [current * scale, current], np.nan)
    low = np.select([kind == "count", proportion, kind == "rate"], [count_low * scale, prop_low * per, rate_low],
                    np.nan)
    high = np.select([kind == "count", proportion, kind == "rate"], [count_high * scale, prop_high * per, rate_high],
                     np.nan)
    per_text = f"per {settings.per_population:,.0f} residents a year"
    basis = np.select([kind == "count", kind == "rate"], [per_text, "rate"], "value")
    return frame[["unit_code", "measure_id", "window", "population"]].assign(value=value, ci_low=low, ci_high=high,
                                                                             basis=basis)


def peer_table(comparisons: pd.DataFrame, dispersion: pd.DataFrame, config: Config,
               quality: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each leaf unit × reported measure × window against its peers' average (``PEER_COLUMNS``);
    each division against the other divisions at its depth (``hierarchy.division_peer_groups``).

    ``label`` is ``significantly above``, ``significantly below``, ``within``, or empty where no
    comparison is possible; ``judgement`` reads it with the polarity (``worse``, ``better``,
    ``similar``; empty for neutral measures). ``quality``: the quality step's comparison marks
    (unit_code, measure_id, window, like_for_like, ...; divisions' rolled up): peers not like-for-like
    are left out of the average (``left_out``, ``caveat``; see the module docstring).
    """
    plan = peer_plan(config)
    groups = {**plan.groups, **division_peer_groups(config)}
    alone = {u.code: "the only division at its level: no similar divisions to compare with"
             for u in divisions(config) if u.code not in groups}
    values = unit_intervals(comparisons, dispersion, config)
    values = values[values["unit_code"] != TOTAL]
    rows = values.copy()
    rows["peer_group"] = rows["unit_code"].map(lambda c: groups.get(c, ("", []))[0])
    rows["peers"] = rows["unit_code"].map(lambda c: ",".join(groups.get(c, ("", []))[1]))
    pairs = pd.DataFrame([(unit, peer) for unit, (_, peers) in groups.items() for peer in peers],
                         columns=["unit_code", "peer_code"])
    peer_values = values[["unit_code", "measure_id", "window", "value"]].rename(
        columns={"unit_code": "peer_code", "value": "peer_value"})
    linked = rows[["unit_code", "measure_id", "window"]].merge(pairs, on="unit_code").merge(
        peer_values, on=["peer_code", "measure_id", "window"])
    linked = linked[linked["peer_value"].notna()]
    unsound = _not_like_for_like(quality)
    linked = linked.assign(sound=[(str(p), str(m), str(w)) not in unsound for p, m, w in zip(
        linked["peer_code"], linked["measure_id"], linked["window"], strict=True)])
    used, left_out, caveats = _like_for_like_peers(linked, unit_names(config))
    summary = used.groupby(["unit_code", "measure_id", "window"])["peer_value"].agg(["mean", "count"])
    keys = pd.MultiIndex.from_frame(rows[["unit_code", "measure_id", "window"]])
    rows["peer_mean"] = summary["mean"].reindex(keys).to_numpy()
    rows["n_peers"] = summary["count"].reindex(keys).fillna(0).astype(int).to_numpy()
    rows["left_out"] = left_out.reindex(keys).fillna("").to_numpy(dtype=object)
    rows["caveat"] = caveats.reindex(keys).fillna("").to_numpy(dtype=object)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * (rows["value"] / rows["peer_mean"] - 1)
    rows["pct_vs_peers"] = pct.where(rows["peer_mean"] > 0)
    comparable = rows["peer_mean"].notna() & rows["ci_low"].notna()
    rows["label"] = np.select([~comparable, rows["ci_low"] > rows["peer_mean"], rows["ci_high"] < rows["peer_mean"]],
                              ["", ABOVE, BELOW], WITHIN)
    polarity = rows["measure_id"].map({m.id: m.polarity for m in config.measures})
    worse = ((rows["label"] == ABOVE) & (polarity == "lower")) | ((rows["label"] == BELOW) & (polarity == "higher"))
    better = ((rows["label"] == ABOVE) & (polarity == "higher")) | ((rows["label"] == BELOW) & (polarity == "lower"))
    rows["judgement"] = np.select([polarity == "neutral", ~comparable, worse, better],
                                  ["", "", "worse", "better"], "similar")
    unit_note = rows["unit_code"].map(lambda c: plan.notes.get(c, alone.get(c, ""))).astype(object)
    no_population = rows["basis"].str.startswith("per ") & rows["population"].isna()
    rows["note"] = np.select(
        [rows["basis"] == "value", rows["peers"] == "", no_population, rows["value"].isna(), rows["peer_mean"].isna()],
        ["a value measure is not compared with peers",
         unit_note.where(unit_note != "", "no similar units to compare with"),
         "no population: a count is compared with peers per resident",
         "no value for this window", "none of its peers has a value for this window"],
        unit_note)
    return rows.reset_index(drop=True)[PEER_COLUMNS]


def unit_names(config: Config) -> dict[str, str]:
    """Unit code → "Name (code)", for the caveats."""
    return {u.code: f"{u.name} ({u.code})" for u in iter_units(config.units)}


def _not_like_for_like(quality: pd.DataFrame | None) -> set[tuple[str, str, str]]:
    """(unit, measure, window) of every comparison the quality step marks not like-for-like."""
    if quality is None or quality.empty:
        return set()
    marked = quality[~quality["like_for_like"].astype(bool)]
    return set(zip(marked["unit_code"].astype(str), marked["measure_id"].astype(str), marked["window"].astype(str),
                   strict=True))


def _like_for_like_peers(linked: pd.DataFrame, names: dict[str, str]) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """The peer values each average is taken over, and per (unit, measure, window) the peers left out
    (codes, comma-separated) and the caveat: the not like-for-like peers are left out unless fewer than
    ``MIN_PEERS`` (and fewer than all) would remain, when all stay and the caveat says so."""
    if linked.empty:
        return linked, _keyed({}), _keyed({})
    left: dict[tuple[str, str, str], str] = {}
    caveat: dict[tuple[str, str, str], str] = {}
    key_columns = ["unit_code", "measure_id", "window"]
    mixed = ~linked.groupby(key_columns, sort=False)["sound"].transform("all").astype(bool)
    rows = linked[mixed].sort_values(key_columns, kind="stable")  # only averages with a peer to leave out
    keys = [rows[c].astype(str).to_numpy(dtype=object) for c in key_columns]
    peers, sound = rows["peer_code"].astype(str).to_numpy(dtype=object), rows["sound"].to_numpy(dtype=bool)
    dropped: list[object] = []
    for start, stop in key_runs(*keys):
        k, size = (str(keys[0][start]), str(keys[1][start]), str(keys[2][start])), stop - start
        unsound = [str(c) for c, ok in zip(peers[start:stop], sound[start:stop], strict=True) if not ok]
        listed = ", ".join(names.get(c, c) for c in unsound)
        kept = size - len(unsound)
        if kept >= min(MIN_PEERS, size):
            dropped.extend(rows.index[start:stop][~sound[start:stop]])
            left[k] = ",".join(unsound)
            caveat[k] = f"average of {kept} of {size} similar units: {listed} left out, not like-for-like"
        else:
            every = "both" if size == 2 else f"all {size}"
            them = "it" if len(unsound) == 1 else "them"
            caveat[k] = (f"average of {every} similar units, including {listed}, not like-for-like (too few "
                         f"without {them}): read with caution")
    keep = ~linked.index.isin(dropped)
    return linked[keep], _keyed(left), _keyed(caveat)


def _keyed(values: dict[tuple[str, str, str], str]) -> pd.Series:
    """A (unit, measure, window)-indexed Series of ``values``."""
    index = pd.MultiIndex.from_tuples(list(values) or [("", "", "")], names=["unit_code", "measure_id", "window"])
    return pd.Series(list(values.values()) or [""], index=index, dtype=object)
