"""What the buffer's operations tell the operator: progress lines, and AWS failures as
:class:`~runbook_lib.errors.BufferError` naming the remedy (the AWS error code kept on it)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from botocore.exceptions import ClientError

from ..aws.codes import error_code, error_message
from ..errors import BufferError

log = logging.getLogger(__package__)  # "runbook_lib.buffer", as before the split

#: A callable taking one message string; long operations accept one as ``progress``.
Progress = Callable[[str], None]


def say(progress: Progress | None, message: str) -> None:
    """Log ``message`` and hand it to ``progress``, if any."""
    log.info("%s", message)
    if progress is not None:
        progress(message)


def aws_failure(exc: ClientError, doing: str, remedy: str, *, table: str | None = None) -> BufferError:
    """``doing failed (Code: message): remedy``, with the AWS error code on the error."""
    code = error_code(exc)
    return BufferError(f"{doing} failed ({code}: {error_message(exc)}): {remedy}", code=code, table=table, step="buffer")


def timed_out(timeout: float, what: str, remedy: str) -> Callable[[], BufferError]:
    """``on_timeout`` for :func:`~runbook_lib.aws.waiting.poll`: the BufferError a wait ends with."""
    return lambda: BufferError(f"timed out after {timeout:.0f} s waiting for {what}: {remedy}", step="buffer")
