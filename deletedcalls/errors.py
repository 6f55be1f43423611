"""Typed errors and the one map from error to exit code (SPEC 6).

Every expected failure is a subclass of ``DeletedCallsError``: its message is
one line for a person (what failed, where, what to do) and its class decides
the exit code. ``exit_code_for`` is the only place that decision is made.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, a contract with schedulers (SPEC 6)."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INPUT_REJECTED = 3
    PERMISSION_DENIED = 4
    WAREHOUSE_BUSY = 5
    INTEGRITY_FAILURE = 6
    ENVIRONMENT_FAILURE = 7


class DeletedCallsError(Exception):
    """Base of every expected failure; the message is shown as one line."""

    exit_code: ExitCode = ExitCode.UNEXPECTED
    retry_can_help: bool = False

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def one_line(self) -> str:
        return " ".join(self.message.split())


class UsageError(DeletedCallsError):
    """The command was called wrongly (bad option value, missing warehouse, bad config)."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """config.toml or a job file cannot be used as written."""


class InputRejected(DeletedCallsError):
    """An input file or entry was refused: over its reject limit, or conflicting."""

    exit_code = ExitCode.INPUT_REJECTED


class PermissionDenied(DeletedCallsError):
    """The acting user lacks the permission the command needs."""

    exit_code = ExitCode.PERMISSION_DENIED


class WarehouseBusy(DeletedCallsError):
    """Another process holds the warehouse; nothing was changed."""

    exit_code = ExitCode.WAREHOUSE_BUSY
    retry_can_help = True


class IntegrityFailure(DeletedCallsError):
    """Stored data does not match what was recorded about it (DR archive, invariant)."""

    exit_code = ExitCode.INTEGRITY_FAILURE


class EnvironmentFailure(DeletedCallsError):
    """The environment failed (disk full, a read-only or unreadable path); nothing half-done was kept."""

    exit_code = ExitCode.ENVIRONMENT_FAILURE
    retry_can_help = True


class NotFound(UsageError):
    """A named object (deleted call, archive, file) does not exist."""


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code for an error; anything unexpected is 1."""
    if isinstance(error, DeletedCallsError):
        return error.exit_code
    return ExitCode.UNEXPECTED
