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


class TwoRegionClient:
    """The reconciliation's DynamoDB calls when the target table is in another region than the
    source (a cross-region restore): each call goes to the client of the region its table is in.
    Tables are regional, and a request names tables of its endpoint's region only, so a
    ``BatchGetItem`` of both tables becomes one call per region, its answers merged
    (``Responses``, ``UnprocessedKeys``, ``ConsumedCapacity``) as one call's would be."""

    def __init__(self, source_client: Any, target_client: Any, target_table: str) -> None:
        self._source, self._target, self._target_table = source_client, target_client, target_table

    def _for(self, table: str) -> Any:
        return self._target if table == self._target_table else self._source

    def describe_table(self, **kwargs: Any) -> dict:
        return self._for(kwargs["TableName"]).describe_table(**kwargs)

    def scan(self, **kwargs: Any) -> dict:
        return self._for(kwargs["TableName"]).scan(**kwargs)

    def batch_get_item(self, *, RequestItems: dict, **kwargs: Any) -> dict:  # noqa: N803 - the API's name
        merged: dict[str, Any] = {"Responses": {}, "UnprocessedKeys": {}}
        for client in (self._source, self._target):
            part = {t: spec for t, spec in RequestItems.items() if self._for(t) is client}
            if not part:
                continue
            resp = client.batch_get_item(RequestItems=part, **kwargs)
            merged["Responses"].update(resp.get("Responses") or {})
            merged["UnprocessedKeys"].update(resp.get("UnprocessedKeys") or {})
            if "ConsumedCapacity" in resp:
                merged.setdefault("ConsumedCapacity", []).extend(resp["ConsumedCapacity"] or [])
        return merged


def reading_client(target: AwsTarget, threads: int, *, destination: AwsTarget | None = None, target_table: str = "") -> Any:
    """One client for both tables (``destination``: the target table's side when it is in another
    region, see :class:`TwoRegionClient`)."""
    client = _client(target, "dynamodb", threads)
    if destination is None or destination.region_name == target.region_name:
        return client
    return TwoRegionClient(client, _client(destination, "dynamodb", threads), target_table)


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
