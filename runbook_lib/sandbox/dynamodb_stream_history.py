"""Each stream a table has had stays readable by its own ARN after it is disabled or replaced.

AWS: a stream that is disabled is ``DISABLED`` and its records stay readable for 24 hours; enabling
a stream again makes a new stream, with a new label and ARN ("Change data capture for DynamoDB
Streams", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html: "If you disable a
stream, any stream records in the log remain readable for 24 hours"; "DescribeStream", DynamoDB
Streams API Reference, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_DescribeStream.html:
``StreamStatus`` ``ENABLING | ENABLED | DISABLING | DISABLED``).

moto 5.2.5 answers every stream ARN of a table with the table's current stream: ``DescribeStream``
of a disabled stream answered HTTP 500 (the table's settings have no ``StreamViewType`` any more),
and once a new stream was enabled, the old ARN described, and ``GetShardIterator`` read, the new
stream. Here each stream's shard and view type are kept by label: the old ARN answers its own
shard, ``DISABLED``; an ARN of a label the table never had is ``ResourceNotFoundException``.

Where it still differs from AWS: records of a disabled stream are kept until the table is deleted
(AWS: 24 hours); ``ListStreams`` lists only the current stream; every stream's shard has moto's one
shard id and starting sequence number.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.exceptions import JsonRESTError

_installed = False
_install_lock = threading.Lock()


class StreamNotFound(JsonRESTError):
    def __init__(self, arn: str) -> None:
        super().__init__("ResourceNotFoundException", f"Requested resource not found: Stream: {arn} not found")


def _kept(table: Any) -> dict:
    return table.__dict__.setdefault("_sandbox_streams", {})


def _keep_streams(original):
    def set_stream_specification(self, streams):
        old_label, old_shard = getattr(self, "latest_stream_label", None), getattr(self, "stream_shard", None)
        old_view = (getattr(self, "stream_specification", None) or {}).get("StreamViewType")
        original(self, streams)
        kept = _kept(self)
        if old_label and old_shard is not None and old_view:
            kept.setdefault(old_label, (old_shard, old_view))
        view = (self.stream_specification or {}).get("StreamViewType")
        if self.latest_stream_label and self.stream_shard is not None and view:
            kept[self.latest_stream_label] = (self.stream_shard, view)

    return set_stream_specification


def _stream_of(table: Any, arn: str) -> tuple[Any, str, bool, str]:
    """(shard, view type, enabled, label) of the stream ``arn`` names, or ``ResourceNotFoundException``."""
    label = arn.rsplit("/stream/", 1)[1] if "/stream/" in arn else ""
    found = _kept(table).get(label)
    if found is None:
        raise StreamNotFound(arn)
    shard, view = found
    enabled = (
        label == table.latest_stream_label
        and bool((table.stream_specification or {}).get("StreamEnabled"))
        and table.stream_shard is shard
    )
    return shard, view, enabled, label


def _describe_stream(self, arn):
    table = self._get_table_from_arn(arn)
    shard, view, enabled, label = _stream_of(table, arn)
    return {
        "StreamArn": arn,
        "StreamLabel": label,
        "StreamStatus": "ENABLED" if enabled else "DISABLED",
        "StreamViewType": view,
        "CreationRequestDateTime": shard.created_on,
        "TableName": table.name,
        "KeySchema": table.schema,
        "Shards": [shard.to_json()],
    }


def _get_shard_iterator(self, arn, shard_id, shard_iterator_type, sequence_number=None):
    from moto.dynamodbstreams.models import ShardIterator

    table = self._get_table_from_arn(arn)
    shard, _view, _enabled, _label = _stream_of(table, arn)
    if shard.id != shard_id:
        raise StreamNotFound(f"{arn} shard {shard_id}")
    iterator = ShardIterator(self, shard, shard_iterator_type, sequence_number)
    self.shard_iterators[iterator.arn] = iterator
    return iterator


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.models.table import Table
        from moto.dynamodbstreams.models import DynamoDBStreamsBackend

        Table.set_stream_specification = _keep_streams(Table.set_stream_specification)
        DynamoDBStreamsBackend.describe_stream = _describe_stream
        DynamoDBStreamsBackend.get_shard_iterator = _get_shard_iterator
        _installed = True
