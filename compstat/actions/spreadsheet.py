"""The commanders' spreadsheet round-trip: export a unit's open actions, import their updates.

The exported XLSX has one protected sheet, ``Actions``: the ✎ columns (status, new progress
note, support requested, reason if dropped, done on) are unlocked; the rest are locked, and
three hidden columns hold each action's ``version``, the export time and a ``check`` of the
editable values as exported. On import, a row whose editable values still match its check
is skipped; a row for an action whose version has moved since the export is a conflict and
is not applied; a row that does not validate is reported with its row number; every other
row is applied, each change appended to the action's history.

The file is signed (``actions.signing``): the hidden ``_compstat`` sheet holds a token naming the
organisation, unit, meeting, a random export id and each exported action's id and version, with its
HMAC-SHA256 under a key kept only in the store. On import a file without a valid token (the hidden
sheet deleted, a cell of it edited, another file's token pasted in, a sheet exported before signing)
is refused whole; a row for any action the token does not name (another unit's, or one raised since)
is refused; a row's version is the signed one, whatever the hidden version cell says.

Text is always written as text: values starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return) are stored as strings with Excel's quote prefix, never as formulas, and
formulas typed into the sheet are read back as their literal text.

A workbook over ``limits.action_sheet_rows`` or ``limits.action_sheet_bytes`` is refused
before it is parsed (``compstat.limits``); within them, it is read as a stream (read-only).
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Font, PatternFill, Protection  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.datavalidation import DataValidation  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from compstat.actions.carry_forward import carry_forward_actions, stored_concerns
from compstat.actions.log import STATUSES, ConflictError, describe_update, update_action
from compstat.actions.sheets import EDIT_MARK, cell_text, header_key, open_workbook, sheet_rows
from compstat.actions.signing import sign, signing_key, verify
from compstat.cells import put_value  # text stays text (never a formula), control characters shown
from compstat.config import Config
from compstat.errors import SourceError, UsageError
from compstat.files import write_atomically
from compstat.periods import Period
from compstat.safepaths import safe_name
from compstat.store import Action, ActionUpdate

FORMAT_VERSION = 2  # 1: before sheets were signed (refused on import)
SHEET = "Actions"
META_SHEET = "_compstat"
SIGNATURE = "signature"  # the hidden sheet's row holding the token
SIGNED = ("org", "unit", "period", "export", "exported_at", "exported_by")  # its other rows, all signed
CELL_TEXT = 32_000  # characters of the token per cell (a cell holds at most 32,767)


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    width: float
    editable: bool = False
    hidden: bool = False


COLUMNS = [
    Column("id", "Action ID", 9), Column("unit", "Unit", 8), Column("measure", "Measure", 14),
    Column("action", "Action", 48), Column("kind", "Kind", 13), Column("owner", "Owner", 22),
    Column("due", "Due", 12), Column("raised", "Raised at", 10), Column("level", "Escalation", 18),
    Column("last_note", "Last note", 36), Column("support_offered", "Support offered", 26),
    Column("status", f"Status {EDIT_MARK}", 14, editable=True),
    Column("note", f"New progress note {EDIT_MARK}", 40, editable=True),
    Column("support_requested", f"Support requested {EDIT_MARK}", 30, editable=True),
    Column("reason", f"Reason if dropped {EDIT_MARK}", 26, editable=True),
    Column("done_on", f"Done on {EDIT_MARK}", 12, editable=True),
    Column("version", "version", 8, hidden=True), Column("exported_at", "exported_at", 20, hidden=True),
    Column("check", "check", 18, hidden=True),
]
EDITABLE = [c.key for c in COLUMNS if c.editable]
INSTRUCTIONS = [
    "How to fill in this sheet",
    "",
    f"Only the columns marked {EDIT_MARK} (yellow) can be changed; the others are the action log as exported.",
    f"Status: one of {', '.join(STATUSES)}. Dropping an action needs a reason.",
    "New progress note: what has been done since the last update. It is added to the action's history.",
    "Support requested: what you need from headquarters or partners to deliver the action.",
    "Done on: the date the action was completed (YYYY-MM-DD); blank means today.",
    "Return the file to the performance team, who import it with `compstat actions import FILE --by NAME`.",
    "If an action was changed by someone else after this file was exported, that row is not applied and is "
    "reported as a conflict; every other row is.",
    "The file is signed for this unit and these actions: do not add rows or copy rows from another unit's file "
    "(such rows are refused), and do not delete or edit the hidden sheet (the whole file would be refused).",
]
LOCKED_FILL = PatternFill("solid", fgColor="E7E6E6")
EDIT_FILL = PatternFill("solid", fgColor="FFF2CC")


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one row of an imported sheet."""

    row: int
    action_id: int | None
    outcome: str  # applied, unchanged, conflict, malformed, refused (an action the sheet was not signed for)
    message: str


@dataclass
class ImportReport:
    """The outcome of every non-blank row, and warnings about edits to locked columns."""

    path: Path
    rows: list[RowOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def of(self, outcome: str) -> list[RowOutcome]:
        return [r for r in self.rows if r.outcome == outcome]

    @property
    def complete(self) -> bool:
        """Every row was applied or needed nothing."""
        return not self.of("conflict") and not self.of("malformed") and not self.of("refused")


@dataclass(frozen=True)
class SignedExport:
    """What a sheet's verified signature says: the hidden sheet's cells and each action's exported version."""

    fields: dict[str, str]
    versions: dict[int, int]

    @property
    def unit(self) -> str:
        return self.fields["unit"]


# --- export -----------------------------------------------------------------------------


def export_name(unit_code: str, period: Period) -> str:
    """The export's default file name, ``actions-<unit>-<period>.xlsx``, the code made a safe file name
    (``safepaths.safe_name``: a code such as ``../x`` cannot lead out of the folder)."""
    return safe_name(unit_code, prefix="actions-", suffix=f"-{period.label}.xlsx", default="unit")


def export_actions(session: Session, config: Config, unit_code: str, path: Path, period: Period, *,
                   by: str = "", at: datetime | None = None) -> int:
    """Write the unit's open actions, as at the meeting on ``period``, to an XLSX; returns the row count."""
    if unit_code not in {u.code for u in config.leaf_units}:
        raise UsageError(f"unit '{unit_code}' is not in the config")
    log = carry_forward_actions(session, config, period, stored_concerns(session, config, period))
    log = log[(log["unit_code"] == unit_code) & log["carried"].astype(bool)]
    exported_at = (at or datetime.now()).replace(microsecond=0).isoformat(sep=" ")
    fields = {"org": config.organisation.slug, "unit": unit_code, "period": period.label,
              "export": secrets.token_hex(8), "exported_at": exported_at, "exported_by": by.strip()}
    key = signing_key(session, config.organisation.slug, create=True)
    assert key is not None
    token = sign(key, {**fields, "actions": [[int(a), int(v)] for a, v in zip(log["id"], log["version"],
                                                                               strict=True)]})
    measures = {m.id: m.name for m in config.measures}
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET
    _write_header(sheet)
    for r, action in enumerate(log.to_dict(orient="records"), start=2):
        editable = {"status": str(action["status"]), "note": "", "support_requested": str(action["support_requested"]),
                    "reason": "", "done_on": ""}
        values: dict[str, object] = {
            "id": int(action["id"]), "unit": action["unit_code"],
            "measure": measures.get(str(action["measure_id"]), "") if action["measure_id"] else "",
            "action": action["description"], "kind": action["kind"], "owner": action["owner"],
            "due": pd.Timestamp(action["due_date"]).to_pydatetime(), "raised": action["raised_period"],
            "level": f"{int(action['escalation_level'])} {action['escalation_label']}",
            "last_note": action["last_note"], "support_offered": action["support_offered"], **editable,
            "version": int(action["version"]), "exported_at": exported_at, "check": row_check(editable),
        }
        for c, column in enumerate(COLUMNS, start=1):
            cell = sheet.cell(r, c)
            put_value(cell, values[column.key] if values[column.key] != "" else None)
            cell.alignment = Alignment(vertical="top", wrap_text=column.width > 20)
            if column.key in ("due", "done_on"):
                cell.number_format = "yyyy-mm-dd"
            if column.editable:
                cell.protection = Protection(locked=False)
                cell.fill = EDIT_FILL
                if column.key != "done_on":
                    cell.number_format = "@"
    _protect(sheet, len(log))
    _write_instructions(workbook)
    meta = workbook.create_sheet(META_SHEET)
    for r, (name, value) in enumerate([("format", FORMAT_VERSION), *fields.items()], start=1):
        meta.cell(r, 1, name)
        put_value(meta.cell(r, 2), value)
    meta.cell(len(fields) + 2, 1, SIGNATURE)
    for c, start in enumerate(range(0, len(token), CELL_TEXT), start=2):
        meta.cell(len(fields) + 2, c, token[start:start + CELL_TEXT])
    meta.sheet_state = "hidden"
    meta.protection.sheet = True
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    workbook.save(buffer)
    write_atomically(path, buffer.getvalue())  # a full disk leaves an earlier export as it was
    return len(log)


def row_check(editable: dict[str, str]) -> str:
    """A short fingerprint of a row's editable values, to tell untouched rows on import."""
    text = "\x1f".join(editable.get(k, "") for k in EDITABLE)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _write_header(sheet: Worksheet) -> None:
    for c, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(1, c, column.header)
        cell.font = Font(bold=True)
        cell.fill = EDIT_FILL if column.editable else LOCKED_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        letter = get_column_letter(c)
        sheet.column_dimensions[letter].width = column.width
        sheet.column_dimensions[letter].hidden = column.hidden
    sheet.freeze_panes = "B2"


def _protect(sheet: Worksheet, n_rows: int) -> None:
    statuses = DataValidation(type="list", formula1='"' + ",".join(STATUSES) + '"', allow_blank=False,
                              showErrorMessage=True, errorTitle="Status",
                              error=f"Choose one of: {', '.join(STATUSES)}")
    status_col = get_column_letter(next(i for i, c in enumerate(COLUMNS, start=1) if c.key == "status"))
    done_col = get_column_letter(next(i for i, c in enumerate(COLUMNS, start=1) if c.key == "done_on"))
    dates = DataValidation(type="date", operator="greaterThan", formula1="36526", allow_blank=True,
                           showErrorMessage=True, errorTitle="Done on", error="Enter a date (YYYY-MM-DD)")
    if n_rows:
        statuses.add(f"{status_col}2:{status_col}{n_rows + 1}")
        dates.add(f"{done_col}2:{done_col}{n_rows + 1}")
        sheet.add_data_validation(statuses)
        sheet.add_data_validation(dates)
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False


def _write_instructions(workbook: Workbook) -> None:
    sheet = workbook.create_sheet("How to fill in")
    for r, line in enumerate(INSTRUCTIONS, start=1):
        put_value(sheet.cell(r, 1), line)
    sheet.cell(1, 1).font = Font(bold=True)
    sheet.column_dimensions["A"].width = 110
    sheet.protection.sheet = True


# --- import -----------------------------------------------------------------------------


def import_action_updates(session: Session, config: Config, path: Path, by: str, *,
                          at: datetime | None = None) -> ImportReport:
    """Apply the changes in a filled-in export; conflicts and bad rows are reported, not applied."""
    workbook = open_workbook(path, config.limits, SHEET)
    if SHEET not in workbook.sheetnames:
        raise SourceError(f"{path}: no '{SHEET}' sheet: is this a file from `compstat actions export`?")
    meta = _meta(path, workbook)
    if meta.get("org") and meta["org"] != config.organisation.slug:
        workbook.close()
        raise SourceError(f"{path}: exported for organisation '{meta['org']}', not '{config.organisation.slug}'")
    sheet = workbook[SHEET]
    rows = sheet_rows(path, workbook, sheet)
    workbook.close()
    signed = _signed_export(session, config, path, meta)
    if not rows:
        raise SourceError(f"{path}: the '{SHEET}' sheet is empty")
    header = {header_key(str(h)): i for i, h in enumerate(rows[0]) if h is not None}
    wanted = {header_key(c.header): c.key for c in COLUMNS}
    missing = [c.header for c in COLUMNS
               if c.key in (*EDITABLE, "id") and header_key(c.header) not in header]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)}; export a fresh file")
    index = {wanted[k]: i for k, i in header.items() if k in wanted}
    report = ImportReport(path)
    via = f"spreadsheet {path.name}"
    for number, raw in enumerate(rows[1:], start=2):
        values = {key: raw[i] if i < len(raw) else None for key, i in index.items()}
        if all(cell_text(v) == "" for v in values.values()):
            continue
        report.rows.append(_import_row(session, config, number, values, signed, by, at, via, report))
    return report


def _meta(path: Path, workbook: Any) -> dict[str, str]:
    """The hidden sheet's rows, key: the text of the cells after it (the token spans several)."""
    if META_SHEET not in workbook.sheetnames:
        return {}
    rows = sheet_rows(path, workbook, workbook[META_SHEET])
    return {cell_text(row[0]): "".join(cell_text(v) for v in row[1:]) for row in rows if row}


def _signed_export(session: Session, config: Config, path: Path, meta: dict[str, str]) -> SignedExport:
    """The sheet's verified signature; a sheet without one, or whose signature or signed cells do not
    match, is refused whole (``SourceError``, nothing imported)."""
    def again(unit: str = "UNIT") -> str:
        return (f"nothing was imported; export the unit's sheet again (`compstat actions export --unit {unit}`) "
                "and copy the commander's entries into it")

    if not meta.get(SIGNATURE):
        if meta.get("format") == "1":
            raise SourceError(f"{path}: exported before sheets were signed (format 1), so the unit it may change "
                              f"cannot be checked: {again()}")
        what = f"the hidden '{META_SHEET}' sheet is missing" if not meta else "its signature was deleted"
        raise SourceError(f"{path}: no signature ({what}), so the unit it may change cannot be checked: {again()}")
    key = signing_key(session, config.organisation.slug)
    payload = verify(key, meta[SIGNATURE]) if key is not None else None
    if payload is None or payload.get("org") != config.organisation.slug:
        raise SourceError(f"{path}: the signature in the hidden '{META_SHEET}' sheet does not match: the file was "
                          f"altered or not exported from this store; {again()}")
    for name in SIGNED:
        signed = str(payload.get(name, "")).strip()
        if meta.get(name, "") != signed:
            raise SourceError(f"{path}: the hidden '{META_SHEET}' sheet was altered: its {name} cell says "
                              f"'{meta.get(name, '')}', the signature '{signed}'; {again(str(payload.get('unit')))}")
    return SignedExport({name: str(payload[name]) for name in SIGNED},
                        {int(a): int(v) for a, v in payload.get("actions", [])})


def _import_row(session: Session, config: Config, number: int, values: dict[str, Any], signed: SignedExport,
                by: str, at: datetime | None, via: str, report: ImportReport) -> RowOutcome:
    def bad(message: str, action_id: int | None = None) -> RowOutcome:
        return RowOutcome(number, action_id, "malformed", f"row {number}: {message}")

    action_id = _integer(values.get("id"))
    if action_id is None:
        return bad(f"action id '{cell_text(values.get('id'))}' is not a number")
    action = session.get(Action, action_id, populate_existing=True)
    if action is not None and action.org != config.organisation.slug:
        action = None
    version = signed.versions.get(action_id)
    if version is None or action is None or action.unit_code != signed.unit:
        whose = f"; it belongs to unit {action.unit_code}" if action and action.unit_code != signed.unit else ""
        return RowOutcome(number, action_id, "refused", (
            f"row {number}: action {action_id} is not one of the actions this sheet was exported with (unit "
            f"{signed.unit}, {signed.fields['period']}){whose}: refused"))
    edits = {k: cell_text(values.get(k)) for k in EDITABLE}
    edits["status"] = edits["status"].lower()
    if row_check(edits) == cell_text(values.get("check")):
        return RowOutcome(number, action_id, "unchanged", f"row {number}: action {action_id} unchanged")
    for key, column in (("action", "description"), ("owner", "owner")):
        if key in values and cell_text(values[key]) != getattr(action, column):
            report.warnings.append(f"row {number}: the locked '{key}' column was changed and is ignored")
    status = edits["status"]
    if status not in STATUSES:
        return bad(f"status '{cell_text(values.get('status'))}': expected one of {', '.join(STATUSES)}", action_id)
    done_on = _date(values.get("done_on"))
    if edits["done_on"] and done_on is None:
        return bad(f"done on '{edits['done_on']}' is not a date (expected YYYY-MM-DD)", action_id)
    if done_on is not None and status != "done":
        return bad(f"done on is given but the status is '{status}'", action_id)
    if edits["reason"] and status != "dropped":
        return bad(f"a reason for dropping is given but the status is '{status}'", action_id)
    if status == "dropped" and not edits["reason"] and action.status != "dropped":
        return bad("dropping an action needs a reason", action_id)
    changed = (status != action.status or (edits["note"] and edits["note"] != action.last_note)
               or edits["support_requested"] != action.support_requested
               or (done_on is not None and done_on != action.closed_on))
    if not changed:
        return RowOutcome(number, action_id, "unchanged", f"row {number}: action {action_id} already up to date")
    try:
        update_action(session, action_id, by, status, edits["note"], reason=edits["reason"],
                      support_requested=edits["support_requested"], closed_on=done_on, expected_version=version,
                      strict=True, org=config.organisation.slug, at=at, via=via)
    except ConflictError:
        return RowOutcome(number, action_id, "conflict", f"row {number}: {_conflict_message(session, action, version)}")
    except UsageError as exc:
        return bad(str(exc), action_id)
    return RowOutcome(number, action_id, "applied", f"row {number}: action {action_id} updated")


def _conflict_message(session: Session, action: Action, version: int) -> str:
    since = list(session.scalars(select(ActionUpdate).where(
        ActionUpdate.action_id == action.id, ActionUpdate.version > version).order_by(ActionUpdate.id)))
    what = "; ".join(describe_update(u) for u in since[-3:]) or "changed outside compstat"
    return (f"action {action.id} changed after this file was exported ({what}); not applied: "
            "re-export, or make the change with `compstat actions update`")


def _integer(value: object) -> int | None:
    text = cell_text(value)
    return int(text) if text.isdigit() else None


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(cell_text(value)) if cell_text(value) else None
    except ValueError:
        return None
