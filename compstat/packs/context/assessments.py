"""The analysis in words for the period table's key measures: significance against last year
in the headline window, the SPC variation and target assurance (for a rare-event series: its
facts and its t-chart's or long window's judgement instead), the comparison with similar units
and the delivery confidence, each where the analysis has one.
"""

from __future__ import annotations

from compstat.packs.context.common import (
    PERIOD_NOUN,
    float_of,
    headline_window,
    is_missing,
    measure_labels,
    spc_word,
    text_of,
)
from compstat.packs.context.rare import rare_words
from compstat.packs.filters import fmt_ratio, fmt_value
from compstat.packs.lookup import PEERS, SIGNIFICANCE, SPC, TRAJECTORY, unit_records
from compstat.results import CycleData
from compstat.schemas import PeerRow

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
    for r in unit_records(data, SIGNIFICANCE, unit_code):
        if r.window != window or r.basis != "last_year":
            continue
        word = text_of(r.label) + (" (small numbers)" if bool(r.small_numbers) else "")
        out.setdefault(str(r.measure_id), []).append(f"{label} vs last year: {word}")
    noun = PERIOD_NOUN[data.config.cadence.period]
    labels = {m.id: measure_labels(m)[0] for m in data.config.measures}
    rare = rare_words(data, unit_code)
    for s in unit_records(data, SPC, unit_code):
        if is_missing(s.variation) or str(s.measure_id) in rare:  # a rare series: its own method's words
            continue
        above = not is_missing(s.y) and not is_missing(s.mean) and float(s.y) > float(s.mean)
        words = out.setdefault(str(s.measure_id), [])
        words.append(f"SPC: {spc_word(s.variation, above)}")
        if text_of(s.assurance) in ASSURANCE_WORDS and not is_missing(s.target):
            target = fmt_value(float(s.target), "rate", labels.get(str(s.measure_id), ""))
            words.append(f"target: {ASSURANCE_WORDS[text_of(s.assurance)]} ({target} a {noun})")
    for measure_id, lines in rare.items():
        out.setdefault(measure_id, []).extend(lines)
    level = f"{data.config.analysis.confidence * 100:g}%"
    for p in unit_records(data, PEERS, unit_code):
        if p.window == window and text_of(p.label):
            caveat = text_of(p.caveat)  # peers not like-for-like left out of the average, or kept, marked
            out.setdefault(str(p.measure_id), []).append(
                f"peers: {text_of(p.label)}{_peer_ratio(p, level)}" + (f"; {caveat}" if caveat else ""))
    for t in unit_records(data, TRAJECTORY, unit_code):
        if text_of(t.confidence):
            out.setdefault(str(t.measure_id), []).append(f"delivery confidence: {text_of(t.confidence)}")
    return {k: tuple(v) for k, v in out.items()}


def _peer_ratio(row: PeerRow, level: str) -> str:
    """`` (2.6× their average; 95% interval 1.4× to 4.4×)``, or nothing without a peer average above 0."""
    mean = float_of(row.peer_mean)
    if not mean > 0:
        return ""
    ratio, low, high = (float_of(v) / mean for v in (row.value, row.ci_low, row.ci_high))
    return f" ({fmt_ratio(ratio)} their average; {level} interval {fmt_ratio(low)} to {fmt_ratio(high)})"
