"""The words of a finding: its reason, the explanation of its evidence, the chair's questions and the support
to offer (``analysis.probe`` decides what is a finding and how it ranks; this module only says it).

**Reasons** lead with the headline comparison and say whether it is significant: "Robbery up
50% on last year's 28 days (15 vs 10, within normal variation); significantly above similar
units (1.27 vs 0.48 per 1,000 residents a year)". Peer rates of counts are per
``analysis.per_population`` residents a year (see ``peers``).

**Questions and support** come from one table, ``PROMPTS``: per evidence type (a significant
change, each SPC rule, a trajectory off track, worse than peers, an improvement, and the three
kinds of best) one or two challenge questions and a support offer, phrased for a chair and
citing the figure. A finding uses its first evidence type's prompt (``prompt_key``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from compstat import numbers
from compstat.analysis.peers import ABOVE
from compstat.analysis.rare import LONG_WINDOW, METHOD_T
from compstat.analysis.significance import NO_EVENTS, NORMAL_VARIATION, NOT_TESTED
from compstat.analysis.trajectory import distinct_figures
from compstat.config import Measure

Record = dict[Any, Any]
NOT_LIKE_FOR_LIKE = "not like-for-like"


class Found(Protocol):
    """What a finding rests on in one direction (``probe``'s gathered evidence)."""

    @property
    def changes(self) -> list[Record]: ...
    @property
    def chart(self) -> Record | None: ...
    @property
    def plan(self) -> Record | None: ...
    @property
    def peer(self) -> Record | None: ...
    @property
    def best(self) -> list[str]: ...
    @property
    def best_plan(self) -> Record | None: ...
    @property
    def best_chart(self) -> Record | None: ...


@dataclass(frozen=True)
class Phrasing:
    """How a cycle's comparisons read: its period (week or month) and its baseline's years."""

    weekly: bool
    years: int

    @property
    def period_word(self) -> str:
        return "week" if self.weekly else "month"

    def basis_phrase(self, window: str, label: str, basis: str) -> str:
        """How a comparison reads: "last year's 28 days", "the 3-year average for the same week"."""
        if window == LONG_WINDOW:
            return "the 52 weeks before" if self.weekly else "the 12 months before"
        span = f"the same {self.period_word}" if window == "period" else f"the same {label.lower()}"
        if basis == "baseline":
            return f"the {self.years}-year average for {span}"
        return f"{span} last year" if window == "period" else f"last year's {label.lower()}"

    def window_label(self, window: str) -> str:
        return {"period": self.period_word.capitalize(), "28d": "28 days", "3m": "3 months",
                "ytd": "year to date", LONG_WINDOW: "last 52 weeks" if self.weekly else "last 12 months",
                }.get(window, window)


def finding_words(measure: Measure, shown: Record | None, cited: Record | None, significant: bool, found: Found,
                  phrasing: Phrasing, *, rising: bool, kinds: list[str], prompt_key: str, small: bool,
                  caveats: list[str], caveat_reason: str) -> dict[str, str]:
    """A finding's ``reason``, ``explanation``, ``question`` and ``support``: the reason cites ``cited`` (the
    comparison the finding rests on), the questions ``shown`` (the comparison its row shows)."""
    said = reason(measure, cited, significant, found, phrasing, rising=rising)
    if caveats:
        said += caveat_text(caveats, caveat_reason)
    explained = [k for k in kinds if k in EXPLANATIONS] + (["small_numbers"] if small else []) + (
        ["quality"] if caveats else [])
    cites = figures(measure, shown, found, phrasing, rising)
    prompt = PROMPTS[prompt_key]
    return {"reason": said, "explanation": " ".join(EXPLANATIONS[k] for k in explained),
            "question": " ".join(q.format(**cites) for q in prompt.questions),
            "support": prompt.support.format(**cites)}


EXPLANATIONS = {
    "change": ("Compared with the same period in earlier years. 'Significant' means a change this large would "
               "rarely happen by chance, after allowing for crime's natural ups and downs and for the many "
               "comparisons made."),
    "spc": ("The chart (SPC) shows the range the unit's own history makes normal. A point outside it, or a long "
            "run on one side, is a 'special cause': something has changed (orange: a concern; blue: an "
            "improvement; grey: normal variation)."),
    "trajectory": ("The target's planned path through the year. The rating says how likely the target is to be "
                   "met at the current rate: green, amber-green, amber-red or red."),
    "peers": ("Compared with the average of similar units. 'Significantly' means the gap is larger than chance "
              "would explain; the unit's own history is the first test."),
    "better_than_peers": ("Compared with the average of similar units: 'significantly better' means the gap is "
                          "larger than chance would explain, and the unit is not getting worse on its own history."),
    "on_track": ("The target's planned path through the year: green means that even at the unlucky end of the "
                 "range of likely outcomes the target is met."),
    "consistently_passing": ("The chart's normal range lies wholly on the right side of the target, so it is met "
                             "every period unless something changes."),
    "small_numbers": "Small numbers: percentages on a handful of events swing widely, so read the counts.",
    "quality": ("Caution: the data behind this comparison changed (a new or merged unit, a definition change) or "
                "may still be revised, so part of the change may be the data, not what happened."),
}


@dataclass(frozen=True)
class Prompt:
    """What a chair might ask about one kind of evidence, and what support to offer. Fields in
    braces are filled from the finding's figures (``_figures``)."""

    questions: tuple[str, ...]
    support: str


PROMPTS: dict[str, Prompt] = {
    "change": Prompt(
        ("{Measure} is {change}: what is behind it — where, when, which offences or victims?",
         "What is being done about it, and when should we see the effect?"),
        "An analyst's problem profile of {measure} (where, when, who) before the next meeting"),
    "spc_outside_limits": Prompt(
        ("{Measure} was {latest} this {period}, outside the range its own history makes normal ({lpl} to {upl}): "
         "what happened, and is it a one-off or the start of something?",),
        "A review of this {period}'s {measure} with the analyst, to tell a one-off from a new pattern"),
    "spc_shift": Prompt(
        ("{Measure} has been {side} its average of {mean} for {run} running: what changed when the run began, "
         "and what is the plan to bring it back?",),
        "Help to date the change and match it with what changed on the ground (staffing, patrols, recording)"),
    "spc_trend": Prompt(
        ("{Measure} has {moved} {run} in a row (now {latest}): what is driving the steady {movement}, and what "
         "will turn it?",),
        "An analyst's look at what drives the trend, and a problem-solving plan to turn it"),
    "spc_two_in_three": Prompt(
        ("{Measure} has come close to the edge of its normal range in 2 of the last 3 {periods} (now {latest}, "
         "against limits of {lpl} to {upl}): is something building up, and what is being done before it breaks "
         "through?",),
        "A short review of the recent incidents, to catch the cause before it grows"),
    "trajectory": Prompt(
        ("{Measure} is projected to end the year at {projection} against a target of {target} ({rating}): what "
         "will close the gap, and by when?",),
        "A recovery plan with named actions and the resources to deliver them, reviewed at the next meeting"),
    "peers": Prompt(
        ("{Measure} is {peer_side} similar units ({value} vs {peer_mean}{per}): what explains the gap, and what "
         "do the units doing better do differently?",),
        "An introduction to the similar units doing better, to compare approaches"),
    "improvement": Prompt(
        ("{Measure} is {improved}: what made the difference, and will it last?", "Could other units use it?"),
        "Help to write it up as good practice and share it with similar units"),
    "better_than_peers": Prompt(
        ("{Measure} is {peer_side} similar units ({value} vs {peer_mean}{per}) and not getting worse: what do you "
         "do that they could copy?",),
        "A peer visit or a short good-practice note, so similar units can learn from it"),
    "on_track": Prompt(
        ("{Measure} is on course for its target ({projection} projected against {target}, {rating}): what will "
         "keep it there to the year end?",),
        "Recognition at the meeting, and the resources or partners that protect the result"),
    "t_chart": Prompt(
        ("{Measure}: events have come closer together than usual ({gap} days between the last two, against a "
         "usual {gap_mean}): are they linked, and what is being done to stop the next one?",),
        "A case review of the recent {measure} events with the analyst, to see whether they are linked"),
    "consistently_passing": Prompt(
        ("{Measure} meets its target of {target} every {period} (normal range {lpl} to {upl}): what keeps it so "
         "reliable?",),
        "Share the approach with the units that miss the target"),
}
RULE_TEXT = {
    "outside_limits": "outside the process limits",
    "trend": "a run of {trend} {periods}",
    "two_in_three": "2 of 3 {periods} close to a limit",
    "shift": "a run of {periods} {side} average",
}
LABEL_TEXT = {NORMAL_VARIATION: "within normal variation", NO_EVENTS: "no events in either",
               NOT_TESTED: "not tested for significance"}


def in_sentence(name: str) -> str:
    """A measure's name inside a sentence: "Burglary" → "burglary", but "A&E attendances" as it is."""
    return name[0].lower() + name[1:] if len(name) > 1 and name[1].islower() else name


def figures(measure: Measure, shown: Record | None, found: Found, phrasing: Phrasing,
             rising: bool) -> dict[str, str]:
    """The figures a prompt may cite, as text ("n/a" where the finding has none)."""
    label = measure.unit_label
    chart = found.chart or found.best_chart
    plan = found.plan or found.best_plan
    peer = found.peer
    period = phrasing.period_word
    out = {"Measure": measure.name, "measure": in_sentence(measure.name), "period": period,
           "periods": f"{period}s", "change": "n/a", "improved": "n/a", "latest": "n/a", "mean": "n/a",
           "lpl": "n/a", "upl": "n/a", "run": "n/a", "side": "above" if rising else "below",
           "moved": "risen" if rising else "fallen", "movement": "rise" if rising else "fall",
           "projection": "n/a", "target": "n/a", "rating": "n/a", "peer_side": "n/a", "value": "n/a",
           "peer_mean": "n/a", "per": "", "gap": "n/a", "gap_mean": "n/a"}
    if shown is not None:
        out["change"] = headline(measure, shown, phrasing)[len(measure.name) + 1:]
    if chart is not None:
        lower = chart.get("lpl", np.nan)
        if measure.kind == "count" and not pd.isna(lower):
            lower = max(float(lower), 0.0)  # a count's range starts at 0 however low the limit
        out.update(latest=number(chart["y"], label), mean=number(chart["mean"], label),
                   lpl=number(lower, label), upl=number(chart.get("upl", np.nan), label),
                   run=_count(int(chart["periods_running"]) or 1, period))
        if chart is found.best_chart:
            out["target"] = number(chart.get("target", np.nan), label)
    spc_phrase = (f"{out['latest']} this {period} against an average of {out['mean']}, beyond normal variation"
                  if found.chart is not None else "")
    if found.chart is not None and found.chart.get("method") == METHOD_T:
        out.update(gap=number(found.chart["gap"]), gap_mean=number(found.chart["gap_mean"]))
        spc_phrase = f"{t_gap(found.chart)}, beyond normal variation on its t-chart"
    out["improved"] = out["change"] if found.changes else spc_phrase or out["change"]
    if plan is not None:
        projection, target = number_pair(plan["projection"], plan["target_level"], label)
        out.update(projection=projection, target=target, rating=str(plan["confidence"]))
        if chart is None:  # a floor: its interval is the SPC process limits
            out.update(lpl=number(plan.get("projection_low", np.nan), label),
                       upl=number(plan.get("projection_high", np.nan), label))
    if peer is not None:
        out.update(peer_side="significantly " + ("above" if peer["label"] == ABOVE else "below"),
                   value=number(peer["value"], label), peer_mean=number(peer["peer_mean"], label),
                   per="" if peer["basis"] in ("rate", "value") else f" {peer['basis']}")
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def caveat_text(caveats: list[str], why: str) -> str:
    what = " and ".join(caveats)
    because = f" ({why})" if why else ""
    effect = ("part of the change may be the data, not what happened" if NOT_LIKE_FOR_LIKE in caveats
              else "late recording could still erase it")
    return f". Caution: this comparison is {what}{because}, so {effect}"


def number(value: float, unit_label: str = "") -> str:
    """A figure in a sentence: whole from 10 (``1,234``), three significant figures below (``4.56``); ``n/a``
    without one."""
    if value is None or pd.isna(value):
        return "n/a"
    whole = float(value).is_integer() or abs(value) >= 10
    return f"{numbers.count(value) if whole else numbers.significant(value)}{unit_label}"


def number_pair(first: float, second: float, unit_label: str = "") -> tuple[str, str]:
    """Two figures compared in one sentence (a projection and its target), as ``_number`` gives them, with
    a decimal or more where they would otherwise read the same ("103.7 against 103.5", not "104 against
    104"; ``trajectory.distinct_figures``)."""
    texts = (number(first, unit_label), number(second, unit_label))
    if texts[0] != texts[1] or first is None or second is None or pd.isna(first) or pd.isna(second):
        return texts
    shown = distinct_figures(float(first), float(second), ".0f" if abs(float(first)) >= 10 else ".3g")
    return f"{shown[0]}{unit_label}", f"{shown[1]}{unit_label}"


def headline(measure: Measure, shown: Record, phrasing: Phrasing) -> str:
    """The headline comparison: "Burglary up 42% on last year's 28 days (112 vs 79)"."""
    name, label_unit = measure.name, measure.unit_label
    against = phrasing.basis_phrase(shown["window"], phrasing.window_label(shown["window"]), shown["basis"])
    now, then = number(shown["current"], label_unit), number(shown["comparison"], label_unit)
    points = shown["current"] - shown["comparison"]
    if shown["basis"] == "spc":
        return f"{name} {now} this {phrasing.period_word} against an average of {then}"
    if measure.kind != "count" and label_unit == "%" and not pd.isna(points):
        way = "up" if points > 0 else "down" if points < 0 else "unchanged"
        size = f" {abs(points):.1f} points" if way != "unchanged" else ""
        return f"{name} {way}{size} on {against} ({now} vs {then})"
    if shown["small_numbers"] or pd.isna(shown["pct_change"]):
        return f"{name} {now} against {then} for {against}" + (" (small numbers)" if shown["small_numbers"] else "")
    way = "up" if shown["pct_change"] > 0 else "down" if shown["pct_change"] < 0 else "unchanged"
    pct = f" {abs(shown['pct_change']):.0f}%" if way != "unchanged" else ""
    return f"{name} {way}{pct} on {against} ({now} vs {then})"


def reason(measure: Measure, shown: Record | None, significant: bool, found: Found, phrasing: Phrasing,
            rising: bool) -> str:
    """One plain-English sentence: the headline comparison and whether it is significant, then each
    piece of evidence.

    ``rising``: whether the finding's direction is the measure going up (a concern on a
    lower-is-better measure, an improvement on a higher-is-better one). A percentage measure's
    change is given in percentage points.
    """
    label_unit = measure.unit_label
    lead = measure.name if shown is None else headline(measure, shown, phrasing)
    label = LABEL_TEXT.get(str(shown.get("label", ""))) if shown is not None and not significant else None
    if label:  # not significant: say so inside the brackets, or add them
        lead = lead[:-1] + f", {label})" if lead.endswith(")") else f"{lead} ({label})"
    evidence = []
    if significant and shown is not None:
        evidence.append(f"a {shown['label']}")
    chart, plan, peer = found.chart, found.plan, found.peer
    if chart is not None and chart.get("method") == METHOD_T:
        evidence.append(f"the time between events beyond normal variation (t-chart: {t_gap(chart)}; usually "
                        f"{number(chart['gap_mean'])}, limits {number(chart['gap_lpl'])} to "
                        f"{number(chart['gap_upl'])} days)")
    elif chart is not None:
        running = int(chart["periods_running"])
        when = f"for {running} {phrasing.period_word}s running" if running > 1 else f"this {phrasing.period_word}"
        detail = RULE_TEXT.get(str(chart["special_cause_rule"]), "").format(
            periods=f"{phrasing.period_word}s", trend="rising" if rising else "falling",
            side="above" if rising else "below")
        evidence.append(f"beyond normal variation {when}" + (f" ({detail})" if detail else ""))
    if plan is not None:
        projected, target = number_pair(plan["projection"], plan["target_level"], label_unit)
        evidence.append(f"off track for its target ({plan['confidence']}: projected {projected} against {target})")
    if peer is not None:
        side = "above" if peer["label"] == ABOVE else "below"
        per = "" if peer["basis"] in ("rate", "value") else f" {peer['basis']}"
        caveat = peer.get("caveat")  # peers not like-for-like: left out of the average, or kept and said
        evidence.append(f"significantly {side} similar units ({number(peer['value'], label_unit)} vs "
                        f"{number(peer['peer_mean'], label_unit)}{per}"
                        + (f"; {caveat}" if isinstance(caveat, str) and caveat else "") + ")")
    best_plan, best_chart = found.best_plan, found.best_chart
    if "on_track" in found.best and best_plan is not None:
        projected, target = number_pair(best_plan["projection"], best_plan["target_level"], label_unit)
        evidence.append(f"on course for its target (green: projected {projected} against {target})")
    if "consistently_passing" in found.best:
        if best_chart is not None:
            evidence.append(f"meeting its target every {phrasing.period_word} (process limits "
                            f"{number(best_chart.get('lpl', np.nan), label_unit)} to "
                            f"{number(best_chart.get('upl', np.nan), label_unit)}, target "
                            f"{number(best_chart.get('target', np.nan), label_unit)})")
        elif best_plan is not None:
            evidence.append(f"meeting its standard of {number(best_plan['target_level'], label_unit)} every "
                            f"{phrasing.period_word} (green)")
    if not evidence:
        return lead
    return lead + ("; " if label else ", ") + "; ".join(evidence)


def t_gap(chart: Record) -> str:
    """The judged gap in words: "95 days since the last event" or "2 days between the last two events"."""
    what = "between the last two events" if chart.get("judged") == "latest" else "since the last event"
    return f"{number(chart['gap'])} days {what}"
