"""``infra/drill-schedule.yaml`` as written: the drill role's least privilege, the bucket, the alarms,
and the build's commands (run in bash with stand-ins for ``pitr-runbook`` and ``aws``). cfn-lint runs
on it in ``test_infra_lint.py``; ``tests/sandbox/test_drill_schedule_stack.py`` deploys it.

AWS documents followed: "Using IAM with DynamoDB backup and restore" (restore needs the action on the
source and PutItem, UpdateItem, DeleteItem, GetItem, Query, Scan, BatchWriteItem on the target,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/backuprestore_IAM.html); the Service
Authorization Reference for DynamoDB and CloudWatch (ListTables and PutMetricData have no resource
type; PutMetricData takes cloudwatch:namespace); PutMetricAlarm (an alarm evaluates at most 604,800 s);
"Build specification reference for CodeBuild" (env shell, phases, commands).
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
TEXT = (INFRA / "drill-schedule.yaml").read_text()
TEMPLATE = yaml.safe_load(TEXT)
RES = TEMPLATE["Resources"]
#: actions with no resource-level permission (Service Authorization Reference), the only ones on "*"
STAR_ACTIONS = {"dynamodb:ListTables", "cloudwatch:PutMetricData"}
#: what a restore needs on its target ("Using IAM with DynamoDB backup and restore")
RESTORE_TARGET = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query",
                  "dynamodb:Scan", "dynamodb:BatchWriteItem"}


def _list(value):
    return value if isinstance(value, list) else [value]


def _statements(role: str) -> list[dict]:
    out = []
    for policy in RES[role]["Properties"]["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            out.append(st["Fn::If"][1] if "Fn::If" in st else st)
    return out


def _resource_text(resource) -> str:
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub[0] if isinstance(sub, list) else sub
    return str(resource)


def test_why_codebuild_is_said_in_the_template():
    assert "Why CodeBuild and not an ECS Fargate task" in TEXT and "no VPC" in TEXT


def test_the_drill_role_uses_star_only_where_no_resource_type_exists():
    for st in _statements("DrillRole"):
        actions = set(_list(st["Action"]))
        assert not any("*" in a for a in actions), st["Sid"]
        if st["Resource"] == "*":
            assert actions <= STAR_ACTIONS, st["Sid"]
    metrics = next(st for st in _statements("DrillRole") if "cloudwatch:PutMetricData" in _list(st["Action"]))
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": {"Ref": "MetricNamespace"}}}


def test_the_drill_role_restores_from_the_listed_tables_into_drill_tables_only():
    allows = [st for st in _statements("DrillRole") if st["Effect"] == "Allow"]
    restore = [st for st in allows if "dynamodb:RestoreTableToPointInTime" in _list(st["Action"])]
    assert len(restore) == 1
    assert all(_resource_text(r).endswith(":table/${Table}") for r in restore[0]["Resource"])
    # the target's actions, DeleteTable and tagging: on <source>-drill-<UTC stamp> tables (and their indexes) only
    for st in allows:
        granted = set(_list(st["Action"])) & (RESTORE_TARGET - {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"}
                                              | {"dynamodb:DeleteTable", "dynamodb:TagResource", "dynamodb:UntagResource"})
        if granted:
            assert {_resource_text(r).split(":table/")[1] for r in _list(st["Resource"])} == {"*-drill-????????T??????Z", "*-drill-????????T??????Z/index/*"}, st["Sid"]
    drill = next(st for st in allows if st["Sid"] == "RestoreIntoAndDeleteDrillTablesOnly")
    assert RESTORE_TARGET | {"dynamodb:DeleteTable"} <= set(drill["Action"])


def test_the_drill_role_is_denied_every_change_to_a_source_table():
    (deny,) = [st for st in _statements("DrillRole") if st["Effect"] == "Deny"]
    assert {"dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem", "dynamodb:UpdateContinuousBackups"} <= set(deny["Action"])
    assert [_resource_text(r) for r in deny["Resource"]] == [_resource_text(r) for r in next(
        st for st in _statements("DrillRole") if st["Sid"] == "RestoreFromSourceTables")["Resource"]]


def test_the_drill_role_writes_run_directories_and_its_own_logs_only():
    by_sid = {st["Sid"]: st for st in _statements("DrillRole")}
    assert by_sid["WriteRunDirectories"]["Resource"] == {"Fn::Sub": "${RunsBucket.Arn}/runs/*"}
    assert by_sid["ReadUserChecks"]["Resource"] == {"Fn::Sub": "${RunsBucket.Arn}/checks/*"}
    assert by_sid["ListUserChecks"]["Condition"] == {"StringLike": {"s3:prefix": ["checks/*"]}}
    assert _resource_text(by_sid["WriteItsOwnLogs"]["Resource"]).endswith(":log-group:${DrillLogGroup}:*")
    s3_actions = {a for st in by_sid.values() for a in _list(st["Action"]) if a.startswith("s3:")}
    assert s3_actions == {"s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:GetEncryptionConfiguration"}


def test_the_scheduler_may_only_start_the_drill_build():
    (st,) = _statements("SchedulerRole")
    assert (st["Action"], st["Resource"]) == ("codebuild:StartBuild", {"Fn::GetAtt": ["DrillProject", "Arn"]})
    trust = RES["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    schedule = RES["DrillSchedule"]["Properties"]
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}


def test_the_bucket_is_encrypted_private_tls_only_and_expires_run_directories():
    props = RES["RunsBucket"]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "runs/" and rule["ExpirationInDays"] == {"Ref": "RunRetentionDays"}
    statements = {st["Sid"]: st for st in RES["RunsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["DenyWithoutTls"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["DenyUploadsWithoutEncryptionHeader"]["Condition"] == {"Null": {"s3:x-amz-server-side-encryption": "true"}}


def test_each_table_slot_has_its_three_alarms_within_cloudwatch_limits():
    params = TEMPLATE["Parameters"]
    assert params["DrillIntervalDays"]["MaxValue"] * 86400 <= 604800
    for n in range(1, 6):
        kinds = {k: RES[f"Table{n}{k}Alarm"]["Properties"] for k in ("Failed", "Missed", "Rto")}
        assert kinds["Failed"]["MetricName"] == kinds["Missed"]["MetricName"] == "Passed"
        assert kinds["Missed"]["TreatMissingData"] == "breaching" and kinds["Missed"]["Period"] == 86400
        assert kinds["Rto"]["MetricName"] == "RestoreSeconds" and kinds["Rto"]["ComparisonOperator"] == "GreaterThanThreshold"
        assert RES[f"Table{n}FailedAlarm"].get("Condition") == (None if n == 1 else f"HasTable{n}")


# -- the build's commands, in bash, with stand-ins ------------------------------------------------------------


def _build_commands() -> str:
    spec = yaml.safe_load(RES["DrillProject"]["Properties"]["Source"]["BuildSpec"])
    assert spec["env"]["shell"] == "bash"
    (script,) = spec["phases"]["build"]["commands"]
    return script


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def build(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    # the drill of a table named in FAIL_TABLE exits 1; publish records its arguments
    _stub(bin_dir / "pitr-runbook", f'echo "$*" >> {calls}\n'
                                    'if [ "$1" = drill ] && [ "$3" = "$FAIL_TABLE" ]; then exit 1; fi\nexit 0\n')
    _stub(bin_dir / "aws", 'mkdir -p "${@: -5:1}"; echo "def check_x(ctx): pass" > "${@: -5:1}/check_totals.py"\n')

    def run(**env: str) -> tuple[int, list[str]]:
        environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SOURCE_TABLES": "orders, invoices",
                       "RTO_TARGETS_SECONDS": "3600,7200", "RUNS_URI": "s3://b/runs", "CHECKS_URI": "s3://b/checks",
                       "METRIC_NAMESPACE": "PITRRunbook", **env}
        done = subprocess.run(["bash", "-c", _build_commands()], cwd=tmp_path, env=environment, capture_output=True, text=True)
        return done.returncode, calls.read_text().splitlines() if calls.exists() else []

    return run


def test_the_build_drills_then_publishes_each_table_with_its_target_and_checks(build):
    code, calls = build(FAIL_TABLE="none")
    assert code == 0
    assert [c.split()[0] for c in calls] == ["drill", "publish", "drill", "publish"]
    assert calls[0].startswith("drill --source-table orders --rto-target 3600s --run-dir runs/orders-")
    assert calls[0].endswith("--check checks/orders/check_totals.py")
    assert calls[2].startswith("drill --source-table invoices --rto-target 7200s")
    run_dir = calls[0].split("--run-dir ")[1].split()[0]
    assert calls[1] == f"publish --run-dir {run_dir} --bucket s3://b/runs --namespace PITRRunbook --table orders"


def test_a_failed_drill_is_still_published_and_fails_the_build(build):
    code, calls = build(FAIL_TABLE="orders")
    assert code == 1
    assert [c.split()[0] for c in calls] == ["drill", "publish", "drill", "publish"]  # the next table still drills


def test_more_tables_than_the_stack_has_slots_are_refused_before_any_drill(build):
    """The drill role restores from, and the alarms watch, the template's slots only: a sixth table
    would drill into AccessDenied with no alarm; the build says so and drills nothing."""
    code, calls = build(FAIL_TABLE="none", SOURCE_TABLES="a,b,c,d,e,f", RTO_TARGETS_SECONDS="")
    assert code == 2 and calls == []
    # slots go by position: an empty entry holds one, so the fifth table named here is in slot 6
    code, calls = build(FAIL_TABLE="none", SOURCE_TABLES="a,,b,c,d,e", RTO_TARGETS_SECONDS="")
    assert code == 2 and calls == []
    code, calls = build(FAIL_TABLE="none", SOURCE_TABLES="a,,b,c,d,", RTO_TARGETS_SECONDS="")
    assert code == 0 and [c.split()[2] for c in calls if c.startswith("drill")] == ["a", "b", "c", "d"]


def test_every_call_publish_makes_is_granted_to_the_drill_role():
    """publish runs in the build as DrillRole: each AWS call in runbook_lib/schedule/publish.py needs
    its IAM action allowed there (the operator policy does not cover the scheduled job)."""
    import ast

    from runbook_lib import permissions

    source = (Path(__file__).resolve().parents[2] / "runbook_lib" / "schedule" / "publish.py").read_text()
    called = {node.func.attr for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    operations = {"put_object": ("s3", "PutObject"), "get_bucket_encryption": ("s3", "GetBucketEncryption"),
                  "put_metric_data": ("cloudwatch", "PutMetricData")}
    assert called & {"put_object", "get_bucket_encryption", "put_metric_data", "list_objects_v2", "get_object",
                     "upload_file", "put_bucket_encryption"} == set(operations)
    granted = {a for st in _statements("DrillRole") if st["Effect"] == "Allow" for a in _list(st["Action"])}
    for service, operation in operations.values():
        assert set(permissions.actions_for(service, operation)) <= granted, operation
