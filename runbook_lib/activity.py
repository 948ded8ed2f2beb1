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

Every run records it (:func:`record`, into the run state's ``pipeline``) once the buffer has
drained: step 03 after its drain, step 04 again after its own drain wait, before the report is
written, whose lead ("N writes arrived during the restore; N applied, 0 lost") is built from it.

Cost on AWS: ``FilterLogEvents`` returns at most 10,000 events or 1 MB per call, and may return an
empty page with a ``nextToken`` while more events remain ("FilterLogEvents", CloudWatch Logs API
Reference, https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html);
the paginator follows ``nextToken`` to the end. Each invocation writes about four lines (START,
our JSON line, END, REPORT), one invocation per batch: a run of 1,000,000 writes in batches of 100
is about 10,000 invocations per function, so 40,000 lines, 4 or more calls per log group (each
from the start of this run's deploy: a stack updated in place keeps its groups and their older lines), read twice per run
(steps 03 and 04), and every line is held in memory while it is added up (a few MB). The caller
needs ``logs:FilterLogEvents`` on the two log groups (``infra/operator-policy.json``,
``ReadBufferLogs``); refused, :func:`record` keeps the reason and the run goes on.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from .aws.clients import AwsTarget
from .aws.codes import error_code, error_message, is_access_denied, is_not_found

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


def logged_activity(target: AwsTarget, stack: Any, *, since_ms: int | None = None) -> dict[str, Any]:
    """What the forwarder and applier of ``stack`` logged since ``since_ms`` (epoch milliseconds),
    added up per function. Raises the ``ClientError`` of a refused ``FilterLogEvents``."""
    logs = target.client("logs")
    return {
        role: summarize_lines(_log_lines(logs, f"/aws/lambda/{name}", since_ms))
        for role, name in (("forwarder", stack.forwarder_function_name), ("applier", stack.applier_function_name))
    }


def pipeline_activity(target: AwsTarget, stack: Any, *, since_ms: int | None = None) -> dict[str, Any]:
    """What the forwarder and applier of ``stack`` (a ``buffer.BufferStack``) logged, added up, and
    the queues' DLQ depth and stream failures."""
    from . import buffer

    out = logged_activity(target, stack, since_ms=since_ms)
    status = buffer.status(target, stack)
    out["dlq_depth"] = status.dlq_depth
    out["stream_failures"] = status.stream_failures
    return out


#: how much earlier than the deploy's start the logs are read: clocks of the caller and of Lambda differ
_CLOCK_MARGIN_MS = 60_000


def _since_ms(state: Any) -> int | None:
    """Epoch milliseconds from which this run's lines can be in the log groups: the start of the
    deploy (else the capture start, else the run's start), less a margin for clock skew. A stack
    updated in place keeps its log groups, which then also hold an earlier run's lines."""
    stack = state.stack
    when = (stack.deploy_started or stack.capture_start if stack is not None else None) or state.started
    return None if when is None else int(when.timestamp() * 1000) - _CLOCK_MARGIN_MS


def record(target: AwsTarget, run_dir: Any, stack: Any) -> Any:
    """Read :func:`pipeline_activity` of ``stack`` into the run state of ``run_dir`` (``pipeline``)
    and return the ``run_state.PipelineActivity`` recorded. Only this run's log lines count: from
    the start of its deploy on (``startTime``, which also spares ``FilterLogEvents`` the group's
    older history).

    Reading the logs refused (AccessDenied) does not fail the step: the reason is recorded with its
    AWS error code and the remedy, and the report says the accounting could not be read and why.
    Any other refusal (the queues) is raised as it is.
    """
    from . import buffer, run_state, times

    since_ms = _since_ms(run_state.load(run_dir))
    try:
        counts = logged_activity(target, stack, since_ms=since_ms)
    except ClientError as exc:
        if not is_access_denied(exc):
            raise
        log.warning("the buffer's logs could not be read: %s", error_code(exc))
        activity = run_state.PipelineActivity(
            times.utcnow(), {},
            f"{error_code(exc)}: {error_message(exc)} (grant logs:FilterLogEvents on the log groups "
            f"/aws/lambda/{stack.stack_name}-forwarder and -applier: infra/operator-policy.json, ReadBufferLogs)",
        )  # fmt: skip
    else:
        status = buffer.status(target, stack)
        counts.update(dlq_depth=status.dlq_depth, stream_failures=status.stream_failures)
        activity = run_state.PipelineActivity(times.utcnow(), counts)
    with run_state.edit(run_dir) as state:
        state.pipeline = activity
    return activity
