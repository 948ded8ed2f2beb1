"""The event rule's dead-letter queue: restore events EventBridge could not deliver to the
enable-replay workflow (counts and event metadata only, never item data), read by step 03."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from . import buffer, times
from .aws.clients import AwsTarget
from .buffer.draining import queue_counts
from .buffer.feedback import aws_failure

#: the restore call's own time is taken after the API answers; its event may start the workflow first
EVENT_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class RuleDeadLetter:
    """One event EventBridge could not deliver to the workflow (attributes as EventBridge sets them)."""

    error_code: str
    error_message: str
    retry_attempts: str
    exhausted_retry_condition: str
    target_arn: str
    event_name: str
    target_table: str
    event_time: str


@dataclass(frozen=True)
class RuleDlqSummary:
    """The rule target's DLQ: its depth and a sample of its messages (read, never deleted)."""

    queue_url: str
    depth: int
    messages: tuple[RuleDeadLetter, ...] = field(default_factory=tuple)

    def for_table(self, target_table: str, *, since: datetime | None = None) -> list[RuleDeadLetter]:
        """The messages of restores into ``target_table`` (called no earlier than ``since``, if given)."""
        return [m for m in self.messages if m.target_table == target_table and _not_before(m.event_time, since)]

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.rows())

    def rows(self) -> list[dict[str, str]]:
        return [
            {
                "event": m.event_name,
                "target table": m.target_table,
                "event time": m.event_time,
                "error": m.error_code,
                "message": m.error_message,
                "retries": m.retry_attempts,
                "exhausted": m.exhausted_retry_condition,
            }
            for m in self.messages
        ]


def _not_before(event_time: str, since: datetime | None) -> bool:
    if since is None:
        return True
    try:
        return times.parse_iso(event_time) >= since - EVENT_SLACK
    except ValueError:
        return True  # an unreadable time: count it rather than miss it


def rule_dlq_summary(target: AwsTarget, stack: buffer.BufferStack, *, sample: int = 10) -> RuleDlqSummary | None:
    """What the restore rule could not deliver to its workflow; None for a stack without a rule.

    Messages are read with ``VisibilityTimeout=0`` so that they stay in the queue for the operator
    (the queue has no redrive policy, so reading them moves nothing). The bodies are CloudTrail
    events of table-level calls: table names and times, never item data.
    """
    url = stack.rule_dlq_url
    if not url:
        return None
    sqs = target.client("sqs")
    try:
        counts = queue_counts(sqs, url)
        received = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(sample, 10)),
            VisibilityTimeout=0,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
    except ClientError as exc:
        raise aws_failure(exc, f"reading the rule's dead-letter queue {url}", "check permissions (sqs:ReceiveMessage)") from exc
    messages = []
    for message in received:
        attributes = {k: v.get("StringValue", "") for k, v in (message.get("MessageAttributes") or {}).items()}
        try:
            event = json.loads(message.get("Body") or "{}")
        except ValueError:
            event = {}
        detail = event.get("detail", {}) if isinstance(event, dict) else {}
        params = detail.get("requestParameters") or {}
        messages.append(
            RuleDeadLetter(
                error_code=attributes.get("ERROR_CODE", ""),
                error_message=attributes.get("ERROR_MESSAGE", ""),
                retry_attempts=attributes.get("RETRY_ATTEMPTS", ""),
                exhausted_retry_condition=attributes.get("EXHAUSTED_RETRY_CONDITION", ""),
                target_arn=attributes.get("TARGET_ARN", ""),
                event_name=str(detail.get("eventName", "")),
                target_table=str(params.get("targetTableName", "")),
                event_time=str(detail.get("eventTime") or event.get("time", "")),
            )
        )
    depth = counts.get("ApproximateNumberOfMessages", 0) + counts.get("ApproximateNumberOfMessagesNotVisible", 0)
    return RuleDlqSummary(url, max(depth, len(messages)), tuple(messages))
