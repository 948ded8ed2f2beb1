"""``pitr-runbook drill --cleanup``: delete the drills' scratch tables that are due, and nothing else.

A table is deleted only when it carries BOTH marks of a drill: the name ``<source>-drill-<UTC stamp>``
and the tag ``pitr-runbook:drill=true``, and its ``pitr-runbook:expires`` tag is due. A table with a
drill's name and no drill tag, or with the tag and another name, is never deleted (it is listed as
not a drill's).

One exception is spelled out, because a drill can be killed (a container stopped, a timeout) after
its restore started and before it could tag the table: DynamoDB refuses tags on a table that is
still CREATING, so the drill tags only once the table is ACTIVE. Such a table is recognised by
everything the drill does leave on it, all of which must hold: the drill's name; a
``RestoreSummary`` (it was made by a restore) whose source table's name is the name's source part
(the whole name, or its first 232 characters when the drill cut it); a ``CreationDateTime`` within
:data:`ORPHAN_CREATED_WITHIN` of the name's stamp (the drill names the table just before its
restore call); ACTIVE, the restore finished; and no tags at all, read twice
:data:`ORPHAN_CONFIRM_SECONDS` apart (a drill that is alive tags its table within one poll of it
turning ACTIVE, and ``ListTagsOfResource`` is eventually consistent). Cleanup then tags it as a drill
table (``pitr-runbook:interrupted``, ``expires`` now) and deletes it. One still CREATING is listed
as pending: it cannot be deleted before it is ACTIVE (``DeleteTable``: ``ResourceInUseException``),
and the next cleanup takes it.

**Buffer stacks** (``drill --with-buffer`` deploys one; a drill that is killed may leave it): a stack
is deleted (``buffer.teardown``: replay off, stack deleted, nothing left verified) only when it is a
buffer stack (tag ``pitr-runbook:component=cdc-buffer``) whose target, both its ``TargetTableName``
parameter and its ``pitr-runbook:target-table`` tag, is a drill's scratch name, AND that scratch
table is gone: deleted by this cleanup, or not there at all for :data:`STACK_ORPHAN_AFTER` past the
name's stamp (a drill deploys its buffer, then calls its restore within minutes). A stack whose
scratch table still exists (a drill running, a table kept) is left and listed. No other stack is
ever touched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from .. import times
from ..aws.clients import AwsTarget
from ..aws.codes import error_code, is_access_denied, is_not_found
from ..aws.waiting import interval
from . import scratch

log = logging.getLogger(__name__)

#: the restore call follows the naming within seconds; a generous bound
ORPHAN_CREATED_WITHIN = timedelta(minutes=15)
#: two reads of an untagged table this far apart (on AWS; the sandbox: waiting.SANDBOX_INTERVAL)
ORPHAN_CONFIRM_SECONDS = 60.0
#: a buffer stack of a drill whose scratch table never appeared is an interrupted drill's after this long
STACK_ORPHAN_AFTER = timedelta(hours=1)
BUFFER_COMPONENT = "cdc-buffer"


@dataclass
class CleanupReport:
    deleted: list[str] = field(default_factory=list)
    #: deleted after being recognised as an interrupted drill's (tagged first)
    interrupted: list[str] = field(default_factory=list)
    #: drill tables not due yet: name -> expires
    kept: dict[str, str] = field(default_factory=dict)
    #: drill tables that cannot be deleted yet (CREATING, UPDATING): name -> why
    pending: dict[str, str] = field(default_factory=dict)
    #: tables with a drill's name that are not a drill's: name -> why not
    not_drills: dict[str, str] = field(default_factory=dict)
    #: drill buffer stacks deleted (their scratch table gone), and those left: name -> why
    stacks_deleted: list[str] = field(default_factory=list)
    stacks_left: dict[str, str] = field(default_factory=dict)
    #: why drill buffer stacks were not looked for (ListStacks refused), if they were not
    stacks_unchecked: str | None = None

    def lines(self) -> list[str]:
        out = [f"deleted {name} (due)" for name in self.deleted]
        out += [f"deleted {name} (an interrupted drill's: tagged, then deleted)" for name in self.interrupted]
        out += [f"kept {name} until {when}" for name, when in sorted(self.kept.items())]
        out += [f"pending {name}: {why}" for name, why in sorted(self.pending.items())]
        out += [f"left alone {name}: {why}" for name, why in sorted(self.not_drills.items())]
        out += [f"deleted buffer stack {name} (its drill's scratch table is gone; nothing left)" for name in self.stacks_deleted]
        out += [f"left buffer stack {name}: {why}" for name, why in sorted(self.stacks_left.items())]
        out += [f"buffer stacks not checked: {self.stacks_unchecked}"] * bool(self.stacks_unchecked)
        return out or ["no drill tables found"]


def list_table_names(ddb) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = ddb.list_tables(**kwargs)
        names += page.get("TableNames", [])
        if not page.get("LastEvaluatedTableName"):
            return names
        kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]


def list_tags(ddb, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = ddb.list_tags_of_resource(**kwargs)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        if not page.get("NextToken"):
            return tags
        kwargs["NextToken"] = page["NextToken"]


def delete_table(ddb, name: str) -> str:
    """``DeleteTable``; "deleted", "gone" (already), or "in use" (not ACTIVE yet)."""
    try:
        ddb.delete_table(TableName=name)
        return "deleted"
    except ClientError as exc:
        if is_not_found(exc):
            return "gone"
        if error_code(exc) == "ResourceInUseException":
            return "in use"
        raise


def cleanup(target: AwsTarget, *, source_table: str | None = None, now: datetime | None = None,
            confirm_seconds: float | None = None) -> CleanupReport:
    """Delete every due drill table (of ``source_table`` only, when given)."""
    ddb = target.client("dynamodb")
    now = now or times.utcnow()
    confirm = interval(target, ORPHAN_CONFIRM_SECONDS) if confirm_seconds is None else confirm_seconds
    report = CleanupReport()
    orphans: list[tuple[str, str, str]] = []
    for name in list_table_names(ddb):
        parsed = scratch.parse_scratch_name(name)
        if parsed is None:
            continue
        part, stamp = parsed
        if source_table is not None and part != source_table[: scratch.MAX_SOURCE_PART]:
            continue
        try:
            desc = ddb.describe_table(TableName=name)["Table"]
            tags = list_tags(ddb, desc["TableArn"])
        except ClientError as exc:
            if is_not_found(exc):
                continue  # deleted meanwhile
            raise
        status = desc.get("TableStatus")
        if tags.get(scratch.TAG_DRILL) == "true":
            expires = scratch.expires_at(tags)
            if not scratch.due(expires, now):
                report.kept[name] = times.iso_second(expires) if expires else "never (no readable expires tag)"
                continue
            _delete(ddb, name, status, report, report.deleted)
            continue
        why_not = _not_an_orphan(desc, tags, part, stamp)
        if why_not:
            report.not_drills[name] = why_not
        elif status != "ACTIVE" or (desc.get("RestoreSummary") or {}).get("RestoreInProgress"):
            report.pending[name] = (f"an interrupted drill's table, still {status}: it can be deleted once ACTIVE; "
                                    "run drill --cleanup again then")
        else:
            orphans.append((name, desc["TableArn"], part))
    if orphans:
        time.sleep(confirm)
        for name, arn, part in orphans:
            if list_tags(ddb, arn):
                report.not_drills[name] = "tagged meanwhile (a drill that is still running): left alone"
                continue
            ddb.tag_resource(ResourceArn=arn, Tags=[*scratch.drill_tags(part, now),
                                                    {"Key": scratch.TAG_INTERRUPTED, "Value": times.iso_second(now)}])
            _delete(ddb, name, "ACTIVE", report, report.interrupted)
    _buffer_stacks(target, report, source_table, now)
    for line in report.lines():
        log.info("cleanup: %s", line)
    return report


def _delete(ddb, name: str, status: str | None, report: CleanupReport, into: list[str]) -> None:
    if status not in (None, "ACTIVE"):
        report.pending[name] = f"{status}: it can be deleted once ACTIVE; run drill --cleanup again then"
        return
    outcome = delete_table(ddb, name)
    if outcome == "in use":
        report.pending[name] = "not ACTIVE yet (ResourceInUseException): run drill --cleanup again later"
    else:
        into.append(name)


def _not_an_orphan(desc: dict[str, Any], tags: dict[str, str], part: str, stamp: datetime) -> str | None:
    """Why a table with a drill's name and no drill tag is not an interrupted drill's table; None if it is."""
    if tags:
        return "it has tags but not pitr-runbook:drill=true: not a drill's table"
    summary = desc.get("RestoreSummary") or {}
    source_arn = summary.get("SourceTableArn") or ""
    source = source_arn.rpartition(":table/")[2]
    if not source:
        return "not made by a restore (no RestoreSummary): not a drill's table"
    if source[: scratch.MAX_SOURCE_PART] != part:
        return f"restored from {source}, which its name does not name: not a drill's table"
    created = desc.get("CreationDateTime")
    created = times.to_utc(created, "CreationDateTime") if created is not None else None
    if created is None or not (stamp - timedelta(seconds=60) <= created <= stamp + ORPHAN_CREATED_WITHIN):
        return "created long before or after the time its name gives: not a drill's table"
    return None


def drill_buffer_stacks(target: AwsTarget, source_table: str | None = None) -> list[dict[str, Any]]:
    """The buffer stacks whose target is a drill's scratch table, by both the ``TargetTableName``
    parameter and the ``pitr-runbook:target-table`` tag (of ``source_table``'s drills only, when given);
    stacks being deleted or deleted are left out.

    ``ListStacks`` finds them (``DescribeStacks`` without a stack name "requires ListStacks and
    DescribeStacks permissions" on every stack: DescribeStacks, CloudFormation API Reference), then
    ``DescribeStacks`` reads each stack named as the runbook names its buffers (``pitr-...``); one the
    caller may not read (the operator policy grants its stack pattern only) is not a drill's."""
    from ..buffer.names import STACK_TAG

    cfn = target.client("cloudformation")
    names = [summary["StackName"] for page in cfn.get_paginator("list_stacks").paginate()
             for summary in page.get("StackSummaries", [])
             if not summary.get("StackStatus", "").startswith("DELETE_") and summary["StackName"].startswith("pitr-")]
    found = []
    for name in dict.fromkeys(names):
        try:
            stacks = cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if is_access_denied(exc) or error_code(exc) == "ValidationError":  # not ours to read, or gone meanwhile
                continue
            raise
        for stack in stacks:
            if stack.get("StackStatus", "").startswith("DELETE_"):
                continue
            tags = {t["Key"]: t["Value"] for t in stack.get("Tags") or []}
            params = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters") or []}
            table = params.get("TargetTableName") or ""
            parsed = scratch.parse_scratch_name(table)
            if tags.get(STACK_TAG) != BUFFER_COMPONENT or tags.get("pitr-runbook:target-table") != table or parsed is None:
                continue
            if source_table is not None and parsed[0] != source_table[: scratch.MAX_SOURCE_PART]:
                continue
            found.append(stack)
    return found


def _buffer_stacks(target: AwsTarget, report: CleanupReport, source_table: str | None, now: datetime) -> None:
    from ..buffer import teardown

    ddb = target.client("dynamodb")
    removed = set(report.deleted) | set(report.interrupted)
    try:
        stacks = drill_buffer_stacks(target, source_table)
    except ClientError as exc:
        if not is_access_denied(exc):
            raise
        # a policy rendered before cleanup looked for stacks: the tables are done; say what is missing
        report.stacks_unchecked = (f"cloudformation:ListStacks was refused ({error_code(exc)}): render the operator "
                                   "policy again (statement FindDrillBufferStacks) to let cleanup find drill buffer stacks")
        return
    for stack in stacks:
        name = stack["StackName"]
        table = next(p["ParameterValue"] for p in stack["Parameters"] if p["ParameterKey"] == "TargetTableName")
        _, stamp = scratch.parse_scratch_name(table)  # type: ignore[misc]
        try:
            status = ddb.describe_table(TableName=table)["Table"].get("TableStatus")
        except ClientError as exc:
            if not is_not_found(exc):
                raise
            status = None
        if status is not None and status != "DELETING":
            report.stacks_left[name] = f"its scratch table {table} is still there ({status}): a drill running, or kept"
            continue
        if table not in removed and status is None and now - stamp < STACK_ORPHAN_AFTER:
            report.stacks_left[name] = (f"its scratch table {table} is not there yet (a drill may be about to restore "
                                        f"into it): deleted once {times.iso_second(stamp + STACK_ORPHAN_AFTER)} has passed")
            continue
        teardown(target, name, execute=True)
        report.stacks_deleted.append(name)
