"""Delivery: each commander's pack before the meeting and the follow-up minutes after it, by e-mail.

What goes to whom (``plan``): each accountable unit's commander (``units[].email``) gets the unit's pack,
each division's commander the division's pack, the chair (``meeting.chair``) the chair's pack (kind
"brief"); once ``compstat minutes`` has written the follow-up notes, each unit's commander gets the unit's
note and the chair every note (kind "minutes"). One message per recipient and kind, carrying that
recipient's files; one ``deliveries`` row per recipient and file.

Timing: the meeting is at ``meeting.time`` on ``actions.log.meeting_date`` (in ``organisation.timezone`` if
set, else the machine's zone). Briefs are due ``meeting.brief_hours`` before it, minutes
``meeting.minutes_days`` after it. A run sends whatever exists and is not yet sent, at once; a send after the
due time is sent all the same and reported "late" (``due_by`` and ``sent_at`` say by how much). Times are
stored in UTC, without a zone (as the store's DateTime columns hold them).

Never twice, never lost: a file already sent to a recipient with the same SHA-256 is not sent again; a file
whose bytes changed since it was sent (a reissued pack) is sent again as a correction, saying so, and its
row then holds the new hash and the new ``sent_at``. A send that fails (the server refuses the recipient,
the connection fails, the file is missing, the unit has no address) is recorded "failed" with the error and
tried again on the next run; within a run a transient failure (a 4xx reply, a dropped or refused
connection) is tried ``delivery.retries`` more times first. Each message's rows are committed as soon as
the server has answered, so a run stopped half-way never sends the messages it finished twice. One run at a
time: a run holds the store's ``distribute <org>`` task lock (a second run waits, then finds it all sent) and
its shared lock (no cycle re-issues the packs while they are being sent).

Security: STARTTLS and SSL verify the server's certificate (``delivery.ca_file`` or the system's
authorities); the configuration refuses a log-in over a plain connection to another machine.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Engine

from compstat.actions.log import meeting_date
from compstat.config import Config, DeliverySettings
from compstat.errors import ConfigError, UsageError
from compstat.files import file_sha256
from compstat.hierarchy import divisions
from compstat.packs.context.unit import pack_filenames
from compstat.periods import Period
from compstat.safepaths import confined, unique_names
from compstat.store import Cycle, Delivery, transaction
from compstat.store.lock import shared_lock, task_lock

CHAIR_PACK = "chair-pack.pdf"
MINUTES = "minutes"
SENDING = "packs cannot be sent while a cycle runs (it may be re-issuing them)"
TRANSIENT = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class Item:
    """One file for one recipient: a ``deliveries`` row to be."""

    kind: str  # "brief" | "minutes"
    unit_code: str | None  # None: the chair's
    who: str  # "unit N1", "division N", "the chair": for messages
    recipient: str | None  # None: no address in the config
    attachment: str  # the file's name in the period's folder (minutes/N1.md)
    path: Path
    due_by: datetime  # aware
    sheet: bool = False  # a unit's CompStat sheet rather than its full pack (``packs.unit_packs: called``)

    @property
    def address(self) -> str:
        """The row's recipient: the address, or a placeholder naming whose address is missing (replaced by
        the address once the config gives one)."""
        return self.recipient or placeholder(self.unit_code)


@dataclass
class Outcome:
    """What a run did (or, dry, would do) with one message: its items, and how it went."""

    kind: str
    recipient: str
    who: str
    items: list[Item]
    status: str  # "sent", "failed", "would send"
    late: bool = False
    correction: bool = False
    error: str = ""
    attempts: int = 0


@dataclass
class Report:
    """A run of ``distribute``: every message sent, failed or (dry) planned; files already sent; notes."""

    period: str
    meeting: datetime
    folder: Path
    outcomes: list[Outcome] = field(default_factory=list)
    already_sent: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def lines(self) -> list[str]:
        """The run as lines of text, one per message, then a summary."""
        out = [f"Meeting on {self.period}: {self.meeting:%a %d %b %Y %H:%M %Z}".rstrip()
               + f"; outputs in {self.folder}"]
        out += self.notes
        for o in self.outcomes:
            names = ", ".join(Path(i.attachment).name for i in o.items)
            due = min(i.due_by for i in o.items)
            tags = [t for t, on in (("correction: the file changed since it was sent", o.correction),
                                    (f"LATE: was due by {due:%d %b %H:%M}", o.late)) if on]
            extra = f" ({'; '.join(tags)})" if tags else ""
            if o.status == "failed" and self.dry_run:
                out.append(f"WOULD FAIL {o.kind} to {o.who}: {names} - {o.error}")
            elif o.status == "failed":
                out.append(f"FAILED {o.kind} to {o.who} <{o.recipient}>: {names} - {o.error}"
                           f" (after {o.attempts} attempt{'s' if o.attempts != 1 else ''}; tried again next run)")
            else:
                out.append(f"{o.status} {o.kind} to {o.who} <{o.recipient}>: {names}{extra}")
        sent = sum(o.status == "sent" for o in self.outcomes)
        planned = sum(o.status == "would send" for o in self.outcomes)
        late = sum(o.late and o.status != "failed" for o in self.outcomes)
        summary = (f"dry run: {planned} message(s) would be sent, nothing sent or recorded" if self.dry_run
                   else f"{sent} message(s) sent ({late} late), {len(self.failed)} failed")
        out.append(f"{summary}; {self.already_sent} file(s) already sent (not sent again).")
        return out


def placeholder(unit_code: str | None) -> str:
    """The recipient recorded for a file whose recipient has no address in the config."""
    return f"(no address: {'the chair' if unit_code is None else unit_code})"


def zone(config: Config) -> ZoneInfo | None:
    return ZoneInfo(config.organisation.timezone) if config.organisation.timezone else None


def meeting_at(config: Config, period: Period) -> datetime:
    """The meeting's moment (aware): ``meeting_date`` at ``meeting.time``, in the organisation's zone (else the
    machine's)."""
    hours, minutes = (int(p) for p in config.meeting.time.split(":"))
    day = meeting_date(config, period)
    naive = datetime(day.year, day.month, day.day, hours, minutes)
    tz = zone(config)
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()


def brief_due(config: Config, period: Period) -> datetime:
    return meeting_at(config, period) - timedelta(hours=config.meeting.brief_hours)


def minutes_due(config: Config, period: Period) -> datetime:
    return meeting_at(config, period) + timedelta(days=config.meeting.minutes_days)


def local(config: Config, moment: datetime) -> datetime:
    """``moment`` (naive: read in the organisation's zone, else the machine's) in the organisation's zone."""
    tz = zone(config)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    return moment.astimezone(tz) if tz is not None else moment.astimezone()


def utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def cycle_folder(engine: Engine, config: Config, period: Period) -> Path:
    """The period's outputs: the folder the store's ``cycles`` row names, if it is there, else
    ``<output_dir>/<org>/<period>``."""
    with transaction(engine) as session:
        row = session.scalar(select(Cycle).where(Cycle.org == config.organisation.slug,
                                                 Cycle.period == period.label))
        stored = Path(row.output_dir) if row is not None else None
    if stored is not None and stored.is_dir():
        return stored
    return confined(Path(config.output_dir), f"{config.organisation.slug}/{period.label}", resolve=False)


def plan(config: Config, period: Period, folder: Path) -> tuple[list[Item], list[str]]:
    """Every file due to someone for ``period`` (briefs always; minutes once their folder exists), and notes."""
    brief_by, minutes_by = brief_due(config, period), minutes_due(config, period)
    packs, sheets = pack_filenames(config), sheets_in(folder)
    items = [Item("brief", u.code, f"unit {u.code}", u.email, packs[u.code], folder / packs[u.code], brief_by,
                  sheet=packs[u.code] in sheets) for u in config.leaf_units]
    items += [Item("brief", d.code, f"division {d.code}", d.email, packs[d.code], folder / packs[d.code], brief_by)
              for d in divisions(config)]
    items.append(Item("brief", None, "the chair", config.meeting.chair, CHAIR_PACK, folder / CHAIR_PACK, brief_by))
    notes: list[str] = []
    minutes_folder = folder / MINUTES
    if not minutes_folder.is_dir():
        notes.append(f"minutes: not written yet (run `compstat minutes --period {period.label}`); due by "
                     f"{minutes_by:%a %d %b %Y %H:%M}")
        return items, notes
    names = unique_names([u.code for u in config.leaf_units], suffix=".md", default="unit")
    for u in config.leaf_units:
        name = f"{MINUTES}/{names[u.code]}"
        items.append(Item("minutes", u.code, f"unit {u.code}", u.email, name, folder / name, minutes_by))
    for u in config.leaf_units:
        name = f"{MINUTES}/{names[u.code]}"
        items.append(Item("minutes", None, "the chair", config.meeting.chair, name, folder / name, minutes_by))
    return items, notes


def sheets_in(folder: Path) -> frozenset[str]:
    """The pack files in ``folder`` that are units' CompStat sheets, as its manifest records them (none when it
    has no readable manifest)."""
    try:
        packs = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["packs"]
        return frozenset(str(name) for name, pack in packs.items() if pack.get("sheet"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return frozenset()


def credentials(settings: DeliverySettings) -> tuple[str, str] | None:
    """(user, password) from the environment variables the config names; None when it names none."""
    if settings.username_env is None and settings.password_env is None:
        return None
    if settings.username_env is None or settings.password_env is None:
        raise ConfigError("delivery: give both username_env and password_env (or neither, for a server "
                          "without log-in)")
    missing = [n for n in (settings.username_env, settings.password_env) if not os.environ.get(n)]
    if missing:
        raise UsageError(f"delivery: the environment variable {' and '.join(missing)} (named by delivery."
                         f"{'username_env' if missing[0] == settings.username_env else 'password_env'}) is not "
                         "set: set it to the SMTP credential before running distribute")
    return os.environ[settings.username_env], os.environ[settings.password_env]


def tls_context(settings: DeliverySettings) -> ssl.SSLContext:
    """Verify the server's certificate and name: against ``delivery.ca_file`` when given, else the system's
    trusted authorities."""
    if settings.ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"delivery.ca_file '{settings.ca_file}': cannot read a PEM certificate from it "
                          f"({getattr(exc, 'strerror', None) or exc})") from None


class Mailer:
    """One SMTP connection, opened when first needed and again after it drops."""

    def __init__(self, settings: DeliverySettings, login: tuple[str, str] | None) -> None:
        self.settings = settings
        self.login = login
        self.context = tls_context(settings) if settings.security != "none" else None  # a bad ca_file stops here
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        if self.smtp is None:
            self.smtp = self._open()
        try:
            self.smtp.send_message(message)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        port = s.resolved_port
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, port, timeout=s.timeout, context=self.context)
        else:
            smtp = smtplib.SMTP(s.host, port, timeout=s.timeout)
        try:
            if s.security == "starttls":
                smtp.starttls(context=self.context)
            if self.login is not None:
                smtp.login(*self.login)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def describe_error(exc: BaseException) -> str:
    """An SMTP or connection error as one line (the server's reply; never a credential: none is in it)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return f"recipient refused: {code} {reply.decode('utf-8', 'replace')}"
    if isinstance(exc, smtplib.SMTPResponseException):
        raw: bytes | str = exc.smtp_error
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return f"server replied {exc.smtp_code} {text}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot reach the SMTP server: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def transient(exc: BaseException) -> bool:
    """Worth trying again within the run: a 4xx reply, a dropped, refused or timed-out connection."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, ssl.SSLCertVerificationError):  # the same certificate next time: fix ca_file or the relay
        return False
    return isinstance(exc, TRANSIENT) or isinstance(exc, OSError)


def message(config: Config, period: Period, outcome: Outcome, now: datetime) -> EmailMessage:
    """The e-mail of one outcome: a plain text body naming the meeting, the period and the due time; the
    files attached (PDF packs as application/pdf, minutes as text/markdown), bytes as on disk."""
    assert config.delivery is not None
    org = config.organisation.name
    meeting = meeting_at(config, period)
    due = min(i.due_by for i in outcome.items)
    what = "follow-up minutes" if outcome.kind != "brief" else (
        "CompStat sheet" if all(i.sheet for i in outcome.items) else "briefing pack")
    msg = EmailMessage(policy=policy.default.clone(max_line_length=998))  # a long subject stays on one line
    prefix = "Correction: " if outcome.correction else ""
    msg["Subject"] = f"{prefix}{org}: {what} for the {period.label} meeting on {meeting:%a %d %b %Y}"
    msg["From"] = config.delivery.sender
    msg["To"] = outcome.recipient
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=config.delivery.sender.rpartition("@")[2])
    files = "\n".join(f"  - {Path(i.attachment).name}" for i in outcome.items)
    lines = [f"To {outcome.who}:", "",
             f"Attached: the {what} of {org} for period {period.label}, reviewed at the meeting on "
             f"{meeting:%A %d %B %Y at %H:%M %Z}".rstrip() + ".",
             f"Due by {due:%A %d %B %Y %H:%M %Z}".rstrip()
             + (" (the packs go out at least "
                f"{config.meeting.brief_hours} hours before the meeting)." if outcome.kind == "brief" else
                f" (the minutes go out within {config.meeting.minutes_days} days of the meeting)."),
             "", files, ""]
    if outcome.late:
        lines += [f"This is sent late: it was due by {due:%d %b %Y %H:%M}.", ""]
    if outcome.correction:
        lines += ["This replaces the copy sent before: the file has been reissued since. Please use this one.", ""]
    lines += [f"Sent by compstat distribute for {org}."]
    msg.set_content("\n".join(lines) + "\n")
    for item in outcome.items:
        data = item.path.read_bytes()
        name = Path(item.attachment).name
        if item.kind == "minutes":
            msg.add_attachment(data, maintype="text", subtype="markdown", filename=f"minutes-{name}",
                               params={"charset": "utf-8"})
        else:
            msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg


def distribute(config: Config, engine: Engine, period: Period, *, dry_run: bool = False,
               now: datetime | None = None, sleep: Callable[[float], None] = time.sleep) -> Report:
    """Send every file of ``period`` not yet sent (or changed since) to its recipient and record each send
    (see the module docstring). ``now`` (aware, or naive in the organisation's zone): the moment sends are
    recorded at and judged late against (default: the clock). ``dry_run``: send and record nothing."""
    if config.delivery is None and not dry_run:
        raise ConfigError("distribute needs a `delivery:` section in the config (SMTP host, port, security, "
                          "sender; see README 'Delivery')")
    folder = cycle_folder(engine, config, period)
    if not folder.is_dir():
        raise UsageError(f"no outputs for {period.label} in {folder}: run `compstat run-cycle --period "
                         f"{period.label}` first")
    if dry_run:
        return _deliver(config, engine, period, folder, dry_run=True, now=now, sleep=sleep)
    url = engine.url.render_as_string(hide_password=False)
    with task_lock(url, f"distribute {config.organisation.slug}"), shared_lock(url, SENDING):
        return _deliver(config, engine, period, folder, dry_run=False, now=now, sleep=sleep)


def _deliver(config: Config, engine: Engine, period: Period, folder: Path, *, dry_run: bool,
             now: datetime | None, sleep: Callable[[float], None]) -> Report:
    """``distribute``'s work, once it holds its locks (or, dry, none): what was sent read from the store, then
    each message not yet sent."""
    items, notes = plan(config, period, folder)
    report = Report(period.label, meeting_at(config, period), folder, notes=notes, dry_run=dry_run)
    org = config.organisation.slug
    with transaction(engine) as session:
        rows = {(r.kind, r.recipient, r.attachment): (r.status, r.sha256, r.sent_at) for r in session.scalars(
            select(Delivery).where(Delivery.org == org, Delivery.period == period.label))}
    groups: dict[tuple[str, str], Outcome] = {}
    for item in items:
        sha = file_sha256(item.path) if item.path.is_file() else ""
        known = rows.get((item.kind, item.address, item.attachment))
        if known is not None and known[0] == "sent" and known[1] == sha:
            report.already_sent += 1
            continue
        outcome = groups.setdefault((item.kind, item.address), Outcome(item.kind, item.address, item.who, [],
                                                                       "would send"))
        outcome.items.append(item)
        outcome.correction |= known is not None and known[0] == "sent"
    report.outcomes = list(groups.values())
    if dry_run:
        moment = local(config, now or datetime.now(UTC))
        for o in report.outcomes:
            o.late = moment > min(i.due_by for i in o.items)
            if o.recipient.startswith("(no address"):
                o.status, o.error = "failed", _no_address(o)
        return report
    assert config.delivery is not None
    mailer = Mailer(config.delivery, credentials(config.delivery))
    try:
        for o in report.outcomes:
            _send(config, engine, period, o, mailer, now, sleep)
    finally:
        mailer.close()
    return report


def _no_address(o: Outcome) -> str:
    key = "meeting.chair" if o.who == "the chair" else f"units[].email of {o.who.split()[-1]}"
    return f"no e-mail address for {o.who} (set {key} in the config)"


def _send(config: Config, engine: Engine, period: Period, o: Outcome, mailer: Mailer, now: datetime | None,
          sleep: Callable[[float], None]) -> None:
    """Try one message (bounded retries for transient errors), then record each of its files."""
    assert config.delivery is not None
    missing = [i for i in o.items if not i.path.is_file()]
    tries = 1 + config.delivery.retries
    if o.recipient.startswith("(no address"):
        o.status, o.error, o.attempts = "failed", _no_address(o), 1
    elif missing:
        o.status, o.attempts = "failed", 1
        o.error = "missing file" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(
            str(i.path) for i in missing)
    else:
        for attempt in range(1, tries + 1):
            o.attempts = attempt
            moment = local(config, now or datetime.now(UTC))
            o.late = moment > min(i.due_by for i in o.items)
            try:
                mailer.send(message(config, period, o, moment))
            except (smtplib.SMTPException, OSError) as exc:
                o.status, o.error = "failed", describe_error(exc)
                if not transient(exc) or attempt == tries:
                    break
                sleep(config.delivery.retry_seconds)
            else:
                o.status, o.error = "sent", ""
                break
    _record(config, engine, period, o, now)


def _record(config: Config, engine: Engine, period: Period, o: Outcome, now: datetime | None) -> None:
    org = config.organisation.slug
    moment = utc_naive(local(config, now or datetime.now(UTC)))
    with transaction(engine) as session:
        for item in o.items:
            row = session.scalar(select(Delivery).where(
                Delivery.org == org, Delivery.period == period.label, Delivery.kind == item.kind,
                Delivery.recipient == item.address, Delivery.attachment == item.attachment))
            if row is None and item.recipient is not None:  # a failure recorded before the address was given
                row = session.scalar(select(Delivery).where(
                    Delivery.org == org, Delivery.period == period.label, Delivery.kind == item.kind,
                    Delivery.recipient == placeholder(item.unit_code), Delivery.attachment == item.attachment))
                if row is not None:
                    row.recipient = item.address
            if row is None:
                row = Delivery(org=org, period=period.label, kind=item.kind, unit_code=item.unit_code,
                               recipient=item.address, attachment=item.attachment, status="failed", attempts=0,
                               sha256="", last_error="", created_at=moment)
                session.add(row)
            row.attempts = (row.attempts or 0) + o.attempts
            row.due_by = utc_naive(item.due_by)
            if o.status == "sent":
                row.status, row.last_error, row.sent_at = "sent", "", moment
                row.sha256 = file_sha256(item.path)
            else:  # a failed correction keeps the first send's row and hash, so the next run tries it again
                if row.status != "sent":
                    row.status, row.sha256 = "failed", file_sha256(item.path) if item.path.is_file() else ""
                row.last_error = o.error
