"""``activity.record``: the buffer's accounting read into the run state after the drain; a refused
log read is recorded with its reason and never fails the step. Calls are stubbed with botocore's
Stubber (a real client, no network)."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
from botocore.stub import Stubber

from runbook_lib import activity, run_state


class _Target:
    def __init__(self, logs):
        self.logs = logs

    def client(self, service: str):
        assert service == "logs"
        return self.logs


def _stack():
    return SimpleNamespace(stack_name="pitr-orders-x", forwarder_function_name="pitr-orders-x-forwarder",
                           applier_function_name="pitr-orders-x-applier")


def test_a_refused_log_read_is_recorded_with_its_code_and_the_remedy_and_the_step_goes_on(tmp_path):
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(logs) as stub:
        stub.add_client_error("filter_log_events", "AccessDeniedException", "User is not authorized to perform: "
                              "logs:FilterLogEvents", 400, expected_params={"logGroupName": "/aws/lambda/pitr-orders-x-forwarder"})
        recorded = activity.record(_Target(logs), tmp_path, _stack())
    assert recorded.counts == {} and recorded.error.startswith("AccessDeniedException: User is not authorized")
    assert "/aws/lambda/pitr-orders-x-forwarder" in recorded.error and "ReadBufferLogs" in recorded.error
    state = run_state.load(tmp_path)
    assert state.pipeline == recorded and state.view()["pipeline_error"] == recorded.error


def test_log_lines_follow_next_token_through_empty_pages():
    """FilterLogEvents may return an empty page with a nextToken while more events remain
    ("FilterLogEvents", CloudWatch Logs API Reference,
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html)."""
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    group = {"logGroupName": "/aws/lambda/f"}
    with Stubber(logs) as stub:
        stub.add_response("filter_log_events", {"events": [{"message": '{"event": "applied", "puts": 2}'}],
                                                "nextToken": "a"}, group)
        stub.add_response("filter_log_events", {"events": [], "nextToken": "b"}, {**group, "nextToken": "a"})
        stub.add_response("filter_log_events", {"events": [{"message": '{"event": "applied", "puts": 3}'}]},
                          {**group, "nextToken": "b"})
        lines = activity._log_lines(logs, "/aws/lambda/f", None)
    assert activity.summarize_lines(lines)["totals"] == {"puts": 5}


def test_only_this_runs_log_lines_are_read_from_the_start_of_its_deploy(tmp_path, monkeypatch):
    """A stack updated in place keeps its log groups, with an earlier run's lines: the accounting
    reads from the start of this run's deploy (less a minute for clock skew), with ``startTime``,
    which FilterLogEvents' reference also advises against empty pages."""
    from runbook_lib import buffer, times

    deployed = times.parse_iso("2026-11-30T10:00:00Z")
    with run_state.edit(tmp_path) as state:
        state.stack = run_state.Stack(description={"name": "pitr-orders-x"}, capture_start=times.parse_iso("2026-11-30T10:03:00Z"),
                                      deploy_started=deployed)
    since = int(deployed.timestamp() * 1000) - 60_000
    monkeypatch.setattr(buffer, "status", lambda target, stack: SimpleNamespace(dlq_depth=0, stream_failures=0))
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(logs) as stub:
        for role in ("forwarder", "applier"):
            stub.add_response("filter_log_events", {"events": [{"message": '{"event": "applied", "puts": 1}'}]},
                              {"logGroupName": f"/aws/lambda/pitr-orders-x-{role}", "startTime": since})
        recorded = activity.record(_Target(logs), tmp_path, _stack())
    assert recorded.error is None and recorded.counts["applier"]["totals"] == {"puts": 1}
    assert recorded.counts["dlq_depth"] == 0


def test_a_refused_queue_read_is_not_blamed_on_the_logs(tmp_path, monkeypatch):
    """Only a refused FilterLogEvents is recorded as 'the logs could not be read'; a refused SQS read
    (the DLQ depth) is the operator's to see as it is."""
    import pytest
    from botocore.exceptions import ClientError

    from runbook_lib import buffer

    def refused(target, stack):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "sqs:GetQueueAttributes"}}, "GetQueueAttributes")

    monkeypatch.setattr(buffer, "status", refused)
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(logs) as stub:
        for role in ("forwarder", "applier"):
            stub.add_response("filter_log_events", {"events": []}, {"logGroupName": f"/aws/lambda/pitr-orders-x-{role}"})
        with pytest.raises(ClientError, match="GetQueueAttributes"):
            activity.record(_Target(logs), tmp_path, _stack())
