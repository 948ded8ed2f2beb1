"""DynamoDB tables: their name rules, description, existence, and waiting for ACTIVE."""

from __future__ import annotations

import re
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from ..errors import InputError, PreconditionError
from .clients import AwsTarget
from .codes import error_code
from .waiting import poll

#: DynamoDB's table naming rule (CreateTable, TableName: 3 to 255 of a-z A-Z 0-9 _ - .).
TABLE_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{3,255}")  # whole name: fullmatch (``$`` lets a final newline through)


def validate_table_name(name: Any, *, param: str = "table") -> str:
    """Raise :class:`InputError` unless ``name`` follows DynamoDB's table naming rules."""
    if not isinstance(name, str) or not TABLE_NAME_RE.fullmatch(name):
        raise InputError(
            f"{param} {name!r} is not a valid DynamoDB table name: use 3 to 255 characters "
            "from a-z, A-Z, 0-9, '_', '-' and '.'",
            table=name if isinstance(name, str) else None,
            code="ValidationException",
        )
    return name


def validate_table_pair(source_table: Any, target_table: Any) -> None:
    """Both names valid and different (a restore always creates a new table). Makes no call."""
    validate_table_name(source_table, param="source_table")
    validate_table_name(target_table, param="target_table")
    if source_table == target_table:
        raise InputError(
            f"target_table must differ from source_table ({source_table}): a restore always creates a "
            "new table; choose a new target_table name",
            table=source_table,
            code="ValidationException",
        )


def optional_client(target: AwsTarget, service: str):
    """A client for reads whose failure only degrades a report.

    On the sandbox an unimplemented action answers HTTP 500, which the default client retries
    ten times; there a single attempt is enough. On AWS the normal retries apply.
    """
    if target.is_sandbox:
        return target.client(service, config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    return target.client(service)


def describe_table(target: AwsTarget, table: str, *, client=None) -> dict:
    """``DescribeTable``; a missing table is a :class:`PreconditionError` naming the remedy."""
    ddb = client or target.client("dynamodb")
    try:
        return ddb.describe_table(TableName=table)["Table"]
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            raise PreconditionError(
                f"table {table} does not exist in {target.region_name}: check the table name and "
                "the region (and endpoint_url) the runbook points at",
                table=table,
                code="ResourceNotFoundException",
            ) from None
        raise


def table_exists(target: AwsTarget, table: str) -> bool:
    """Whether ``table`` exists (in any status); other errors are raised."""
    try:
        target.client("dynamodb").describe_table(TableName=table)
        return True
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return False
        raise


def _all_active(desc: dict) -> bool:
    return desc.get("TableStatus") == "ACTIVE" and all(
        g.get("IndexStatus") in (None, "ACTIVE") for g in desc.get("GlobalSecondaryIndexes") or []
    )


def wait_table_active(
    target: AwsTarget, table: str, *, timeout: float = 900.0, client=None, step: str | None = None
) -> dict:
    """Poll ``DescribeTable`` until the table and its indexes are ACTIVE; its description.

    After ``timeout`` a :class:`PreconditionError` (``ResourceInUseException``) says what the
    table is still doing.
    """
    ddb = client or target.client("dynamodb")
    last: dict[str, Any] = {}

    def check() -> dict | None:
        last["desc"] = desc = describe_table(target, table, client=ddb)
        return desc if _all_active(desc) else None

    def timed_out() -> PreconditionError:
        desc = last["desc"]
        busy = [f"index {g.get('IndexName')} {g.get('IndexStatus')}" for g in desc.get("GlobalSecondaryIndexes") or []
                if g.get("IndexStatus") not in (None, "ACTIVE")]
        doing = ", ".join([f"table {desc.get('TableStatus')}", *busy])
        return PreconditionError(
            f"table {table} is not ACTIVE yet after {timeout:.0f} s ({doing}): wait for it and its indexes "
            "to be ACTIVE (a restore or an index build can take hours), then apply again",
            table=table,
            step=step,
            code="ResourceInUseException",
        )

    return poll(
        check,
        timeout=timeout,
        interval=0.05 if target.is_sandbox else 1.0,
        backoff=1.5,
        max_interval=10.0,
        on_timeout=timed_out,
    )
