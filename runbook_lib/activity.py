"""What the buffer's functions did, read back from their logs: retries, re-reads, failures, DLQ moves.

The handlers (``runbook_lib.cdc``) write one JSON object per log line with counts, ids and key
digests only (never item data). This module reads those lines from CloudWatch Logs
(``FilterLogEvents``, every page) and adds them up, so that a drill can show what the pipeline did
about an injected fault, and an operator can see the same for a real run:

- ``forwarder``: how many times each event was logged (``forwarded``, ``entry_failed``,
  ``send_failed``, ``record_unreadable``) and the sums of the numeric fields of ``forwarded``;
- ``applier``: the same for the applier (``applied``, ``message_failed``, ``batch_failed``), with
  the sums of every numeric field of ``applied`` (retries, re-reads, failures, ...);
- ``invocation_errors``: invocations that failed or timed out, counted once per ``RequestId`` in
  Lambda's own error and ``REPORT`` lines (the runtime writes them, not our code);
- ``dlq_depth`` and ``stream_failures`` from the queues.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from .aws.clients import AwsTarget
from .aws.codes import is_not_found

log = logging.getLogger(__name__)

#: log events whose numeric fields are summed
_SUMMED = {"forwarded", "applied"}
#: substrings of runtime lines that mean an invocation did not complete
_RUNTIME_FAILURES = ("Task timed out", "Runtime.ExitError", "Runtime exited", "Status: error")
_REQUEST_ID = re.compile(r"RequestId: (\S+)")


def _log_lines(logs: Any, group: str, start_ms: int | None) -> list[str]:
    kwargs: dict[str, Any] = {"logGroupName": group}
    if start_ms is not None:
        kwargs["startTime"] = start_ms
    lines: list[str] = []
    try:
        paginator = logs.get_paginator("filter_log_events")
        for page in paginator.paginate(**kwargs):
            lines.extend(event.get("message", "") for event in page.get("events", []))
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    return lines


def summarize_lines(lines: list[str]) -> dict[str, Any]:
    """Event counts and field sums of one function's JSON log lines (other lines counted apart)."""
    events: Counter = Counter()
    sums: Counter = Counter()
    failed_requests: set[str] = set()
    anonymous_failures = 0
    for line in lines:
        text = line.strip()
        start = text.find("{")
        record = None
        if start >= 0:
            try:
                record = json.loads(text[start:])
            except ValueError:
                record = None
        if not isinstance(record, dict) or "event" not in record:
            if any(marker in text for marker in _RUNTIME_FAILURES):
                # Lambda writes more than one line for one failed invocation (the error, the REPORT)
                found = _REQUEST_ID.search(text)
                if found:
                    failed_requests.add(found.group(1))
                else:
                    anonymous_failures += 1
            continue
        name = str(record["event"])
        events[name] += 1
        if name in _SUMMED:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    sums[key] += value
    return {"events": dict(events), "totals": dict(sums), "invocation_errors": len(failed_requests) + anonymous_failures}


def pipeline_activity(target: AwsTarget, stack: Any, *, since_ms: int | None = None) -> dict[str, Any]:
    """What the forwarder and applier of ``stack`` (a ``buffer.BufferStack``) logged, added up."""
    from . import buffer

    logs = target.client("logs")
    out: dict[str, Any] = {}
    for role, name in (("forwarder", stack.forwarder_function_name), ("applier", stack.applier_function_name)):
        out[role] = summarize_lines(_log_lines(logs, f"/aws/lambda/{name}", since_ms))
    status = buffer.status(target, stack)
    out["dlq_depth"] = status.dlq_depth
    out["stream_failures"] = status.stream_failures
    return out
