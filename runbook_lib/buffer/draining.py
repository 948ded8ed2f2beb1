"""How far the buffer is from drained: one :class:`BufferStatus` sample (the queues' counts, the
mappings' states, the forwarder's lag behind the stream) and the rule that says "drained"."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..times import iso, utcnow
from .feedback import aws_failure
from .replay import mapping
from .stacks import BufferStack

log = logging.getLogger(__name__)

#: The forwarder keeps up with the stream while the newest one-minute datapoint of its Lambda
#: ``IteratorAge`` (the age of a batch's last record when the batch was sent) is at most this many
#: seconds. A healthy stream mapping reads a second or so behind (Lambda polls each shard about
#: four times a second, a cold start takes a few seconds, and ``ApproximateCreationDateTime`` is
#: rounded down to the second); 30 s is well above that, yet far below a real backlog (retried
#: batches back off, a TRIM_HORIZON start reads hours behind).
LAG_TOLERANCE_SECONDS = 30.0
#: Lambda sends its metrics to CloudWatch in one-minute intervals: the finest period there is.
LAG_PERIOD_SECONDS = 60

_COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class BufferStatus:
    """One sample of the buffer's state."""

    depth: int  # ApproximateNumberOfMessages
    in_flight: int  # ApproximateNumberOfMessagesNotVisible
    delayed: int  # ApproximateNumberOfMessagesDelayed
    dlq_depth: int  # messages in the dead-letter queue (visible + in flight)
    stream_failures: int  # stream records the forwarder gave up on: changes NOT buffered
    oldest_age_seconds: float | None  # CloudWatch ApproximateAgeOfOldestMessage, None if unknown
    stream_mapping_state: str
    queue_mapping_state: str
    sampled_at: datetime
    #: the forwarder's newest IteratorAge Maximum, in seconds; None: no invocation in the window
    stream_lag_seconds: float | None = None
    #: failed forwarder invocations (Lambda ``Errors``) in the newest datapoint; None: no datapoint
    forwarder_errors: int | None = None

    @property
    def forwarder_behind(self) -> bool:
        """The forwarder has not caught up with the stream: changes may wait there, not in the queue.

        Behind when its newest ``IteratorAge`` exceeds :data:`LAG_TOLERANCE_SECONDS` or its newest
        ``Errors`` datapoint counts a failed invocation (a failed stream batch is retried, its
        changes not yet in the queue). No datapoint = no invocation in the window = not behind.
        """
        lagging = self.stream_lag_seconds is not None and self.stream_lag_seconds > LAG_TOLERANCE_SECONDS
        return lagging or bool(self.forwarder_errors)

    @property
    def queue_empty(self) -> bool:
        return self.depth == 0 and self.in_flight == 0 and self.delayed == 0

    @property
    def drained(self) -> bool:
        """Nothing waits in the queue AND nothing waits in the stream (:attr:`forwarder_behind`).

        The stream half reads Lambda's one-minute metrics, so on AWS it can say "drained" up to a
        minute (plus CloudWatch's publication delay) late; a bad minute with no invocation after
        it keeps it "behind" until that datapoint leaves the window: late, never early.
        """
        return self.queue_empty and not self.forwarder_behind

    @property
    def replay_enabled(self) -> bool:
        return self.queue_mapping_state == "Enabled"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sampled_at"] = iso(self.sampled_at)
        data["drained"] = self.drained
        data["forwarder_behind"] = self.forwarder_behind
        return data


def queue_counts(sqs, url: str) -> dict[str, int]:
    """The queue's approximate counts: visible, in flight (not visible), delayed."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_COUNT_ATTRIBUTES))["Attributes"]
    return {k: int(v) for k, v in attrs.items()}


def _oldest_age(target: AwsTarget, queue_name: str) -> float | None:
    now = utcnow()
    try:
        points = target.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name}],
            StartTime=now - timedelta(minutes=15),
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
    except ClientError as exc:
        log.debug("no ApproximateAgeOfOldestMessage for %s: %s", queue_name, error_code(exc))
        return None
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"])


def _newest_datapoint(target: AwsTarget, function_name: str, metric: str, stat: str, window_seconds: float) -> float | None:
    now = utcnow()
    try:
        points = target.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=[{"Name": "FunctionName", "Value": function_name}],
            StartTime=now - timedelta(seconds=window_seconds),
            EndTime=now + timedelta(seconds=LAG_PERIOD_SECONDS),
            Period=LAG_PERIOD_SECONDS,
            Statistics=[stat],
        )["Datapoints"]
    except ClientError as exc:
        raise aws_failure(
            exc,
            f"reading the {metric} metric of {function_name}",
            "the operator needs cloudwatch:GetMetricStatistics to tell whether the forwarder keeps up with the stream",
        ) from exc
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])[stat])


def forwarder_lag(target: AwsTarget, stack: BufferStack, *, window_seconds: float = 300) -> float | None:
    """How far the forwarder is behind the source's stream, in seconds; None if it was not invoked.

    The Maximum of the forwarder's Lambda ``IteratorAge`` (the age of the last record of a batch
    when the stream mapping sent it to the function) in the NEWEST one-minute datapoint of the last
    ``window_seconds``: "Types of metrics for Lambda functions", AWS Lambda Developer Guide,
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html. Lambda sends
    metrics in one-minute intervals, so this is up to a minute (plus CloudWatch's delay) old.
    """
    ms = _newest_datapoint(target, stack.forwarder_function_name, "IteratorAge", "Maximum", window_seconds)
    return None if ms is None else ms / 1000.0


def forwarder_errors(target: AwsTarget, stack: BufferStack, *, window_seconds: float = 300) -> int | None:
    """Failed forwarder invocations (Lambda ``Errors``, Sum) in the newest one-minute datapoint."""
    n = _newest_datapoint(target, stack.forwarder_function_name, "Errors", "Sum", window_seconds)
    return None if n is None else int(n)


def status(target: AwsTarget, stack: BufferStack) -> BufferStatus:
    """Depth, in flight, DLQ, stream failures, age of the oldest message, both mappings' states,
    and whether the forwarder keeps up with the stream (:func:`forwarder_lag`)."""
    sqs = target.client("sqs")
    try:
        main = queue_counts(sqs, stack.queue_url)
        dlq = queue_counts(sqs, stack.dlq_url)
        failures = queue_counts(sqs, stack.stream_failure_queue_url) if stack.stream_failure_queue_url else {}
    except ClientError as exc:
        raise aws_failure(exc, f"reading the queues of {stack.stack_name}", "is the buffer deployed?") from exc
    stream_state = mapping(target, stack.stream_mapping_uuid).get("State", "")
    queue_state = mapping(target, stack.queue_mapping_uuid).get("State", "")
    return BufferStatus(
        depth=main.get("ApproximateNumberOfMessages", 0),
        in_flight=main.get("ApproximateNumberOfMessagesNotVisible", 0),
        delayed=main.get("ApproximateNumberOfMessagesDelayed", 0),
        dlq_depth=dlq.get("ApproximateNumberOfMessages", 0) + dlq.get("ApproximateNumberOfMessagesNotVisible", 0),
        stream_failures=failures.get("ApproximateNumberOfMessages", 0)
        + failures.get("ApproximateNumberOfMessagesNotVisible", 0),
        oldest_age_seconds=_oldest_age(target, stack.queue_url.rsplit("/", 1)[-1]),
        stream_mapping_state=stream_state,
        queue_mapping_state=queue_state,
        sampled_at=utcnow(),
        stream_lag_seconds=forwarder_lag(target, stack),
        forwarder_errors=forwarder_errors(target, stack),
    )
