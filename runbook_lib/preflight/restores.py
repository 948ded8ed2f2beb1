"""The restore's own room: the target name is free, and the account is below its quota of
concurrent restores."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import is_access_denied, is_not_found
from .result import FAIL, PASS, WARN, CheckRow

#: "Any number of users can execute up to 50 concurrent restores (any type of restore) in a
#: given account" (DynamoDB API reference, RestoreTableFromBackup / RestoreTableToPointInTime).
MAX_CONCURRENT_RESTORES = 50
#: WARN from this many restores in progress.
NEAR_CONCURRENT_RESTORES = 40
#: DescribeTable calls the concurrent-restore check makes at most.
MAX_TABLES_DESCRIBED = 1000


def check_target_free(target: AwsTarget, target_table: str) -> CheckRow:
    """The target name is free: ``DescribeTable`` answers ResourceNotFound."""
    ddb = target.client("dynamodb")
    try:
        desc = ddb.describe_table(TableName=target_table)["Table"]
    except ClientError as err:
        if is_not_found(err):
            return CheckRow("target_free", PASS, f"no table named {target_table} in {target.region_name}")
        raise
    restoring = (desc.get("RestoreSummary") or {}).get("RestoreInProgress")
    state = desc.get("TableStatus")
    extra = " (a restore into it is in progress)" if restoring else ""
    return CheckRow(
        "target_free",
        FAIL,
        f"table {target_table} already exists in {target.region_name} ({state}){extra}: RestoreTableToPointInTime would fail "
        "with TableAlreadyExistsException",
        f"choose another target_table or delete {target_table} (after checking it is not in use; "
        "disable its deletion protection first if it is on)",
        code="TableAlreadyExistsException",
    )


def check_concurrent_restores(target: AwsTarget, *, max_tables: int = MAX_TABLES_DESCRIBED) -> CheckRow:
    """Restores in progress in the account against the quota of 50 concurrent restores."""
    ddb = target.client("dynamodb")
    names: list[str] = []
    for page in ddb.get_paginator("list_tables").paginate():
        names.extend(page.get("TableNames") or [])
    restoring: list[str] = []
    unreadable = 0
    for name in names[:max_tables]:
        try:
            desc = ddb.describe_table(TableName=name)["Table"]
        except ClientError as err:
            if is_not_found(err):
                continue  # deleted meanwhile
            if is_access_denied(err):
                # a least-privilege operator may describe only the tables of its restore
                unreadable += 1
                continue
            raise
        if (desc.get("RestoreSummary") or {}).get("RestoreInProgress"):
            restoring.append(name)
    partial = f" (checked {max_tables} of {len(names)} tables)" if len(names) > max_tables else ""
    if unreadable:
        partial += (f" ({unreadable} table(s) the caller may not describe are not counted: were every one of "
                    f"them restoring, {len(restoring) + unreadable} would be)")
    listed = f": {', '.join(sorted(restoring)[:10])}{' ...' if len(restoring) > 10 else ''}" if restoring else ""
    finding = (
        f"{len(restoring)} restore(s) in progress in {target.region_name}{partial}{listed}; the account "
        f"allows {MAX_CONCURRENT_RESTORES} concurrent restores"
    )
    if len(restoring) >= MAX_CONCURRENT_RESTORES:
        return CheckRow(
            "concurrent_restores",
            FAIL,
            finding + ": a new restore would fail with LimitExceededException",
            "wait for restores in progress to finish (DescribeTable RestoreSummary.RestoreInProgress)",
            code="LimitExceededException",
        )
    if len(restoring) + unreadable >= NEAR_CONCURRENT_RESTORES or len(names) > max_tables:
        return CheckRow(
            "concurrent_restores",
            WARN,
            finding,
            "restore soon, or wait for some restores to finish; others restoring meanwhile may use the "
            "remaining slots",
        )
    return CheckRow("concurrent_restores", PASS, finding)
