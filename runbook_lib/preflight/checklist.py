"""The whole checklist, in order: inputs checked before any call, then every check, each guarded so
that a read AWS refuses becomes a WARN row, then the settings a restore will not carry."""

from __future__ import annotations

import logging
from typing import Any, Callable

from botocore.exceptions import ClientError

from .. import settings as settings_mod
from ..automation import EVENT, check_automation
from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..aws.tables import describe_table, validate_table_pair
from ..errors import InputError
from .cloudtrail import check_cloudtrail
from .iam_simulation import check_permissions
from .restores import check_concurrent_restores, check_target_free
from .cross_region import cross_region_rows
from .result import PASS, WARN, CheckRow, Preflight
from .switch_parameter import check_switch_parameter
from .sizes import DEFAULT_MAX_MESSAGE_BYTES, MESSAGE_OVERHEAD_BYTES, check_item_sizes
from .table import check_pitr, check_stream, check_stream_consumers

log = logging.getLogger(__name__)



def validate_inputs(
    *,
    source_table: Any,
    target_table: Any,
    automation: Any = EVENT,
    max_message_bytes: Any = DEFAULT_MAX_MESSAGE_BYTES,
    sample_items: Any = 1000,
    message_overhead_bytes: int = MESSAGE_OVERHEAD_BYTES,
) -> None:
    """Raise :class:`InputError` for malformed parameters. Makes no call."""
    validate_table_pair(source_table, target_table)
    check_automation(automation)
    if not isinstance(max_message_bytes, int) or isinstance(max_message_bytes, bool) or max_message_bytes <= message_overhead_bytes:
        raise InputError(
            f"max_message_bytes must be an integer above the message overhead ({message_overhead_bytes} bytes); "
            f"got {max_message_bytes!r}: pass the buffer queue's MaximumMessageSize"
        )
    if not isinstance(sample_items, int) or isinstance(sample_items, bool) or sample_items < 1:
        raise InputError(f"sample_items must be a positive integer, got {sample_items!r}")




def settings_rows(snapshot: dict) -> list[CheckRow]:
    """One WARN row per setting the snapshot could not read, then the summary row."""
    rows = []
    for setting, code in sorted((snapshot.get("unreadable") or {}).items()):
        label = settings_mod.LABELS.get(setting, setting)
        rows.append(
            CheckRow(
                f"settings:{setting}",
                WARN,
                f"could not read {label}: {code}",
                f"grant {settings_mod.READ_APIS.get(setting, 'the read permission')} (or, on an emulator, "
                f"record the {label} of {snapshot.get('table')} by hand): it will not be re-applied after "
                "the restore",
                code=code,
            )
        )
    rows.append(
        CheckRow(
            "settings_to_reapply",
            PASS,
            "a restore will not carry over: " + settings_mod.summarize(snapshot),
            "review and re-apply them to the restored table in 05_cutover (settings.diff / settings.apply)",
        )
    )
    return rows


# -- all together ---------------------------------------------------------------------------
def _guarded(name: str, fn: Callable[[], CheckRow | list[CheckRow]]) -> list[CheckRow]:
    """Run a check; an AWS refusal becomes a WARN row rather than ending the preflight."""
    try:
        out = fn()
    except ClientError as err:
        code = error_code(err)
        log.warning("preflight check %s could not read: %s", name, code)
        return [
            CheckRow(
                name,
                WARN,
                f"could not read {name.replace('_', ' ')}: {code}",
                "check the caller's permissions (or the emulator's support) for this read, then run "
                "preflight again; otherwise verify it by hand",
                code=code,
            )
        ]
    return out if isinstance(out, list) else [out]


def run_checks(
    target: AwsTarget,
    *,
    source_table: str,
    target_table: str,
    automation: str = EVENT,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    sample_items: int = 1000,
    message_overhead_bytes: int = MESSAGE_OVERHEAD_BYTES,
    check_iam: bool = False,
    cfn_role_arn: str | None = None,
    switch_parameter: str | None = None,
    destination: AwsTarget | None = None,
    sse_kms_key_id: str | None = None,
) -> Preflight:
    """Run every check for restoring ``source_table`` into ``target_table``; change nothing.

    ``check_iam``: also simulate the caller's permissions (:func:`check_permissions`; the notebook
    does, ``check_permissions=True``), for a buffer deployed with ``cfn_role_arn``.
    ``switch_parameter``: the SSM parameter cutover will switch (its name, ``/path``): read, and
    included in the permission check.
    ``destination``: the target table's side when it is restored into another region: the target
    name and the restores in progress are checked there, plus the rows of :mod:`.cross_region`.

    Raises :class:`InputError` for malformed parameters (before any call) and
    :class:`PreconditionError` (code ``ResourceNotFoundException``) if the source is missing.
    """
    validate_inputs(
        source_table=source_table,
        target_table=target_table,
        automation=automation,
        max_message_bytes=max_message_bytes,
        sample_items=sample_items,
        message_overhead_bytes=message_overhead_bytes,
    )
    source_desc = describe_table(target, source_table)  # PreconditionError when missing
    destination = destination or target

    rows: list[CheckRow] = []
    if check_iam:
        rows += _guarded("permissions", lambda: check_permissions(
            target, source_table=source_table, target_table=target_table, automation=automation,
            cfn_role_arn=cfn_role_arn, switch_parameter=switch_parameter, target_region=destination.region_name))
    if switch_parameter:
        rows += _guarded("switch_parameter", lambda: check_switch_parameter(
            target, switch_parameter, source_table=source_table, target_table=target_table,
            target_region=destination.region_name))
    rows += _guarded("cloudtrail", lambda: check_cloudtrail(target, automation=automation))
    rows += _guarded("pitr", lambda: check_pitr(target, source_table))
    rows += _guarded("stream", lambda: check_stream(target, source_table))
    rows += _guarded("stream_consumers", lambda: check_stream_consumers(target, source_table))
    rows += _guarded(
        "item_sizes",
        lambda: check_item_sizes(
            target,
            source_table,
            max_message_bytes=max_message_bytes,
            sample_items=sample_items,
            message_overhead_bytes=message_overhead_bytes,
        ),
    )
    rows += _guarded("cross_region", lambda: cross_region_rows(target, destination, source_desc, automation=automation,
                                                                sse_kms_key_id=sse_kms_key_id))
    rows += _guarded("target_free", lambda: check_target_free(destination, target_table))
    rows += _guarded("concurrent_restores", lambda: check_concurrent_restores(destination))
    snap = settings_mod.snapshot(target, source_table)
    rows += settings_rows(snap)
    for r in rows:
        log.info("preflight %s: %s", r.check, r.status)
    return Preflight(rows=tuple(rows), snapshot=snap, source_table=source_table, target_table=target_table)
