"""The sandbox's Lambda runtime: event source mappings polled as AWS Lambda does, code run in workers.

Size: over 600 lines on purpose until the restructure issue (#11), which splits the code base by concern in one pass; here stream polling, SQS polling, workers and metrics/logs become separate modules. Splitting it alone now would move code the other open issues are about to change.

moto runs Lambda code only in Docker, which the sandbox does not have; and moto's own stream hook
(``StreamShard.add``) invokes every mapping of a table on every write, without looking at
``Enabled``, and empties the shard when that returns. This module takes both over.

How it works
------------
``install()`` (idempotent, process-wide, like moto's backends) patches moto:

- ``StreamShard.add`` only appends the ``StreamRecord`` (sequence number ``len(items) + start``, as
  moto numbers them; since the shard is never emptied, numbers are never reused). The stored record
  carries the table's region in ``awsRegion`` and ``eventVersion`` "1.1", as on AWS.
- SQS queues no longer invoke mappings when a message is sent (``Queue.add_message`` would receive,
  invoke and make the messages visible again, bumping their receive count): a queue's
  ``lambda_event_source_mappings`` is an always-empty dict.
- ``create_event_source_mapping`` remembers the shard length when a stream mapping is created
  (``StartingPosition: LATEST`` starts there).
- ``LambdaFunction.invoke`` (the ``Invoke`` API, and moto's internal SNS / CloudWatch Logs
  subscription deliveries) runs the code through the active runtime: ``RequestResponse``
  synchronously (``X-Amz-Function-Error: Unhandled`` and the error document on failure, the last
  4 KB of the log with ``LogType: Tail``), ``Event`` in the background (202), ``DryRun`` not at all.
- ``MotoAPIBackend.reset`` (``POST /moto-api/reset``, from any process) first pauses the runtime,
  kills its workers and forgets its positions, so that no poller touches objects moto is wiping.

``LambdaRuntime`` runs one poller thread. Every ``SETTINGS.poll_interval`` seconds it reads the
event source mappings of every region of moto's Lambda backend (default account) and, for each one
that is Enabled:

- **DynamoDB stream**: reads ``table.stream_shard.items`` in-process from the mapping's position
  (kept here, by mapping UUID; starts at ``TRIM_HORIZON`` = first record, ``LATEST`` = the shard
  length when the mapping was created, ``AT_TIMESTAMP`` = first record created at or after
  ``StartingPositionTimestamp``) and hands a batch of up to ``BatchSize`` records (default 100,
  fewer if the event would exceed Lambda's 6 MB payload) to a task. One batch in flight per mapping,
  so records are processed in order. The event is ``{"Records": [...]}`` in the shape Lambda gives
  (``eventID``, ``eventName``, ``eventVersion`` "1.1", ``eventSource`` "aws:dynamodb",
  ``awsRegion``, ``dynamodb`` with ``ApproximateCreationDateTime`` in epoch seconds, ``Keys``,
  ``NewImage``/``OldImage`` per view type, ``SequenceNumber``, ``SizeBytes``, ``StreamViewType``;
  ``eventSourceARN``). Success advances the position past the batch. A function error (exception,
  timeout, crash, init failure) retries the batch, with a short exponential backoff (capped at
  ``SETTINGS.lambda_retry_backoff``), until it succeeds or ``MaximumRetryAttempts`` retries are
  spent (-1 or unset = forever). With ``BisectBatchOnFunctionError`` a failed batch of more than
  one record is split in two halves, retried in order; splitting does not spend a retry. When the
  retries are spent, the batch is skipped, and if ``DestinationConfig.OnFailure.Destination`` is an
  SQS queue (or SNS topic) it receives Lambda's invocation record (``requestContext``,
  ``responseContext``, ``version``, ``timestamp``, ``DDBStreamBatchInfo`` with shard id,
  start/end sequence numbers, arrival times, batch size, stream ARN: no record data). Records older
  than ``MaximumRecordAgeInSeconds`` are skipped the same way (condition ``RecordAgeExceeded``).
  With ``FunctionResponseTypes: [ReportBatchItemFailures]`` a response ``{"batchItemFailures":
  [{"itemIdentifier": <SequenceNumber>}]}`` checkpoints: the records before the lowest reported
  sequence number are done, the rest is retried (this counts as a retry; with bisect on, only the
  rest is retried, as AWS does). An empty or missing list, a ``null`` or non-object response = the
  whole batch succeeded; a null, empty or unknown identifier = the whole batch failed.
- **SQS queue** (standard or FIFO): receives in-process from moto's SQS backend up to ``BatchSize``
  messages with the queue's visibility timeout (the sandbox's receive, ``performance.py``, holds
  back a FIFO group exactly while one of its messages is in flight, and fills a batch with as many
  messages of one group as it can first, as SQS does), builds Lambda's SQS event (``messageId``, ``receiptHandle``, ``body``,
  ``attributes`` incl. ``SequenceNumber``/``MessageGroupId``/``MessageDeduplicationId`` for FIFO,
  ``messageAttributes``, ``md5OfBody``, ``eventSource`` "aws:sqs", ``eventSourceARN``,
  ``awsRegion``) and invokes. Success deletes the batch; a function error deletes nothing (the
  messages come back after the visibility timeout); with ReportBatchItemFailures every message but
  the reported ``messageId``s is deleted. Up to ``ScalingConfig.MaximumConcurrency`` batches of one
  mapping are in flight at once, and never more than ``SETTINGS.sqs_concurrency`` (default 10, the
  buffer stack's MaximumConcurrency), which for FIFO means different message groups: AWS runs the
  lower of the number of message groups and MaximumConcurrency ("Configuring scaling behavior for
  SQS event source mappings", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html). Redrive to the DLQ is moto's own:
  moto's ``receive_message`` moves a message to the queue's dead-letter queue when it is received
  again after ``maxReceiveCount`` receives, as SQS does; this runtime does nothing extra for it.

A disabled mapping is not polled: records and messages wait; re-enabling resumes from the saved
position. Mappings whose function or source is gone are skipped.

Running the code: the function's zip (moto keeps it as ``LambdaFunction.code_bytes``, also when it
was given as ``S3Bucket``/``S3Key``: moto reads the object at create/update time) is extracted once
per code digest into a temporary directory. Each function version (code digest + handler +
environment + timeout + memory) has a pool of persistent worker processes (``lambda_worker.py``,
started with ``sys.executable -S -P -u``): a worker imports the handler (``a.b.c.handler``, any
depth) once, then serves one invocation at a time over JSON lines on its own pipes; what the
handler prints goes to stderr, never to the protocol. A worker's environment is built from scratch:
the function's ``Environment.Variables``, then Lambda's reserved variables (``AWS_REGION``,
``AWS_DEFAULT_REGION``, ``AWS_LAMBDA_FUNCTION_NAME``/``_MEMORY_SIZE``/``_VERSION``/``_TIMEOUT``,
``AWS_LAMBDA_LOG_GROUP_NAME``/``_STREAM_NAME``, ``_HANDLER``, ``LAMBDA_TASK_ROOT``,
``AWS_EXECUTION_ENV``, and the execution role's temporary credentials ``AWS_ACCESS_KEY_ID``/
``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` with ``AWS_CREDENTIAL_EXPIRATION``: a session of the
role named after the function, from ``iam_auth.function_credentials``, renewed with an invocation
20 minutes before it expires; the sandbox's unrestricted ``testing`` credentials when the role is
not one of the sandbox's), ``AWS_ENDPOINT_URL`` = the sandbox (so
boto3 in the function reaches the sandbox without being told), ``TZ=:UTC``, and ``PYTHONPATH`` =
the code directory, then a directory holding only what the Lambda Python runtime provides (boto3,
botocore, s3transfer, jmespath, dateutil, urllib3, six, linked from this interpreter's
site-packages). ``context`` has ``function_name``, ``function_version``, ``invoked_function_arn``,
``memory_limit_in_mb`` (a string, as in the Lambda Python runtime), ``aws_request_id``,
``log_group_name``, ``log_stream_name``, ``get_remaining_time_in_millis()``. ``Timeout`` is
enforced: the worker is killed (with its process group) and the invocation is a function error
(``Sandbox.Timedout``). A change of code or configuration gives the next invocation a new worker;
the old version's idle workers are stopped. Each worker's output goes to CloudWatch Logs through
moto's logs backend: the function's ``LoggingConfig.LogGroup``, by default ``/aws/lambda/<name>``,
created at the first invocation if it does not exist ("Configuring CloudWatch log groups", AWS
Lambda Developer Guide, https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html);
one stream per worker (``YYYY/MM/DD/[$LATEST]<hex>``, or ``YYYY/MM/DD/<name>[$LATEST]<hex>`` in a
custom group, as that page names them), with ``INIT_START``, ``START RequestId: ... Version: ...``, the
function's lines (a logging record with several lines is one event, as on Lambda), ``END`` and
``REPORT`` lines, and ``Task timed out after N.NN seconds``.

Metrics: every invocation this runtime makes (stream and SQS mappings, the ``Invoke`` API) puts
into moto's CloudWatch backend (in-process, the function's region) what Lambda publishes, namespace
``AWS/Lambda``, dimension ``FunctionName``, timestamped when the invocation was sent:
``Invocations`` (Count, 1), ``Errors`` (Count, 1 if the invocation failed, else 0) and, for a stream
mapping's batch, ``IteratorAge`` (Milliseconds, the send time minus the ``ApproximateCreationDateTime``
of the batch's last record) ("Types of metrics for Lambda functions", AWS Lambda Developer Guide,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).

Robustness: an exception in the poller or a task is logged (never with record data) and polling
goes on; ``reset()`` and ``stop()`` kill every worker (process group), and workers exit when their
parent dies; tasks check a generation number before every side effect, so objects that moto has
wiped are never written to.

Faults (``faults.py``)
----------------------
- ``late-resend`` (``every``, ``advance``, ``function``): after every ``every``-th stream batch that
  a matching mapping's function processed without a failure (``function``: a substring of the
  function's name or handler; empty = every stream mapping), the SQS clock
  (``performance.advance_sqs_clock``) is moved forward by ``advance`` seconds (default 330, more
  than SQS's five-minute deduplication interval) and the same batch is delivered to the function
  once more, as a stream retry that comes too late: what the forwarder sends again is not
  deduplicated and carries a ``SentTimestamp`` ``advance`` seconds after its change. The clock
  stays moved (every later message is stamped that much later); a reset puts it back. Noted:
  ``batches_resent``, ``records_resent``, ``sqs_clock_moved_seconds``, ``resends_failed``.
- ``applier-crash`` (``function``, ``rate``, ``after_writes``, ``times``): an invocation of a
  matching function (default ``applier``: name or handler) is, with probability ``rate`` (at most
  ``times`` times since the sandbox's last reset, default 5; 0 = no limit: with live traffic a
  steady kill rate keeps some messages invisible at every moment, so a queue never reads empty), killed with SIGKILL inside its worker right after its
  ``after_writes``-th DynamoDB write call returned (``BatchWriteItem``, ``PutItem``,
  ``UpdateItem``, ``DeleteItem``, ``TransactWriteItems``), or just before it would return if it
  made fewer. The invocation fails with ``Runtime.ExitError`` ("Runtime exited with error:
  signal: killed", as Lambda logs it), so an SQS batch is not deleted and comes back after the
  visibility timeout, a stream batch is retried. The writes it made stay. Noted:
  ``invocations_killed``. The hook wraps botocore's ``BaseClient._make_api_call`` inside the
  worker, so only writes made through boto3 count.

Where the sandbox differs from AWS
----------------------------------
- One shard per stream (moto), so one batch in flight per stream mapping; ``ParallelizationFactor``,
  ``TumblingWindowInSeconds``, ``FilterCriteria`` and ``MaximumBatchingWindowInSeconds`` are
  ignored (a batch is whatever is there when polled, up to ``BatchSize``); Kinesis, Kafka, MQ and
  DocumentDB sources are not polled.
- Records are never trimmed (moto keeps them forever, not 24 h), so ``TRIM_HORIZON`` means the first
  record ever and infinite retries retry forever, not until the record expires.
- Retry backoff is much shorter than AWS's; ``approximateInvokeCount`` is the attempts on that
  exact sub-batch. A ``ReportBatchItemFailures`` response that is not a JSON object counts as
  success.
- SQS: messages are received only when a warm worker of the function is free (a worker is started
  first), so the sandbox's slow cold start (a second or two) never runs down a short visibility
  timeout; on AWS the poller receives first and the cold start counts. No long polling or
  batching window; no 6 MB cap on an SQS batch; concurrency stops at
  ``SETTINGS.sqs_concurrency`` (10), not AWS's scaling to hundreds of pollers for a mapping without
  ``MaximumConcurrency`` (or with a higher one), and starts there at once (AWS starts a standard
  queue at five batches and adds pollers over minutes); a mapping's
  ``DestinationConfig`` is not used for SQS sources (AWS does not support it either, the queue's
  redrive policy does the job).
- Nothing here checks, as AWS's ``CreateEventSourceMapping`` does, that an SQS queue's visibility
  timeout is at least the function's timeout; with a shorter one, messages come back while still
  being processed.
- Mapping ``State`` is only Enabled/Disabled (moto); no ``Creating``/``Enabling`` transitions,
  ``LastProcessingResult`` is not updated.
- ``Event`` invocations (the ``Invoke`` API, SNS and subscription-filter deliveries) run once, in
  the background: no async retries, no async destinations, no DLQ. Functions run with this
  interpreter's Python, whatever ``Runtime`` says; layers, ``Image`` packages, memory limits,
  ``/tmp`` size, reserved concurrency and throttling are not modelled; the handler's ``cwd`` is
  the code directory (``LAMBDA_TASK_ROOT``) but it is writable. Workers stay warm until the code or
  configuration changes, or the sandbox resets or stops (no idle timeout).
- Metrics are in CloudWatch at once (AWS sends Lambda's metrics in one-minute intervals, and a
  datapoint can appear minutes later); only ``Invocations``, ``Errors`` and ``IteratorAge``, only
  with the ``FunctionName`` dimension (no ``Resource``/``ExecutedVersion``, no ``Duration``,
  ``Throttles``, concurrency or event-source-mapping metrics); ``IteratorAge`` is measured from the
  record's ``ApproximateCreationDateTime``, which is rounded down to the second, so it reads up to
  a second high.
- ``Max Memory Used`` in ``REPORT`` is the worker's peak RSS (Linux), ``Billed Duration`` is the
  duration rounded up to the millisecond.
- The log group is created and written whatever the function's role allows: the runtime ships the
  lines in-process, outside IAM (``iam_auth`` checks only requests over HTTP). On AWS, Lambda creates it only when the execution role allows ``logs:CreateLogGroup`` (and writes
  only with ``logs:CreateLogStream`` and ``logs:PutLogEvents``: "Sending Lambda function logs to
  CloudWatch Logs", https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html).
  ``LoggingConfig`` is kept and answered when it was given (moto drops it), with ``LogFormat``
  ``Text`` and ``LogGroup`` ``/aws/lambda/<name>`` filled in if absent; a function created without
  one answers none. Its log levels and ``JSON`` format are not applied to the lines.
"""

from __future__ import annotations

import atexit
import base64
import importlib.util
import io
import json
import logging
import math
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuid_mod
import weakref
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from . import faults
from .settings import SETTINGS

log = logging.getLogger(__name__)

faults.register(
    "late-resend",
    "every Nth stream batch a function has processed is delivered to it again, after the sandbox's SQS clock "
    "is moved forward past the five-minute deduplication window (a retry that comes too late for SQS to drop)",
    every=10,
    advance=330.0,
    function="",
)
faults.register(
    "applier-crash",
    "invocations of the matched function are killed (SIGKILL, Runtime.ExitError) after their first DynamoDB "
    "writes, before they return: Lambda counts a failed invocation and the SQS messages come back after the "
    "visibility timeout",
    function="applier",
    rate=0.2,
    after_writes=1,
    times=5,
)

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_worker.py")

#: what the Lambda Python runtime provides besides the standard library
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")

#: Lambda's limit for a synchronous invocation's request payload
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

_INIT_TIMEOUT = 10.0  # seconds Lambda allows for a function's init phase

_installed = False
_install_lock = threading.Lock()
_shard_lock = threading.Lock()
#: mapping UUID -> number of records in the shard when the mapping was created (for LATEST)
_latest_at_creation: dict[str, int] = {}
_active: LambdaRuntime | None = None
_runtimes: weakref.WeakSet = weakref.WeakSet()
_originals: dict[str, Any] = {}


# ---------------------------------------------------------------------------------------------
# moto patches
# ---------------------------------------------------------------------------------------------
def install() -> None:
    """Take over moto's Lambda paths (see the module docstring). Idempotent; process-wide."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.awslambda.models import LambdaBackend, LambdaFunction
        from moto.dynamodb.models.table import StreamShard
        from moto.moto_api._internal.models import MotoAPIBackend
        from moto.sqs.models import Queue

        StreamShard.add = _shard_add
        # moto's Queue.add_message invokes every enabled mapping of the queue on every send;
        # mappings are polled here instead, so the queue never sees one.
        Queue.lambda_event_source_mappings = property(lambda self: {}, lambda self, value: None)
        _originals["create_esm"] = LambdaBackend.create_event_source_mapping
        LambdaBackend.create_event_source_mapping = _create_event_source_mapping
        _originals["invoke"] = LambdaFunction.invoke
        LambdaFunction.invoke = _function_invoke
        LambdaFunction.__init__ = _keeps_logging_config(LambdaFunction.__init__)
        LambdaFunction.get_configuration = _answers_logging_config(LambdaFunction.get_configuration)
        LambdaFunction.update_configuration = _updates_logging_config(LambdaFunction.update_configuration)
        _originals["api_reset"] = MotoAPIBackend.reset
        MotoAPIBackend.reset = _api_reset
        atexit.register(_kill_all_workers)
        _installed = True


def logging_config(fn: Any) -> dict[str, str]:
    """The function's ``LoggingConfig`` as Lambda answers it: ``LogFormat`` Text and ``LogGroup``
    ``/aws/lambda/<name>`` unless given."""
    given = dict(getattr(fn, "_sandbox_logging_config", None) or {})
    given.setdefault("LogFormat", "Text")
    if not given.get("LogGroup"):
        given["LogGroup"] = f"/aws/lambda/{fn.function_name}"
    return given


def _keeps_logging_config(original):
    def __init__(self, account_id, spec, *args, **kwargs):
        original(self, account_id, spec, *args, **kwargs)
        self._sandbox_logging_config = dict(spec.get("LoggingConfig") or {})

    return __init__


def _answers_logging_config(original):
    def get_configuration(self, *args, **kwargs):
        config = original(self, *args, **kwargs)
        if getattr(self, "_sandbox_logging_config", None):  # only when given: no invented default
            config["LoggingConfig"] = logging_config(self)
        return config

    return get_configuration


def _updates_logging_config(original):
    def update_configuration(self, config_updates):
        if "LoggingConfig" in config_updates:
            merged = dict(getattr(self, "_sandbox_logging_config", None) or {})
            merged.update(config_updates["LoggingConfig"] or {})
            self._sandbox_logging_config = merged
        return original(self, {k: v for k, v in config_updates.items() if k != "LoggingConfig"})

    return update_configuration


def _shard_add(self: Any, old: Any, new: Any) -> None:
    """Append the stream record; never invoke mappings, never empty the shard."""
    from moto.dynamodb.models.table import StreamRecord

    view_type = self.table.stream_specification["StreamViewType"]
    if old is None:
        event_name = "INSERT"
    elif new is None:
        event_name = "REMOVE"
    else:
        event_name = "MODIFY"
    with _shard_lock:
        seq = len(self.items) + self.starting_sequence_number
        record = StreamRecord(self.table, view_type, event_name, old, new, seq)
        record.record["awsRegion"] = self.table.region_name
        record.record["eventVersion"] = "1.1"
        # moto keeps binary key values as base64 text (the images hold bytes), so GetRecords
        # encoded them twice; hold bytes like the images do
        for value in record.record["dynamodb"].get("Keys", {}).values():
            if "B" in value and isinstance(value["B"], str):
                value["B"] = base64.b64decode(value["B"])
        self.items.append(record)


def _create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
    esm = _originals["create_esm"](self, spec)
    try:
        if _service(esm.event_source_arn) == "dynamodb":
            source = _stream_source(esm.account_id, esm.event_source_arn)
            if source is not None:
                _latest_at_creation[esm.uuid] = len(source[1].items)
    except Exception:  # noqa: BLE001 - never fail the API call for our bookkeeping
        log.exception("could not note the stream position of mapping %s", getattr(esm, "uuid", "?"))
    return esm


def _function_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
    runtime = _active
    if runtime is None:
        return _originals["invoke"](self, body, request_headers, response_headers)
    return runtime._invoke_api(self, body, request_headers, response_headers)


def _api_reset(self: Any) -> None:
    runtime = _active
    if runtime is None:
        return _originals["api_reset"](self)
    runtime._pause()
    try:
        return _originals["api_reset"](self)
    finally:
        runtime._resume()


def _kill_all_workers() -> None:
    """At interpreter exit: no orphan workers, no extracted code left behind."""
    for runtime in list(_runtimes):
        try:
            runtime._kill_workers()
            if runtime._tmp is not None:
                shutil.rmtree(runtime._tmp, ignore_errors=True)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


# ---------------------------------------------------------------------------------------------
# moto lookups (always fresh: a reset replaces every backend object)
# ---------------------------------------------------------------------------------------------
def _default_account() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID


def _lambda_backend_dict() -> Any:
    from moto.core.config import default_user_config

    if default_user_config.get("lambda", {}).get("use_docker", True) is False:
        from moto.awslambda_simple.models import lambda_simple_backends

        return lambda_simple_backends
    from moto.awslambda.models import lambda_backends

    return lambda_backends


def _all_mappings() -> Iterator[Any]:
    backends = _lambda_backend_dict()
    account = _default_account()
    for _ in range(3):
        try:
            regional = list(backends[account].values())
            break
        except RuntimeError:  # a region was added while listing
            continue
    else:
        return
    for backend in regional:
        yield from list(backend._event_source_mappings.values())


def _mapping(account: str, region: str, uuid: str) -> Any | None:
    try:
        return _lambda_backend_dict()[account][region].get_event_source_mapping(uuid)
    except Exception:  # noqa: BLE001
        return None


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""


def _arn_region(arn: str) -> str:
    return arn.split(":")[3]


def _stream_source(account: str, stream_arn: str) -> tuple[Any, Any] | None:
    """(table, shard) for a stream ARN, if that stream is still the table's current stream."""
    from moto.dynamodb.models import dynamodb_backends

    parts = stream_arn.split(":", 5)
    if len(parts) < 6 or "/stream/" not in parts[5]:
        return None
    table_name = parts[5].split("/")[1]
    table = dynamodb_backends[account][parts[3]].tables.get(table_name)
    if table is None or table.stream_shard is None or not table.latest_stream_label:
        return None
    if f"{table.table_arn}/stream/{table.latest_stream_label}" != stream_arn:
        return None
    return table, table.stream_shard


def _epoch(value: Any) -> float:
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


def _iso(ts: float, millis: bool = True) -> str:
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return _epoch(o)
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(bytes(o)).decode()
    if hasattr(o, "to_json"):
        return o.to_json()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name)
        if value is None:
            lowered = name.lower()
            for key, val in headers.items():
                if key.lower() == lowered:
                    return val
        return value
    except Exception:  # noqa: BLE001
        return None


# ---------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------
def stream_event_record(record: Any, region: str, stream_arn: str) -> dict[str, Any]:
    """One ``Records[]`` entry of a DynamoDB stream event, as Lambda shapes it."""
    raw = record.record if hasattr(record, "record") else record
    dynamodb = dict(raw["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if created is not None and not isinstance(created, (int, float)):
        dynamodb["ApproximateCreationDateTime"] = int(_epoch(created))
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


def parse_batch_item_failures(payload: Any, identifiers: list[str]) -> list[int] | None:
    """Indexes of the failed items, [] for complete success, None for complete failure.

    As Lambda reads a ``ReportBatchItemFailures`` response: no response, an empty object, a missing,
    null or empty ``batchItemFailures`` = success; an identifier that is null, empty, under a wrong
    key or not in the batch = the whole batch failed. A response that is not an object = success.
    """
    if not isinstance(payload, dict):
        return []
    failures = payload.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    index = {str(ident): i for i, ident in enumerate(identifiers)}
    out: list[int] = []
    for failure in failures:
        if not isinstance(failure, dict):
            return None
        ident = failure.get("itemIdentifier")
        if ident is None or ident == "" or str(ident) not in index:
            return None
        out.append(index[str(ident)])
    return out


# ---------------------------------------------------------------------------------------------
# function versions and workers
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionSpec:
    """What an invocation needs of a moto ``LambdaFunction``, taken at one moment."""

    account: str
    region: str
    name: str
    version: str
    handler: str
    runtime: str
    timeout: float
    memory: int
    env: tuple[tuple[str, str], ...]
    code_digest: str
    code_bytes: bytes = field(compare=False, repr=False, hash=False)
    log_group: str = ""
    role: str = ""  # the execution role: its credentials are the worker's (iam_auth.function_credentials)

    @classmethod
    def of(cls, fn: Any) -> FunctionSpec:
        code = getattr(fn, "code_bytes", b"") or b""
        digest = getattr(fn, "code_digest", None)
        if not digest:
            import hashlib

            digest = hashlib.sha256(code).hexdigest()
        env = tuple(sorted((str(k), str(v)) for k, v in (fn.environment_vars or {}).items()))
        return cls(
            account=fn.account_id,
            region=fn.region,
            name=fn.function_name,
            version=str(fn.version),
            handler=fn.handler or "",
            runtime=fn.run_time or "python3.11",
            timeout=float(fn.timeout or 3),
            memory=int(fn.memory_size or 128),
            env=env,
            code_digest=digest,
            code_bytes=code,
            log_group=logging_config(fn)["LogGroup"],
            role=str(getattr(fn, "role", "") or ""),
        )

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.account, self.region, self.name, self.version)

    @property
    def arn(self) -> str:
        from moto.utilities.utils import get_partition

        return f"arn:{get_partition(self.region)}:lambda:{self.region}:{self.account}:function:{self.name}"


@dataclass
class InvocationResult:
    ok: bool
    request_id: str
    payload: Any = None
    error: dict[str, Any] | None = None
    log_text: str = ""


class _WorkerGone(Exception):
    pass


class _Worker:
    """One worker process (one Lambda execution environment) and the threads reading its pipes."""

    def __init__(self, spec: FunctionSpec, code_dir: str, lib_dir: str, endpoint_url: str) -> None:
        self.spec = spec
        now = datetime.now(timezone.utc)
        custom = spec.log_group and spec.log_group != f"/aws/lambda/{spec.name}"
        self.log_stream = f"{now:%Y/%m/%d}/{spec.name if custom else ''}[{spec.version}]{uuid_mod.uuid4().hex}"
        self._token = uuid_mod.uuid4().hex
        self._replies: queue.Queue = queue.Queue()
        self._lines: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._marks: dict[str, threading.Event] = {}
        self._seen_marks: set[str] = set()
        self._last_ts = 0
        self.dead = False
        self.init_ms: float | None = None
        self.init_lines: list[tuple[int, str]] = []  # of a worker started ahead, not shipped yet
        env = _worker_env(spec, code_dir, lib_dir, endpoint_url, self.log_stream)
        self._credentials_key = env.get("AWS_ACCESS_KEY_ID")
        self._credentials_checked = time.monotonic()
        args = [sys.executable, "-S", "-u"]
        if sys.version_info >= (3, 11):
            args.append("-P")
        args.append(WORKER_PATH)
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=code_dir,
            start_new_session=(os.name == "posix"),
        )
        threading.Thread(target=self._read_replies, name=f"lambda-out-{self.proc.pid}", daemon=True).start()
        threading.Thread(target=self._read_logs, name=f"lambda-err-{self.proc.pid}", daemon=True).start()

    # -- pipes ------------------------------------------------------------------------------
    def _read_replies(self) -> None:
        try:
            for raw in self.proc.stdout:  # type: ignore[union-attr]
                try:
                    self._replies.put(json.loads(raw))
                except ValueError:
                    self._replies.put({"type": "garbage"})
        except Exception:  # noqa: BLE001 - pipe closed under us
            pass
        _close(self.proc.stdout)
        self._replies.put(None)

    def _read_logs(self) -> None:
        prefix = "\0" + self._token + " "
        try:
            for raw in self.proc.stderr:  # type: ignore[union-attr]
                text = raw.decode("utf-8", "replace").rstrip("\n")
                at = text.find(prefix)
                if at >= 0:
                    if at > 0:  # the handler printed without a final newline
                        self._add_line(text[:at].replace("\r", "\n"))
                    tag = text[at + len(prefix):]
                    with self._lock:
                        event = self._marks.pop(tag, None)
                        if event is None:
                            self._seen_marks.add(tag)
                    if event is not None:
                        event.set()
                    continue
                self._add_line(text.replace("\r", "\n"))
        except Exception:  # noqa: BLE001
            pass
        _close(self.proc.stderr)
        with self._lock:
            pending = list(self._marks.values())
            self._marks.clear()
        for event in pending:
            event.set()

    def _add_line(self, text: str, ts: int | None = None) -> None:
        with self._lock:
            stamp = max(int(time.time() * 1000) if ts is None else ts, self._last_ts)
            self._last_ts = stamp
            self._lines.append((stamp, text))

    def _expect(self, tag: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            if tag in self._seen_marks:
                self._seen_marks.discard(tag)
                event.set()
            else:
                self._marks[tag] = event
        return event

    def take_lines(self) -> list[tuple[int, str]]:
        with self._lock:
            lines, self._lines = self._lines, []
        return lines

    def _send(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj, default=_json_default) + "\n").encode()
        try:
            self.proc.stdin.write(data)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            raise _WorkerGone(str(exc)) from exc

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> dict[str, Any] | None:
        """Import the handler. None when ready, else Lambda's error document."""
        started = time.monotonic()
        mark = self._expect("init")
        try:
            self._send({"type": "init", "mark": self._token})
            reply = self._replies.get(timeout=_INIT_TIMEOUT)
        except (_WorkerGone, queue.Empty):
            reply = None
        mark.wait(1.0)
        self.init_ms = (time.monotonic() - started) * 1000
        if reply is not None and reply.get("type") == "ready":
            return None
        self.dead = True
        if reply is not None and reply.get("type") == "init_error":
            return reply["error"]
        return {"errorMessage": "Runtime exited during init", "errorType": "Runtime.ExitError"}

    def invoke(
        self, request_id: str, event: Any, invoked_arn: str, crash_after_writes: int | None = None
    ) -> tuple[bool, Any, bool]:
        """(ok, payload or error, timed_out). ``crash_after_writes``: the ``applier-crash`` fault."""
        timeout = self.spec.timeout
        deadline = time.time() + timeout
        mark = self._expect(request_id)
        message = {
            "type": "invoke",
            "id": request_id,
            "event": event,
            "deadline_ms": int(deadline * 1000),
            "invoked_function_arn": invoked_arn,
        }
        if crash_after_writes is not None:
            message["crash_after_writes"] = crash_after_writes
        fresh = self._fresh_credentials()
        if fresh is not None:
            message["credentials"] = fresh
        try:
            self._send(message)
            while True:
                reply = self._replies.get(timeout=max(deadline - time.time(), 0) + 0.02)
                if reply is None or reply.get("id") == request_id:
                    break
        except queue.Empty:
            self.kill()
            return False, None, True
        except _WorkerGone:
            reply = None
        if reply is None:
            self.dead = True
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = self.proc.poll()
            if code is not None and code < 0:
                try:
                    how = f"signal: {signal.Signals(-code).name[3:].lower()}"
                except ValueError:
                    how = f"signal: {-code}"
                how = "signal: killed" if code == -signal.SIGKILL else how
            else:
                how = f"exit status {code}"
            return (
                False,
                {
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
                    "errorType": "Runtime.ExitError",
                },
                False,
            )
        mark.wait(2.0)
        if reply.get("ok"):
            return True, reply.get("payload"), False
        return False, reply.get("error"), False

    def _fresh_credentials(self) -> dict[str, str] | None:
        """The execution role's renewed credentials when they changed (looked at most once a minute:
        ``iam_auth`` renews them 20 minutes before they expire), else None."""
        if not self.spec.role or time.monotonic() - self._credentials_checked < CREDENTIALS_CHECK_SECONDS:
            return None
        self._credentials_checked = time.monotonic()
        creds = execution_credentials(self.spec)
        if creds is None or creds["AccessKeyId"] == self._credentials_key:
            return None
        self._credentials_key = creds["AccessKeyId"]
        return _credential_env(creds)

    def max_memory_mb(self) -> int:
        now = time.monotonic()
        if now - getattr(self, "_memory_read_at", -10.0) < 1.0:  # the peak, read at most once a second
            return getattr(self, "_memory_mb", 0)
        self._memory_read_at = now
        self._memory_mb = self._read_max_memory_mb()
        return self._memory_mb

    def _read_max_memory_mb(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return math.ceil(int(line.split()[1]) / 1024)
        except OSError:
            pass
        return 0

    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None

    def kill(self) -> None:
        self.dead = True
        if self.proc.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    self.proc.kill()
            except (ProcessLookupError, PermissionError):
                pass
            except OSError:
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("lambda worker %s did not exit after SIGKILL", self.proc.pid)
        _close(self.proc.stdin)


def _close(pipe: Any) -> None:
    try:
        pipe.close()
    except Exception:  # noqa: BLE001 - already closed
        pass


def _worker_env(spec: FunctionSpec, code_dir: str, lib_dir: str, endpoint_url: str, log_stream: str) -> dict[str, str]:
    env: dict[str, str] = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
    }
    if os.name == "nt":  # pragma: no cover - the sandbox targets POSIX, keep Windows startable
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
    env.update(dict(spec.env))
    env.update(
        {
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": code_dir,
            "LAMBDA_RUNTIME_DIR": lib_dir,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            **_credential_env(execution_credentials(spec)),
            "AWS_ENDPOINT_URL": endpoint_url,
            "PYTHONPATH": os.pathsep.join([code_dir, lib_dir]),
        }
    )
    return env


#: how often a warm worker asks whether its execution role's credentials were renewed
CREDENTIALS_CHECK_SECONDS = 60.0


def execution_credentials(spec: FunctionSpec) -> dict[str, Any] | None:
    """The execution role's temporary credentials (``iam_auth``), or None when the role is not one
    of the sandbox's (moto accepts any role ARN): then the worker gets the sandbox's default
    credentials, which are unrestricted."""
    if not spec.role:
        return None
    from . import iam_auth

    return iam_auth.function_credentials(spec.role, spec.arn)


def _credential_env(creds: dict[str, Any] | None) -> dict[str, str]:
    if creds is None:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        # with an expiry, botocore's environment provider re-reads these variables before it
        # (the worker updates them when the runtime sends fresh ones with an invocation)
        "AWS_CREDENTIAL_EXPIRATION": _iso(creds["Expiration"], millis=False),
    }


def _build_runtime_lib(target: str) -> None:
    """Link what the Lambda Python runtime provides (boto3 and its dependencies) into ``target``."""
    os.makedirs(target, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None and not spec.submodule_search_locations:
            continue
        if spec.submodule_search_locations:
            source = list(spec.submodule_search_locations)[0]
            link = os.path.join(target, name)
        else:
            source = spec.origin  # type: ignore[assignment]
            link = os.path.join(target, os.path.basename(source))
        if os.path.lexists(link):
            continue
        try:
            os.symlink(source, link)
        except OSError:
            if os.path.isdir(source):
                shutil.copytree(source, link)
            else:
                shutil.copy2(source, link)


# ---------------------------------------------------------------------------------------------
# the runtime
# ---------------------------------------------------------------------------------------------
class _Stale(Exception):
    """The work belongs to a mapping that was disabled or deleted, or to a generation reset since."""


class LambdaRuntime:
    """Polls event source mappings and runs Lambda code in worker processes (module docstring).

    >>> runtime = LambdaRuntime("http://127.0.0.1:5000"); runtime.start(); ...; runtime.stop()
    """

    def __init__(self, endpoint_url: str, region: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._cond = threading.Condition()
        self._generation = 0
        self._active_tasks = 0
        self._paused = False
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._tmp: str | None = None
        self._code_lock = threading.Lock()
        # stream positions and in-flight work, by mapping UUID
        self._positions: dict[str, int] = {}
        self._stream_busy: set[tuple[int, str]] = set()
        self._sqs_inflight: dict[tuple[int, str], int] = {}
        # mapping objects that existed at the last reset: ignored until moto has wiped them
        self._ignored: dict[int, Any] = {}
        # SQS: workers being started ahead of receiving, and versions whose init fails
        self._warming: dict[tuple[int, FunctionSpec], int] = {}
        self._init_failed: set[tuple[int, FunctionSpec]] = set()
        # workers
        self._workers: set[_Worker] = set()
        self._idle: dict[tuple, list[_Worker]] = {}
        self._current: dict[tuple, tuple] = {}
        self._errors_logged: dict[str, str] = {}
        # faults: stream batches processed (late-resend), invocations killed (applier-crash)
        self._fault_lock = threading.Lock()
        self._clean_batches = 0
        self._kills = 0
        self._rng = random.Random()

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        global _active
        install()
        if self._thread is not None:
            return
        self._stopping.clear()
        self._tmp = tempfile.mkdtemp(prefix="sandbox-lambda-")
        _build_runtime_lib(self._lib_dir)
        self._executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="lambda-task")
        _runtimes.add(self)
        _active = self
        self._thread = threading.Thread(target=self._poll_forever, name="lambda-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, kill every worker, remove the extracted code."""
        global _active
        self._stopping.set()
        self._wake.set()
        with self._cond:
            self._generation += 1
            self._paused = True
        self._kill_workers()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)  # queued tasks see the new generation and return
            self._drain(timeout=10)
            self._executor = None
        self._kill_workers()  # any started while tasks were finishing
        if _active is self:
            _active = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        with self._cond:
            self._paused = False

    def reset(self) -> None:
        """Forget every position and kill every worker (moto is about to wipe its backends).

        Mappings that exist now are ignored from here on, until ``POST /moto-api/reset`` has
        removed them, so that no old mapping is polled again from its starting position.
        """
        with self._cond:
            self._generation += 1
            self._positions.clear()
            self._stream_busy.clear()
            self._sqs_inflight.clear()
            self._warming.clear()
            self._init_failed.clear()
            self._errors_logged.clear()
            self._clean_batches = 0
            self._kills = 0
            try:
                for esm in _all_mappings():
                    self._ignored[id(esm)] = esm
            except Exception:  # noqa: BLE001
                log.exception("could not list mappings at reset")
        _latest_at_creation.clear()
        self._kill_workers()
        self._drain(timeout=10)

    def _pause(self) -> None:
        with self._cond:
            self._paused = True
        self.reset()

    def _resume(self) -> None:
        with self._cond:
            self._ignored.clear()
            self._paused = False

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        with self._cond:
            return [w.proc.pid for w in self._workers if w.proc.poll() is None]

    @property
    def _lib_dir(self) -> str:
        assert self._tmp is not None
        return os.path.join(self._tmp, "runtime")

    def _kill_workers(self) -> None:
        with self._cond:
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._current.clear()
        for worker in workers:
            worker.kill()

    def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._active_tasks > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("lambda runtime: %d task(s) still running after %.0f s", self._active_tasks, timeout)
                    return
                self._cond.wait(remaining)

    def _check(self, gen: int) -> None:
        if gen != self._generation or self._stopping.is_set():
            raise _Stale()

    def _submit(self, fn: Any, *args: Any) -> bool:
        executor = self._executor
        if executor is None:
            return False
        try:
            executor.submit(fn, *args)
            return True
        except RuntimeError:  # shut down
            return False

    def _task_done(self) -> None:
        with self._cond:
            self._active_tasks -= 1
            self._cond.notify_all()

    # -- polling ----------------------------------------------------------------------------
    def _poll_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self._poll_once()
            except Exception:  # noqa: BLE001 - the poller never dies
                log.exception("lambda poller cycle failed")
            # a finished batch wakes the poller at once, so a free worker does not wait a tick
            self._wake.wait(max(float(SETTINGS.poll_interval), 0.005))
            self._wake.clear()

    def _poll_once(self) -> None:
        if _active is not self:
            return
        with self._cond:
            if self._paused or self._stopping.is_set():
                return
            gen = self._generation
            self._active_tasks += 1
        try:
            for esm in list(_all_mappings()):
                if self._stopping.is_set() or gen != self._generation:
                    return
                if id(esm) in self._ignored or not esm.enabled:
                    continue
                try:
                    service = _service(esm.event_source_arn)
                    if service == "dynamodb":
                        self._poll_stream(esm, gen)
                    elif service == "sqs":
                        self._poll_sqs(esm, gen)
                except Exception as exc:  # noqa: BLE001 - one bad mapping must not stop the others
                    self._log_once(esm.uuid, "polling mapping %s failed: %s", type(exc).__name__, exc_info=True)
        finally:
            self._task_done()

    def _log_once(self, uuid: str, msg: str, kind: str, exc_info: bool = False) -> None:
        if self._errors_logged.get(uuid) == kind:
            return
        self._errors_logged[uuid] = kind
        log.warning(msg, uuid, kind, exc_info=exc_info)

    # -- DynamoDB streams -------------------------------------------------------------------
    def _poll_stream(self, esm: Any, gen: int) -> None:
        busy_key = (gen, esm.uuid)
        if busy_key in self._stream_busy:
            return
        source = _stream_source(esm.account_id, esm.event_source_arn)
        if source is None:
            return
        shard = source[1]
        with self._cond:
            if gen != self._generation:
                return
            position = self._positions.get(esm.uuid)
            if position is None:
                position = self._positions[esm.uuid] = self._initial_position(esm, shard)
            if position >= len(shard.items):
                return
            self._stream_busy.add(busy_key)
            self._active_tasks += 1
        if not self._submit(self._stream_task, esm.account_id, esm.region, esm.uuid, gen):
            with self._cond:
                self._stream_busy.discard(busy_key)
            self._task_done()

    @staticmethod
    def _initial_position(esm: Any, shard: Any) -> int:
        start = (esm.starting_position or "TRIM_HORIZON").upper()
        if start == "LATEST":
            return _latest_at_creation.get(esm.uuid, len(shard.items))
        if start == "AT_TIMESTAMP" and esm.starting_position_timestamp is not None:
            at = _epoch(esm.starting_position_timestamp)
            for i, record in enumerate(list(shard.items)):
                if _epoch(record.record["dynamodb"]["ApproximateCreationDateTime"]) >= at:
                    return i
            return len(shard.items)
        return 0

    def _stream_task(self, account: str, region: str, uuid: str, gen: int) -> None:
        try:
            self._run_stream_batch(account, region, uuid, gen)
        except _Stale:
            pass
        except Exception as exc:  # noqa: BLE001
            self._log_once(uuid, "stream batch of mapping %s failed: %s", type(exc).__name__, exc_info=True)
        finally:
            with self._cond:
                self._stream_busy.discard((gen, uuid))
            self._task_done()

    def _live_mapping(self, account: str, region: str, uuid: str, gen: int) -> Any:
        self._check(gen)
        esm = _mapping(account, region, uuid)
        if esm is None or not esm.enabled or id(esm) in self._ignored:
            raise _Stale()
        return esm

    def _advance(self, uuid: str, gen: int, position: int) -> None:
        with self._cond:
            if gen == self._generation:
                self._positions[uuid] = position

    def _run_stream_batch(self, account: str, region: str, uuid: str, gen: int) -> None:
        esm = self._live_mapping(account, region, uuid, gen)
        source = _stream_source(account, esm.event_source_arn)
        if source is None:
            return
        table, shard = source
        start = self._positions.get(uuid)
        if start is None:
            return
        items = shard.items[start : start + int(esm.batch_size or 100)]
        records = _cap_payload([stream_event_record(r, table.region_name, esm.event_source_arn) for r in items])
        if not records:
            return
        # sub-batches still to do, in order: (lo, hi, retries spent), indexes into ``records``
        work: deque[tuple[int, int, int]] = deque([(0, len(records), 0)])
        clean, spec = True, None
        while work:
            lo, hi, retries = work[0]
            esm = self._live_mapping(account, region, uuid, gen)
            lo = self._drop_aged(esm, shard, records, lo, hi, gen)
            if lo >= hi:
                work.popleft()
                self._advance(uuid, gen, start + hi)
                continue
            fn = self._function_of(esm)
            if fn is None:
                return  # function gone: nothing processed, try again on a later poll
            spec = FunctionSpec.of(fn)
            result = self.invoke(spec, {"Records": records[lo:hi]}, esm.function_arn, gen, last_record=records[hi - 1])
            esm = self._live_mapping(account, region, uuid, gen)
            failed_at = self._stream_failure_index(esm, result, records[lo:hi])
            if failed_at is None:
                work.popleft()
                self._advance(uuid, gen, start + hi)
                continue
            clean = False
            if failed_at > 0:
                lo += failed_at
                self._advance(uuid, gen, start + lo)
            if esm.bisect_on_error and failed_at == 0 and hi - lo > 1:
                mid = (lo + hi) // 2
                work.popleft()
                work.appendleft((mid, hi, retries))
                work.appendleft((lo, mid, retries))
                continue
            max_retries = -1 if esm.max_retry_attempts is None else int(esm.max_retry_attempts)
            if 0 <= max_retries <= retries:
                self._send_on_failure(esm, shard, records[lo:hi], result, retries + 1, "RetryAttemptsExhausted", gen)
                work.popleft()
                self._advance(uuid, gen, start + hi)
                continue
            work[0] = (lo, hi, retries + 1)
            self._backoff(retries, gen)
        if clean and spec is not None:
            self._late_resend(esm, spec, records, gen)

    def _late_resend(self, esm: Any, spec: FunctionSpec, records: list[dict], gen: int) -> None:
        """Fault ``late-resend``: deliver a processed batch again, the SQS clock moved past dedup."""
        fault = faults.active("late-resend")
        if fault is None or not _matches(spec, fault["function"]):
            return
        with self._fault_lock:
            self._clean_batches += 1
            due = self._clean_batches % max(int(fault["every"]), 1) == 0
        if not due:
            return
        from .performance import advance_sqs_clock

        self._check(gen)
        advance_sqs_clock(float(fault["advance"]))
        faults.note("late-resend", "sqs_clock_moved_seconds", int(float(fault["advance"])))
        result = self.invoke(spec, {"Records": records}, esm.function_arn, gen, last_record=records[-1])
        faults.note("late-resend", "batches_resent")
        faults.note("late-resend", "records_resent", len(records))
        if self._stream_failure_index(esm, result, records) is not None:
            faults.note("late-resend", "resends_failed")
            log.info("late-resend: the re-delivered batch of mapping %s failed", esm.uuid)

    @staticmethod
    def _stream_failure_index(esm: Any, result: InvocationResult, batch: list[dict]) -> int | None:
        """None = the batch succeeded; else the index of the first record to retry."""
        if not result.ok:
            return 0
        if "ReportBatchItemFailures" not in (esm.function_response_types or []):
            return None
        failed = parse_batch_item_failures(result.payload, [r["dynamodb"]["SequenceNumber"] for r in batch])
        if failed is None:
            return 0
        return min(failed) if failed else None

    def _drop_aged(self, esm: Any, shard: Any, records: list[dict], lo: int, hi: int, gen: int) -> int:
        max_age = esm.max_record_age
        if max_age is None or int(max_age) < 0:
            return lo
        now = time.time()
        n = lo
        while n < hi and now - float(records[n]["dynamodb"]["ApproximateCreationDateTime"]) > int(max_age):
            n += 1
        if n > lo:
            self._send_on_failure(esm, shard, records[lo:n], None, 0, "RecordAgeExceeded", gen)
        return n

    def _backoff(self, retries: int, gen: int) -> None:
        delay = min(0.05 * (2**retries), max(float(SETTINGS.lambda_retry_backoff), 0.0))
        deadline = time.monotonic() + delay
        while True:
            self._check(gen)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stopping.wait(min(remaining, 0.05))

    def _send_on_failure(
        self,
        esm: Any,
        shard: Any,
        batch: list[dict],
        result: InvocationResult | None,
        invoke_count: int,
        condition: str,
        gen: int,
    ) -> None:
        destination = ((esm.destination_config or {}).get("OnFailure") or {}).get("Destination")
        log.warning(
            "mapping %s: skipping %d stream record(s) (%s)%s",
            esm.uuid,
            len(batch),
            condition,
            "" if destination else ", no on-failure destination",
        )
        if not destination:
            return
        self._check(gen)
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if result is not None and not result.ok:
            response["functionError"] = "Unhandled"
        document = {
            "requestContext": {
                "requestId": result.request_id if result is not None else str(uuid_mod.uuid4()),
                "functionArn": esm.function_arn,
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard.id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(float(first["ApproximateCreationDateTime"]), millis=False),
                "approximateArrivalOfLastRecord": _iso(float(last["ApproximateCreationDateTime"]), millis=False),
                "batchSize": len(batch),
                "streamArn": esm.event_source_arn,
            },
        }
        _deliver(destination, json.dumps(document))

    # -- SQS --------------------------------------------------------------------------------
    def _poll_sqs(self, esm: Any, gen: int) -> None:
        """Receive batches while there is room, each handed with a warm worker to a task.

        Messages are received only when a worker of the function is ready to take them (one is
        started first, outside the visibility clock): a cold start here (a second or two) must not
        eat a short visibility timeout, which AWS's much faster cold starts do not.
        """
        from moto.sqs.models import sqs_backends

        region = _arn_region(esm.event_source_arn)
        name = esm.event_source_arn.split(":")[5]
        backend = sqs_backends[esm.account_id][region]
        queue_obj = backend.queues.get(name)
        if queue_obj is None:
            return
        fn = self._function_of(esm)
        if fn is None:
            return
        spec = FunctionSpec.of(fn)
        limit = max(int(SETTINGS.sqs_concurrency), 1)
        scaling = (esm.scaling_config or {}).get("MaximumConcurrency")
        if scaling:
            limit = min(limit, int(scaling))
        batch_size = int(esm.batch_size or 10)
        key = (gen, esm.uuid)
        while True:
            with self._cond:
                inflight = self._sqs_inflight.get(key, 0)
                if gen != self._generation or inflight >= limit:
                    return
                cold = (gen, spec) in self._init_failed
            worker = None
            if not cold:
                worker = self._checkout(spec, gen)
                if worker is None:
                    wanted = _batches_available(queue_obj, batch_size, limit - inflight)
                    self._warm_up(spec, gen, wanted)
                    return
            messages = backend.receive_message(
                name, batch_size, 0, queue_obj.visibility_timeout, message_attribute_names=["All"]
            )
            if not messages:
                if worker is not None:
                    self._checkin(worker, gen)
                return
            with self._cond:
                self._sqs_inflight[key] = self._sqs_inflight.get(key, 0) + 1
                self._active_tasks += 1
            args = (esm.account_id, esm.region, esm.uuid, region, name, queue_obj.queue_arn, messages, gen, spec, worker)
            if not self._submit(self._sqs_task, *args):
                if worker is not None:
                    self._checkin(worker, gen)
                self._sqs_done(key)
                return

    def _warm_up(self, spec: FunctionSpec, gen: int, wanted: int) -> None:
        """Start workers for ``spec`` in the background until ``wanted`` are starting."""
        while True:
            with self._cond:
                if gen != self._generation or self._warming.get((gen, spec), 0) >= wanted:
                    return
                self._warming[(gen, spec)] = self._warming.get((gen, spec), 0) + 1
                self._active_tasks += 1
            if not self._submit(self._warm_task, spec, gen):
                self._warm_done(spec, gen)
                return

    def _warm_task(self, spec: FunctionSpec, gen: int) -> None:
        try:
            worker, init_error, lines = self._spawn(spec, gen)
            if init_error is None:
                worker.init_lines = lines
                self._checkin(worker, gen)
                return
            self._discard(worker)
            with self._cond:
                self._init_failed.add((gen, spec))  # invocations will fail at init, as on AWS
        except _Stale:
            pass
        except Exception:  # noqa: BLE001
            log.exception("could not start a worker for function %s", spec.name)
            with self._cond:
                self._init_failed.add((gen, spec))
        finally:
            self._warm_done(spec, gen)

    def _warm_done(self, spec: FunctionSpec, gen: int) -> None:
        with self._cond:
            left = self._warming.get((gen, spec), 1) - 1
            if left > 0:
                self._warming[(gen, spec)] = left
            else:
                self._warming.pop((gen, spec), None)
        self._task_done()

    def _sqs_done(self, key: tuple[int, str]) -> None:
        with self._cond:
            if key in self._sqs_inflight:
                self._sqs_inflight[key] -= 1
        self._task_done()
        self._wake.set()

    def _sqs_task(
        self,
        account: str,
        region: str,
        uuid: str,
        queue_region: str,
        name: str,
        queue_arn: str,
        messages: list,
        gen: int,
        spec: FunctionSpec,
        worker: _Worker | None,
    ) -> None:
        try:
            esm = self._live_mapping(account, region, uuid, gen)
            records = [sqs_event_record(m, queue_arn, queue_region) for m in messages]
            handed, worker = worker, None  # the invocation owns the worker from here
            result = self.invoke(spec, {"Records": records}, esm.function_arn, gen, worker=handed)
            self._check(gen)
            if not result.ok:
                return  # the messages come back after the visibility timeout
            done = list(messages)
            if "ReportBatchItemFailures" in (esm.function_response_types or []):
                failed = parse_batch_item_failures(result.payload, [m.id for m in messages])
                if failed is None:
                    return
                done = [m for i, m in enumerate(messages) if i not in set(failed)]
            from moto.sqs.models import sqs_backends

            from .performance import delete_messages

            try:  # the whole batch in one walk of the queue (performance.delete_messages)
                delete_messages(sqs_backends[account][queue_region].get_queue(name), [m.receipt_handle for m in done])
            except Exception:  # noqa: BLE001 - the queue, or a message, was deleted or purged meanwhile
                log.debug("could not delete the batch's messages from %s", name)
        except _Stale:
            pass
        except Exception as exc:  # noqa: BLE001
            self._log_once(uuid, "SQS batch of mapping %s failed: %s", type(exc).__name__, exc_info=True)
        finally:
            if worker is not None:
                self._checkin(worker, gen)
            self._sqs_done((gen, uuid))

    # -- invoking ---------------------------------------------------------------------------
    @staticmethod
    def _function_of(esm: Any) -> Any | None:
        try:
            return _lambda_backend_dict()[esm.account_id][esm.region].get_function(esm.function_arn)
        except Exception:  # noqa: BLE001 - deleted function
            return None

    def _code_dir(self, spec: FunctionSpec) -> str:
        assert self._tmp is not None
        target = os.path.join(self._tmp, "code", spec.code_digest)
        if os.path.isdir(target):
            return target
        with self._code_lock:
            if os.path.isdir(target):
                return target
            staging = f"{target}.{uuid_mod.uuid4().hex}"
            with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                archive.extractall(staging)
            os.replace(staging, target)
        return target

    def _checkout(self, spec: FunctionSpec, gen: int) -> _Worker | None:
        key = (spec, spec.identity)
        with self._cond:
            self._check(gen)
            current = self._current.get(spec.identity)
            if current is not None and current != spec:
                for old in self._idle.pop((current, spec.identity), []):
                    self._workers.discard(old)
                    threading.Thread(target=old.kill, daemon=True).start()
            self._current[spec.identity] = spec
            idle = self._idle.get(key) or []
            while idle:
                worker = idle.pop()
                if worker.alive():
                    return worker
                self._workers.discard(worker)
        return None

    def _checkin(self, worker: _Worker, gen: int) -> None:
        spec = worker.spec
        with self._cond:
            keep = (
                worker.alive()
                and gen == self._generation
                and not self._stopping.is_set()
                and self._current.get(spec.identity) == spec
                and worker in self._workers
            )
            if keep:
                self._idle.setdefault((spec, spec.identity), []).append(worker)
                return
            self._workers.discard(worker)
        worker.kill()

    def _spawn(self, spec: FunctionSpec, gen: int) -> tuple[_Worker, dict[str, Any] | None, list[tuple[int, str]]]:
        """Start a worker and import the handler: (worker, init error or None, init log lines)."""
        code_dir = self._code_dir(spec)
        worker = _Worker(spec, code_dir, self._lib_dir, self.endpoint_url)
        with self._cond:
            registered = gen == self._generation and not self._stopping.is_set()
            if registered:
                self._workers.add(worker)
        if not registered:
            worker.kill()
            raise _Stale()
        lines = [(int(time.time() * 1000), f"INIT_START Runtime Version: {spec.runtime}.sandbox")]
        init_error = worker.start()
        lines.extend(worker.take_lines())
        return worker, init_error, lines

    def _discard(self, worker: _Worker) -> None:
        with self._cond:
            self._workers.discard(worker)
        worker.kill()

    def invoke(
        self,
        spec: FunctionSpec,
        event: Any,
        invoked_arn: str,
        gen: int | None = None,
        worker: _Worker | None = None,
        *,
        last_record: dict[str, Any] | None = None,
    ) -> InvocationResult:
        """Run one invocation and publish Lambda's metrics for it (see :func:`publish_metrics`).

        ``last_record``: for a stream mapping's batch, the batch's last record (its
        ``dynamodb.ApproximateCreationDateTime`` gives ``IteratorAge``).
        """
        sent = time.time()
        result = self._invoke(spec, event, invoked_arn, gen, worker)
        created = None if last_record is None else last_record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        try:
            publish_metrics(spec, sent, ok=result.ok, record_created=None if created is None else _epoch(created))
        except Exception:  # noqa: BLE001 - metrics must never fail an invocation
            log.warning("could not publish the metrics of %s", spec.name, exc_info=True)
        return result

    def _invoke(
        self, spec: FunctionSpec, event: Any, invoked_arn: str, gen: int | None = None, worker: _Worker | None = None
    ) -> InvocationResult:
        """Run one invocation of ``spec`` (synchronously) and write its log lines to CloudWatch Logs.

        ``worker``: a worker of ``spec`` already checked out for this invocation (else an idle one
        is taken, or a new one started). The invocation returns it to the pool or stops it.
        """
        if gen is None:
            gen = self._generation
        request_id = str(uuid_mod.uuid4())
        if worker is not None and (not worker.alive() or gen != self._generation):
            self._checkin(worker, gen)  # stops it
            worker = None
        self._check(gen)
        if worker is None:
            worker = self._checkout(spec, gen)
        lines: list[tuple[int, str]] = []
        if worker is None:
            try:
                worker, init_error, lines = self._spawn(spec, gen)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                error = {"errorMessage": f"Could not unzip the function's code: {exc}", "errorType": "Runtime.InvalidEntrypoint"}
                return InvocationResult(False, request_id, error=error)
            if init_error is not None:
                now = int(time.time() * 1000)
                lines += [
                    (now, f"START RequestId: {request_id} Version: {spec.version}"),
                    (now, f"END RequestId: {request_id}"),
                    (now, f"REPORT RequestId: {request_id}\tDuration: 0.00 ms\tBilled Duration: 0 ms\t"
                     f"Memory Size: {spec.memory} MB\tMax Memory Used: 0 MB\tStatus: error\tError Type: {init_error.get('errorType')}"),
                ]
                self._ship_logs(worker, lines)
                self._discard(worker)
                init_error.setdefault("requestId", request_id)
                return InvocationResult(False, request_id, error=init_error, log_text=_log_text(lines))
        else:
            lines, worker.init_lines = worker.init_lines, []
        started = time.monotonic()
        lines.append((int(time.time() * 1000), f"START RequestId: {request_id} Version: {spec.version}"))
        crash = self._crash_plan(spec)
        try:
            ok, payload, timed_out = worker.invoke(request_id, event, invoked_arn, crash_after_writes=crash)
        except BaseException:
            self._discard(worker)
            raise
        duration = (time.monotonic() - started) * 1000
        memory_used = worker.max_memory_mb()
        lines.extend(worker.take_lines())
        now = int(time.time() * 1000)
        exited = not ok and not timed_out and not worker.alive() and isinstance(payload, dict) and (
            payload.get("errorType") == "Runtime.ExitError"
        )
        if timed_out:
            message = f"{_iso(now / 1000)} {request_id} Task timed out after {spec.timeout:.2f} seconds"
            lines.append((now, message))
            payload = {"errorMessage": message, "errorType": "Sandbox.Timedout"}
        elif exited:
            lines.append((now, f"{payload['errorMessage']}\nRuntime.ExitError"))
            if crash is not None:
                faults.note("applier-crash", "invocations_killed")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: {math.ceil(duration)} ms\t"
            f"Memory Size: {spec.memory} MB\tMax Memory Used: {memory_used} MB"
        )
        if worker.init_ms is not None:
            report += f"\tInit Duration: {worker.init_ms:.2f} ms"
            worker.init_ms = None
        if timed_out:
            report += "\tStatus: timeout"
        elif exited:
            report += "\tStatus: error\tError Type: Runtime.ExitError"
        lines += [(now, f"END RequestId: {request_id}"), (now, report)]
        self._ship_logs(worker, lines)
        self._checkin(worker, gen)
        if ok:
            return InvocationResult(True, request_id, payload=payload, log_text=_log_text(lines))
        error = dict(payload) if isinstance(payload, dict) else {"errorMessage": str(payload), "errorType": "Runtime.Unknown"}
        log.info("function %s: invocation %s failed (%s)", spec.name, request_id, error.get("errorType"))
        return InvocationResult(False, request_id, error=error, log_text=_log_text(lines))

    def _crash_plan(self, spec: FunctionSpec) -> int | None:
        """Fault ``applier-crash``: the number of DynamoDB writes after which this invocation dies."""
        fault = faults.active("applier-crash")
        if fault is None or not _matches(spec, fault["function"]):
            return None
        with self._fault_lock:
            times = int(fault["times"])
            if times > 0 and self._kills >= times:
                return None
            if self._rng.random() >= float(fault["rate"]):
                return None
            self._kills += 1
        return max(int(fault["after_writes"]), 1)

    def _ship_logs(self, worker: _Worker, lines: list[tuple[int, str]]) -> None:
        if not lines:
            return
        try:
            from moto.logs.models import logs_backends

            spec = worker.spec
            backend = logs_backends[spec.account][spec.region]
            group = spec.log_group or f"/aws/lambda/{spec.name}"
            backend.ensure_log_group(group)  # as Lambda does when the role allows logs:CreateLogGroup
            if worker.log_stream not in backend.groups[group].streams:
                backend.create_log_stream(group, worker.log_stream)
            last = 0
            events = []
            for ts, message in lines:
                last = max(last, ts)
                events.append({"timestamp": last, "message": message})
            backend.put_log_events(group, worker.log_stream, events)
        except Exception:  # noqa: BLE001 - logs are best effort
            log.exception("could not write the logs of function %s", worker.spec.name)

    # -- the Invoke API ---------------------------------------------------------------------
    def _invoke_api(self, fn: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        internal = isinstance(request_headers, dict) and not request_headers  # moto's own deliveries
        invocation_type = _header(request_headers, "x-amz-invocation-type") or ("Event" if internal else "RequestResponse")
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8")
        if isinstance(body, str):
            event = json.loads(body) if body.strip() else {}
        else:
            event = body if body is not None else {}
        if invocation_type == "DryRun":
            return b""
        spec = FunctionSpec.of(fn)
        invoked_arn = fn.function_arn
        gen = self._generation
        if invocation_type == "Event":
            with self._cond:
                self._active_tasks += 1
            if not self._submit(self._async_invoke, spec, event, invoked_arn, gen):
                self._task_done()
            return b""
        try:
            result = self.invoke(spec, event, invoked_arn, gen)
        except _Stale:
            result = InvocationResult(
                False, str(uuid_mod.uuid4()), error={"errorMessage": "The sandbox was reset", "errorType": "Sandbox.Reset"}
            )
        response_headers["x-amz-executed-version"] = spec.version
        if _header(request_headers, "x-amz-log-type") == "Tail":
            tail = result.log_text.encode("utf-8")[-4096:]
            response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
        if result.ok:
            return json.dumps(result.payload).encode("utf-8")
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(result.error).encode("utf-8")

    def _async_invoke(self, spec: FunctionSpec, event: Any, invoked_arn: str, gen: int) -> None:
        try:
            self.invoke(spec, event, invoked_arn, gen)
        except _Stale:
            pass
        except Exception:  # noqa: BLE001
            log.exception("asynchronous invocation of %s failed", spec.name)
        finally:
            self._task_done()


def publish_metrics(spec: FunctionSpec, sent: float, *, ok: bool, record_created: float | None = None) -> None:
    """Put the metrics Lambda publishes for one invocation into moto's CloudWatch backend.

    Namespace ``AWS/Lambda``, dimension ``FunctionName``, timestamp = when the invocation was
    sent ("The timestamp on a metric reflects when the function was invoked"): ``Invocations``
    (Count, 1), ``Errors`` (Count, 1 for a failed invocation, 0 otherwise: invocation metrics
    are binary indicators of the outcome) and, for a stream mapping's batch, ``IteratorAge``
    (Milliseconds: when the batch was sent minus the ``ApproximateCreationDateTime`` of its last
    record). "Types of metrics for Lambda functions", AWS Lambda Developer Guide,
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    """
    from moto.cloudwatch.models import cloudwatch_backends

    when = datetime.fromtimestamp(sent, tz=timezone.utc).replace(tzinfo=None)  # moto keeps naive UTC
    dims = [{"Name": "FunctionName", "Value": spec.name}]
    data: list[dict[str, Any]] = [
        {"MetricName": "Invocations", "Value": 1.0, "Unit": "Count"},
        {"MetricName": "Errors", "Value": 0.0 if ok else 1.0, "Unit": "Count"},
    ]
    if record_created is not None:
        age_ms = max((sent - float(record_created)) * 1000.0, 0.0)
        data.append({"MetricName": "IteratorAge", "Value": age_ms, "Unit": "Milliseconds"})
    for datum in data:
        datum.update(Dimensions=dims, Timestamp=when)
    cloudwatch_backends[spec.account][spec.region].put_metric_data("AWS/Lambda", data)


def _matches(spec: FunctionSpec, pattern: str) -> bool:
    """A fault's ``function`` parameter: a substring of the function's name or handler ("" = any)."""
    return not pattern or pattern in spec.name or pattern in spec.handler


def _batches_available(queue_obj: Any, batch_size: int, cap: int) -> int:
    """How many batches a receive could hand out now, counted up to ``cap`` (FIFO: one per free
    message group). Stops as soon as ``cap`` is reached: the queue may hold many thousands."""
    from .performance import busy_groups, deliverable

    if cap <= 0:
        return 0
    now_ms = time.time() * 1000
    with queue_obj._messages_lock:
        messages = list(queue_obj._messages)
        busy = busy_groups(queue_obj)
    if queue_obj.fifo_queue:
        free: set = set()
        for m in messages:
            if deliverable(m, now_ms, busy):
                free.add(m.group_id)
                if len(free) >= cap:
                    break
        return len(free)
    visible = 0
    for m in messages:
        if deliverable(m, now_ms, busy):
            visible += 1
            if visible >= cap * max(batch_size, 1):
                break
    return min(math.ceil(visible / max(batch_size, 1)), cap)


def _log_text(lines: list[tuple[int, str]]) -> str:
    return "".join(message + "\n" for _, message in lines)


def _cap_payload(records: list[dict]) -> list[dict]:
    """The longest prefix whose ``{"Records": [...]}`` fits Lambda's 6 MB payload (at least one)."""
    total = len('{"Records": []}')
    for i, record in enumerate(records):
        total += len(json.dumps(record, default=_json_default)) + 2
        if total > MAX_PAYLOAD_BYTES and i > 0:
            return records[:i]
    return records


def _deliver(destination: str, body: str) -> None:
    """Send an invocation record to an SQS queue or SNS topic, in-process."""
    service = _service(destination)
    parts = destination.split(":")
    account, region = parts[4], parts[3]
    try:
        if service == "sqs":
            from moto.sqs.models import sqs_backends

            kwargs: dict[str, Any] = {}
            if parts[5].endswith(".fifo"):
                kwargs = {"group_id": "lambda-on-failure", "deduplication_id": uuid_mod.uuid4().hex}
            sqs_backends[account][region].send_message(parts[5], body, **kwargs)
        elif service == "sns":
            from moto.sns.models import sns_backends

            sns_backends[account][region].publish(body, arn=destination)
        else:
            log.warning("on-failure destination %s is neither SQS nor SNS: not delivered", destination)
    except Exception:  # noqa: BLE001
        log.exception("could not deliver an invocation record to %s", destination)
