"""Each key's last change, from the source's stream: what explains a difference in [T, R)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import is_not_found
from ..aws.streams import stream_shards
from ..times import clock, to_utc, utcnow
from .tables import _describe
from .values import key_id

log = logging.getLogger(__name__)

#: a DynamoDB stream keeps its records for 24 hours
STREAM_RETENTION = timedelta(hours=24)


class LastChanges(dict):
    """``{key id: time of the key's last change}``, with what the source knew about its coverage.

    ``oldest`` / ``newest``: the first and last record times read; ``stream_created``: when the
    stream was enabled; ``stream_disabled``: it no longer records; ``records``: how many records
    were read. An explicit mapping passed to
    :func:`reconcile` may be a plain dict (coverage then is the caller's word).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_arn: str | None = None
        self.stream_created: datetime | None = None
        self.oldest: datetime | None = None
        self.newest: datetime | None = None
        self.records = 0
        self.read_at: datetime | None = None
        self.stream_disabled = False

    def coverage_warning(self, restore_time: datetime | None) -> str | None:
        """Why these times may miss a change made at or after ``restore_time``, or None."""
        if restore_time is None:
            return None
        if self.stream_arn is None:
            return "the source table has no stream: differences in [T, R) cannot be explained; pass last_changes"
        if self.stream_created and self.stream_created > restore_time:
            return (
                f"the source's stream was enabled at {clock(self.stream_created)}, after the restore point "
                f"{clock(restore_time)} (UTC): changes in between are unknown and cannot explain a difference"
            )
        if self.stream_disabled:
            return (
                "the source's stream is disabled: changes made since it was disabled are unknown "
                "and cannot explain a difference"
            )
        read_at = self.read_at or utcnow()
        may_be_trimmed = self.stream_created is None or self.stream_created < read_at - STREAM_RETENTION
        if may_be_trimmed and (self.oldest is None or self.oldest > restore_time):
            oldest = clock(self.oldest) if self.oldest else "none"
            return (
                f"the stream's oldest record ({oldest}) is newer than the restore point {clock(restore_time)} (UTC) "
                "and records older than 24 h are trimmed: changes before it are unknown; "
                "use an incremental export (last_changes) to explain them"
            )
        return None


_as_utc = to_utc


def last_change_by_key(
    target: AwsTarget,
    source_table: str,
    *,
    keys: Iterable[str] | None = None,
    max_empty_reads: int = 3,
) -> LastChanges:
    """Read the source's stream from ``TRIM_HORIZON`` and give each key's last change time.

    Every shard, open and closed (``DescribeStream`` paginated with ``ExclusiveStartShardId``), is
    read until caught up: a closed shard until it has no next iterator, an open shard until a
    ``GetRecords`` call returns no records (after ``max_empty_reads`` empty calls in a row, so a
    quiet moment on AWS does not end the read early; it never loops forever). ``keys`` (key ids)
    keeps only those keys. Times are ``ApproximateCreationDateTime``, rounded down to the second.
    """
    ddb = target.client("dynamodb")
    streams = target.client("dynamodbstreams")
    desc = _describe(ddb, source_table)
    wanted = set(keys) if keys is not None else None
    result = LastChanges()
    result.read_at = utcnow()
    arn = desc.get("LatestStreamArn")  # a disabled stream stays readable for 24 hours
    if not arn:
        log.info("source %s has no stream", source_table)
        return result
    result.stream_arn = arn
    key_names = tuple(sorted(k["AttributeName"] for k in desc["KeySchema"]))

    listed = stream_shards(streams, arn)
    created = listed.description.get("CreationRequestDateTime")
    if created is not None:
        result.stream_created = _as_utc(created, "stream creation time")
    result.stream_disabled = listed.description.get("StreamStatus") in ("DISABLING", "DISABLED")
    shards = listed.shards

    for shard in shards:
        closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
        try:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        except ClientError as exc:
            if is_not_found(exc):
                continue  # the shard was trimmed away meanwhile
            raise
        empty = 0
        while iterator:
            resp = streams.get_records(ShardIterator=iterator, Limit=1000)
            records = resp.get("Records", [])
            for record in records:
                ddb_part = record.get("dynamodb", {})
                when = ddb_part.get("ApproximateCreationDateTime")
                if when is None:
                    continue
                when = _as_utc(when, "record time")
                result.records += 1
                if result.oldest is None or when < result.oldest:
                    result.oldest = when
                if result.newest is None or when > result.newest:
                    result.newest = when
                kid = key_id(ddb_part["Keys"], key_names)
                if wanted is not None and kid not in wanted:
                    continue
                previous = result.get(kid)
                if previous is None or when > previous:
                    result[kid] = when
            iterator = resp.get("NextShardIterator")
            if records:
                empty = 0
                continue
            empty += 1
            if not closed and empty >= max_empty_reads:
                break  # an open shard, caught up
            if closed and empty >= 1000:
                log.warning("closed shard of %s still returned no end after 1000 empty reads", source_table)
                break
    log.info("read %d stream records of %s across %d shards", result.records, source_table, len(shards))
    return result


def _normalise_last_changes(last_changes: Any) -> LastChanges:
    if isinstance(last_changes, LastChanges):
        return last_changes
    out = LastChanges()
    if isinstance(last_changes, Mapping):
        for k, when in last_changes.items():
            out[k if isinstance(k, str) else key_id(k)] = _as_utc(when, "last change")
        return out
    for k, when in last_changes:
        kid = k if isinstance(k, str) else key_id(k)
        when = _as_utc(when, "last change")
        if kid not in out or when > out[kid]:
            out[kid] = when
    return out
