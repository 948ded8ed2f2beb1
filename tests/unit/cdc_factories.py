"""Factories for CDC test events (in AWS's documented shapes) and fake clients that record calls.

Canary values: every attribute type carries a recognisable value, so a test can prove that none of
them reaches a log line.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import uuid
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from runbook_lib.cdc import codec, forwarder

EVENTS = Path(__file__).resolve().parent.parent / "events"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T00:00:00.000"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:pitr-cdc-buffer.fifo"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/pitr-cdc-buffer.fifo"

# -- canaries ---------------------------------------------------------------------------------
CANARY_S = "CANARY-str-b7e1f0"
CANARY_N = "7311337.000421"
CANARY_B = b"CANARY-bin-\x00\xfe\x42"
CANARY_B64 = base64.b64encode(CANARY_B).decode("ascii")
CANARY_KEY_S = "CANARY-key-5d2c9a"
CANARY_KEY_N = "90210424242"
CANARY_KEY_B = b"CANARY-key-bin"
#: the key digest secret the handlers are tested with (the stack generates 64 random characters)
TEST_SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
DIGEST = codec.KeyDigest(TEST_SECRET)
CANARIES = [
    CANARY_S, CANARY_N, CANARY_B64, CANARY_KEY_S, CANARY_KEY_N,
    base64.b64encode(CANARY_KEY_B).decode("ascii"), "CANARY",
]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- keys and items -----------------------------------------------------------------------------
#: name -> ((hash name, type), (range name, type) or None)
KEY_SCHEMAS = {
    "hash_S": (("pk", "S"), None),
    "hash_N": (("pk", "N"), None),
    "hash_B": (("pk", "B"), None),
    "hash_S_range_N": (("pk", "S"), ("sk", "N")),
    "hash_N_range_B": (("pk", "N"), ("sk", "B")),
    "hash_B_range_S": (("pk", "B"), ("sk", "S")),
}


def key_value(type_: str, i: int, canary: bool = False) -> dict:
    if type_ == "S":
        return {"S": f"{CANARY_KEY_S}-{i}" if canary else f"key-{i}"}
    if type_ == "N":
        return {"N": f"{CANARY_KEY_N}{i}" if canary else str(i)}
    return {"B": b64(CANARY_KEY_B + bytes([i % 256])) if canary else b64(b"key-%d" % i)}


def make_keys(schema: str = "hash_S", i: int = 1, canary: bool = False) -> dict:
    hash_key, range_key = KEY_SCHEMAS[schema]
    keys = {hash_key[0]: key_value(hash_key[1], i, canary)}
    if range_key:
        keys[range_key[0]] = key_value(range_key[1], i + 1000, canary)
    return keys


def every_type_item(keys: dict, version: int = 1) -> dict:
    """An item with one attribute of every DynamoDB type, each holding a canary."""
    return {
        **keys,
        "s": {"S": f"{CANARY_S}-v{version}"},
        "n": {"N": CANARY_N},
        "b": {"B": CANARY_B64},
        "ss": {"SS": [CANARY_S, "plain"]},
        "ns": {"NS": [CANARY_N, "1"]},
        "bs": {"BS": [CANARY_B64, b64(b"x")]},
        "m": {"M": {"inner": {"S": CANARY_S}, "deep": {"M": {"b": {"B": CANARY_B64}}}}},
        "l": {"L": [{"S": CANARY_S}, {"N": CANARY_N}, {"B": CANARY_B64}, {"NULL": True}]},
        "bool": {"BOOL": True},
        "null": {"NULL": True},
        "version": {"N": str(version)},
    }


def small_item(keys: dict, version: int = 1) -> dict:
    return {**keys, "version": {"N": str(version)}}


def big_item(keys: dict, size: int = 350_000, version: int = 1) -> dict:
    return {**keys, "payload": {"S": CANARY_S + "x" * size}, "version": {"N": str(version)}}


# -- DynamoDB stream events -------------------------------------------------------------------
_seq = itertools.count(4421584500000000017450439100)


def next_seq() -> str:
    return str(next(_seq))


def stream_record(
    event_name: str = "INSERT",
    keys: dict | None = None,
    new_image: dict | None = None,
    old_image: dict | None = None,
    *,
    seq: str | None = None,
    created: float = 1714564800,
    view_type: str = "NEW_AND_OLD_IMAGES",
    event_id: str | None = None,
) -> dict:
    """One record of a Lambda DynamoDB stream event, as AWS documents it."""
    keys = keys if keys is not None else make_keys()
    if new_image is None and event_name != "REMOVE" and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        new_image = small_item(keys)
    data: dict[str, Any] = {"ApproximateCreationDateTime": created, "Keys": keys}
    if new_image is not None and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and event_name != "REMOVE":
        data["NewImage"] = new_image
    if old_image is not None and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and event_name != "INSERT":
        data["OldImage"] = old_image
    data["SequenceNumber"] = seq or next_seq()
    data["SizeBytes"] = len(json.dumps(data))
    data["StreamViewType"] = view_type
    return {
        "eventID": event_id or uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": data,
        "eventSourceARN": STREAM_ARN,
    }


def stream_event(*records: dict) -> dict:
    return {"Records": list(records)}


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


# -- SQS FIFO events --------------------------------------------------------------------------
_sqs_seq = itertools.count(18849496460467696128, 65536)


def sqs_message(
    body: str,
    group_id: str,
    *,
    message_id: str | None = None,
    dedup_id: str | None = None,
    receive_count: int = 1,
    sent_ms: int = 1714564800123,
) -> dict:
    """One record of a Lambda SQS FIFO event, as AWS documents it."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent_ms),
            "SequenceNumber": str(next(_sqs_seq)),
            "MessageGroupId": group_id,
            "SenderId": "AROAIWPX5BD2BHG722MW4:cdc-forwarder",
            "MessageDeduplicationId": dedup_id or uuid.uuid4().hex,
            "ApproximateFirstReceiveTimestamp": "1714564800456",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode("utf-8")).hexdigest(),  # noqa: S324 - what SQS sends
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def message_for(
    record: dict, *, message_id: str | None = None, max_bytes: int = 262_144, receive_count: int = 1, sent_after: float = 0.1
) -> dict:
    """The SQS FIFO event record the forwarder's message for ``record`` arrives as, sent
    ``sent_after`` seconds after the change was made."""
    entry, _, _ = forwarder.build_entry(record, max_bytes, DIGEST)
    created = float(record["dynamodb"]["ApproximateCreationDateTime"])
    return sqs_message(
        entry["MessageBody"],
        entry["MessageGroupId"],
        message_id=message_id,
        dedup_id=entry["MessageDeduplicationId"],
        receive_count=receive_count,
        sent_ms=int((created + sent_after) * 1000),
    )


def sqs_event(*messages: dict) -> dict:
    return {"Records": list(messages)}


def poison_message(group_id: str, body: str = "{not json", **kwargs: Any) -> dict:
    return sqs_message(body, group_id, **kwargs)


# -- fakes --------------------------------------------------------------------------------------
def client_error(code: str, operation: str, message: str | None = None) -> ClientError:
    # The message quotes a canary, as an AWS error message may quote a value: it must never be
    # logged.
    return ClientError({"Error": {"Code": code, "Message": message or f"simulated {code} {CANARY_S}"}}, operation)


SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pitr-cdc-buffer-key-digest-AbCdEf"


class FakeSecretsManager:
    """Records ``get_secret_value`` calls; answers ``secrets[SecretId]`` or raises ``error``."""

    def __init__(self, secrets: dict[str, str] | None = None, error: Exception | None = None) -> None:
        self.secrets = {SECRET_ARN: TEST_SECRET} if secrets is None else secrets
        self.error = error
        self.calls: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict:  # noqa: N803
        self.calls.append(SecretId)
        if self.error is not None:
            raise self.error
        if SecretId not in self.secrets:
            raise client_error("ResourceNotFoundException", "GetSecretValue", "Secrets Manager can't find the specified secret.")
        return {"ARN": SecretId, "Name": SecretId.rsplit(":", 1)[-1], "SecretString": self.secrets[SecretId]}


class FakeSqs:
    """Records ``send_message_batch`` calls. ``script`` holds, per call, None (all succeed), an
    exception to raise, or a set of entry Ids to report as failed."""

    def __init__(self, *script: Any, sender_fault: bool = False) -> None:
        self.script = list(script)
        self.sender_fault = sender_fault
        self.calls: list[dict] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803
        self.calls.append({"QueueUrl": QueueUrl, "Entries": copy.deepcopy(Entries)})
        action = self.script.pop(0) if self.script else None
        if isinstance(action, Exception):
            raise action
        failed_ids = action or set()
        return {
            "Successful": [{"Id": e["Id"], "MessageId": str(uuid.uuid4())} for e in Entries if e["Id"] not in failed_ids],
            "Failed": [
                {"Id": e["Id"], "SenderFault": self.sender_fault,
                 "Code": "InvalidParameterValue" if self.sender_fault else "InternalError",
                 "Message": f"simulated {CANARY_S}"}
                for e in Entries
                if e["Id"] in failed_ids
            ],
        }

    @property
    def entries(self) -> list[dict]:
        return [e for call in self.calls for e in call["Entries"]]


class FakeFifoQueue:
    """A FIFO queue behind ``send_message_batch``, answering entry by entry as SQS does.

    Entries whose record sequence number (``seq`` in the body) is in ``fail_once`` fail the first
    time they are sent (``Failed``, ``InternalError``) while the others of the same call are queued.
    Deduplication ids are remembered (as within SQS's five-minute interval), so a re-send of a
    queued record is accepted and dropped. ``groups`` holds each group's queued sequence numbers
    in queue order.
    """

    def __init__(self, fail_once: set[str] | None = None) -> None:
        self.fail_once = set(fail_once or ())
        self.calls: list[list[dict]] = []
        self.dedup: set[str] = set()
        self.groups: dict[str, list[str]] = {}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803
        self.calls.append(copy.deepcopy(Entries))
        ok, failed = [], []
        for entry in Entries:
            seq = json.loads(entry["MessageBody"])["seq"]
            if seq in self.fail_once:
                self.fail_once.discard(seq)
                failed.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError", "Message": "simulated"})
                continue
            if entry["MessageDeduplicationId"] not in self.dedup:
                self.dedup.add(entry["MessageDeduplicationId"])
                self.groups.setdefault(entry["MessageGroupId"], []).append(seq)
            ok.append({"Id": entry["Id"], "MessageId": str(uuid.uuid4())})
        return {"Successful": ok, "Failed": failed}


class FakeDynamoDB:
    """An in-memory DynamoDB low-level client for the calls the applier makes.

    It checks what AWS checks and moto does not: at most 25 write requests per call, no two
    requests for one key in a call, ``DeleteRequest`` with ``Key``, binary values as bytes.
    ``script[operation]`` holds, per call, None (normal), an exception to raise, ``"unprocessed"``
    (apply the first half, return the rest as unprocessed) or ``"unprocessed_all"``.
    """

    def __init__(self, key_names: dict[str, list[str]]) -> None:
        self.key_names = key_names
        self.tables: dict[str, dict[str, dict]] = {name: {} for name in key_names}
        self.calls: list[tuple[str, dict]] = []
        self.script: dict[str, list[Any]] = {}
        #: raise ValidationException for a write call that touches any of these canonical keys
        self.reject_keys: set[str] = set()

    # -- helpers for tests --
    def _key_of(self, table: str, item: dict) -> str:
        return codec.canonical_key({name: item[name] for name in self.key_names[table]})

    def seed(self, table: str, item: dict) -> None:
        self.tables[table][self._key_of(table, item)] = copy.deepcopy(item)

    def get(self, table: str, keys: dict) -> dict | None:
        return self.tables[table].get(codec.canonical_key(keys))

    def items(self, table: str) -> list[dict]:
        return list(self.tables[table].values())

    def calls_of(self, operation: str) -> list[dict]:
        return [kwargs for op, kwargs in self.calls if op == operation]

    def _next(self, operation: str) -> Any:
        queue = self.script.get(operation) or []
        action = queue.pop(0) if queue else None
        if isinstance(action, Exception):
            raise action
        return action

    @staticmethod
    def _check_binary(value: Any) -> None:
        if isinstance(value, dict):
            for type_, raw in value.items():
                if type_ == "B" and not isinstance(raw, bytes):
                    raise client_error("ValidationException", "BatchWriteItem", "binary must be bytes")
                if type_ == "BS" and not all(isinstance(m, bytes) for m in raw):
                    raise client_error("ValidationException", "BatchWriteItem", "binary must be bytes")
                if type_ == "M":
                    for member in raw.values():
                        FakeDynamoDB._check_binary(member)
                if type_ == "L":
                    for member in raw:
                        FakeDynamoDB._check_binary(member)

    # -- the API --
    def batch_write_item(self, RequestItems: dict) -> dict:  # noqa: N803
        self.calls.append(("batch_write_item", copy.deepcopy(RequestItems)))
        total = sum(len(requests) for requests in RequestItems.values())
        if total > 25:
            raise client_error("ValidationException", "BatchWriteItem", "Too many items requested")
        flat = []
        for table, requests in RequestItems.items():
            seen = set()
            for request in requests:
                if "DeleteRequest" in request:
                    if set(request["DeleteRequest"]) != {"Key"}:
                        raise client_error("ValidationException", "BatchWriteItem", "DeleteRequest needs Key")
                    payload = request["DeleteRequest"]["Key"]
                else:
                    payload = request["PutRequest"]["Item"]
                for value in payload.values():
                    self._check_binary(value)
                key = self._key_of(table, payload)
                if key in seen:
                    raise client_error(
                        "ValidationException", "BatchWriteItem", "Provided list of item keys contains duplicates"
                    )
                if key in self.reject_keys:
                    raise client_error("ValidationException", "BatchWriteItem")
                seen.add(key)
                flat.append((table, request, key))
        action = self._next("batch_write_item")
        if action == "unprocessed_all":
            done, left = [], flat
        elif action == "unprocessed":
            half = len(flat) // 2
            done, left = flat[:half], flat[half:]
        else:
            done, left = flat, []
        for table, request, key in done:
            if "DeleteRequest" in request:
                self.tables[table].pop(key, None)
            else:
                self.tables[table][key] = copy.deepcopy(request["PutRequest"]["Item"])
        unprocessed: dict[str, list] = {}
        for table, request, _ in left:
            unprocessed.setdefault(table, []).append(request)
        return {"UnprocessedItems": unprocessed}

    def batch_get_item(self, RequestItems: dict) -> dict:  # noqa: N803
        self.calls.append(("batch_get_item", copy.deepcopy(RequestItems)))
        action = self._next("batch_get_item")
        if action == "unprocessed_all":
            return {"Responses": {}, "UnprocessedKeys": copy.deepcopy(RequestItems)}
        responses = {}
        for table, spec in RequestItems.items():
            found = [self.tables[table][codec.canonical_key(k)] for k in spec["Keys"] if codec.canonical_key(k) in self.tables[table]]
            responses[table] = copy.deepcopy(found)
        return {"Responses": responses, "UnprocessedKeys": {}}

    def get_item(self, TableName: str, Key: dict, ConsistentRead: bool = False) -> dict:  # noqa: N803
        self.calls.append(("get_item", {"TableName": TableName, "Key": copy.deepcopy(Key), "ConsistentRead": ConsistentRead}))
        self._next("get_item")
        item = self.tables[TableName].get(codec.canonical_key(Key))
        return {"Item": copy.deepcopy(item)} if item is not None else {}


# -- logs -----------------------------------------------------------------------------------------
def log_lines(caplog) -> list[str]:
    """Every line the cdc loggers wrote, with any traceback text."""
    import logging

    formatter = logging.Formatter()
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(formatter.formatException(record.exc_info))
        if record.stack_info:
            lines.append(record.stack_info)
    return lines


def assert_no_item_data(caplog) -> list[dict]:
    """No canary (attribute value or raw key value) in any log line; every line is JSON."""
    lines = log_lines(caplog)
    assert lines, "expected the handlers to log something"
    for line in lines:
        for canary in CANARIES:
            assert canary not in line, f"item data in a log line: {line[:200]}"
    return [json.loads(line) for line in lines]
