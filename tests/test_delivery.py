"""Delivery (`compstat distribute`, issue #15): the demo's W48 packs and minutes sent to a real SMTP server
(aiosmtpd on 127.0.0.1): who gets what, the bytes attached, nothing twice, failures recorded and retried,
late sends reported, credentials read from the environment and never printed.

The W48 meeting (week Mon 23 - Sun 29 Nov 2026, meeting_lag_days 3) is on Wed 2 Dec 2026 at 10:00 Europe/London
(UTC in winter): briefs are due by Mon 30 Nov 10:00 (48 hours before), minutes by Fri 4 Dec 10:00 (2 days after).
"""

from __future__ import annotations

import asyncio
import copy
import gc
import ipaddress
import json
import shutil
import socket
import sqlite3
import ssl
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import load_config
from compstat.delivery import brief_due, distribute, meeting_at, minutes_due, plan
from compstat.demo import write_config
from compstat.errors import ConfigError
from compstat.periods import parse_period
from compstat.store import Delivery, connect, transaction
from compstat.store.lock import StoreBusyError, task_lock

# aiosmtpd's own server-side transports, left to the garbage collector when the test server stops, warn as unclosed
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
LEAVES = [f"{d}{i}" for d in "NSE" for i in range(1, 5)]
DIVISIONS = ["N", "S", "E"]
CHAIR = "chair@example.org"
SECRET = "s3cret-pa55word"


def address(code: str) -> str:
    return f"{code.lower()}@example.org"


@dataclass
class Handler:
    """Collects the messages accepted; refuses the recipients in ``refuse`` (address → reply)."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, addr: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        reply = self.refuse.get(addr)
        if reply is not None:
            if reply.startswith("451 once"):
                del self.refuse[addr]
            return reply
        envelope.rcpt_tos.append(addr)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def to(self, recipient: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.messages if recipient in rcpts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mail:
    config: Path
    cycle: Path  # the copied W48 folder
    db: Path
    raw: dict[str, Any]
    handler: Handler
    controller: Controller
    port: int

    def run(self, *args: str) -> Any:
        return CliRunner().invoke(app, ["distribute", "--config", str(self.config), "--period", "2026-W48", *args])

    def rows(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute("SELECT kind, unit_code, recipient, attachment, status, attempts, last_error, "
                                "due_by, sent_at, sha256 FROM deliveries ORDER BY id").fetchall()

    def rewrite(self, change: Any) -> None:
        raw = copy.deepcopy(self.raw)
        change(raw)
        write_config(self.config, raw, header="delivery test copy of config/demo.yaml")

    def restart(self) -> None:
        self.controller = start(self.handler, self.port)


def start(handler: Handler, port: int, **options: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    with warnings.catch_warnings():  # log-in without TLS: this test server only, on 127.0.0.1
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
        controller.start()
    return controller


def with_emails(raw: dict[str, Any], port: int) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    for division in raw["units"]:
        division["email"] = address(division["code"])
        for unit in division["children"]:
            unit["email"] = address(unit["code"])
    raw["organisation"] = {**raw["organisation"], "timezone": "Europe/London"}
    raw["meeting"] = {**raw.get("meeting", {}), "chair": CHAIR, "time": "10:00"}
    raw["delivery"] = {"host": "127.0.0.1", "port": port, "security": "none", "sender": "compstat@example.org",
                       "retries": 1, "retry_seconds": 0, "timeout": 5}
    return raw


@pytest.fixture
def mail(demo_w48: tuple[list[str], Path, str, dict[str, object]], tmp_path: Path) -> Iterator[Mail]:
    """A private copy of the demo's store and W48 outputs (the store's cycle row pointing at the copy), a config
    with addresses, and an SMTP server collecting what it is sent."""
    _, cycle_dir, _, raw = demo_w48
    root = Path(str(raw["store"]).removeprefix("sqlite:///")).parent
    shutil.copy(root / "demo.db", tmp_path / "demo.db")
    shutil.copytree(cycle_dir.parents[1], tmp_path / "cycles")
    cycle = tmp_path / "cycles" / "demo" / "2026-W48"
    shutil.rmtree(cycle / "minutes", ignore_errors=True)  # another test may have written the session demo's minutes
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        conn.execute("UPDATE cycles SET output_dir = ? WHERE period = '2026-W48'", (str(cycle),))
    port = free_port()
    full = with_emails(dict(raw) | {"store": f"sqlite:///{tmp_path / 'demo.db'}",
                                    "output_dir": str(tmp_path / "cycles")}, port)
    config_path = tmp_path / "config" / "demo.yaml"
    write_config(config_path, full, header="delivery test copy of config/demo.yaml")
    handler = Handler()
    state = Mail(config_path, cycle, tmp_path / "demo.db", full, handler, start(handler, port), port)
    try:
        yield state
    finally:
        state.controller.stop()
        gc.collect()  # the server's closed transports warn now, under this module's filter, not at session end


def test_each_pack_goes_to_its_commander_once(mail: Mail) -> None:
    result = mail.run("--now", "2026-11-29T09:00")
    assert result.exit_code == 0, result.output
    assert "16 message(s) sent (0 late), 0 failed" in result.output
    assert "minutes: not written yet" in result.output
    assert len(mail.handler.messages) == 16  # 12 units, 3 divisions, the chair
    for code in [*LEAVES, *DIVISIONS]:
        [message] = mail.handler.to(address(code))
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == f"pack-{code}.pdf"
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content() == (mail.cycle / f"pack-{code}.pdf").read_bytes()
        assert message["Subject"] == "Demo Constabulary: briefing pack for the 2026-W48 meeting on Wed 02 Dec 2026"
        assert message["From"] == "compstat@example.org"
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "reviewed at the meeting on Wednesday 02 December 2026 at 10:00 GMT" in text
        assert "Due by Monday 30 November 2026 10:00 GMT" in text
        assert "late" not in text
    [chair] = mail.handler.to(CHAIR)
    [pack] = list(chair.iter_attachments())
    assert pack.get_filename() == "chair-pack.pdf"
    assert pack.get_content() == (mail.cycle / "chair-pack.pdf").read_bytes()
    rows = mail.rows()
    assert len(rows) == 16
    assert {r[4] for r in rows} == {"sent"} and {r[5] for r in rows} == {1}
    n1 = next(r for r in rows if r[1] == "N1")
    assert n1[:4] == ("brief", "N1", "n1@example.org", "pack-N1.pdf")
    assert n1[7:9] == ("2026-11-30 10:00:00.000000", "2026-11-29 09:00:00.000000")  # UTC (GMT in winter)
    assert [r for r in rows if r[1] is None][0][2:4] == (CHAIR, "chair-pack.pdf")

    again = mail.run("--now", "2026-11-29T10:00")
    assert again.exit_code == 0, again.output
    assert "0 message(s) sent (0 late), 0 failed; 16 file(s) already sent" in again.output
    assert len(mail.handler.messages) == 16
    assert len(mail.rows()) == 16


def test_a_units_compstat_sheet_is_sent_as_one(mail: Mail) -> None:
    """With ``packs.unit_packs: called`` a unit the meeting does not call gets its CompStat sheet, as the period's
    manifest records: its e-mail names it so, not as a briefing pack."""
    manifest = json.loads((mail.cycle / "manifest.json").read_text(encoding="utf-8"))
    manifest["packs"]["pack-N1.pdf"]["sheet"] = True
    (mail.cycle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = mail.run("--now", "2026-11-29T09:00")
    assert result.exit_code == 0, result.output
    [sheet] = mail.handler.to(address("N1"))
    assert sheet["Subject"] == "Demo Constabulary: CompStat sheet for the 2026-W48 meeting on Wed 02 Dec 2026"
    body = sheet.get_body(("plain",))
    assert body is not None and "Attached: the CompStat sheet of Demo Constabulary for period 2026-W48" in (
        body.get_content())
    [pack] = mail.handler.to(address("N2"))
    assert pack["Subject"] == "Demo Constabulary: briefing pack for the 2026-W48 meeting on Wed 02 Dec 2026"


def test_refused_recipient_is_recorded_and_retried_next_run(mail: Mail) -> None:
    mail.handler.refuse["n2@example.org"] = "550 5.1.1 mailbox unavailable"
    first = mail.run("--now", "2026-11-29T09:00")
    assert first.exit_code == 1, first.output
    assert "FAILED brief to unit N2 <n2@example.org>: pack-N2.pdf - recipient refused: 550 5.1.1 mailbox" \
           " unavailable (after 1 attempt; tried again next run)" in first.output  # a 5xx is not retried in the run
    assert "15 message(s) sent (0 late), 1 failed" in first.output
    failed = [r for r in mail.rows() if r[4] == "failed"]
    assert [(r[1], r[5]) for r in failed] == [("N2", 1)] and "550" in failed[0][6]

    del mail.handler.refuse["n2@example.org"]
    second = mail.run("--now", "2026-11-29T09:30")
    assert second.exit_code == 0, second.output
    assert "1 message(s) sent (0 late), 0 failed; 15 file(s) already sent" in second.output
    assert len(mail.handler.messages) == 16 and len(mail.handler.to("n2@example.org")) == 1
    n2 = next(r for r in mail.rows() if r[1] == "N2")
    assert (n2[4], n2[5], n2[6]) == ("sent", 2, "")


def test_a_transient_refusal_is_tried_again_within_the_run(mail: Mail) -> None:
    mail.handler.refuse["s3@example.org"] = "451 once: try again later"
    result = mail.run("--now", "2026-11-29T09:00")
    assert result.exit_code == 0, result.output
    assert len(mail.handler.to("s3@example.org")) == 1
    s3 = next(r for r in mail.rows() if r[1] == "S3")
    assert (s3[4], s3[5]) == ("sent", 2)


def test_a_stopped_server_fails_everything_and_the_next_run_sends_it(mail: Mail) -> None:
    mail.controller.stop()
    down = mail.run("--now", "2026-11-29T09:00")
    assert down.exit_code == 1, down.output
    assert "0 message(s) sent (0 late), 16 failed" in down.output
    assert "cannot reach the SMTP server: Connection refused (after 2 attempts" in down.output
    assert {(r[4], r[5]) for r in mail.rows()} == {("failed", 2)}  # one try and one retry (delivery.retries: 1)
    mail.restart()
    up = mail.run("--now", "2026-11-29T09:30")
    assert up.exit_code == 0, up.output
    assert "16 message(s) sent (0 late), 0 failed" in up.output
    assert {(r[4], r[5]) for r in mail.rows()} == {("sent", 3)}


def test_dry_run_sends_and_records_nothing(mail: Mail) -> None:
    result = mail.run("--dry-run", "--now", "2026-11-29T09:00")
    assert result.exit_code == 0, result.output
    assert "would send brief to unit N1 <n1@example.org>: pack-N1.pdf" in result.output
    assert "would send brief to the chair <chair@example.org>: chair-pack.pdf" in result.output
    assert "dry run: 16 message(s) would be sent, nothing sent or recorded" in result.output
    assert mail.handler.messages == [] and mail.rows() == []


def test_briefs_sent_after_their_due_time_are_sent_and_reported_late(mail: Mail) -> None:
    result = mail.run("--now", "2026-12-01T08:15")
    assert result.exit_code == 0, result.output
    assert "16 message(s) sent (16 late), 0 failed" in result.output
    assert "sent brief to unit E4 <e4@example.org>: pack-E4.pdf (LATE: was due by 30 Nov 10:00)" in result.output
    body = mail.handler.to("e4@example.org")[0].get_body(("plain",))
    assert body is not None and "This is sent late: it was due by 30 Nov 2026 10:00." in body.get_content()
    assert {(r[7], r[8]) for r in mail.rows()} == {("2026-11-30 10:00:00.000000", "2026-12-01 08:15:00.000000")}


def test_minutes_go_to_each_commander_and_the_chair_once_written(mail: Mail) -> None:
    assert mail.run("--now", "2026-11-29T09:00").exit_code == 0
    made = CliRunner().invoke(app, ["minutes", "--config", str(mail.config), "--period", "2026-W48"])
    assert made.exit_code == 0, made.output
    mail.handler.messages.clear()
    result = mail.run("--now", "2026-12-03T16:00")
    assert result.exit_code == 0, result.output
    assert "13 message(s) sent (0 late), 0 failed; 16 file(s) already sent" in result.output
    for code in LEAVES:
        [message] = mail.handler.to(address(code))
        assert message["Subject"] == ("Demo Constabulary: follow-up minutes for the 2026-W48 meeting on "
                                      "Wed 02 Dec 2026")
        [note] = list(message.iter_attachments())
        assert note.get_filename() == f"minutes-{code}.md"
        assert note.get_content_type() == "text/markdown"
        assert note.get_payload(decode=True) == (mail.cycle / "minutes" / f"{code}.md").read_bytes()
    [chair] = mail.handler.to(CHAIR)
    assert [a.get_filename() for a in chair.iter_attachments()] == [f"minutes-{c}.md" for c in LEAVES]
    body = chair.get_body(("plain",))
    assert body is not None and "Due by Friday 04 December 2026 10:00 GMT" in body.get_content()
    minutes = [r for r in mail.rows() if r[0] == "minutes"]
    assert len(minutes) == 24 and {r[7] for r in minutes} == {"2026-12-04 10:00:00.000000"}

    late = mail.run("--now", "2026-12-05T10:00")
    assert "0 message(s) sent (0 late), 0 failed; 40 file(s) already sent" in late.output


def test_a_reissued_pack_is_sent_again_as_a_correction(mail: Mail) -> None:
    assert mail.run("--now", "2026-11-29T09:00").exit_code == 0
    pack = mail.cycle / "pack-N1.pdf"
    pack.write_bytes(pack.read_bytes() + b"\n% reissued\n")
    result = mail.run("--now", "2026-11-29T12:00")
    assert result.exit_code == 0, result.output
    assert ("sent brief to unit N1 <n1@example.org>: pack-N1.pdf (correction: the file changed since it was sent)"
            in result.output)
    assert "1 message(s) sent (0 late), 0 failed; 15 file(s) already sent" in result.output
    first, second = mail.handler.to("n1@example.org")
    assert second["Subject"].startswith("Correction: Demo Constabulary: briefing pack")
    assert next(second.iter_attachments()).get_content() == pack.read_bytes()
    n1 = next(r for r in mail.rows() if r[1] == "N1")
    assert n1[4:6] == ("sent", 2) and n1[8] == "2026-11-29 12:00:00.000000"
    assert mail.run("--now", "2026-11-29T13:00").output.count("16 file(s) already sent") == 1


def test_a_unit_without_an_address_or_a_missing_pack_fails_until_fixed(mail: Mail) -> None:
    def no_n3(raw: dict[str, Any]) -> None:
        del raw["units"][0]["children"][2]["email"]

    mail.rewrite(no_n3)
    (mail.cycle / "pack-S1.pdf").rename(mail.cycle / "pack-S1.moved")
    result = mail.run("--now", "2026-11-29T09:00")
    assert result.exit_code == 1, result.output
    assert "FAILED brief to unit N3 <(no address: N3)>: pack-N3.pdf - no e-mail address for unit N3 (set " \
           "units[].email of N3 in the config)" in result.output
    assert f"FAILED brief to unit S1 <s1@example.org>: pack-S1.pdf - missing file: {mail.cycle / 'pack-S1.pdf'}" \
           in result.output
    assert "14 message(s) sent (0 late), 2 failed" in result.output
    assert sorted((r[1], r[2], r[4]) for r in mail.rows() if r[4] == "failed") == [
        ("N3", "(no address: N3)", "failed"), ("S1", "s1@example.org", "failed")]

    mail.rewrite(lambda raw: None)
    (mail.cycle / "pack-S1.moved").rename(mail.cycle / "pack-S1.pdf")
    fixed = mail.run("--now", "2026-11-29T09:30")
    assert fixed.exit_code == 0, fixed.output
    assert "2 message(s) sent (0 late), 0 failed; 14 file(s) already sent" in fixed.output
    rows = mail.rows()
    assert len(rows) == 16 and {r[4] for r in rows} == {"sent"}  # the placeholder row became N3's address
    assert next(r for r in rows if r[1] == "N3")[2] == "n3@example.org"


# aiosmtpd warns for each connection to a server that takes a log-in without TLS, and its own PLAIN/LOGIN
# handling reads its deprecated Session.login_data: as errors (the suite's default) in the server's thread, each
# would hang the connection until the client's timeout
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning",
                            "ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_credentials_come_from_the_environment_and_are_never_printed(mail: Mail,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        seen.append((data.login, data.password))
        return AuthResult(success=data.login == b"briefings" and data.password == SECRET.encode(), handled=False)

    mail.controller.stop()
    mail.controller = start(mail.handler, mail.port, authenticator=authenticate, auth_required=True,
                            auth_require_tls=False)
    anonymous = mail.run("--now", "2026-11-29T09:00")  # the server wants a log-in, the config gives none
    assert anonymous.exit_code == 1 and "530" in anonymous.output and mail.handler.messages == []

    def logs_in(raw: dict[str, Any]) -> None:
        raw["delivery"] |= {"username_env": "TEST_SMTP_USER", "password_env": "TEST_SMTP_PASSWORD"}

    mail.rewrite(logs_in)
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("TEST_SMTP_USER", "briefings")
    unset = mail.run("--now", "2026-11-29T09:00")
    assert unset.exit_code == 2
    assert "the environment variable TEST_SMTP_PASSWORD (named by delivery.password_env) is not set" in unset.output

    monkeypatch.setenv("TEST_SMTP_PASSWORD", "not-" + SECRET)
    refused = mail.run("--now", "2026-11-29T09:00")
    assert refused.exit_code == 1 and "server replied 535" in refused.output and mail.handler.messages == []

    monkeypatch.setenv("TEST_SMTP_PASSWORD", SECRET)
    sent = mail.run("--now", "2026-11-29T09:30")
    assert sent.exit_code == 0, sent.output
    assert len(mail.handler.messages) == 16 and seen[-1] == (b"briefings", SECRET.encode())
    assert SECRET not in sent.output + unset.output + refused.output
    with sqlite3.connect(mail.db) as conn:
        assert not conn.execute("SELECT 1 FROM deliveries WHERE last_error LIKE ?", (f"%{SECRET}%",)).fetchall()


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, as the test SMTP server's."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compstat test relay")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "relay.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "relay.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return Certificate(folder / "relay.pem", folder / "relay.key")


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_starttls_checks_the_servers_certificate_then_logs_in(mail: Mail, certificate: Certificate,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    logins: list[bytes] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append(data.login)
        return AuthResult(success=data.password == SECRET.encode(), handled=False)

    mail.controller.stop()  # a relay that offers AUTH only after STARTTLS (aiosmtpd's auth_require_tls)
    mail.controller = start(mail.handler, mail.port, tls_context=certificate.server_context(),
                            require_starttls=True, authenticator=authenticate, auth_required=True)
    monkeypatch.setenv("TEST_SMTP_USER", "briefings")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SECRET)

    def starttls(ca_file: str | None) -> Any:
        def change(raw: dict[str, Any]) -> None:
            raw["delivery"] |= {"security": "starttls", "username_env": "TEST_SMTP_USER",
                                "password_env": "TEST_SMTP_PASSWORD"}
            if ca_file is not None:
                raw["delivery"]["ca_file"] = ca_file
        return change

    mail.rewrite(starttls(None))  # the system's authorities do not know this relay: nothing is sent
    untrusted = mail.run("--now", "2026-11-29T09:00")
    assert untrusted.exit_code == 1, untrusted.output
    assert "certificate verify failed" in untrusted.output and "16 failed" in untrusted.output
    assert "(after 1 attempt;" in untrusted.output  # not tried again within the run: it would fail the same way
    assert mail.handler.messages == [] and logins == []

    shutil.copy(certificate.cert, mail.config.parent / "relay-ca.pem")
    mail.rewrite(starttls("relay-ca.pem"))  # relative to the config's folder
    trusted = mail.run("--now", "2026-11-29T09:30")
    assert trusted.exit_code == 0, trusted.output
    assert "16 message(s) sent (0 late), 0 failed" in trusted.output
    assert len(mail.handler.messages) == 16 and logins == [b"briefings"]  # one connection, one log-in
    assert SECRET not in untrusted.output + trusted.output


def test_ssl_from_the_first_byte(mail: Mail, certificate: Certificate) -> None:
    mail.controller.stop()
    mail.controller = start(mail.handler, mail.port, ssl_context=certificate.server_context())
    shutil.copy(certificate.cert, mail.config.parent / "relay-ca.pem")

    def ssl_relay(raw: dict[str, Any]) -> None:
        raw["delivery"] |= {"security": "ssl", "ca_file": "relay-ca.pem", "host": "localhost"}

    mail.rewrite(ssl_relay)
    result = mail.run("--now", "2026-11-29T09:00")
    assert result.exit_code == 0, result.output
    assert len(mail.handler.messages) == 16


def test_a_password_is_never_sent_unencrypted_to_another_machine(tmp_path: Path) -> None:
    raw = with_emails(yaml.safe_load(Path("config/demo.yaml").read_text()), 25)
    raw["delivery"] |= {"host": "mail.example.org", "username_env": "U", "password_env": "P"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="would send the password to 'mail.example.org' unencrypted"):
        load_config(path)
    raw["delivery"] |= {"security": "starttls", "ca_file": "missing.pem"}
    path.write_text(yaml.safe_dump(raw))
    assert load_config(path).delivery.ca_file == str(tmp_path / "missing.pem")  # type: ignore[union-attr]
    raw["delivery"]["security"] = "none"
    raw["delivery"]["host"] = "localhost"
    path.write_text(yaml.safe_dump(raw))
    load_config(path)  # a relay on this machine


@dataclass
class SlowHandler(Handler):
    """Accepts each message after a pause, so that a second run starts while the first is sending."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def test_two_runs_at_once_send_each_message_once_on_either_store(
        demo_w48: tuple[list[str], Path, str, dict[str, object]], tmp_path: Path, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `distribute` runs started together (as two cron jobs might): the second waits for the first and then
    finds everything sent. The deliveries are recorded on SQLite and PostgreSQL alike."""
    _, cycle_dir, _, raw = demo_w48
    shutil.copytree(cycle_dir, tmp_path / "cycles" / "demo" / "2026-W48",
                    ignore=shutil.ignore_patterns("minutes"))
    port = free_port()
    path = tmp_path / "demo.yaml"
    write_config(path, with_emails(dict(raw) | {"store": store_url, "output_dir": str(tmp_path / "cycles")}, port),
                 header="delivery test")
    config = load_config(path)
    period = parse_period("2026-W48", config.cadence)
    handler = SlowHandler()
    controller = start(handler, port)
    engines = [connect(store_url), connect(store_url)]
    moment = datetime(2026, 11, 29, 9, 0)
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(distribute, config, e, period, now=moment, sleep=lambda _: None) for e in engines]
            reports = [r.result(timeout=120) for r in runs]
        monkeypatch.setenv("COMPSTAT_LOCK_WAIT", "0")
        held = task_lock(store_url, "distribute demo", wait=0)
        with held, pytest.raises(StoreBusyError, match="another `compstat distribute demo` is running"):
            distribute(config, engines[0], period, now=moment)
        with transaction(engines[0]) as session:
            rows = session.execute(select(Delivery.recipient, Delivery.attachment, Delivery.status,
                                          Delivery.attempts)).all()
    finally:
        controller.stop()
        for engine in engines:
            engine.dispose()
        gc.collect()
    assert sorted((sum(o.status == "sent" for o in r.outcomes), r.already_sent) for r in reports) == [
        (0, 16), (16, 0)]
    assert len(handler.messages) == 16 and len({tuple(rcpts) for rcpts, _ in handler.messages}) == 16
    assert len(rows) == 16 and {(r.status, r.attempts) for r in rows} == {("sent", 1)}


def test_the_meeting_and_due_times(demo_run: tuple[Any, Path, Path, str]) -> None:
    config = demo_run[0]
    period = parse_period("2026-W48", config.cadence)
    zoned = config.model_copy(update={"organisation": config.organisation.model_copy(
        update={"timezone": "America/Chicago"}), "meeting": config.meeting.model_copy(update={"time": "18:30"})})
    meeting = meeting_at(zoned, period)
    assert meeting.isoformat() == "2026-12-02T18:30:00-06:00"
    assert brief_due(zoned, period).isoformat() == "2026-11-30T18:30:00-06:00"
    assert minutes_due(zoned, period).isoformat() == "2026-12-04T18:30:00-06:00"
    items, notes = plan(config, period, Path("/nowhere"))
    assert [(i.who, i.attachment) for i in items][-4:] == [
        ("division N", "pack-N.pdf"), ("division S", "pack-S.pdf"), ("division E", "pack-E.pdf"),
        ("the chair", "chair-pack.pdf")]
    assert len(items) == 16 and {i.recipient for i in items} == {None}  # the demo gives no addresses
    assert notes and notes[0].startswith("minutes: not written yet")


@pytest.mark.parametrize(("delivery", "meeting", "message"), [
    ({"password": "hunter2"}, {}, "delivery: 'password': credentials are never written in the config"),
    ({"smtp_token": "x"}, {}, "'smtp_token': credentials are never written"),
    ({"password_env": "my password"}, {}, "'my password' is not an environment variable name"),
    ({"sender": "Briefings <b@example.org>"}, {}, "delivery.sender: 'Briefings <b@example.org>' is not an e-mail"),
    ({"security": "tls"}, {}, "delivery.security: Input should be 'starttls', 'ssl' or 'none'"),
    ({}, {"chair": "chair@localhost"}, "meeting.chair: 'chair@localhost' is not an e-mail address"),
    ({}, {"time": "25:00"}, "meeting.time: '25:00' is not a time of day"),
    ({}, {"brief_hours": -1}, "meeting.brief_hours: Input should be greater than or equal to 0"),
])
def test_bad_delivery_settings_are_refused_at_load(tmp_path: Path, delivery: dict[str, Any],
                                                   meeting: dict[str, Any], message: str) -> None:
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "demo.yaml").read_text(encoding="utf-8"))
    raw["delivery"] = {"sender": "compstat@example.org", **delivery}
    raw["meeting"] = {**raw.get("meeting", {}), **meeting}
    path = tmp_path / "c.yaml"
    write_config(path, raw, header="bad delivery")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_addresses_and_an_unquoted_meeting_time_load(tmp_path: Path) -> None:
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "demo.yaml").read_text(encoding="utf-8"))
    raw["units"][0]["email"] = "north.division@example.org"
    raw["units"][0]["children"][0]["email"] = "bad address@example.org"
    path = tmp_path / "c.yaml"
    write_config(path, raw, header="addresses")
    with pytest.raises(ConfigError, match=r"units\.0\.children\.0\.email: 'bad address@example.org' is not an "):
        load_config(path)
    raw["units"][0]["children"][0]["email"] = "n1@example.org"
    path.write_text(yaml.safe_dump(raw, sort_keys=False) + "delivery:\n  sender: c@example.org\n"
                    "meeting:\n  time: 09:30\n", encoding="utf-8")
    config = load_config(path)
    assert config.meeting.time == "09:30" and config.units[0].email == "north.division@example.org"
    assert config.delivery is not None and config.delivery.resolved_port == 587
