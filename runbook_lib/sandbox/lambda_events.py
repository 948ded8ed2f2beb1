"""The shapes of what the sandbox's Lambda runtime hands a function: DynamoDB stream and SQS event
records, as Lambda builds them, and the JSON conventions they travel in (part of ``lambda_runtime``).

- A stream record (``stream_event_record``): ``eventID``, ``eventName``, ``eventVersion`` "1.1",
  ``eventSource`` "aws:dynamodb", ``awsRegion``, ``dynamodb`` with ``ApproximateCreationDateTime``
  in epoch seconds, ``Keys``, ``NewImage``/``OldImage`` per view type, ``SequenceNumber``,
  ``SizeBytes``, ``StreamViewType``; ``eventSourceARN``. A batch is ``{"Records": [...]}``, no
  longer than Lambda's 6 MB payload allows (``cap_payload``).
- An SQS record (``sqs_event_record``): ``messageId``, ``receiptHandle``, ``body``, ``attributes``
  incl. ``SequenceNumber``/``MessageGroupId``/``MessageDeduplicationId`` for FIFO,
  ``messageAttributes``, ``md5OfBody``, ``eventSource`` "aws:sqs", ``eventSourceARN``,
  ``awsRegion``.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

#: Lambda's limit for a synchronous invocation's request payload
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


def epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    raise ValueError(f"not a time: {type(value).__name__}")


def iso(ts: float, millis: bool = True) -> str:
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return epoch(o)
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(bytes(o)).decode()
    if hasattr(o, "to_json"):
        return o.to_json()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")



def stream_event_record(record: Any, region: str, stream_arn: str) -> dict[str, Any]:
    """One ``Records[]`` entry of a DynamoDB stream event, as Lambda shapes it."""
    raw = record.record if hasattr(record, "record") else record
    dynamodb = dict(raw["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if created is not None and not isinstance(created, (int, float)):
        dynamodb["ApproximateCreationDateTime"] = int(epoch(created))
    return {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def sqs_event_record(message: Any, queue_arn: str, region: str) -> dict[str, Any]:
    """One ``Records[]`` entry of an SQS event, as Lambda shapes it."""
    attributes = {
        "ApproximateReceiveCount": str(message.approximate_receive_count),
        "SentTimestamp": str(message.sent_timestamp),
        "SenderId": str(message.sender_id),
        "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
    }
    if queue_arn.endswith(".fifo"):
        attributes["SequenceNumber"] = str(message.sequence_number)
        attributes["MessageGroupId"] = str(message.group_id)
        if message.deduplication_id is not None:
            attributes["MessageDeduplicationId"] = str(message.deduplication_id)
    return {
        "messageId": message.id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": {name: _sqs_attribute(value) for name, value in (message.message_attributes or {}).items()},
        "md5OfBody": message.body_md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _sqs_attribute(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
    if value.get("StringValue") is not None:
        out["stringValue"] = value["StringValue"]
    binary = value.get("BinaryValue")
    if binary is not None:
        out["binaryValue"] = base64.b64encode(binary).decode() if isinstance(binary, (bytes, bytearray)) else binary
    return out



def cap_payload(records: list[dict]) -> list[dict]:
    """The longest prefix whose ``{"Records": [...]}`` fits Lambda's 6 MB payload (at least one)."""
    total = len('{"Records": []}')
    for i, record in enumerate(records):
        total += len(json.dumps(record, default=json_default)) + 2
        if total > MAX_PAYLOAD_BYTES and i > 0:
            return records[:i]
    return records

