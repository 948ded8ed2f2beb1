"""What an export to S3 writes, as AWS writes it (part of ``dynamodb_exports``, whose docstring says
where it differs from AWS): the items or changes read from the PITR journal, their DynamoDB JSON lines,
the data files split by a hash of the partition key, and the manifests with their ``.md5`` checksums.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import os
import time
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from moto.dynamodb.models.utilities import dynamo_json_dump

from .settings import SETTINGS


def key_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    return prefix if prefix.endswith("/") else prefix + "/"


def iso(ts: float) -> str:
    """The manifests' times: ISO 8601 in UTC to the millisecond, as "2020-11-04T07:28:34.028Z"."""
    at = datetime.fromtimestamp(ts, tz=timezone.utc)  # rounded to the microsecond, so .939 stays .939
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()  # noqa: S324 - AWS's checksums are MD5


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def table_id(table: Any) -> str:
    if not hasattr(table, "_sandbox_table_id"):
        table._sandbox_table_id = str(uuid.uuid4())
    return table._sandbox_table_id


def state_at(table: Any, at: float, inclusive: bool) -> dict[tuple, Any]:
    """The items as of ``at`` from the PITR journal: (hash, range) -> item; changes at ``at`` count when
    ``inclusive``."""
    items: dict[tuple, Any] = {}
    for hkey, value in table._pitr_base.items():
        if table.range_key_attr is not None:
            for rkey, item in value.items():
                items[(hkey, rkey)] = item
        else:
            items[(hkey, None)] = value
    for ts, key, item in list(table._pitr_journal):
        if ts > at or (ts == at and not inclusive):
            break
        if item is None:
            items.pop(key, None)
        else:
            items[key] = item
    return items


def _keys_json(table: Any, item: Any) -> dict:
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: item.attrs[name].to_json() for name in names}


def _digest(table: Any, item: Any) -> str:
    hkey = item.attrs[table.hash_key_attr].to_json()
    return hashlib.md5(dynamo_json_dump(hkey).encode()).hexdigest()  # noqa: S324 - a spread, not a secret


def _image(item: Any) -> dict:
    return item.to_json(root_attr_name="Item")["Item"]


def journal_of(table: Any) -> SimpleNamespace:
    """What an export reads, taken when it is requested: the PITR base and journal as they are then (their
    items are private copies that nothing changes) and the key's names; the lines are made later, apart."""
    return SimpleNamespace(_pitr_base=table._pitr_base, _pitr_journal=table._pitr_journal.snapshot(),
                           hash_key_attr=table.hash_key_attr, range_key_attr=table.range_key_attr)


def full_lines(table: Any, at: float) -> list[tuple[str, Any, int]]:
    """(partition digest, the item, its size) for every item as of ``at``; rendered when written."""
    return [(_digest(table, item), item, item.size()) for item in state_at(table, at, inclusive=True).values()]


def incremental_lines(table: Any, start: float, end: float, view: str) -> list[tuple[str, Any, int]]:
    """One compacted line per key changed in [start, end), as the output format page shows them."""
    last: dict[tuple, float] = {}
    for ts, key, _item in list(table._pitr_journal):
        if ts >= end:
            break
        if ts >= start:
            last[key] = ts
    if not last:
        return []
    before, after = state_at(table, start, inclusive=False), state_at(table, end, inclusive=False)
    lines = []
    for key, ts in last.items():
        old, new = before.get(key), after.get(key)
        if old is None and new is None:
            continue  # inserted and deleted inside the window: no output
        record: dict[str, Any] = {
            "Metadata": {"WriteTimestampMicros": {"N": str(int(round(ts * 1_000_000)))}},
            "Keys": _keys_json(table, new if new is not None else old),
        }
        if old is not None and view == "NEW_AND_OLD_IMAGES":
            record["OldImage"] = _image(old)
        if new is not None:
            record["NewImage"] = _image(new)
        size = (new or old).size()
        lines.append((_digest(table, new if new is not None else old), dynamo_json_dump(record), size))
    return lines


def _partitioned(lines: list[tuple[str, Any, int]]) -> list[list[tuple[str, Any, int]]]:
    count = max(1, math.ceil(len(lines) / max(1, SETTINGS.export_items_per_file)))
    files: list[list] = [[] for _ in range(count)]
    for line in lines:
        files[int(line[0], 16) % count].append(line)
    return files


def _render(payload: Any) -> str:
    """One line of a data file: an incremental record is rendered already, an item of a full export now."""
    return payload if isinstance(payload, str) else dynamo_json_dump({"Item": _image(payload)})


def _file_name() -> str:
    return base64.b32encode(os.urandom(20)).decode().lower()[:26]


def write_files(export: Any, s3: Any) -> None:
    """Write an export's data files and manifests (``export`` is a ``dynamodb_exports.Export``)."""
    data_folder = f"{key_prefix(export.prefix)}AWSDynamoDB/data" if export.incremental else f"{export.folder}/data"
    manifest_lines = []
    for part in _partitioned(export.lines):
        text = "".join(_render(payload) + "\n" for _digest_, payload, _size in part)
        body = gzip.compress(text.encode("utf-8"))
        digest = _md5(body)
        etag = hashlib.md5(digest).hexdigest() + "-1"  # noqa: S324 - S3's one-part multipart ETag
        key = f"{data_folder}/{_file_name()}.json.gz"
        s3.put_object(export.bucket, key, body, etag=etag)
        manifest_lines.append(json.dumps(
            {"itemCount": len(part), "md5Checksum": _b64(digest), "etag": etag, "dataFileS3Key": key}
        ))
    export.item_count = len(export.lines)
    export.billed_bytes = sum(size for _d, _l, size in export.lines)
    export.lines = []
    files_body = "".join(line + "\n" for line in manifest_lines).encode()
    files_key = f"{export.folder}/manifest-files.json"
    s3.put_object(export.bucket, files_key, files_body)
    s3.put_object(export.bucket, f"{export.folder}/manifest-files.md5", _b64(_md5(files_body)).encode())
    summary: dict[str, Any] = {
        "version": "2023-08-01" if export.incremental else "2020-06-30",
        "exportArn": export.arn,
        "startTime": iso(export.start_time),
        "endTime": iso(time.time()),
        "tableArn": export.table.table_arn,
        "tableId": table_id(export.table),
    }
    if export.incremental:
        summary["exportFromTime"] = iso(export.incremental["from"])
        summary["exportToTime"] = iso(export.incremental["to"])
    else:
        summary["exportTime"] = iso(export.export_time or export.start_time)
    summary.update({
        "s3Bucket": export.bucket,
        "s3Prefix": export.prefix,
        "s3SseAlgorithm": export.sse or "AES256",
        "s3SseKmsKeyId": export.kms_key,
        "manifestFilesS3Key": files_key,
        "billedSizeBytes": export.billed_bytes,
        "itemCount": export.item_count,
        "outputFormat": export.export_format,
    })
    if export.incremental:
        summary["outputView"] = export.incremental["view"]
    summary["exportType"] = export.export_type
    summary_body = json.dumps(summary).encode()
    s3.put_object(export.bucket, f"{export.folder}/manifest-summary.json", summary_body)
    s3.put_object(export.bucket, f"{export.folder}/manifest-summary.md5", _b64(_md5(summary_body)).encode())
