"""The two tables compared: their description, key schema, and clients sized for the threads."""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import is_not_found
from ..errors import InputError, PreconditionError

#: at most this many reading threads per call; more segments than threads queue up
MAX_THREADS = 64


def _threads(wanted: int) -> int:
    return max(1, min(MAX_THREADS, wanted))


def _client(target: AwsTarget, service: str, threads: int):
    return target.client(service, config=Config(max_pool_connections=max(10, _threads(threads) + 2)))


def _describe(client, table: str) -> dict[str, Any]:
    try:
        desc = client.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if is_not_found(exc):
            raise InputError(
                f"table {table} not found: check the table name and the region/endpoint",
                table=table,
                code="ResourceNotFoundException",
            ) from None
        raise
    if desc.get("TableStatus") not in ("ACTIVE", "UPDATING"):
        raise PreconditionError(
            f"table {table} is {desc.get('TableStatus')}, not ACTIVE: wait for it (a restore takes a while)",
            table=table,
        )
    return desc


def _key_schema(desc: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    return tuple((k["KeyType"], k["AttributeName"], types.get(k["AttributeName"], "?")) for k in desc["KeySchema"])


def _check_segments(segments: int) -> None:
    if not isinstance(segments, int) or not 1 <= segments <= 1_000_000:
        raise InputError(f"segments must be an integer from 1 to 1,000,000, not {segments!r}")


def _fmt_schema(schema: tuple[tuple[str, str, str], ...]) -> str:
    return ", ".join(f"{kind} {name} ({typ})" for kind, name, typ in schema)
