"""The change-data-capture buffer: deploy it, operate it, tear it down.

The buffer is one CloudFormation stack, ``infra/buffer.yaml``: the source table's stream feeds a
forwarder Lambda that writes every change to an SQS FIFO queue (one message group per item key);
an applier Lambda, behind a queue mapping created **disabled**, replays the queue into the restored
table once replay is enabled (by :func:`enable_replay`, or with ``automation="event"`` by a Step
Functions workflow that the restore's CloudTrail event starts).

Typical use::

    target = AwsTarget(region="eu-west-1")
    p = plan(target, source_table="orders", target_table="orders-restored")   # changes nothing
    stack = deploy(target, p)                                                # capture starts
    set_replay_start(target, stack, replay_from)                             # R, once chosen
    enable_replay(target, stack)                                             # target ACTIVE
    status(target, stack).drained     # queue empty AND forwarder caught up with the stream
    forwarder_lag(target, stack)                                             # IteratorAge, s
    redrive_dlq(target, stack, execute=True)                                 # DLQ back, once fixed
    teardown(target, stack, execute=True)                                    # and verifies

Modules, in the order a run meets them:

- :mod:`.names`: the stack's name and the names the template gives its resources;
- :mod:`.package`: the handler zip, its ``CodeSha256``, the artifact bucket and key, the upload;
- :mod:`.template`: reading ``infra/buffer.yaml``, the enable-replay definition, the rule's pattern;
- :mod:`.parameters`: the template's parameters checked and resolved;
- :mod:`.planning`: :class:`DeployPlan` and :func:`plan`;
- :mod:`.stacks`: :class:`BufferStack`, reading the stack and waiting for it;
- :mod:`.deployment`: :func:`deploy`;
- :mod:`.replay`: :func:`enable_replay`, :func:`disable_replay`, :func:`set_replay_start`;
- :mod:`.draining`: :class:`BufferStatus` and the "drained" rule, :func:`status`, the forwarder's lag;
- :mod:`.dlq`: :func:`redrive_dlq`;
- :mod:`.removal` and :mod:`.leftovers`: :func:`teardown` and the proof that nothing is left;
- :mod:`.feedback`: progress lines, and AWS failures as :class:`~runbook_lib.errors.BufferError`.

No module is named after a function this package exports (``plan``, ``deploy``, ``status``,
``teardown``): the function would hide the module from ``import runbook_lib.buffer.plan as m`` and
from ``mock.patch("runbook_lib.buffer.plan.x")``.

Every wait has a timeout and raises :class:`~runbook_lib.errors.BufferError` naming the remedy.
Long operations accept ``progress``, a callable taking one message string. Nothing here reads or
logs item values. Where the sandbox (moto) differs and a module works around it, that module's
docstring says so.
"""

from .deployment import deploy
from .dlq import RedriveResult, redrive_dlq
from .draining import LAG_TOLERANCE_SECONDS, BufferStatus, forwarder_lag, status
from .names import MAX_STACK_NAME, boundary_arn_for, stack_name_for
from .package import ZIP_EPOCH, ZIP_FILE_MODE, build_zip, code_sha256
from .parameters import REDRIVE_MIN_SECONDS
from .planning import DeployPlan, PlannedResource, plan
from .removal import TeardownReport, teardown
from .replay import disable_replay, enable_replay, set_replay_start
from .stacks import BufferStack, describe
from .template import (
    ASL_FILE,
    MAX_TEMPLATE_BODY,
    infra_dir,
    inline_state_machine_definition,
    load_template,
    longest_restore_timeout,
    render_event_pattern,
    render_state_machine_definition,
    template_text,
    workflow_history_events,
)

__all__ = [
    "ASL_FILE",
    "LAG_TOLERANCE_SECONDS",
    "MAX_STACK_NAME",
    "MAX_TEMPLATE_BODY",
    "REDRIVE_MIN_SECONDS",
    "ZIP_EPOCH",
    "ZIP_FILE_MODE",
    "BufferStack",
    "BufferStatus",
    "DeployPlan",
    "PlannedResource",
    "RedriveResult",
    "TeardownReport",
    "boundary_arn_for",
    "build_zip",
    "code_sha256",
    "deploy",
    "describe",
    "disable_replay",
    "enable_replay",
    "forwarder_lag",
    "infra_dir",
    "inline_state_machine_definition",
    "load_template",
    "longest_restore_timeout",
    "plan",
    "redrive_dlq",
    "render_event_pattern",
    "render_state_machine_definition",
    "set_replay_start",
    "stack_name_for",
    "status",
    "teardown",
    "template_text",
    "workflow_history_events",
]
