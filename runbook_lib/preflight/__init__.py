"""Step 00: what must hold before a restore, as a checklist (PASS / WARN / FAIL, each with its remedy).

>>> pf = run_checks(target, source_table="orders", target_table="orders-restored", automation="event")
>>> pf.to_dataframe()        # the checklist
>>> pf.raise_for_failures()  # the notebook's gate: PreconditionError naming every FAIL and its remedy
>>> pf.snapshot              # the settings a restore will not carry (see ``settings``)

Input is checked before any call (:class:`InputError`); a missing source table is a
:class:`PreconditionError` (code ``ResourceNotFoundException``). Every other check returns a
row, and is a function of its own (``check_*``) so that it can be tested alone. A read that AWS
(or the sandbox) refuses degrades to a WARN row ``could not read X: <code>``, never a crash.
Findings hold names, counts, sizes and times, never an item attribute value.

Modules, one per family of checks: :mod:`.result` (rows, ``Preflight``), :mod:`.cloudtrail`,
:mod:`.table` (PITR, stream, stream consumers), :mod:`.sizes` (item sizes against the queue's
message size), :mod:`.restores` (target name free, concurrent restores), :mod:`.iam_simulation`
(the caller's permissions), :mod:`.checklist` (all of them in order: ``run_checks``).
"""

from .checklist import run_checks, settings_rows, validate_inputs
from .cloudtrail import check_cloudtrail
from .iam_simulation import check_permissions, simulation_source
from .restores import check_concurrent_restores, check_target_free
from .result import FAIL, PASS, WARN, CheckRow, Preflight
from .sizes import DEFAULT_MAX_MESSAGE_BYTES, check_item_sizes, item_size
from .table import check_pitr, check_stream, check_stream_consumers

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FAIL",
    "PASS",
    "WARN",
    "CheckRow",
    "Preflight",
    "check_cloudtrail",
    "check_concurrent_restores",
    "check_item_sizes",
    "check_permissions",
    "check_pitr",
    "check_stream",
    "check_stream_consumers",
    "check_target_free",
    "item_size",
    "run_checks",
    "settings_rows",
    "simulation_source",
    "validate_inputs",
]
