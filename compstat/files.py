"""Files: writing one so that a failure (a full disk, a read-only folder) leaves the earlier file as it was, with
the permissions the user's umask gives (or the earlier file's), and its SHA-256."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compstat.errors import writing


def umask() -> int:
    """The process's file-mode creation mask (read by setting it, briefly, to the stricter ``0o077``)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def follow_umask(path: Path, *, folder: bool = False) -> None:
    """Give ``path`` the mode an ordinary ``open`` or ``mkdir`` would have: ``0o666`` (``0o777`` for a
    folder) less the umask. ``tempfile`` makes its files ``0600`` and its folders ``0700`` whatever the umask."""
    os.chmod(path, (0o777 if folder else 0o666) & ~umask())


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write in the block; when the block ends without error it takes
    ``path``'s place (a reader sees the earlier file or the whole new one, never a part), with the earlier
    file's permissions or, for a new file, those the umask gives. On any error it is removed and ``path``
    stays as it was. An ``OSError`` names ``path``, not the temporary file."""
    with writing(path):
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        except OSError as exc:  # named by the file it was for (a folder that is a file, no permission)
            if exc.errno is None:
                raise
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
        os.close(fd)
        try:
            yield Path(temp)
            try:
                os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
            except FileNotFoundError:
                follow_umask(Path(temp))
            os.replace(temp, path)
        except OSError as exc:
            Path(temp).unlink(missing_ok=True)
            if exc.filename == temp and exc.errno is not None:
                raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
            raise
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` in ``path``'s place (``replaced_atomically``)."""
    with replaced_atomically(path) as temp, os.fdopen(os.open(temp, os.O_WRONLY | os.O_TRUNC), "wb") as file:
        file.write(data)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (``hashlib.file_digest``)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
