"""Hostile input: file names built from data or config text stay inside their folder (issue #12, item 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat.actions.minutes import write_minutes
from compstat.cli import app
from compstat.config import load_config
from compstat.errors import ConfigError
from compstat.periods import parse_period
from compstat.safepaths import MAX_NAME_BYTES, NameClashError, PathEscapeError, confined, safe_name, unique_names
from compstat.store import connect, transaction
from tests.conftest import SMALL_CONFIG

ESCAPING = "../../../../tmp/x"


@pytest.mark.parametrize(("text", "expected"), [
    ("N4", "N4"), ("A-1", "A-1"), ("b_2.x", "b_2.x"),  # ordinary codes are unchanged
    ("..", "unnamed"), ("../x", "_x"), (ESCAPING, "_.._.._.._tmp_x"), ("/etc/passwd", "_etc_passwd"),
    ("C:\\Windows\\x", "C_Windows_x"), ("a\\..\\b", "a_.._b"), ("a\0b", "a_b"), ("\x1b[2J", "_2J"),
    ("CON", "CON_"), ("nul", "nul_"), ("COM1", "COM1_"), ("lpt9", "lpt9_"), ("con.txt", "con_.txt"),
    ("AUX.tar.gz", "AUX_.tar.gz"), ("CONSOLE", "CONSOLE"), ("name. . .", "name._._"), ("dots...", "dots"),
    ("trailing ", "trailing_"), ("Süd-Ost", "Süd-Ost"), ("e\u0301", "é"), ("\u202eexe.pdf", "_exe.pdf"),
    ("", "unnamed"), ("   ", "_"), (":*?<>|\"", "_"),
])
def test_safe_name_is_one_portable_component(text: str, expected: str) -> None:
    assert safe_name(text) == expected


def test_reserved_names_are_judged_on_the_whole_name() -> None:
    assert safe_name("CON", prefix="pack-", suffix=".pdf") == "pack-CON.pdf"  # not reserved: unchanged
    assert safe_name("CON", suffix=".md") == "CON_.md"
    assert safe_name("", suffix=".md", default="unit") == "unit.md"


def test_long_names_are_capped_in_bytes_and_stay_distinct() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    names = [safe_name(t, prefix="pack-", suffix=".pdf") for t in (a, b)]
    assert names[0] != names[1]
    assert all(len(n.encode("utf-8")) <= MAX_NAME_BYTES and n.startswith("pack-x") and n.endswith(".pdf")
               for n in names)
    wide = safe_name("é" * 300, suffix=".md")  # two bytes a letter: never cut inside one
    assert len(wide.encode("utf-8")) <= MAX_NAME_BYTES and wide.endswith(".md")
    wide.encode("utf-8").decode("utf-8")


def test_unique_names_refuse_codes_that_share_a_name_ignoring_case() -> None:
    """Issue #17: numbering a clash (`A_1-2`) left the reader to guess which unit's file was which; two codes
    that would share a file are refused, both named."""
    assert unique_names(["A/1", "../x", "CON"], prefix="pack-", suffix=".pdf", taken=["chair-pack.pdf"]) == {
        "A/1": "pack-A_1.pdf", "../x": "pack-_x.pdf", "CON": "pack-CON.pdf"}
    for codes in (["A/1", "A_1"], ["A_1", "a_1"]):
        with pytest.raises(NameClashError, match=f"'{codes[0]}' and '{codes[1]}' would both be written"):
            unique_names(codes, prefix="pack-", suffix=".pdf")
    with pytest.raises(NameClashError, match="'chair' would be written to the file 'chair-pack.pdf'"):
        unique_names(["chair"], prefix="", suffix="-pack.pdf", taken=["chair-pack.pdf"])


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "/etc/passwd", "a/../../x", ".", "", "a\0b"])
def test_confined_refuses_a_name_leading_out(tmp_path: Path, name: str) -> None:
    with pytest.raises(PathEscapeError):
        confined(tmp_path, name)
    with pytest.raises(PathEscapeError):
        confined(tmp_path, name, resolve=False)


def test_confined_follows_links_unless_told_not_to(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "link")
    assert confined(tmp_path / "out", "a/b.pdf") == tmp_path / "out" / "a" / "b.pdf"
    with pytest.raises(PathEscapeError, match="outside the folder"):
        confined(tmp_path / "out", "link/x.pdf")
    assert confined(tmp_path / "out", "link/x.pdf", resolve=False) == tmp_path / "out" / "link" / "x.pdf"


def hostile_config(tmp_path: Path, a: str, b: str) -> Path:
    """The small config with its two units' codes replaced."""
    text = SMALL_CONFIG.replace("{code: A,", f"{{code: '{a}',").replace("{code: B,", f"{{code: '{b}',")
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_actions_export_of_an_escaping_unit_code_writes_inside_the_folder(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #12: `actions export` of unit `../../../../tmp/x` wrote `actions-../../../../tmp/x-<period>.xlsx`,
    three folders above the working folder."""
    config = hostile_config(tmp_path, ESCAPING, "B")
    work = tmp_path / "1" / "2" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["actions", "export", "--config", str(config), "--db",
                                      f"sqlite:///{tmp_path / 's.db'}", "--unit", ESCAPING, "--period", "2026-W11"])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.xlsx"))
    assert written == [Path("1/2/work/actions-_.._.._.._tmp_x-2026-W11.xlsx")]
    assert "written to actions-_.._.._.._tmp_x-2026-W11.xlsx" in result.output


def test_minutes_of_hostile_codes_are_files_inside_the_folder(tmp_path: Path) -> None:
    config = load_config(hostile_config(tmp_path, "../x", "/y"))
    engine = connect(f"sqlite:///{tmp_path / 's.db'}")
    with transaction(engine) as session:
        paths = write_minutes(session, config, parse_period("2026-W10", config.cadence), out_root=tmp_path / "out")
    engine.dispose()
    minutes = tmp_path / "out" / "testshire" / "2026-W10" / "minutes"
    assert paths == [minutes / "_x.md", minutes / "_y.md"]
    assert sorted(p.name for p in tmp_path.rglob("*.md")) == ["_x.md", "_y.md"]


def test_codes_that_would_share_a_file_are_refused_naming_both(tmp_path: Path) -> None:
    """Before: `../x` and `/x` both became `_x.md`, the second overwriting the first (issue #12); then `_x-2.md`,
    which unit's unknown to the reader (issue #17): now the config is refused."""
    with pytest.raises(ConfigError, match="units '../x' and '/x' would share output files"):
        load_config(hostile_config(tmp_path, "../x", "/x"))


@pytest.mark.parametrize(("code", "shown"), [("\x1b[2J", "␛[2J"), ("A\u202e", "A\\u202e"), ("A\nB", "A␊B")])
def test_a_unit_code_with_control_characters_is_refused_clearly(tmp_path: Path, code: str, shown: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SMALL_CONFIG.replace("{code: A,", f"{{code: {code!r},".replace("'", '"')), encoding="utf-8")
    with pytest.raises(ConfigError, match="holds control or invisible characters") as caught:
        load_config(path)
    assert shown in str(caught.value) and "\x1b" not in str(caught.value)


def test_an_organisation_slug_windows_reserves_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SMALL_CONFIG.replace("slug: testshire", "slug: con"), encoding="utf-8")
    with pytest.raises(ConfigError, match="a name Windows reserves"):
        load_config(path)
