"""Who turns replay on once the restored table is ACTIVE: the one list of choices and its check.

- ``"notebook"``: step 03 turns the queue mapping on (the default);
- ``"event"``: CloudTrail's ``RestoreTableToPointInTime`` event, an EventBridge rule and a Step
  Functions workflow turn it on; step 03 watches, and falls back to turning it on itself.

The CLI's ``--automation`` choices, the notebooks' ``automation`` parameter, the runner, the drill,
the buffer's ``Automation`` template parameter and the preflight all take these values and check
them with :func:`check_automation`.
"""

from __future__ import annotations

from typing import Any

from .errors import InputError

NOTEBOOK = "notebook"
EVENT = "event"
#: every value ``automation`` takes, the default first
AUTOMATIONS = (NOTEBOOK, EVENT)
DEFAULT = NOTEBOOK


def check_automation(value: Any, what: str = "automation") -> str:
    """``value`` when it is one of :data:`AUTOMATIONS`; else :class:`InputError` naming the choices."""
    if value not in AUTOMATIONS:
        raise InputError(f"{what} must be one of {', '.join(repr(a) for a in AUTOMATIONS)}, not {value!r}")
    return value


__all__ = ["AUTOMATIONS", "DEFAULT", "EVENT", "NOTEBOOK", "check_automation"]
