"""DynamoDB Streams: a stream's description and all of its shards, page by page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StreamShards:
    """``DescribeStream`` followed through ``LastEvaluatedShardId``: the last page's description
    (status, creation time) and every shard of every page."""

    description: dict[str, Any]
    shards: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open_shards(self) -> list[dict[str, Any]]:
        """Shards still written to (no ``EndingSequenceNumber``)."""
        return [s for s in self.shards if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})]


def stream_shards(streams, stream_arn: str) -> StreamShards:
    """Every shard of ``stream_arn`` (``streams`` is a ``dynamodbstreams`` client).

    ``DescribeStream`` answers at most 100 shards a call and names the last one in
    ``LastEvaluatedShardId`` when there are more ("DescribeStream - Amazon DynamoDB Streams",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_DescribeStream.html).
    """
    kwargs: dict[str, Any] = {"StreamArn": stream_arn}
    result = StreamShards(description={})
    while True:
        desc = streams.describe_stream(**kwargs)["StreamDescription"]
        result.description = desc
        result.shards.extend(desc.get("Shards", []))
        last = desc.get("LastEvaluatedShardId")
        if not last:
            return result
        kwargs["ExclusiveStartShardId"] = last
