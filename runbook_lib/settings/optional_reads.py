"""Optional reads: a setting that could not be read is recorded with AWS's error code, never guessed."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from botocore.exceptions import ClientError

from ..aws.codes import error_code
from .model import LABELS

log = logging.getLogger(__name__)


class Reads:
    """Runs optional reads, recording each failure's error code under its setting (``unreadable``)."""

    def __init__(self) -> None:
        self.unreadable: dict[str, str] = {}

    def __call__(self, setting: str, fn: Callable[[], Any], *, absent: Iterable[str] = ()) -> Any:
        """``fn()``; ``None`` when it fails, recorded under ``setting`` unless its code is in
        ``absent`` (an answer that means the setting is not there)."""
        try:
            return fn()
        except ClientError as err:
            code = error_code(err)
            if code not in absent:
                self.unreadable[setting] = code
                log.warning("could not read %s: %s", LABELS.get(setting, setting), code)
            return None
