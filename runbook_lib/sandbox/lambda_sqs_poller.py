"""SQS event source mappings (standard and FIFO), polled as Lambda polls them (part of
``lambda_runtime``).

Every Enabled SQS mapping: the poller receives in-process from moto's SQS backend up to ``BatchSize``
messages with the queue's visibility timeout (the sandbox's receive, ``sqs_fifo.py``, holds
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

Threads: the poller thread receives a mapping's first batch; from then on one task thread runs all
of that mapping's batches in flight (``_sqs_loop``): it receives while there is room, sends each
batch to a warm worker of its own, waits on all their pipes at once and settles each batch as its
worker answers, then receives again (at the latest every 50 ms while there is room). So a batch
costs no hand-off between threads. A batch whose worker times out or dies fails alone; disabling
the mapping stops the receives, and the batches in flight finish and are settled.
"""

from __future__ import annotations

import logging
import math
import select
import time
from typing import Any

from .lambda_events import sqs_event_record
from .lambda_invoke import parse_batch_item_failures
from .lambda_moto import FunctionSpec, arn_region, backend_of
from .lambda_worker_pool import Stale
from .lambda_worker_process import Worker
from .settings import SETTINGS

log = logging.getLogger(__name__)


class SqsPolling:
    """SQS mappings for ``LambdaRuntime`` (a mixin): batches in flight by mapping, workers warmed
    before a receive, deletes of what succeeded."""

    def _init_sqs_polling(self) -> None:
        self._sqs_inflight: dict[tuple[int, str], int] = {}
        self._sqs_loops: set[tuple[int, str]] = set()  # mappings whose batches a loop runs
        # workers being started ahead of receiving, and versions whose init fails
        self._warming: dict[tuple[int, FunctionSpec], int] = {}
        self._init_failed: set[tuple[int, FunctionSpec]] = set()

    def _sqs_source(self, esm: Any) -> tuple[Any, Any, str, str, FunctionSpec, int, int] | None:
        """(SQS backend, queue, queue name, queue region, function version, concurrency limit,
        batch size) of a mapping, read afresh; None when the queue or the function is gone."""
        from moto.sqs.models import sqs_backends

        region = arn_region(esm.event_source_arn)
        name = esm.event_source_arn.split(":")[5]
        backend = backend_of(sqs_backends, esm.account_id, region)
        queue_obj = backend.queues.get(name)
        if queue_obj is None:
            return None
        fn = self._function_of(esm)
        if fn is None:
            return None
        spec = FunctionSpec.of(fn)
        limit = max(int(SETTINGS.sqs_concurrency), 1)
        scaling = (esm.scaling_config or {}).get("MaximumConcurrency")
        if scaling:
            limit = min(limit, int(scaling))
        return backend, queue_obj, name, region, spec, limit, int(esm.batch_size or 10)

    def _poll_sqs(self, esm: Any, gen: int) -> None:
        """Receive batches while there is room, each handed with a warm worker to a task.

        Messages are received only when a worker of the function is ready to take them (one is
        started first, outside the visibility clock): a cold start here (a second or two) must not
        eat a short visibility timeout, which AWS's much faster cold starts do not.
        """
        key = (gen, esm.uuid)
        if key in self._sqs_loops:
            return  # its loop receives and starts workers while it runs
        source = self._sqs_source(esm)
        if source is None:
            return
        backend, queue_obj, name, region, spec, limit, batch_size = source
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
                if worker is not None:
                    self._sqs_loops.add(key)
            args = (esm.account_id, esm.region, esm.uuid, region, name, queue_obj.queue_arn, messages, gen, spec, worker)
            if not self._submit(self._sqs_task, *args):
                if worker is not None:
                    self._checkin(worker, gen)
                self._sqs_done(key)
                return
            if worker is not None:
                return  # the loop takes the mapping from here

    def _receive_again(self, account: str, region: str, uuid: str, gen: int, busy: int) -> tuple[list, FunctionSpec, Worker] | None:
        """The loop's next batch: received exactly as the poller receives one (same mapping, same
        checks, a warm worker of the current version). ``busy``: the batches in flight. None when
        there is no room, nothing to receive or no warm worker (then workers are started, as the
        poller does)."""
        with self._cond:
            if self._paused or self._stopping.is_set() or gen != self._generation:
                return None
        esm = self._live_mapping(account, region, uuid, gen)
        source = self._sqs_source(esm)
        if source is None:
            return None
        backend, queue_obj, name, _, spec, limit, batch_size = source
        with self._cond:
            if busy >= limit or (gen, spec) in self._init_failed:
                return None
        worker = self._checkout(spec, gen)
        if worker is None:
            self._warm_up(spec, gen, _batches_available(queue_obj, batch_size, limit - busy))
            return None
        messages = backend.receive_message(name, batch_size, 0, queue_obj.visibility_timeout, message_attribute_names=["All"])
        if not messages:
            self._checkin(worker, gen)
            return None
        return messages, spec, worker

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
        except Stale:
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
        worker: Worker | None,
    ) -> None:
        """A batch of a function whose init fails (no warm worker): run it as ``invoke`` does.
        With a warm worker: the mapping's loop (``_sqs_loop``) starting with this batch."""
        key = (gen, uuid)
        try:
            if worker is None:
                self._sqs_batch(account, region, uuid, queue_region, name, queue_arn, messages, gen, spec, None)
            else:
                self._sqs_loop(account, region, uuid, queue_region, name, queue_arn, gen, (messages, spec, worker))
        except Stale:
            pass
        except Exception as exc:  # noqa: BLE001
            self._log_once(uuid, "SQS batch of mapping %s failed: %s", type(exc).__name__, exc_info=True)
        finally:
            with self._cond:
                self._sqs_loops.discard(key)
            self._sqs_done(key)

    def _sqs_loop(
        self, account: str, region: str, uuid: str, queue_region: str, name: str, queue_arn: str, gen: int,
        first: tuple[list, FunctionSpec, Worker],
    ) -> None:
        """All batches in flight of one mapping, in one thread: receive while there is room (up to
        the mapping's concurrency, each batch with a warm worker of its own), send each batch to
        its worker, wait on every worker's pipes at once, settle each batch as its worker answers
        (delete what succeeded, as ``_sqs_batch``). No thread per batch, so no hand-off between
        threads per invocation. Ends when nothing is in flight and nothing more can be received;
        the poller starts it again."""
        calls: dict[int, tuple[Any, list, Any]] = {}  # worker's stdout fd -> (call, messages, mapping)
        by_fd: dict[int, Any] = {}  # every fd being polled -> its call
        waiter = select.poll()
        nxt: tuple[list, FunctionSpec, Worker] | None = first
        receiving = True  # until the mapping is disabled or deleted: then only what is in flight
        try:
            while True:
                while receiving:  # start batches while there is room
                    try:
                        if nxt is None:
                            nxt = self._receive_again(account, region, uuid, gen, len(calls))
                            if nxt is None:
                                break
                        messages, spec, worker = nxt
                        nxt = None
                        try:
                            esm = self._live_mapping(account, region, uuid, gen)
                            records = [sqs_event_record(m, queue_arn, queue_region) for m in messages]
                            call = self._begin(spec, {"Records": records}, esm.function_arn, gen, worker)
                        except BaseException:
                            self._checkin(worker, gen)
                            raise
                    except Stale:
                        self._check(gen)  # a reset ends the loop; a disabled mapping only its receiving
                        receiving = False
                        break
                    calls[worker._out_fd] = (call, messages, esm)
                    for fd in worker.fds():
                        by_fd[fd] = call
                        waiter.register(fd, select.POLLIN)
                if not calls:
                    return
                timeout = min(c.worker.wake_by() for c, _, _ in calls.values()) - time.time()
                # at most 50 ms: the loop also receives what arrived meanwhile, when there is room
                ready = waiter.poll(max(min(timeout, 0.05), 0.0) * 1000)
                touched = {id(by_fd[fd]): by_fd[fd] for fd, _ in ready if fd in by_fd}
                now = time.time()
                for c, _, _ in calls.values():
                    if c.worker.wake_by() <= now:
                        touched[id(c)] = c
                for call in touched.values():
                    outcome = call.worker.progress()
                    if outcome is None:
                        for fd in [fd for fd, c in by_fd.items() if c is call and fd not in call.worker.fds()]:
                            _forget(waiter, by_fd, fd)
                        continue
                    for fd in [fd for fd, c in by_fd.items() if c is call]:
                        _forget(waiter, by_fd, fd)
                    _, messages, esm = calls.pop(call.worker._out_fd)
                    result = self._end(call, outcome)
                    self._check(gen)
                    self._settle(esm, messages, result, account, queue_region, name)
        finally:
            for call, _, _ in calls.values():  # a reset or a failure: what is in flight is dropped
                call.worker.end()
                self._discard(call.worker)

    def _sqs_batch(
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
        worker: Worker | None,
    ) -> None:
        """Invoke the function with one received batch; delete what succeeded."""
        try:
            esm = self._live_mapping(account, region, uuid, gen)
            records = [sqs_event_record(m, queue_arn, queue_region) for m in messages]
        except BaseException:
            if worker is not None:
                self._checkin(worker, gen)
            raise
        result = self.invoke(spec, {"Records": records}, esm.function_arn, gen, worker=worker)
        self._check(gen)
        self._settle(esm, messages, result, account, queue_region, name)

    @staticmethod
    def _settle(esm: Any, messages: list, result: Any, account: str, queue_region: str, name: str) -> None:
        """Delete what the invocation processed: the whole batch on success, all but the reported
        ``batchItemFailures`` with ReportBatchItemFailures, nothing on a function error (the
        messages come back after the visibility timeout)."""
        if not result.ok:
            return
        done = list(messages)
        if "ReportBatchItemFailures" in (esm.function_response_types or []):
            failed = parse_batch_item_failures(result.payload, [m.id for m in messages])
            if failed is None:
                return
            done = [m for i, m in enumerate(messages) if i not in set(failed)]
        from moto.sqs.models import sqs_backends

        from .sqs_thread_safety import delete_messages

        try:  # the whole batch in one walk of the queue (sqs_thread_safety.delete_messages)
            delete_messages(backend_of(sqs_backends, account, queue_region).get_queue(name), [m.receipt_handle for m in done])
        except Exception:  # noqa: BLE001 - the queue, or a message, was deleted or purged meanwhile
            log.debug("could not delete the batch's messages from %s", name)


def _forget(waiter: Any, by_fd: dict[int, Any], fd: int) -> None:
    by_fd.pop(fd, None)
    try:
        waiter.unregister(fd)
    except (KeyError, ValueError, OSError):
        pass


def _batches_available(queue_obj: Any, batch_size: int, cap: int) -> int:
    """How many batches a receive could hand out now, counted up to ``cap`` (FIFO: one per free
    message group). Stops as soon as ``cap`` is reached: the queue may hold many thousands."""
    from .sqs_fifo import busy_groups, deliverable

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

