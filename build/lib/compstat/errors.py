"""Errors a user can cause, each mapped by the CLI to one line and an exit code.

Exit codes: 1 for a cycle that stopped on the data (blocking finding, no data for the
period), 2 for a usage mistake (bad config, bad argument, unreadable file).
"""

from __future__ import annotations


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
