"""The analysis in words for the period table's key measures: significance against last year
in the headline window, the SPC variation and target assurance (for a rare-event series: its
facts and its t-chart's or long window's judgement instead), the comparison with similar units
and the delivery confidence, each where the analysis has one.
"""

from __future__ import annotations

from compstat.packs.context.common import (
    PERIOD_NOUN,
    Record,
    float_of,
    headline_window,
    is_missing,
    measure_labels,
    spc_word,
    text_of,
)
from compstat.packs.context.rare import rare_words
from compstat.packs.filters import fmt_ratio, fmt_value
from compstat.packs.lookup import unit_records
from compstat.results import CycleData

ASSURANCE_WORDS = {
    "consistently_passing": "✓ consistently meets",
    "consistently_failing": "✗ consistently misses",
    "inconsistent": "~ hit and miss",
}


def assessments(data: CycleData, unit_code: str) -> dict[str, tuple[str, ...]]:
    """Per measure: significance against last year in the headline window, the SPC variation,
    the peer comparison and the delivery confidence, each where the analysis has one."""
    analysis = data.analysis
    if analysis is None:
        return {}
    window = headline_window(data)
    label = next((w.label for w in data.windows if w.key == window), window)
    out: dict[str, list[str]] = {}
    for r in unit_records(data, "analysis.significance", unit_code):
        if r["window"] != window or r["basis"] != "last_year":
            continue
        word = text_of(r["label"]) + (" (small numbers)" if bool(r["small_numbers"]) else "")
        out.setdefault(str(r["measure_id"]), []).append(f"{label} vs last year: {word}")
    noun = PERIOD_NOUN[data.config.cadence.period]
    labels = {m.id: measure_labels(m)[0] for m in data.config.measures}
    rare = rare_words(data, unit_code)
    for r in unit_records(data, "analysis.spc", unit_code):
        if is_missing(r["variation"]) or str(r["measure_id"]) in rare:  # a rare series: its own method's words
            continue
        above = not is_missing(r["y"]) and not is_missing(r["mean"]) and float(r["y"]) > float(r["mean"])
        words = out.setdefault(str(r["measure_id"]), [])
        words.append(f"SPC: {spc_word(r['variation'], above)}")
        if text_of(r.get("assurance")) in ASSURANCE_WORDS and not is_missing(r.get("target")):
            target = fmt_value(float(r["target"]), "rate", labels.get(str(r["measure_id"]), ""))
            words.append(f"target: {ASSURANCE_WORDS[text_of(r['assurance'])]} ({target} a {noun})")
    for measure_id, lines in rare.items():
        out.setdefault(measure_id, []).extend(lines)
    level = f"{data.config.analysis.confidence * 100:g}%"
    for r in unit_records(data, "analysis.peers", unit_code):
        if r["window"] == window and text_of(r["label"]):
            caveat = text_of(r.get("caveat"))  # peers not like-for-like left out of the average, or kept, marked
            out.setdefault(str(r["measure_id"]), []).append(
                f"peers: {text_of(r['label'])}{_peer_ratio(r, level)}" + (f"; {caveat}" if caveat else ""))
    for r in unit_records(data, "analysis.trajectory", unit_code):
        if text_of(r["confidence"]):
            out.setdefault(str(r["measure_id"]), []).append(f"delivery confidence: {text_of(r['confidence'])}")
    return {k: tuple(v) for k, v in out.items()}


def _peer_ratio(row: Record, level: str) -> str:
    """`` (2.6× their average; 95% interval 1.4× to 4.4×)``, or nothing without a peer average above 0."""
    mean = float_of(row.get("peer_mean"))
    if not mean > 0:
        return ""
    ratio, low, high = (float_of(row.get(k)) / mean for k in ("value", "ci_low", "ci_high"))
    return f" ({fmt_ratio(ratio)} their average; {level} interval {fmt_ratio(low)} to {fmt_ratio(high)})"
