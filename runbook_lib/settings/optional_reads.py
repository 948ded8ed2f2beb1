"""Optional reads: a setting that could not be read is recorded with AWS's error code, never guessed."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from botocore.exceptions import ClientError

from ..aws.codes import error_code
from .model import LABELS

log = logging.getLogger(__name__)

#: What :class:`Reads` returns for a read that failed (``None`` may be a real answer).
UNREAD = object()


class Reads:
    """Runs optional reads, recording each failure's error code under its setting."""

    def __init__(self) -> None:
        self.unreadable: dict[str, str] = {}

    def __call__(self, setting: str, fn: Callable[[], Any], *, absent: Iterable[str] = ()) -> Any:
        """``fn()``; ``None`` when it fails with a code in ``absent`` (the setting is not there);
        :data:`UNREAD` when it fails otherwise."""
        try:
            return fn()
        except ClientError as err:
            code = error_code(err)
            if code in absent:
                return None
            self.unreadable[setting] = code
            log.warning("could not read %s: %s", LABELS.get(setting, setting), code)
            return UNREAD

    def value(self, setting: str, fn: Callable[[], Any], *, absent: Iterable[str] = ()) -> Any:
        """Like calling it, but a failed read is ``None``."""
        res = self(setting, fn, absent=absent)
        return None if res is UNREAD else res
