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
