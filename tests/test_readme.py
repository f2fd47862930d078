"""The README's reference tables stay in step with the code: its command table lists every command and
subcommand of the CLI, each with exactly its options; its config-key table names every key of the
config's models and no key they lack; its exit codes are the errors' own."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import typer
from pydantic import BaseModel

from compstat import errors
from compstat.actions.log import ConflictError
from compstat.cli import app
from compstat.config import Config

README = Path(__file__).resolve().parents[1] / "README.md"


def section(heading: str) -> str:
    """The README text under ``heading`` up to the next heading of the same or a higher level."""
    text = README.read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n")
    end = re.search(rf"\n#{{1,{len(level)}}} ", text[start + 1:])
    return text[start:start + 1 + end.start()] if end else text[start:]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (``\\|`` inside a cell is a literal bar)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"[|\-: ]+", line):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            rows.append([cell.strip().replace("\\|", "|") for cell in cells])
    return rows


# --- commands ---


def cli_commands(group: Any = None, path: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Every runnable command (``actions list``) with its long options (``--help`` aside)."""
    group = group or typer.main.get_group(app)
    found: dict[str, set[str]] = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found.update(cli_commands(command, (*path, name)))
            continue
        options = {opt for param in command.params if param.param_type_name == "option"
                   for opt in [*param.opts, *param.secondary_opts] if opt.startswith("--")}
        found[" ".join((*path, name))] = options - {"--help"}
    return found


def readme_commands() -> dict[str, set[str]]:
    """The command table's first column: `compstat WORDS [OPTIONS ...]` → words and options named."""
    found: dict[str, set[str]] = {}
    for cells in table_rows(section("## Commands")):
        synopsis = re.fullmatch(r"`compstat ([^`]+)`", cells[0])
        if synopsis is None:
            continue
        words = []
        for token in synopsis[1].split():
            if not re.fullmatch(r"[a-z][a-z-]*", token):
                break
            words.append(token)
        name = " ".join(words)
        assert name not in found, f"the README lists `compstat {name}` twice"
        found[name] = set(re.findall(r"--[a-z][a-z-]*", synopsis[1]))
    return found


def test_readme_lists_every_command_with_its_options() -> None:
    documented, actual = readme_commands(), cli_commands()
    assert sorted(documented) == sorted(actual), "README's command table and the CLI's commands differ"
    for name, options in actual.items():
        assert documented[name] == options, (f"compstat {name}: missing from the README "
                                             f"{sorted(options - documented[name])}, not options "
                                             f"{sorted(documented[name] - options)}")


# --- config keys ---


def _normal(key: str) -> str:
    """`units[].code` → `units.code`, `quality.checks.<check>.enabled` → `quality.checks.<>.enabled`."""
    return re.sub(r"<[^>]*>", "<>", key.replace("[]", ""))


def readme_keys() -> dict[str, str]:
    """The config-key table: each key named in its first column (`a.b.c`, `.d` meaning `a.b.d`), with
    the text of its row."""
    keys: dict[str, str] = {}
    text = section("## Configuration")
    table = text[text.index("Every key:"):]
    for cells in table_rows(table)[1:]:
        names = re.findall(r"`([^`]+)`", cells[0])
        assert names and not names[0].startswith("."), cells[0]
        first = _normal(names[0]).split(".")
        for name in names:
            if name.startswith("."):
                tail = _normal(name[1:]).split(".")
                keys[".".join(first[:-len(tail)] + tail)] = " ".join(cells)
            else:
                keys[_normal(name)] = " ".join(cells)
    return keys


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def model_keys(model: type[BaseModel], prefix: str = "", seen: tuple[type, ...] = ()) -> dict[str, bool]:
    """Every key path of ``model`` (normalised), each with whether it is a leaf (a value rather than a
    section of further keys). A mapping's keys are `<>`; a model inside itself (units' children) stops."""
    keys: dict[str, bool] = {}
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        path = f"{prefix}{name}"
        annotation = _unwrap(field.annotation)
        mappings = []  # a mapping of values may be documented whole or per key (`meeting.host.<period>`)
        while get_origin(annotation) in (list, dict):
            if get_origin(annotation) is dict:
                mappings.append(path)
                path += ".<>"
            annotation = _unwrap(get_args(annotation)[-1])
        section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        keys.update(dict.fromkeys(mappings, not section))
        if section and annotation not in (*seen, model):
            keys[path] = False
            keys.update(model_keys(annotation, f"{path}.", (*seen, model)))
        else:
            keys[path] = True
    return keys


def test_readme_config_table_names_every_key_and_no_other() -> None:
    documented, actual = readme_keys(), model_keys(Config)
    stale = sorted(set(documented) - set(actual))
    assert not stale, f"the README's config table names keys the config does not have: {stale}"
    missing = []
    for key, leaf in actual.items():
        if not leaf or key in documented or f"{key}.<>" in documented:
            continue
        if key.endswith(".<>") and key[:-3] in documented:
            continue
        parts = key.split(".")
        ancestors = [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
        # a section documented in one row, its keys named in the row's text: `{start: date, end: date}`
        if not any(a in documented and re.search(rf"\b{re.escape(parts[-1])}\b", documented[a]) for a in ancestors):
            missing.append(key)
    assert not missing, f"config keys missing from the README's table: {missing}"


# --- exit codes ---


def test_readme_exit_codes_are_the_errors_own() -> None:
    text = section("## Commands")
    codes = {code: " ".join(meaning.split())
             for code, meaning in re.findall(r"^- `(\d)`: (.+?)(?=^- `|\n\n)", text, re.MULTILINE | re.DOTALL)}
    assert set(codes) == {"0", "1", "2"}
    for error in (errors.DataError, errors.BlockedError, ConflictError):
        assert error.exit_code == 1, error
    for error in (errors.UsageError, errors.ConfigError, errors.SourceError):
        assert error.exit_code == 2, error
    assert "blocking quality finding" in codes["1"] and "no data" in codes["1"]
    assert "conflict" in codes["1"]
    assert "usage" in codes["2"] and "config" in codes["2"] and "unreadable" in codes["2"]


# --- the first screen ---


def test_readme_says_how_to_reach_the_command_before_using_it() -> None:
    """`make demo` installs into .venv/: the first screen says how to call `compstat` from there, before
    the README first runs it bare."""
    text = README.read_text(encoding="utf-8")
    first_screen = text[:text.index("\n---\n")]
    assert ". .venv/bin/activate" in first_screen and ".venv/bin/compstat" in first_screen
    names = "|".join(sorted({name.split()[0] for name in cli_commands()}))
    first_bare = re.search(rf"(?m)(^|`)compstat ({names})\b", text)
    assert first_bare is not None and first_bare.start() > text.index(". .venv/bin/activate")
