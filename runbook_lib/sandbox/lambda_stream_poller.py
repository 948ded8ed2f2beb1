"""DynamoDB stream event source mappings, polled as Lambda polls them (part of ``lambda_runtime``).

Every Enabled stream mapping: the poller reads ``table.stream_shard.items`` in-process from the mapping's position
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

Fault ``late-resend`` (``faults.py``):
``late-resend`` (``every``, ``advance``, ``function``): after every ``every``-th stream batch that
a matching mapping's function processed without a failure (``function``: a substring of the
function's name or handler; empty = every stream mapping), the SQS clock
(``sqs_clock.advance_sqs_clock``) is moved forward by ``advance`` seconds (default 330, more
than SQS's five-minute deduplication interval) and the same batch is delivered to the function
once more, as a stream retry that comes too late: what the forwarder sends again is not
deduplicated and carries a ``SentTimestamp`` ``advance`` seconds after its change. The clock
stays moved (every later message is stamped that much later); a reset puts it back. Noted:
``batches_resent``, ``records_resent``, ``sqs_clock_moved_seconds``, ``resends_failed``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid as uuid_mod
from collections import deque
from typing import Any

from . import faults
from .lambda_events import cap_payload, epoch, iso, stream_event_record
from .lambda_invoke import InvocationResult, parse_batch_item_failures
from .lambda_moto import FunctionSpec, latest_at_creation, matches, service_of, stream_source
from .lambda_worker_pool import Stale
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


class StreamPolling:
    """Stream mappings for ``LambdaRuntime`` (a mixin): positions by mapping UUID, one batch in
    flight per mapping, retries, bisection, checkpoints and on-failure records."""

    def _init_stream_polling(self) -> None:
        self._positions: dict[str, int] = {}
        self._stream_busy: set[tuple[int, str]] = set()
        self._clean_batches = 0  # fault late-resend: stream batches processed without a failure

    def _poll_stream(self, esm: Any, gen: int) -> None:
        busy_key = (gen, esm.uuid)
        if busy_key in self._stream_busy:
            return
        source = stream_source(esm.account_id, esm.event_source_arn)
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
            return latest_at_creation.get(esm.uuid, len(shard.items))
        if start == "AT_TIMESTAMP" and esm.starting_position_timestamp is not None:
            at = epoch(esm.starting_position_timestamp)
            for i, record in enumerate(list(shard.items)):
                if epoch(record.record["dynamodb"]["ApproximateCreationDateTime"]) >= at:
                    return i
            return len(shard.items)
        return 0

    def _stream_task(self, account: str, region: str, uuid: str, gen: int) -> None:
        try:
            self._run_stream_batch(account, region, uuid, gen)
        except Stale:
            pass
        except Exception as exc:  # noqa: BLE001
            self._log_once(uuid, "stream batch of mapping %s failed: %s", type(exc).__name__, exc_info=True)
        finally:
            with self._cond:
                self._stream_busy.discard((gen, uuid))
            self._task_done()


    def _advance(self, uuid: str, gen: int, position: int) -> None:
        with self._cond:
            if gen == self._generation:
                self._positions[uuid] = position

    def _run_stream_batch(self, account: str, region: str, uuid: str, gen: int) -> None:
        esm = self._live_mapping(account, region, uuid, gen)
        source = stream_source(account, esm.event_source_arn)
        if source is None:
            return
        table, shard = source
        start = self._positions.get(uuid)
        if start is None:
            return
        items = shard.items[start : start + int(esm.batch_size or 100)]
        records = cap_payload([stream_event_record(r, table.region_name, esm.event_source_arn) for r in items])
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
        if fault is None or not matches(spec, fault["function"]):
            return
        with self._fault_lock:
            self._clean_batches += 1
            due = self._clean_batches % max(int(fault["every"]), 1) == 0
        if not due:
            return
        from .sqs_clock import advance_sqs_clock

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
            "timestamp": iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard.id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(float(first["ApproximateCreationDateTime"]), millis=False),
                "approximateArrivalOfLastRecord": iso(float(last["ApproximateCreationDateTime"]), millis=False),
                "batchSize": len(batch),
                "streamArn": esm.event_source_arn,
            },
        }
        _deliver(destination, json.dumps(document))



def _deliver(destination: str, body: str) -> None:
    """Send an invocation record to an SQS queue or SNS topic, in-process."""
    service = service_of(destination)
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
