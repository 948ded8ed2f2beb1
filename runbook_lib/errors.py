"""Errors an operator can act on.

One root, :class:`RunbookError`; every message names the remedy. Fields carry the table, the
step and the AWS error code so that callers (the CLI, the notebooks, the report) can act on them
without parsing text. Item attribute values never appear in a message.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Root of every error this package raises on purpose.

    ``exit_code`` is what ``pitr-runbook`` exits with when this error ends a command.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        step: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.table = table
        self.step = step
        self.code = code

    def __str__(self) -> str:
        return self.message


class InputError(RunbookError):
    """A parameter is malformed or contradicts another one. Nothing was changed."""


class PreconditionError(RunbookError):
    """AWS is not in the state this step needs (PITR off, target exists, ...). Nothing was changed."""


class RestoreError(RunbookError):
    """The restore failed, or did not finish within its timeout."""


class BufferError(RunbookError):  # noqa: A001 - the CDC buffer, not the builtin
    """The change-data-capture buffer could not be deployed, operated or torn down."""


class CutoverError(RunbookError):
    """Cutover cannot proceed safely (writers still active, buffer not drained)."""


class ReconciliationFailed(RunbookError):
    """The reconciliation found unexplained differences: the verdict is FAIL."""

    exit_code = 1
