"""`compstat users add|list|disable|reset`: accounts from the command line, on a store with no cycle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import load_config
from compstat.store import connect, transaction
from compstat.web.accounts import LoginRefused, authenticate


@pytest.fixture
def base(small_config_path: Path, tmp_path: Path) -> list[str]:
    return ["--config", str(small_config_path), "--db", f"sqlite:///{tmp_path / 'accounts.db'}"]


def users(base: list[str], *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["users", args[0], *base, *args[1:]])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def one_time_password(output: str) -> str:
    found = re.findall(r"One-time password \(shown only now[^)]*\): (\S+)", output)
    assert len(found) == 1, output
    return str(found[0])


def rows(output: str) -> dict[str, list[str]]:
    """The cells of each row of the ``users list`` table, by username."""
    found = {}
    for line in output.splitlines():
        if line.startswith(("│", "┃")):  # rich's table: the header row's bars are heavy
            cells = [cell.strip() for cell in line.replace("┃", "│").strip().strip("│").split("│")]
            found[cells[0]] = cells[1:]
    return found


def signs_in(base: list[str], username: str, password: str) -> bool:
    config = load_config(Path(base[1]))
    engine = connect(base[3])
    try:
        with transaction(engine) as session:
            try:
                return authenticate(session, config.organisation.slug, username, password).username == username
            except LoginRefused:
                return False
    finally:
        engine.dispose()


def test_add_prints_a_one_time_password_once_and_list_never_shows_it(base: list[str]) -> None:
    added = users(base, "add", "alpha.commander", "--role", "commander", "--unit", "A", "--unit", "B",
                  "--name", "Supt Alpha")
    assert "Added alpha.commander (commander of A, B)." in added
    secret = one_time_password(added)
    users(base, "add", "chair", "--role", "chair")
    listed = users(base, "list")
    assert secret not in listed and "$argon2" not in listed
    table = rows(listed)
    assert table["username"] == ["name", "role", "units", "disabled", "next sign-in", "locked", "last sign-in"]
    assert table["alpha.commander"] == ["Supt Alpha", "commander", "A B", "", "change password", "", "never"]
    assert table["chair"] == ["chair", "chair", "", "", "change password", "", "never"]
    assert signs_in(base, "alpha.commander", secret)
    assert re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d", rows(users(base, "list"))["alpha.commander"][-1])


def test_list_shows_a_locked_account(base: list[str]) -> None:
    secret = one_time_password(users(base, "add", "alpha", "--role", "analyst"))
    for _ in range(5):
        assert not signs_in(base, "alpha", "wrong")
    assert not signs_in(base, "alpha", secret)
    assert rows(users(base, "list"))["alpha"][5].startswith("until 20")


@pytest.mark.parametrize(("args", "message"), [
    (["x", "--role", "boss"], "role 'boss': expected one of commander, division, chair, analyst, admin"),
    (["x", "--role", "commander", "--unit", "Z"], "unit 'Z' is not in the config (expected one of: A, B)"),
    (["x", "--role", "commander"], "a commander needs at least one unit (--unit)"),
    (["x", "--role", "analyst", "--unit", "A"], "an analyst sees every unit"),
    (["taken", "--role", "analyst"], "user 'taken' already exists"),
])
def test_add_refuses_a_bad_account_with_one_line(base: list[str], args: list[str], message: str) -> None:
    users(base, "add", "taken", "--role", "chair")
    output = users(base, "add", *args, code=2)
    assert output.strip() == f"Error: {message}" or message in output, output
    assert len(output.strip().splitlines()) == 1


def test_disable_ends_the_account_and_reset_gives_a_new_one_time_password(base: list[str]) -> None:
    first = one_time_password(users(base, "add", "alpha", "--role", "commander", "--unit", "A"))
    reset = users(base, "reset", "alpha")
    assert "Reset alpha: its sessions have ended and any lock-out is lifted." in reset
    second = one_time_password(reset)
    assert second != first and not signs_in(base, "alpha", first) and signs_in(base, "alpha", second)
    assert "Disabled alpha" in users(base, "disable", "alpha")
    assert not signs_in(base, "alpha", second)
    assert rows(users(base, "list"))["alpha"][3] == "yes"
    assert "Reset alpha: its sessions have ended and any lock-out is lifted (it stays disabled)." in users(
        base, "reset", "alpha")


@pytest.mark.parametrize("command", ["disable", "reset"])
def test_an_unknown_user_is_a_usage_mistake(base: list[str], command: str) -> None:
    assert users(base, command, "ghost", code=2).strip() == "Error: no user 'ghost'"


def test_list_with_no_accounts_says_how_to_add_one(base: list[str]) -> None:
    assert "No accounts for Testshire Police yet" in users(base, "list")
