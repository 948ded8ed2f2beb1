"""Table settings a point-in-time restore does not carry over: read them, diff them, re-apply them.

A restored table gets the source's key schema, indexes, billing mode and throughput, and nothing
else that an operator usually relies on: no TTL, no stream, no PITR, no tags, no deletion
protection, no auto scaling, no alarms, no contributor insights, no resource policy. The runbook
records those settings before the restore (:func:`snapshot`, shown by ``00_preflight``) and
re-applies them to the restored table as a reviewed diff (``05_cutover``):

>>> snap = snapshot(target, "orders")
>>> plan = diff(target, snap, "orders-restored")
>>> plan.to_dataframe()                        # review: setting, current, desired, API call
>>> plan = apply(target, plan, execute=True)   # applies; plan.stream_arn is the new stream
>>> diff(target, snap, "orders-restored").empty
True

Rules the diff follows, so that what it proposes is safe to apply at 3 a.m.:

- it only adds or aligns what the source had; it never disables a protection (PITR, deletion
  protection) or removes a tag, policy or alarm that is on the target and not on the source;
- it changes a value only where the value differs (stream view type, TTL attribute, PITR
  recovery period, tag value, auto scaling bounds, alarm definition);
- a setting the snapshot could not read (an API the caller may not call, or that an emulator does
  not implement) is not guessed: it is listed in ``plan.notes``;
- SSE is reported, not changed: set it at restore time with ``SSESpecificationOverride``.

:func:`apply` re-reads the target and applies only the reviewed changes that are still needed,
so applying the same plan twice, or applying a plan after someone fixed a setting by hand, is a
no-op for what is already in place. The snapshot is a JSON-ready dict and never holds item data.

Modules: :mod:`.model` (the calls allowed, ``Step``, ``Change``, ``SettingsPlan``),
:mod:`.reading` (the snapshot, one reader per setting), :mod:`.planning` (the diff, one function
per setting family), :mod:`.autoscaling` and :mod:`.alarms` (their reads and diffs),
:mod:`.applying` (apply and its retries), :mod:`.optional_reads` (reads that may fail).
"""

from .alarms import derived_alarm_name
from .applying import apply
from .model import API_CALLS, LABELS, READ_APIS, STREAM_ARN_TOKEN, Change, SettingsPlan, Step
from .planning import diff
from .reading import snapshot, summarize

__all__ = [
    "API_CALLS",
    "LABELS",
    "READ_APIS",
    "STREAM_ARN_TOKEN",
    "Change",
    "SettingsPlan",
    "Step",
    "apply",
    "derived_alarm_name",
    "diff",
    "snapshot",
    "summarize",
]
