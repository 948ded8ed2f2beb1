"""One invocation of a function in the sandbox: the run in a worker, its logs and metrics, the
synchronous ``Invoke`` API path, and how Lambda reads a batch's result (part of ``lambda_runtime``).

``LambdaFunction.invoke`` (the ``Invoke`` API, and moto's internal SNS / CloudWatch Logs
subscription deliveries) runs the code through the active runtime: ``RequestResponse``
synchronously (``X-Amz-Function-Error: Unhandled`` and the error document on failure, the last
4 KB of the log with ``LogType: Tail``), ``Event`` in the background (202), ``DryRun`` not at all.

Metrics: every invocation this runtime makes (stream and SQS mappings, the ``Invoke`` API) puts
into moto's CloudWatch backend (in-process, the function's region) what Lambda publishes, namespace
``AWS/Lambda``, dimension ``FunctionName``, timestamped when the invocation was sent:
``Invocations`` (Count, 1), ``Errors`` (Count, 1 if the invocation failed, else 0) and, for a stream
mapping's batch, ``IteratorAge`` (Milliseconds, the send time minus the ``ApproximateCreationDateTime``
of the batch's last record) ("Types of metrics for Lambda functions", AWS Lambda Developer Guide,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).

Fault ``applier-crash`` (``faults.py``):
``applier-crash`` (``function``, ``rate``, ``after_writes``, ``times``): an invocation of a
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
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import time
import uuid as uuid_mod
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import faults
from .lambda_events import epoch, iso
from .lambda_moto import FunctionSpec, backend_of, matches
from .lambda_worker_pool import Stale
from .lambda_worker_process import Worker

log = logging.getLogger(__name__)

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


@dataclass
class InvocationResult:
    ok: bool
    request_id: str
    payload: Any = None
    error: dict[str, Any] | None = None
    log_text: str = ""



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



@dataclass
class _Call:
    """An invocation under way: what ``_finish`` needs once the worker has answered."""

    spec: FunctionSpec
    worker: Worker
    gen: int
    request_id: str
    lines: list[tuple[int, str]]
    started: float  # time.monotonic()
    sent: float  # time.time(), for the metrics
    crash: int | None


class Invoking:
    """How ``LambdaRuntime`` runs one invocation (a mixin over its worker pool and generation)."""

    def _init_invoking(self) -> None:
        # fault applier-crash: invocations killed since the last reset
        self._kills = 0
        self._rng = random.Random()

    def invoke(
        self,
        spec: FunctionSpec,
        event: Any,
        invoked_arn: str,
        gen: int | None = None,
        worker: Worker | None = None,
        *,
        last_record: dict[str, Any] | None = None,
    ) -> InvocationResult:
        """Run one invocation and publish Lambda's metrics for it (see :func:`publish_metrics`).

        ``last_record``: for a stream mapping's batch, the batch's last record (its
        ``dynamodb.ApproximateCreationDateTime`` gives ``IteratorAge``).
        """
        sent = time.time()
        result = self._invoke(spec, event, invoked_arn, gen, worker)
        self._publish(spec, sent, result, last_record)
        return result

    @staticmethod
    def _publish(spec: FunctionSpec, sent: float, result: InvocationResult, last_record: dict[str, Any] | None = None) -> None:
        created = None if last_record is None else last_record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        try:
            publish_metrics(spec, sent, ok=result.ok, record_created=None if created is None else epoch(created))
        except Exception:  # noqa: BLE001 - metrics must never fail an invocation
            log.warning("could not publish the metrics of %s", spec.name, exc_info=True)

    def _invoke(
        self, spec: FunctionSpec, event: Any, invoked_arn: str, gen: int | None = None, worker: Worker | None = None
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
        return self._finish(_Call(spec, worker, gen, request_id, lines, started, 0.0, crash), ok, payload, timed_out)

    # -- an invocation begun now and finished later (the SQS poller runs several at once) -----
    def _begin(self, spec: FunctionSpec, event: Any, invoked_arn: str, gen: int, worker: Worker) -> _Call:
        """Start an invocation on a warm ``worker`` checked out for it, without waiting: the
        caller polls ``worker.fds()``, calls ``worker.progress()`` until it has the outcome, then
        ``_end``. Same log lines, metrics and fault as ``invoke``."""
        sent = time.time()
        request_id = str(uuid_mod.uuid4())
        self._check(gen)
        lines, worker.init_lines = worker.init_lines, []
        started = time.monotonic()
        lines.append((int(time.time() * 1000), f"START RequestId: {request_id} Version: {spec.version}"))
        crash = self._crash_plan(spec)
        worker.begin(request_id, event, invoked_arn, crash_after_writes=crash)
        return _Call(spec, worker, gen, request_id, lines, started, sent, crash)

    def _end(self, call: _Call, outcome: tuple[bool, Any, bool]) -> InvocationResult:
        call.worker.end()
        result = self._finish(call, *outcome)
        self._publish(call.spec, call.sent, result)
        return result

    def _finish(self, call: _Call, ok: bool, payload: Any, timed_out: bool) -> InvocationResult:
        """After the worker answered (or died, or timed out): log lines, REPORT, the worker back."""
        spec, worker, gen, request_id, lines, crash = call.spec, call.worker, call.gen, call.request_id, call.lines, call.crash
        duration = (time.monotonic() - call.started) * 1000
        memory_used = worker.max_memory_mb()
        lines.extend(worker.take_lines())
        now = int(time.time() * 1000)
        exited = not ok and not timed_out and not worker.alive() and isinstance(payload, dict) and (
            payload.get("errorType") == "Runtime.ExitError"
        )
        if timed_out:
            message = f"{iso(now / 1000)} {request_id} Task timed out after {spec.timeout:.2f} seconds"
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
        if fault is None or not matches(spec, fault["function"]):
            return None
        with self._fault_lock:
            times = int(fault["times"])
            if times > 0 and self._kills >= times:
                return None
            if self._rng.random() >= float(fault["rate"]):
                return None
            self._kills += 1
        return max(int(fault["after_writes"]), 1)

    def _ship_logs(self, worker: Worker, lines: list[tuple[int, str]]) -> None:
        if not lines:
            return
        try:
            from moto.logs.models import logs_backends

            spec = worker.spec
            backend = backend_of(logs_backends, spec.account, spec.region)
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
        except Stale:
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
        except Stale:
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
    backend_of(cloudwatch_backends, spec.account, spec.region).put_metric_data("AWS/Lambda", data)



def _log_text(lines: list[tuple[int, str]]) -> str:
    return "".join(message + "\n" for _, message in lines)



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

