"""The ``[sandbox]`` extra: what the sandbox needs beyond a plain install, and the error without it.

A plain ``pip install ddb-pitr-runbook`` is the runbook for AWS: it leaves out moto (and the web
server moto runs in), which only the sandbox uses. ``pitr-runbook sandbox`` and ``drill``, which
start the sandbox, stop before any work with one line naming the remedy instead of a traceback:
:func:`require_sandbox_extra` runs before the sandbox's extensions are loaded (``faults.py``,
``server.py``).
"""

from __future__ import annotations

import importlib

from ..errors import PreconditionError

#: the command that installs what the sandbox needs
REMEDY = "pip install 'ddb-pitr-runbook[sandbox]'"

#: the modules of moto[server] the sandbox imports: moto itself, and the web server it runs in
NEEDED = ("moto", "werkzeug", "flask", "flask_cors")


class SandboxUnavailableError(PreconditionError):
    """The sandbox's dependencies (the ``[sandbox]`` extra) are not installed. Nothing was started."""


def require_sandbox_extra() -> None:
    """Raise :class:`SandboxUnavailableError` unless every module in :data:`NEEDED` imports."""
    for name in NEEDED:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise SandboxUnavailableError(
                f"the local sandbox needs moto[server], which a plain install leaves out ({exc}): {REMEDY}"
            ) from None
