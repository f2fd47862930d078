"""Files: writing one so that a failure (a full disk, a read-only folder) leaves the earlier file as it was, and
its SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from compstat.errors import writing


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then put it in ``path``'s place: a
    reader sees the earlier file or the whole new one, never a part. An ``OSError`` names ``path``."""
    with writing(path):
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (``hashlib.file_digest``)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
