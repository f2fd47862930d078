"""The action log: commitments made at meetings, followed up relentlessly until done or dropped.

- ``log``: raise and update actions (status rules, append-only history, conflict handling),
  import a meeting's minutes (CSV or XLSX).
- ``carry_forward``: the log for one meeting, with age, overdue, escalation, staleness and effect;
  what a stored cycle showed (``meeting_log``: the log, unit levels and triggers as its packs had them).
- ``escalation``: the ladder (pure): each action's and each unit's level, and why; every agreement
  trigger met or not (``meeting_escalation``, the one computation the cycle and commands share).
- ``effect``: did it work? The linked measure before and after the action.
- ``spreadsheet``: the commanders' XLSX round-trip.
- ``agreements``: named officers and intervention triggers per unit and measure.
- ``minutes``: the follow-up note for each unit after the meeting.
"""

from compstat.actions.agreements import (
    AgreementLine,
    agreement_problems,
    check_agreements,
    judged_agreements,
    unit_agreements,
)
from compstat.actions.carry_forward import (
    ACTION_COLUMNS,
    carry_forward_actions,
    closure_window,
    latest_meeting_period,
    meeting_log,
    stored_concerns,
    stored_cycle_ran,
    stored_evidence,
    stored_period_table,
    upcoming_period,
)
from compstat.actions.escalation import (
    TRIGGER_COLUMNS,
    UNIT_LEVEL_COLUMNS,
    Evidence,
    action_levels,
    agreement_triggers,
    describe_rule,
    describe_trigger,
    evidence_from,
    meeting_escalation,
    unit_levels,
)
from compstat.actions.log import (
    CLOSED,
    KINDS,
    MINUTES_COLUMNS,
    STATUSES,
    TRANSITIONS,
    ActionChange,
    ConflictError,
    MinutesImport,
    NewAction,
    action_history,
    add_action,
    describe_update,
    get_action,
    import_minutes,
    meeting_date,
    next_meeting_date,
    normalise_kind,
    update_action,
)

__all__ = [
    "ACTION_COLUMNS", "CLOSED", "KINDS", "MINUTES_COLUMNS", "STATUSES", "TRANSITIONS", "TRIGGER_COLUMNS",
    "UNIT_LEVEL_COLUMNS", "ActionChange", "AgreementLine", "ConflictError", "Evidence", "MinutesImport", "NewAction",
    "action_history", "action_levels", "add_action", "agreement_problems", "agreement_triggers",
    "carry_forward_actions", "check_agreements", "closure_window", "describe_rule", "describe_trigger",
    "describe_update", "evidence_from", "get_action", "import_minutes", "judged_agreements", "latest_meeting_period",
    "meeting_date", "meeting_escalation", "meeting_log", "next_meeting_date", "normalise_kind", "stored_concerns",
    "stored_cycle_ran", "stored_evidence", "stored_period_table", "unit_agreements", "unit_levels", "upcoming_period",
    "update_action",
]
