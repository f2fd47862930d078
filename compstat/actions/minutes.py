"""After the meeting: the follow-up note for each unit (CitiStat sends it within two days).

Each note lists the commitments made at the meeting with their owner and due date, the
data requested for next time, the actions still open from earlier meetings with their
escalation level and whether they worked, those completed since the last meeting, and the
unit's accountability agreement with each trigger met or not. Levels and triggers are judged
on what the meeting's stored cycle showed (``carry_forward.meeting_log``), as in its packs.
Notes are Markdown, written to ``<output_dir>/<org>/<period>/minutes/<unit>.md`` (the code made a
safe, distinct file name: ``safepaths``);
every value from the store is escaped for Markdown by the template environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import jinja2
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from compstat.actions.agreements import AgreementLine, check_agreements, judged_agreements
from compstat.actions.carry_forward import meeting_log
from compstat.actions.escalation import describe_rule
from compstat.actions.log import meeting_date, next_meeting_date
from compstat.config import Config
from compstat.files import write_atomically
from compstat.periods import Period
from compstat.resources import templates_dir
from compstat.safepaths import confined, unique_names
from compstat.store import Action
from compstat.terminal import visible

SEND_WITHIN_DAYS = 2
TEMPLATE = "minutes.md"
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


@dataclass(frozen=True)
class NoteItem:
    """One action as the note shows it."""

    id: int
    description: str
    owner: str
    due: date
    measure_name: str
    status: str
    meetings_carried: int
    level: str
    note: str
    support_requested: str
    support_offered: str
    effect: str = ""


@dataclass(frozen=True)
class FollowUpNote:
    """Everything ``minutes.md`` renders for one unit."""

    organisation: str
    unit_code: str
    unit_name: str
    commander: str
    period_label: str
    meeting_date: date
    send_by: date
    next_meeting: date
    level_label: str
    level_reason: str
    commitments: tuple[NoteItem, ...]
    data_requests: tuple[NoteItem, ...]
    carried: tuple[NoteItem, ...]
    completed: tuple[NoteItem, ...]
    support: tuple[NoteItem, ...]
    agreements: tuple[AgreementLine, ...]
    escalation_rule: str


def markdown_text(value: object) -> str:
    """Any value as one line of Markdown text: special characters escaped, line breaks as spaces, other
    control characters shown visibly (``terminal.visible``: ESC as ``␛``)."""
    text = visible(" ".join(str(value).split())) if value is not None else ""
    text = MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return re.sub(r"&(?=[A-Za-z#])", r"\\&", text)


Judged = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]  # the action log, unit levels and triggers


def follow_up_notes(session: Session, config: Config, period: Period, judged: Judged | None = None
                    ) -> list[FollowUpNote]:
    """The follow-up note of every accountable unit for the meeting on ``period``. ``judged``: the
    meeting's log, levels and triggers (``preview.meeting_judgement``, as the packs show
    them); default: as the meeting's stored cycle showed them (``meeting_log``)."""
    check_agreements(config)
    log, unit_levels, triggers = judged if judged is not None else meeting_log(session, config, period)
    levels = unit_levels.set_index("unit_code")
    raised = list(session.scalars(select(Action).where(
        Action.org == config.organisation.slug, Action.raised_period == period.label).order_by(Action.id)))
    measures = {m.id: m.name for m in config.measures}
    meeting = meeting_date(config, period)
    rule = describe_rule(config.accountability.escalation)
    notes = []
    for unit in config.leaf_units:
        mine = log[log["unit_code"] == unit.code]
        carried = [_item_from_log(r, measures) for r in mine[mine["carried"].astype(bool)].to_dict(orient="records")]
        raised_here = [a for a in raised if a.unit_code == unit.code]
        commitments = tuple(_item_from_action(a, measures) for a in raised_here if a.kind != "data request")
        data_requests = tuple(_item_from_action(a, measures) for a in raised_here if a.kind == "data request")
        notes.append(FollowUpNote(
            organisation=config.organisation.name, unit_code=unit.code, unit_name=unit.name,
            commander=unit.commander or "the unit commander", period_label=period.label, meeting_date=meeting,
            send_by=meeting + timedelta(days=SEND_WITHIN_DAYS), next_meeting=next_meeting_date(config, period),
            level_label=str(levels.loc[unit.code, "escalation_label"]),
            level_reason=str(levels.loc[unit.code, "escalation_reason"]),
            commitments=commitments, data_requests=data_requests, carried=tuple(carried),
            completed=tuple(_item_from_log(r, measures)
                            for r in mine[~mine["carried"].astype(bool)].to_dict(orient="records")),
            support=tuple(i for i in [*carried, *commitments, *data_requests]
                          if i.support_requested or i.support_offered),
            agreements=tuple(judged_agreements(config, unit.code, triggers)), escalation_rule=rule,
        ))
    return notes


def write_minutes(session: Session, config: Config, period: Period, out_root: Path | None = None,
                  judged: Judged | None = None) -> list[Path]:
    """Write each unit's follow-up note as Markdown (``judged`` as in ``follow_up_notes``); returns the paths."""
    root = out_root or Path(config.output_dir)
    folder = confined(root, f"{config.organisation.slug}/{period.label}/minutes", resolve=False)
    folder.mkdir(parents=True, exist_ok=True)
    template = _environment().get_template(TEMPLATE)
    names = unique_names([u.code for u in config.leaf_units], suffix=".md", default="unit")
    paths = []
    for note in follow_up_notes(session, config, period, judged):
        path = confined(folder, names[note.unit_code])
        write_atomically(path, template.render(note=note).encode("utf-8"))
        paths.append(path)
    return paths


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), autoescape=False,
                              finalize=markdown_text, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True)


def _item_from_log(row: dict[object, object], measures: dict[str, str]) -> NoteItem:
    measure = row["measure_id"]
    status = str(row["status"])
    note = str(row["closing_note"] if status in ("done", "dropped") else row["last_note"])
    return NoteItem(
        id=int(str(row["id"])), description=str(row["description"]), owner=str(row["owner"]),
        due=pd.Timestamp(str(row["due_date"])).date(),
        measure_name=measures.get(measure, measure) if isinstance(measure, str) else "", status=status,
        meetings_carried=int(str(row["meetings_carried"])),
        level=f"{row['escalation_level']} {row['escalation_label']}", note=note,
        support_requested=str(row["support_requested"]), support_offered=str(row["support_offered"]),
        effect=str(row["effect_text"] or ""),
    )


def _item_from_action(action: Action, measures: dict[str, str]) -> NoteItem:
    measure = action.measure_id
    return NoteItem(
        id=action.id, description=action.description, owner=action.owner, due=action.due_date,
        measure_name=measures.get(measure, measure) if measure else "", status=action.status, meetings_carried=0,
        level="", note=action.last_note, support_requested=action.support_requested,
        support_offered=action.support_offered,
    )
