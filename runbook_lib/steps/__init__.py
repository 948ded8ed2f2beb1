"""One module per notebook step, each with ``run(ctx, **parameters) -> Result``.

A step orchestrates: the logic lives in the library packages it calls (``preflight``, ``buffer``,
``restore``, ``monitor``, ``reconcile``, ``report``, ``settings``, ``cutover``). Each owns the
``execute`` switch, reads and updates the run state (:mod:`runbook_lib.run_state`), declares its
parameters (``PARAMETERS``) and returns a result that shows itself in a notebook.

    result = steps.monitor.run(ctx, **steps.monitor.arguments(globals()))
    result          # the outcome, a table, and what to look at
"""

from __future__ import annotations

from types import ModuleType

from . import cutover, deploy_buffer, monitor, preflight, reconcile, restore
from .base import COMMON, Parameter, StepResult

#: the notebook of each step, in the order a run takes them
BY_NOTEBOOK: dict[str, ModuleType] = {
    m.STEP: m for m in (preflight, deploy_buffer, restore, monitor, reconcile, cutover)
}

__all__ = ["BY_NOTEBOOK", "COMMON", "Parameter", "StepResult", "cutover", "deploy_buffer", "monitor", "preflight",
           "reconcile", "restore"]
