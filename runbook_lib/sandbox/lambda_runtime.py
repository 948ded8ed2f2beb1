"""The sandbox's Lambda runtime: event source mappings polled as AWS Lambda does, code run in workers.

moto runs Lambda code only in Docker, which the sandbox does not have; and moto's own stream hook
(``StreamShard.add``) invokes every mapping of a table on every write, without looking at
``Enabled``, and empties the shard when that returns. The runtime takes both over, in these modules:

- ``lambda_moto``: the patches ``install()`` puts into moto (stream shard, SQS sends, mapping
  creation, ``Invoke``, ``LoggingConfig``, reset), the lookups of moto's state and
  ``FunctionSpec`` (a function version, as moto holds it);
- ``lambda_stream_poller``: DynamoDB stream mappings (positions, batches, retries, bisection,
  checkpoints, on-failure destinations; fault ``late-resend``);
- ``lambda_sqs_poller``: SQS mappings (receives, concurrency per mapping, FIFO groups, deletes;
  one thread runs all of a mapping's batches in flight);
- ``lambda_invoke``: one invocation (logs, metrics, the ``Invoke`` API, ``batchItemFailures``;
  fault ``applier-crash``);
- ``lambda_worker_process``: one worker process (``lambda_worker.py``), its environment, pipes,
  logs and credentials; ``lambda_worker_pool``: the pool that keeps them warm;
- ``lambda_events``: the stream and SQS event records, as Lambda shapes them;
- this module: ``LambdaRuntime``, which ties them together (life cycle, the poller thread, tasks,
  generations).

``LambdaRuntime`` runs one poller thread. Every ``SETTINGS.poll_interval`` seconds it reads the
event source mappings of every region of moto's Lambda backend (default account) and polls each
one that is Enabled (stream: ``lambda_stream_poller``; SQS: ``lambda_sqs_poller``); the batches run
as tasks on a thread pool. A disabled mapping is not polled: records and messages wait;
re-enabling resumes from the saved position. Mappings whose function or source is gone are skipped.

Robustness: an exception in the poller or a task is logged (never with record data) and polling
goes on; ``reset()`` and ``stop()`` kill every worker (process group), and workers exit when their
parent dies; tasks check a generation number before every side effect, so objects that moto has
wiped are never written to.

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

import logging
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import lambda_moto
from .lambda_events import MAX_PAYLOAD_BYTES, sqs_event_record, stream_event_record
from .lambda_invoke import InvocationResult, Invoking, parse_batch_item_failures, publish_metrics
from .lambda_moto import (
    FunctionSpec,
    all_mappings,
    backend_of,
    install,
    lambda_backend_dict,
    logging_config,
    mapping_of,
    service_of,
)
from .lambda_sqs_poller import SqsPolling
from .lambda_stream_poller import StreamPolling
from .lambda_worker_pool import Stale, WorkerPool
from .lambda_worker_process import build_runtime_lib
from .settings import SETTINGS

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "FunctionSpec",
    "InvocationResult",
    "LambdaRuntime",
    "install",
    "logging_config",
    "parse_batch_item_failures",
    "publish_metrics",
    "sqs_event_record",
    "stream_event_record",
]

log = logging.getLogger(__name__)


class LambdaRuntime(StreamPolling, SqsPolling, Invoking, WorkerPool):
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
        # mapping objects that existed at the last reset: ignored until moto has wiped them
        self._ignored: dict[int, Any] = {}
        self._errors_logged: dict[str, str] = {}
        self._fault_lock = threading.Lock()  # the faults' counters (late-resend, applier-crash)
        self._init_stream_polling()
        self._init_sqs_polling()
        self._init_invoking()
        self._init_pool()

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        install()
        if self._thread is not None:
            return
        self._stopping.clear()
        self._tmp = tempfile.mkdtemp(prefix="sandbox-lambda-")
        build_runtime_lib(self._lib_dir)
        self._executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="lambda-task")
        lambda_moto.activate(self)
        self._thread = threading.Thread(target=self._poll_forever, name="lambda-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, kill every worker, remove the extracted code."""
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
        lambda_moto.deactivate(self)
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
                for esm in all_mappings():
                    self._ignored[id(esm)] = esm
            except Exception:  # noqa: BLE001
                log.exception("could not list mappings at reset")
        lambda_moto.latest_at_creation.clear()
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
            raise Stale()

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
        if lambda_moto.active() is not self:
            return
        with self._cond:
            if self._paused or self._stopping.is_set():
                return
            gen = self._generation
            self._active_tasks += 1
        try:
            for esm in list(all_mappings()):
                if self._stopping.is_set() or gen != self._generation:
                    return
                if id(esm) in self._ignored or not esm.enabled:
                    continue
                try:
                    service = service_of(esm.event_source_arn)
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

    # -- moto lookups shared by the pollers --------------------------------------------------
    def _live_mapping(self, account: str, region: str, uuid: str, gen: int) -> Any:
        self._check(gen)
        esm = mapping_of(account, region, uuid)
        if esm is None or not esm.enabled or id(esm) in self._ignored:
            raise Stale()
        return esm

    @staticmethod
    def _function_of(esm: Any) -> Any | None:
        try:
            return backend_of(lambda_backend_dict(), esm.account_id, esm.region).get_function(esm.function_arn)
        except Exception:  # noqa: BLE001 - deleted function
            return None

