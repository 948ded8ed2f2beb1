"""``pitr-runbook drill --source-table T --with-buffer`` (issue 13): the whole runbook, buffer and cutover
included, on a scratch copy of an existing sandbox table whose writers never stop. The command runs in
its own process against the test's sandbox over HTTP (``--endpoint-url``), as on AWS it runs against AWS."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import Traffic, create_demo_table, seed_items
from test_table_drill import ITEMS, SOURCE, RecordingClient, _drill_tables, _scan, _settings, _source, pitr_runbook

pytestmark = pytest.mark.slow


def _stacks(aws) -> list[str]:
    return [s["StackName"] for s in aws("cloudformation").describe_stacks()["Stacks"]
            if s["StackStatus"] != "DELETE_COMPLETE"]


def _step_status(run: Path, step: str) -> str | None:
    try:
        return json.loads((run / "state.json").read_text())["steps"][step]["status"]
    except (OSError, ValueError, KeyError):
        return None


def _functions_and_queues(aws) -> tuple[list, list]:
    return (aws("lambda").list_functions()["Functions"], aws("sqs").list_queues().get("QueueUrls", []))


def test_a_drill_with_the_buffer_on_a_live_table_passes_replays_the_writes_and_leaves_nothing_but_the_source(
        aws, endpoint, tmp_path):
    # GIVEN a table with TTL, tags, PITR and a stream, under live writers the whole time
    SETTINGS.restore_seconds = 3.0
    _source(aws)
    before = _settings(aws)
    seeded = _scan(aws, SOURCE)
    writers = RecordingClient(aws("dynamodb"))
    traffic = Traffic(writers, SOURCE, rate=10, key_space=ITEMS, seed=5).start()
    try:
        # WHEN the drill runs the whole runbook on a scratch copy of it
        proc = pitr_runbook("drill", "--source-table", SOURCE, "--with-buffer", "--endpoint-url", endpoint,
                            "--run-dir", str(tmp_path / "run"), "--no-redact-keys", "--rto-target", "1h", timeout=400)
        writes_during = len(writers.ops)
    finally:
        traffic.stop()
    # THEN it passes, with the buffer's accounting of the writes it replayed
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["kind"] == "drill" and summary["verdict"] == "PASS", summary
    assert summary["unexplained"] == 0 and summary["in_flight"] == 0
    drill = summary["drill"]
    assert drill["with_buffer"] is True and drill["scratch_deleted"] is True
    assert drill["scratch_table"] == summary["target_table"] and summary["target_table"].startswith(f"{SOURCE}-drill-")
    buffer = summary["buffer"]
    assert buffer["arrived"] > 0 and buffer["applied"] > 0, buffer
    assert summary["rto_seconds"] >= 2.5 and summary["catch_up_seconds"] is not None
    # ... with live writers: a difference left is a write the buffer had not applied yet, explained by a
    # change to its key after the buffer's horizon, which lies after T
    if summary["explained"]:
        horizon = summary["explained_from"]["buffer_applied_until"]
        assert horizon > summary["restore_time"]
        rows = list(csv.DictReader((tmp_path / "run" / "differences.csv").open()))
        assert all(r["classification"] == "explained" and r["last_change"] >= horizon for r in rows), rows
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["steps_done"] == ["00_preflight", "01_deploy_buffer", "02_restore", "03_monitor", "04_reconcile",
                                 "05_cutover"]
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["teardown"]["clean"] is True and state.get("switch") is None  # torn down; nothing switched
    assert writes_during > 0
    # ... and nothing is left but the source, unchanged in its settings
    assert _drill_tables(aws) == [] and _stacks(aws) == [] and _functions_and_queues(aws) == ([], [])
    assert aws("dynamodb").list_tables()["TableNames"] == [SOURCE]
    assert _settings(aws) == before
    after = _scan(aws, SOURCE)  # its items exactly what the writers made of them
    last = {key: (kind, version) for key, kind, version, _, _ in sorted(writers.ops, key=lambda op: op[3])}
    for key in set(seeded) | set(last):
        if key not in last:
            assert after.get(key) == seeded[key], key
        elif last[key][0] == "delete":
            assert key not in after, key
        else:
            assert int(after[key]["version"]["N"]) == last[key][1], key


def test_a_source_without_a_stream_stops_the_drill_with_exit_2_and_the_remedy_and_creates_nothing(aws, endpoint, tmp_path):
    ddb = aws("dynamodb")
    create_demo_table(ddb, SOURCE, stream=None)
    seed_items(ddb, SOURCE, 20, seed=3)
    proc = pitr_runbook("drill", "--source-table", SOURCE, "--with-buffer", "--endpoint-url", endpoint,
                        "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "has no stream" in proc.stderr and "StreamViewType=NEW_AND_OLD_IMAGES" in proc.stderr
    assert ddb.list_tables()["TableNames"] == [SOURCE] and _stacks(aws) == []
    assert "StreamSpecification" not in ddb.describe_table(TableName=SOURCE)["Table"]


def test_with_buffer_needs_a_source_table():
    proc = pitr_runbook("drill", "--with-buffer")
    assert proc.returncode == 2 and "give --source-table" in proc.stderr


def test_a_with_buffer_drill_killed_after_its_restore_started_leaves_nothing_cleanup_does_not_remove(
        aws, endpoint, tmp_path):
    # GIVEN a drill with the buffer, killed outright (SIGKILL) once its restore has started
    SETTINGS.restore_seconds = 2.0
    _source(aws)
    seeded = _scan(aws, SOURCE)
    proc = subprocess.Popen([sys.executable, "-m", "runbook_lib.cli", "drill", "--source-table", SOURCE, "--with-buffer",
                             "--endpoint-url", endpoint, "--run-dir", str(tmp_path / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not _drill_tables(aws):
            assert time.monotonic() < deadline and proc.poll() is None, "the drill never started its restore"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    [scratch] = _drill_tables(aws)
    assert len(_stacks(aws)) == 1  # its buffer
    ddb = aws("dynamodb")
    while ddb.describe_table(TableName=scratch)["Table"]["TableStatus"] != "ACTIVE":
        time.sleep(0.2)
    # WHEN drill --cleanup runs
    out = pitr_runbook("drill", "--cleanup", "--endpoint-url", endpoint)
    # THEN the scratch table and its buffer stack are gone, and nothing else of the buffer is left
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"deleted {scratch} (an interrupted drill's" in out.stdout and "deleted buffer stack" in out.stdout, out.stdout
    assert ddb.list_tables()["TableNames"] == [SOURCE] and _stacks(aws) == []
    assert _functions_and_queues(aws) == ([], [])
    assert _scan(aws, SOURCE) == seeded


def test_a_with_buffer_drill_stopped_with_sigterm_removes_its_stack_and_scratch_table_and_exits_130(aws, endpoint, tmp_path):
    SETTINGS.restore_seconds = 1.0
    _source(aws)
    checks = tmp_path / "checks.py"
    checks.write_text("import time\n\ndef check_that_hangs(ctx):\n    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-m", "runbook_lib.cli", "drill", "--source-table", SOURCE, "--with-buffer",
                             "--endpoint-url", endpoint, "--check", str(checks), "--check-timeout", "100",
                             "--run-dir", str(tmp_path / "run")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while _step_status(tmp_path / "run", "03_monitor") != "done":  # the checks run after 03, before 04
            assert time.monotonic() < deadline and proc.poll() is None, "the drill never reached its checks"
            time.sleep(0.2)
        time.sleep(2.0)  # in the hanging check
        assert _stacks(aws) and _drill_tables(aws)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert _drill_tables(aws) == [] and _stacks(aws) == [] and _functions_and_queues(aws) == ([], [])


TEMPLATE = """
Parameters:
  TargetTableName: {Type: String}
Resources:
  Queue: {Type: AWS::SQS::Queue}
"""


def test_cleanup_deletes_only_buffer_stacks_whose_drill_scratch_table_is_gone(aws, endpoint, tmp_path):
    """Only a buffer stack (tag pitr-runbook:component=cdc-buffer) whose target, by parameter and tag, is a
    drill's scratch name, and whose table is gone (and long enough for a drill to have restored into it)."""
    from datetime import timedelta

    from runbook_lib import drills, times
    from runbook_lib.aws.clients import AwsTarget

    cfn, ddb = aws("cloudformation"), aws("dynamodb")
    old = f"{SOURCE}-drill-20260101T000000Z"
    recent = f"{SOURCE}-drill-{times.utcnow().strftime('%Y%m%dT%H%M%SZ')}"
    kept = f"{SOURCE}-drill-20260102T000000Z"
    create_demo_table(ddb, kept, pitr=False, stream=None)
    ddb.tag_resource(ResourceArn=ddb.describe_table(TableName=kept)["Table"]["TableArn"], Tags=[
        {"Key": "pitr-runbook:drill", "Value": "true"},
        {"Key": "pitr-runbook:expires", "Value": times.iso_second(times.utcnow() + timedelta(days=1))}])

    def stack(name: str, target: str, component: str = "cdc-buffer", tagged: str | None = None) -> None:
        cfn.create_stack(StackName=name, TemplateBody=TEMPLATE,
                         Parameters=[{"ParameterKey": "TargetTableName", "ParameterValue": target}],
                         Tags=[{"Key": "pitr-runbook:component", "Value": component},
                               {"Key": "pitr-runbook:target-table", "Value": tagged or target}])

    stack("pitr-gone", old)                                   # deleted: a drill's, its table long gone
    stack("pitr-not-a-drill", "orders-copy")                  # the target is not a drill's name
    stack("pitr-not-a-buffer", old, component="something")    # not a buffer stack
    stack("pitr-tag-differs", old, tagged="orders-copy")      # parameter and tag disagree
    stack("pitr-table-kept", kept)                            # its scratch table is still there
    stack("pitr-about-to-restore", recent)                    # no table yet, named moments ago
    stack("other-name", old)                                  # not named as the runbook names its buffers
    report = drills.cleanup(AwsTarget("us-east-1", endpoint))
    assert report.stacks_deleted == ["pitr-gone"]
    assert set(report.stacks_left) == {"pitr-table-kept", "pitr-about-to-restore"}
    assert sorted(_stacks(aws)) == ["other-name", "pitr-about-to-restore", "pitr-not-a-buffer", "pitr-not-a-drill",
                                    "pitr-table-kept", "pitr-tag-differs"]
    # once the name is an hour old with still no table, that one is an interrupted drill's too
    later = drills.cleanup(AwsTarget("us-east-1", endpoint), now=times.utcnow() + timedelta(hours=1, minutes=1))
    assert later.stacks_deleted == ["pitr-about-to-restore"]


def test_the_operator_policy_for_drill_tables_covers_a_drill_with_the_buffer_and_its_cleanup(aws, endpoint, tmp_path):
    """As an IAM user holding only infra/operator-policy.json rendered with --target-table 'orders-drill-*'
    (the sandbox evaluates IAM for its users' keys), the buffer deployed and deleted with the CloudFormation
    service role: the drill with the buffer and cleanup run, and every call they make is in
    tests/unit/golden/operator_calls.txt."""
    import os

    from runbook_lib.aws import clients
    from runbook_lib.aws.clients import AwsTarget
    from runbook_lib.drill import create_operator, deploy_cfn_service_role
    from test_drill_as_operator import assert_recorded_calls_listed  # tests/drill is on sys.path

    SETTINGS.restore_seconds = 1.0
    _source(aws)
    root, pattern = AwsTarget("us-east-1", endpoint), f"{SOURCE}-drill-*"
    role = deploy_cfn_service_role(root, source_table=SOURCE, target_table=pattern)
    operator = create_operator(root, source_table=SOURCE, target_table=pattern, cfn_role_arn=role)
    env = {**os.environ, **operator.environment(), clients.RECORD_CALLS_ENV: str(tmp_path / "calls.txt")}
    traffic = Traffic(aws("dynamodb"), SOURCE, rate=5, key_space=ITEMS, seed=9).start()
    try:
        run = subprocess.run([sys.executable, "-m", "runbook_lib.cli", "drill", "--source-table", SOURCE, "--with-buffer",
                              "--cfn-role-arn", role, "--endpoint-url", endpoint, "--run-dir", str(tmp_path / "run")],
                             capture_output=True, text=True, timeout=400, env=env)
    finally:
        traffic.stop()
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    out = subprocess.run([sys.executable, "-m", "runbook_lib.cli", "drill", "--cleanup", "--endpoint-url", endpoint],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_recorded_calls_listed(tmp_path / "calls.txt")
    recorded = (tmp_path / "calls.txt").read_text()
    assert "cloudformation CreateStack" in recorded and "cloudformation DeleteStack" in recorded
    assert "cloudformation ListStacks" in recorded
    assert _drill_tables(aws) == [] and _stacks(aws) == ["cfn-service-role-pitr-runbook"]


CORRUPTING_CHECK = '''
import time

import boto3

KEY = {"pk": "written-after-t"}


def check_that_leaves_a_key_the_buffer_applied_wrong(ctx):
    """A write to the source after T, which the buffer applies; then the scratch table's copy is changed,
    as an applier that wrote the wrong image would leave it."""
    source = boto3.resource("dynamodb", region_name=ctx.region, endpoint_url=ctx.endpoint_url).Table(ctx.source_table)
    source.put_item(Item={**KEY, "version": 1})
    deadline = time.monotonic() + 60
    while ctx.table.get_item(Key=KEY, ConsistentRead=True).get("Item", {}).get("version") != 1:
        assert time.monotonic() < deadline, "the buffer never applied the write"
        time.sleep(0.2)
    ctx.table.put_item(Item={**KEY, "version": 999})
    # the buffer's horizon (its first caught-up sample in 04, less the forwarder's IteratorAge, a one-minute
    # Maximum that still holds the catch-up of 03, about 10 s here, less 2 s) must pass the write
    time.sleep(15)
'''


def test_with_the_buffer_a_key_written_after_t_and_applied_wrong_is_unexplained_and_the_drill_still_removes_everything(
        aws, endpoint, tmp_path):
    """Without a buffer a difference on a key written since T is explained (the scratch table is never
    written); with one, a key the buffer should have applied by its horizon must match: this one is
    unexplained, the verdict FAILs (exit 1), 05 does not run, and the drill itself tears the stack down."""
    SETTINGS.restore_seconds = 1.0
    _source(aws)
    checks = tmp_path / "checks.py"
    checks.write_text(CORRUPTING_CHECK)
    traffic = Traffic(aws("dynamodb"), SOURCE, rate=5, key_space=ITEMS, seed=13).start()
    try:
        proc = pitr_runbook("drill", "--source-table", SOURCE, "--with-buffer", "--endpoint-url", endpoint,
                            "--check", str(checks), "--no-redact-keys", "--run-dir", str(tmp_path / "run"), timeout=400)
    finally:
        traffic.stop()
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["verdict"] == "FAIL" and summary["unexplained"] == 1, summary
    rows = [r for r in csv.DictReader((tmp_path / "run" / "differences.csv").open()) if r["classification"] == "unexplained"]
    assert [json.loads(r["key"]) for r in rows] == [{"pk": {"S": "written-after-t"}}]
    assert rows[0]["last_change"] >= summary["restore_time"]  # written after T: a drill without a buffer explains it
    assert rows[0]["last_change"] < summary["explained_from"]["buffer_applied_until"]
    assert summary["drill"]["buffer_torn_down"] is True and summary["drill"]["scratch_deleted"] is True
    assert json.loads((tmp_path / "run" / "run.json").read_text())["failed_step"] == "04_reconcile"
    assert _drill_tables(aws) == [] and _stacks(aws) == [] and _functions_and_queues(aws) == ([], [])


def test_reconcile_step_with_live_source_waits_for_the_buffer_to_catch_up_not_to_empty_and_explains_from_its_horizon(
        aws, endpoint, tmp_path, monkeypatch):
    """Step 04's live_source: writers that never stop never leave the queue empty (require_empty=False),
    and the differences are classified against the horizon the drain gave (monitor.applied_until)."""
    from datetime import datetime, timedelta, timezone

    from runbook_lib import activity, monitor, notebook, run_state, steps

    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    create_demo_table(ddb, "orders-r")
    seed_items(ddb, "orders", 3, seed=1)  # written before T: unexplained whatever the horizon
    ctx = notebook.context(source_table="orders", target_table="orders-r", endpoint_url=endpoint, region="us-east-1",
                           run_dir=str(tmp_path), execute=True, restore_time="2026-01-01T00:00:00Z")
    with ctx.edit() as state:
        state.stack = run_state.Stack(description={"name": "pitr-orders", "outputs": {}, "parameters": {}})
    waited = []
    from runbook_lib import times

    first = times.utcnow().replace(microsecond=0) + timedelta(seconds=60)  # a horizon after the seeding's writes
    drained = monitor.DrainResult(True, 1.0, ({"t": times.iso_second(first), "stream_lag": 1.0},
                                              {"t": times.iso_second(first + timedelta(seconds=1)), "stream_lag": 1.0}),
                                  0, 0)
    monkeypatch.setattr(monitor, "follow_drain", lambda *a, **k: (waited.append(k), drained)[1])
    monkeypatch.setattr(activity, "record", lambda *a, **k: None)
    result = steps.reconcile.run(ctx, live_source=True, reread_rounds=1, segments=1)
    assert waited and not any(k["require_empty"] for k in waited)
    horizon = times.iso_second(first - timedelta(seconds=3))  # the first caught-up sample, less 1 s of lag and 2 s
    assert result.reconciliation.explained_from["buffer_applied_until"] == horizon
    # the three keys were written after T but before the horizon: the buffer should have applied them
    assert result.verdict == "FAIL" and result.reconciliation.unexplained == 3
    assert result.reconciliation.restore_time == datetime(2026, 1, 1, tzinfo=timezone.utc)
