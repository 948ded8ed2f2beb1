"""The dead-letter queue: moving its messages back to the buffer queue once the cause is gone
(``StartMessageMoveTask``), and following the move to its end."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from .. import progress as progress_bar
from ..aws.clients import AwsTarget
from ..aws.waiting import Deadline, interval, poll
from ..errors import BufferError
from .draining import queue_counts
from .feedback import Progress, aws_failure, say
from .stacks import BufferStack


@dataclass(frozen=True)
class RedriveResult:
    """What :func:`redrive_dlq` did (or, without ``execute``, would do)."""

    executed: bool
    status: str  # "planned", "empty", or the task's final status (COMPLETED, CANCELLED, FAILED)
    to_move: int
    moved: int
    seconds: float = 0.0
    task_handle: str | None = None
    failure_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("planned", "empty", "COMPLETED")

    def rows(self) -> list[dict[str, str]]:
        return [{"field": k, "value": "" if v is None else str(v)} for k, v in asdict(self).items()]


def dlq_messages(sqs, stack: BufferStack) -> int:
    """Messages in the DLQ, visible and in flight."""
    counts = queue_counts(sqs, stack.dlq_url)
    return counts.get("ApproximateNumberOfMessages", 0) + counts.get("ApproximateNumberOfMessagesNotVisible", 0)


def redrive_dlq(
    target: AwsTarget,
    stack: BufferStack,
    *,
    execute: bool = False,
    max_per_second: int | None = None,
    wait_for_dlq: float = 0.0,
    timeout: float = 1800.0,
    progress: Progress | None = None,
) -> RedriveResult:
    """Move the dead-letter queue's messages back to the buffer queue, and wait until they are moved.

    Run it once the cause is gone (the applier's log group says why each message failed, by hashed
    key). Without ``execute`` it only counts the DLQ. With it: ``StartMessageMoveTask`` from the DLQ
    to the buffer queue (``max_per_second``: 1 to 500; default: SQS chooses), or follows the task
    already running, reporting progress from ``ListMessageMoveTasks`` until it ends. The moved
    messages are new messages sent now, so the applier recognises them as late and applies each
    key's current source item (see ``runbook_lib/cdc/applier.py``); replay must be on for them to be
    applied. ``wait_for_dlq``: if the DLQ is empty, wait up to that many seconds for failing
    changes to land in it first (a change reaches the DLQ only when it is received once more after
    ``MaxReceiveCount`` failed receives, a visibility timeout after the last). Needs ``sqs:StartMessageMoveTask``, ``sqs:ListMessageMoveTasks``,
    ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and ``sqs:GetQueueAttributes`` on the DLQ and
    ``sqs:SendMessage`` on the buffer queue. Raises :class:`BufferError` if the task fails or does
    not end within ``timeout`` (it keeps running: cancel it with ``CancelMessageMoveTask``).
    """
    sqs = target.client("sqs")
    try:
        waiting = dlq_messages(sqs, stack)
    except ClientError as exc:
        raise aws_failure(exc, f"reading the DLQ of {stack.stack_name}", "is the buffer deployed?") from exc
    if not execute:
        say(progress, f"DLQ holds {waiting} message(s); run with execute=True to move them back to the buffer")
        return RedriveResult(False, "planned", waiting, 0)
    clock = Deadline(timeout)
    if waiting == 0 and wait_for_dlq > 0:
        say(progress, f"DLQ is empty: waiting up to {wait_for_dlq:.0f} s for failing changes to reach it")
        arrival = Deadline(wait_for_dlq)
        bar = progress_bar.wait("failing changes to reach the DLQ", timeout=wait_for_dlq)
        while waiting == 0 and not arrival.passed():
            time.sleep(1.0 if target.is_sandbox else 5.0)
            waiting = dlq_messages(sqs, stack)
            bar.update(status=f"DLQ holds {waiting}")
        bar.close(ok=True)
    try:
        tasks = sqs.list_message_move_tasks(SourceArn=stack.dlq_arn, MaxResults=1).get("Results", [])
        running = tasks[0] if tasks and tasks[0].get("Status") == "RUNNING" else None
        if running is not None:
            handle = running.get("TaskHandle")
            say(progress, "a redrive of this DLQ is already running: following it")
        elif waiting == 0:
            say(progress, "DLQ is empty: nothing to move")
            return RedriveResult(True, "empty", 0, 0)
        else:
            kwargs: dict[str, Any] = {"SourceArn": stack.dlq_arn, "DestinationArn": stack.queue_arn}
            if max_per_second is not None:
                kwargs["MaxNumberOfMessagesPerSecond"] = int(max_per_second)
            handle = sqs.start_message_move_task(**kwargs)["TaskHandle"]
            say(progress, f"redrive started: {waiting} message(s) from the DLQ back to the buffer queue")
    except ClientError as exc:
        raise aws_failure(
            exc, f"starting the redrive of {stack.dlq_arn}",
            "check sqs:StartMessageMoveTask and sqs:ListMessageMoveTasks on the DLQ, then run it again",
        ) from exc
    return _follow(target, stack, handle, clock, progress)


def _follow(target: AwsTarget, stack: BufferStack, handle: str | None, clock: Deadline, progress: Progress | None) -> RedriveResult:
    """Follow the DLQ's move task until it ends, within what is left of ``clock``."""
    sqs = target.client("sqs")
    seen = {"moved": -1, "to_move": 0}
    bar = progress_bar.wait("the DLQ redrive", timeout=clock.remaining(), unit="messages moved")

    def ended() -> RedriveResult | None:
        try:
            (task,) = sqs.list_message_move_tasks(SourceArn=stack.dlq_arn, MaxResults=1)["Results"]
        except ClientError as exc:
            raise aws_failure(exc, f"following the redrive of {stack.dlq_arn}", "run it again") from exc
        except ValueError as exc:
            raise BufferError(f"no move task is listed for {stack.dlq_arn}: run the redrive again", step="buffer") from exc
        moved, to_move = int(task.get("ApproximateNumberOfMessagesMoved", 0)), int(task.get("ApproximateNumberOfMessagesToMove") or 0)
        if moved != seen["moved"]:
            say(progress, f"redrive {task.get('Status')}: {moved} of {to_move} moved")
        seen.update(moved=moved, to_move=to_move)
        status_now = task.get("Status", "")
        bar.update(moved, total=to_move or None, status=status_now)
        if status_now in ("RUNNING", "CANCELLING"):
            return None
        bar.close(ok=status_now == "COMPLETED")
        if status_now == "FAILED":
            raise BufferError(
                f"the redrive of {stack.dlq_arn} failed ({task.get('FailureReason')}) after moving {moved} of "
                f"{to_move}: fix the cause and run buffer.redrive_dlq again", step="buffer")
        return RedriveResult(True, status_now, to_move, moved, clock.elapsed(), handle, task.get("FailureReason"))

    def still_running() -> BufferError:
        bar.close(ok=False)
        return BufferError(
            f"the redrive of {stack.dlq_arn} is still running after {clock.timeout:.0f} s ({seen['moved']} of "
            f"{seen['to_move']} moved): follow it with buffer.redrive_dlq again, or stop it with "
            f"CancelMessageMoveTask (TaskHandle {handle})",
            step="buffer")

    return poll(ended, timeout=clock.remaining(), interval=interval(target, 5.0), on_timeout=still_running)
