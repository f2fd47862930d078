"""Text from data or people, made safe to show: control characters visible, never obeyed.

A unit code, a note or a file name can hold terminal control sequences (``ESC ]0;title BEL``
retitles the window, ``ESC [2J`` clears the screen) or bidirectional overrides that make text
read differently from what it holds. ``visible`` shows each such character instead of passing it
on: C0 controls and DEL as their Unicode Control Pictures (ESC as ``␛``, BEL as ``␇``, NUL as
``␀``, DEL as ``␡``), and C1 controls and the invisible bidi and zero-width format characters as
escapes (``\\x9b``, ``\\u202e``). Only what is shown changes; the stored text stays as written.
"""

from __future__ import annotations

import re

# C1 controls, the bidi embeddings, overrides and isolates, the direction marks, the zero-width
# characters and the byte order mark: invisible, and able to reorder or hide what follows.
_FORMAT = "\x80-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_HIDDEN = re.compile(f"[\x00-\x1f\x7f{_FORMAT}]")
_HIDDEN_KEEPING_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f{_FORMAT}]")
DEL_PICTURE = "\u2421"  # ␡


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: U+2400 + the C0 code
    if code == 0x7F:
        return DEL_PICTURE
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object, *, lines: bool = False) -> str:
    """``text`` as a string with every control, bidi and zero-width format character shown visibly
    (``\\x1b`` as ``␛``, ``\\u202e`` as the six characters ``\\u202e``). With ``lines``, line feeds and
    tabs are kept (multi-line notes in a table cell); a carriage return is always shown (``␍``), so
    no text can overwrite what was printed before it on the line."""
    value = "" if text is None else str(text)
    return (_HIDDEN_KEEPING_LINES if lines else _HIDDEN).sub(_shown, value)
