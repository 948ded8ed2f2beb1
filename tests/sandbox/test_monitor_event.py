"""Step 03 in event mode when the restore's CloudTrail event never starts the workflow.

CloudTrail delivers events to EventBridge on a best-effort basis: "in some rare cases an event
might not be delivered" ("Event delivery from AWS services", Amazon EventBridge User Guide,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html).
An event that arrives but cannot start the target goes to the target's dead-letter queue ("Event
retry policy and using dead-letter queues",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html). Either way the monitor
must notice, turn replay on itself with ``execute`` and say so in the run state.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from runbook_lib import buffer, monitor, restore
from runbook_lib import run_state
from runbook_lib import times
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.sandbox.traffic import create_demo_table

REGION = "us-east-1"
SOURCE, TARGET = "orders", "orders-restored"


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region=REGION, endpoint_url=endpoint)


@pytest.fixture
def stack(target, aws, sandbox) -> buffer.BufferStack:
    """A logging trail, a source with PITR and a stream, the buffer in event mode."""
    sandbox.settings.restore_seconds = 1.0
    aws("s3").create_bucket(Bucket="trail-bucket")
    aws("cloudtrail").create_trail(Name="management", S3BucketName="trail-bucket", IsMultiRegionTrail=True)
    aws("cloudtrail").start_logging(Name="management")
    create_demo_table(aws("dynamodb"), SOURCE)
    p = buffer.plan(target, source_table=SOURCE, target_table=TARGET, automation="event", parameters={"RestorePollSeconds": 1})
    return buffer.deploy(target, p)


def _fault(endpoint: str, name: str) -> dict:
    body = json.dumps({"enable": {name: {}}}).encode()
    request = urllib.request.Request(endpoint + "/_sandbox/faults", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _restore_until_active(target, aws, run_dir):
    with run_state.edit(run_dir) as state:
        state.timings.restore_called = times.utcnow()
    aws("dynamodb").restore_table_to_point_in_time(SourceTableName=SOURCE, TargetTableName=TARGET, UseLatestRestorableTime=True)
    elapsed = restore.wait_active(target, TARGET, timeout=30, interval=0.2, progress=lambda p: None)
    s = restore.record_active(run_dir, elapsed)
    return s.timings.restore_called, s.timings.active


def _mapping_state(aws, stack) -> str:
    return aws("lambda").get_event_source_mapping(UUID=stack.queue_mapping_uuid)["State"]


def test_the_workflow_turns_replay_on_when_the_event_arrives(target, aws, stack, tmp_path, monkeypatch):
    from runbook_lib import progress

    monkeypatch.setenv(progress.PROGRESS_ENV, str(tmp_path / "progress.jsonl"))  # as under the runner
    since, active = _restore_until_active(target, aws, tmp_path)

    report = monitor.turn_on_replay(
        target, stack, automation="event", execute=True, run_dir=tmp_path, since=since, active_at=active,
        event_grace_seconds=30, timeout=60, interval=0.2,
    )  # fmt: skip

    assert (report.status, report.fallback) == ("SUCCEEDED", None) and report.execution_arn
    assert _mapping_state(aws, stack) == "Enabled"
    state = run_state.load(tmp_path)
    assert state.fallbacks == [] and state.workflow.execution_arn == report.execution_arn
    # the waits for the workflow to start and to finish are progress bars like the other waits
    waits = [json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    ends = {w["what"]: w["ok"] for w in waits if w["event"] == "end"}
    assert ends.get("the restore event to start the workflow") is True, waits
    assert ends.get("the workflow to turn replay on") is True, waits


def test_a_lost_event_makes_the_monitor_turn_replay_on_and_record_why(target, aws, stack, endpoint, tmp_path):
    # GIVEN a restore whose CloudTrail event is never delivered
    _fault(endpoint, "event-lost")
    since, active = _restore_until_active(target, aws, tmp_path)
    assert aws("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"] == []
    assert _mapping_state(aws, stack) == "Disabled"

    # WHEN step 03 waits for the workflow with execute
    said: list[str] = []
    report = monitor.turn_on_replay(
        target, stack, automation="event", execute=True, run_dir=tmp_path, since=since, active_at=active,
        event_grace_seconds=1.5, interval=0.2, progress=said.append,
    )  # fmt: skip

    # THEN it waited out the grace after ACTIVE, turned replay on itself and says so
    assert (times.utcnow() - active).total_seconds() >= 1.5
    assert report.status == "NOT_STARTED" and report.execution_arn is None and report.replay_enabled
    assert "no execution of the enable-replay workflow started within 1.5 s" in report.fallback
    assert "best-effort" in report.fallback and "turned on by this step" in report.message
    assert any("turning replay on here" in m for m in said)
    assert _mapping_state(aws, stack) == "Enabled"
    # and the run state records that it did and why
    state = run_state.load(tmp_path)
    (fallback,) = state.fallbacks
    assert fallback.step == "03_monitor" and fallback.what == monitor.FALLBACK_ACTION
    assert fallback.why == report.fallback and fallback.event_grace_seconds == 1.5
    assert state.workflow == run_state.Workflow(execution_arn=None, status="NOT_STARTED", fallback=report.fallback)
    assert state.timings.replay_enabled is not None


def test_without_execute_the_monitor_says_what_it_would_do_and_changes_nothing(target, aws, stack, endpoint, tmp_path):
    _fault(endpoint, "event-lost")
    since, active = _restore_until_active(target, aws, tmp_path)

    waiting = monitor.turn_on_replay(
        target, stack, automation="event", execute=False, run_dir=tmp_path, since=since, active_at=active, event_grace_seconds=600
    )
    assert waiting.fallback is None and "waits until" in waiting.message

    would = monitor.turn_on_replay(
        target, stack, automation="event", execute=False, run_dir=tmp_path, since=since, active_at=active, event_grace_seconds=0
    )
    assert "no execution of the enable-replay workflow started" in would.fallback
    assert "would turn replay on itself" in would.message and "nothing changed" in would.message
    assert _mapping_state(aws, stack) == "Disabled"
    state = run_state.load(tmp_path)
    assert state.fallbacks == [] and state.workflow is None and state.timings.replay_enabled is None


def test_an_event_in_the_rule_dlq_turns_replay_on_without_waiting_out_the_grace(target, aws, stack, tmp_path):
    # GIVEN the workflow is gone, so EventBridge dead-letters the restore's event
    aws("stepfunctions").delete_state_machine(stateMachineArn=stack.state_machine_arn)
    since, active = _restore_until_active(target, aws, tmp_path)

    # THEN the monitor surfaces it
    dead = monitor.rule_dlq_summary(target, stack)
    assert dead.depth == 1
    (row,) = dead.rows()
    assert row["error"] == "NO_RESOURCE" and row["target table"] == TARGET and row["event"] == "RestoreTableToPointInTime"
    assert monitor.dlq_summary(target, stack)["rule_dlq_depth"] == 1

    # WHEN step 03 runs with a long grace THEN it does not wait: the event will never start the workflow
    started = time.monotonic()
    report = monitor.turn_on_replay(
        target, stack, automation="event", execute=True, run_dir=tmp_path, since=since, active_at=active,
        event_grace_seconds=600, interval=0.2,
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert "dead-letter queue (NO_RESOURCE" in report.fallback
    assert _mapping_state(aws, stack) == "Enabled"
    assert run_state.load(tmp_path).fallbacks[0].rule_dlq_messages == 1
    # reading the DLQ leaves its messages for the operator
    assert monitor.rule_dlq_summary(target, stack).depth == 1


def test_a_notebook_mode_stack_has_no_rule_dlq(target, aws, sandbox):
    create_demo_table(aws("dynamodb"), SOURCE)
    stack = buffer.deploy(target, buffer.plan(target, source_table=SOURCE, target_table=TARGET))
    assert monitor.rule_dlq_summary(target, stack) is None
    assert "rule_dlq_depth" not in monitor.dlq_summary(target, stack)
