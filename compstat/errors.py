"""Errors a user can cause, each mapped by the CLI to one line and an exit code.

Exit codes: 1 for a run that stopped on the data (blocking finding, no data for the period)
or on the machine's state (a folder or store that cannot be written: read-only, full disk, no
permission; ``FileSystemError``), 2 for a usage mistake (bad config, bad argument, unreadable file).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class CompstatError(Exception):
    """A problem the user can fix; the message says what and where."""

    exit_code = 1


class ConfigError(CompstatError):
    """The configuration file is invalid."""

    exit_code = 2


class UsageError(CompstatError):
    """A command-line argument is invalid (a bad period, an unknown unit)."""

    exit_code = 2


class SourceError(CompstatError):
    """A data source cannot be read at all (missing file, missing column)."""

    exit_code = 2


class DataError(CompstatError):
    """The data does not allow a cycle to run (e.g. nothing for the period)."""

    exit_code = 1


class BlockedError(CompstatError):
    """A blocking quality finding stopped the cycle before the packs (override: --accept-warnings)."""

    exit_code = 1


class FileSystemError(CompstatError):
    """A file or folder cannot be written (or read) because of the machine's state: a read-only
    file system, a full disk, a missing permission. Exit 1, as a run stopped on the machine's state."""

    exit_code = 1


class StoreUnavailableError(CompstatError):
    """The store's database went away during a command (the server stopped, restarted or ended the session):
    what was not committed was rolled back. Exit 1, as a run stopped on the machine's state."""

    exit_code = 1


_ADVICE = {  # errno: (what happened, what to do)
    errno.EROFS: ("read-only file system", "choose another --out or make the folder writable"),
    errno.ENOSPC: ("no space left on device", "free space or choose another --out"),
    errno.EDQUOT: ("disk quota exceeded", "free space or choose another --out"),
    errno.EFBIG: ("file too large for this file system", "choose another --out"),
    errno.EACCES: ("permission denied", "give this user access to the folder or choose another --out"),
    errno.EPERM: ("operation not permitted", "give this user access to the folder or choose another --out"),
    errno.ENOENT: ("no such file or folder", "check the path (was the folder removed during the run?)"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another --out"),
    errno.EEXIST: ("it is a file, not a folder", "choose another --out"),
    errno.EISDIR: ("it is a folder, not a file", "give a file name"),
    errno.ENAMETOOLONG: ("file name too long", "choose a shorter --out"),
    errno.EIO: ("input/output error", "check the disk, then run again"),
}


def file_system_error(exc: OSError, path: Path | str | None = None, *,
                      staged: tuple[Path, Path] | None = None) -> FileSystemError:
    """``exc`` as one line naming the path (``exc.filename``, else ``path``), what happened and what
    to do, e.g. "cannot write /x/pack-A.pdf: read-only file system - choose another --out or make the
    folder writable". ``staged`` (staged folder, final folder): a file in the staged folder is named
    by its place in the final one, the folder the user asked for."""
    where = exc.filename if exc.filename is not None else path
    if staged is not None and where is not None and Path(os.fsdecode(where)).is_relative_to(staged[0]):
        where = staged[1] / Path(os.fsdecode(where)).relative_to(staged[0])
    told = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))  # errno None: pandas' own OSError
    what, todo = _ADVICE.get(exc.errno or 0, (told, "check the path and the disk"))
    if where is None:
        return FileSystemError(f"{what} - {todo}")
    name = os.fsdecode(where)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return FileSystemError(f"{what} writing {name}: {todo}")
    verb = "write" if exc.errno in (errno.EROFS, errno.EFBIG) else "use"  # the others befall reading too
    return FileSystemError(f"cannot {verb} {name}: {what} - {todo}")


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Name ``path`` in an ``OSError`` raised without a file name (a ``write`` that failed for want
    of space names no file), so the CLI's one line says where."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
        raise
