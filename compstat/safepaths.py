"""File names built from data or config text, confined to their folder.

A unit code, organisation name or any other text that ends up in a file name goes through
``safe_name``: it becomes one portable path component (no separators, no ``..``, no control
characters, no name Windows reserves, at most ``MAX_NAME_BYTES`` bytes). ``unique_names`` gives
several codes their names and refuses two that share one (compared case-insensitively, as on
Windows and macOS): ``N/2`` and ``N_2`` would write one file, so the config refuses them
(``name_clashes``), naming both. ``confined`` is the last check before writing: the path, resolved (symbolic
links followed), must lie inside its folder, or a ``PathEscapeError`` stops the write.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from compstat.errors import CompstatError

MAX_NAME_BYTES = 200  # UTF-8 bytes of a whole file name; most file systems allow 255
HASH_CHARS = 8  # hex digits of the SHA-256 of the original text added to a shortened name
RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9¹²³]|LPT[0-9¹²³])$", re.IGNORECASE)
_UNSAFE = re.compile(r"[^\w.-]+")  # \w: letters and digits of any script, and _


class PathEscapeError(CompstatError):
    """A file name from data or config would lead outside its folder."""

    exit_code = 2


def _clean(text: str) -> str:
    """Letters and digits (any script, NFC), ``.``, ``_`` and ``-`` kept; every other run of characters
    one ``_``; leading and trailing dots removed (no ``..``, no trailing dot Windows would drop)."""
    return _UNSAFE.sub("_", unicodedata.normalize("NFC", text)).strip(".")


def safe_name(text: str, *, prefix: str = "", suffix: str = "", default: str = "unnamed",
              max_bytes: int = MAX_NAME_BYTES) -> str:
    """``prefix + text + suffix`` as one portable file name; ``prefix`` and ``suffix`` are the
    program's own (``pack-``, ``.pdf``) and kept as they are.

    In ``text``, every run of characters other than letters, digits, ``.``, ``_`` and ``-`` becomes
    one ``_`` (so ``/``, ``\\``, NUL, spaces, control and bidi characters cannot reach the name) and
    leading and trailing dots go (``..`` cannot stay a parent folder); empty text becomes
    ``default``. A name Windows reserves (``CON``, ``NUL``, ``COM1``, ``LPT1``, also with an
    extension) gets ``_`` after its stem. A name over ``max_bytes`` UTF-8 bytes is cut and ends
    with ``-`` and the first ``HASH_CHARS`` hex digits of the SHA-256 of ``text``, so two long codes
    that share a beginning keep distinct names. Ordinary codes (``N4``, ``A-1``) are unchanged.
    """
    body = _clean(text) or default
    name = prefix + body + suffix
    if len(name.encode("utf-8")) > max_bytes:
        tag = "-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
        room = max_bytes - len((prefix + tag + suffix).encode("utf-8"))
        if room < 1:
            raise ValueError(f"prefix and suffix leave no room for a name within {max_bytes} bytes")
        body = body.encode("utf-8")[:room].decode("utf-8", "ignore")
        name = prefix + body + tag + suffix
    stem = name.split(".", 1)[0]
    if RESERVED.match(stem):
        name = stem + "_" + name[len(stem):]
    return name


class NameClashError(CompstatError):
    """Two texts (unit codes) would be written to the same file name."""

    exit_code = 2


def name_clashes(texts: Iterable[str]) -> list[tuple[str, str, str]]:
    """``(first, second, name)`` for each text whose ``safe_name`` is an earlier text's, ignoring case (as
    Windows and macOS do): ``N/2`` and ``N_2`` are both ``N_2``, ``A1`` and ``a1`` one file."""
    seen: dict[str, str] = {}
    clashes = []
    for text in dict.fromkeys(texts):
        name = safe_name(text)
        first = seen.setdefault(name.casefold(), text)
        if first != text:
            clashes.append((first, text, name))
    return clashes


def unique_names(texts: Iterable[str], *, prefix: str = "", suffix: str = "", default: str = "unnamed",
                 taken: Iterable[str] = ()) -> dict[str, str]:
    """``safe_name`` of each text; two texts whose names are the same (ignoring case, as Windows and macOS
    do), or a name in ``taken``, raise ``NameClashError`` naming both, rather than one file overwriting the
    other (config validation refuses such unit codes first: ``name_clashes``)."""
    used = {t.casefold(): "" for t in taken}
    out: dict[str, str] = {}
    for text in texts:
        if text in out:
            continue
        name = safe_name(text, prefix=prefix, suffix=suffix, default=default)
        if name.casefold() in used:
            other = used[name.casefold()]
            whose = f"'{other}' and '{text}' would both be" if other else f"'{text}' would be"
            raise NameClashError(f"{whose} written to the file '{name}' (file names keep letters, digits, '.', "
                                 f"'_' and '-', and ignore case): give one of them another code")
        used[name.casefold()] = text
        out[text] = name
    return out


def confined(folder: Path | str, name: str | Path, *, resolve: bool = True) -> Path:
    """``folder / name``, after checking that it lies strictly inside ``folder``: as written (no ``..``
    leading out, not absolute) and, with ``resolve``, once symbolic links are followed too (a link inside
    the folder must not lead out of it). ``resolve=False`` suits folders made of checked config values
    (``<org>/<period>``), where a folder the user linked elsewhere is theirs to choose.
    ``PathEscapeError`` (exit 2) otherwise, or when ``name`` holds a NUL character."""
    text = os.fspath(name)
    target = Path(folder) / text
    if "\0" in os.fspath(target):
        raise PathEscapeError(f"refused to write {text!r}: a file name cannot hold a NUL character")
    checks = [(Path(os.path.abspath(folder)), Path(os.path.abspath(target)))]
    if resolve:
        checks.append((Path(folder).resolve(), target.resolve()))
    for root, where in checks:
        if where == root or not where.is_relative_to(root):
            raise PathEscapeError(f"refused to write '{target}': it leads to '{where}', outside the folder "
                                  f"'{root}' it belongs in")
    return target
