"""Applying a reviewed plan: only what is still needed, each call retried on AWS's transient codes."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code, error_message
from ..aws.tables import wait_table_active
from ..aws.waiting import Deadline, interval, poll
from ..errors import PreconditionError
from .model import STREAM_ARN_TOKEN, Change, SettingsPlan, Step
from .planning import diff

log = logging.getLogger(__name__)

#: Codes a settings call answers while the table is busy or the account's update rate is reached:
#: retried until the call's deadline.
_TRANSIENT = {"ResourceInUseException", "LimitExceededException", "ContinuousBackupsUnavailableException"}


def apply(target: AwsTarget, plan: SettingsPlan, *, execute: bool = False, timeout: float = 900.0) -> SettingsPlan:
    """Apply a reviewed plan to the restored table; with ``execute`` false, change nothing.

    The target is read again first: a reviewed change that is no longer needed is marked
    ``already in place`` and not called, so applying twice is a no-op; a change the fresh diff
    finds but the plan did not contain is not applied (it was not reviewed) and is noted.
    Waits for the table to be ACTIVE around every ``UpdateTable``. Returns the plan with each
    change's status and ``stream_arn`` (a new ARN when the stream was enabled). If a change
    fails the others are still attempted, then :class:`PreconditionError` is raised with the
    resulting plan on its ``plan`` attribute.
    """
    if not execute:
        log.info("settings apply (dry run) on %s: %d change(s) planned, nothing changed", plan.target_table, len(plan))
        return plan
    table = plan.target_table
    clients: dict[str, Any] = {"dynamodb": target.client("dynamodb")}
    wait_table_active(target, table, timeout=timeout, client=clients["dynamodb"], step="settings")
    fresh = diff(target, plan.snapshot, table) if plan.snapshot else plan
    fresh_by_setting = {c.setting: c for c in fresh.changes}
    reviewed = {c.setting for c in plan.changes}
    notes = list(plan.notes)
    notes += [
        f"{c.setting} now differs but was not in the reviewed plan: run diff again to review it"
        for c in fresh.changes
        if c.setting not in reviewed
    ]
    stream_arn = fresh.stream_arn
    done: list[Change] = []
    for change in plan.changes:
        current = fresh_by_setting.get(change.setting)
        if current is None:
            done.append(replace(change, status="already in place"))
            continue
        try:
            for step in current.steps:
                step = _resolve(step, stream_arn)
                log.info("settings apply on %s: %s %s", table, change.setting, step.operation)
                _call(target, clients, step, table, timeout)
                if change.setting == "stream":
                    stream_arn = _stream_arn(clients, table)
            done.append(replace(current, status="applied"))
        except (ClientError, PreconditionError) as err:
            code = error_code(err) if isinstance(err, ClientError) else (err.code or "PreconditionError")
            log.error("settings apply on %s: %s failed: %s", table, change.setting, code)
            message = error_message(err) if isinstance(err, ClientError) else err.message
            done.append(replace(current, status="failed", error=f"{code}: {message}"[:300]))
    result = SettingsPlan(
        source_table=plan.source_table,
        target_table=table,
        changes=tuple(done),
        notes=tuple(notes),
        executed=True,
        stream_arn=_stream_arn(clients, table),
        snapshot=plan.snapshot,
    )
    if result.stream_arn and result.stream_arn != plan.stream_arn:
        log.info("settings apply on %s: the table's stream is new", table)
    result.raise_for_failures()
    return result


def _call(target: AwsTarget, clients: dict, step: Step, table: str, timeout: float) -> None:
    """Make one planned call; retry it on :data:`_TRANSIENT` codes until ``timeout``, then raise
    the last error. A ``wait_active`` step waits for the table to be ACTIVE before and after."""
    client = clients.setdefault(step.service, target.client(step.service))
    method = getattr(client, xform_name(step.operation))
    deadline = Deadline(timeout)
    attempts = 0
    last: dict[str, ClientError] = {}

    def wait_active() -> None:
        wait_table_active(target, table, timeout=deadline.remaining(1.0), client=clients["dynamodb"], step="settings")

    def attempt() -> bool | None:
        nonlocal attempts
        if step.wait_active:
            wait_active()
        try:
            method(**step.params)
            return True
        except ClientError as err:
            code = error_code(err)
            attempts += 1
            if code not in _TRANSIENT:
                raise
            # "in use" while the table is ACTIVE is not a pending update: give up after a few tries.
            # (ContinuousBackupsUnavailable on a new table and LimitExceeded wait for the deadline.)
            if code == "ResourceInUseException" and attempts >= 3 and _is_active(clients, table):
                raise
            last["error"] = err
            return None

    poll(
        attempt,
        timeout=deadline.remaining(),
        interval=interval(target, 2.0),
        backoff=2.0,
        max_interval=15.0,
        on_timeout=lambda: last["error"],
    )
    if step.wait_active:
        wait_active()


def _is_active(clients: dict, table: str) -> bool:
    try:
        return clients["dynamodb"].describe_table(TableName=table)["Table"].get("TableStatus") == "ACTIVE"
    except ClientError:
        return False


def _resolve(step: Step, stream_arn: str | None) -> Step:
    """The step with :data:`STREAM_ARN_TOKEN` replaced by the restored table's stream ARN."""
    text = json.dumps(step.params)
    if STREAM_ARN_TOKEN not in text:
        return step
    if not stream_arn:
        raise PreconditionError(
            "the restored table has no stream yet, so its stream resource policy cannot be set: "
            "enable the stream first (it is part of this plan), then apply again",
            step="settings",
        )
    return replace(step, params=json.loads(text.replace(STREAM_ARN_TOKEN, stream_arn)))


def _stream_arn(clients: dict, table: str) -> str | None:
    desc = clients["dynamodb"].describe_table(TableName=table)["Table"]
    return desc.get("LatestStreamArn") if (desc.get("StreamSpecification") or {}).get("StreamEnabled") else None
