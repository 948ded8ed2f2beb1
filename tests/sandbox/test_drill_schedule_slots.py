"""A rendering of ``infra/drill-schedule.yaml.j2`` with another number of table slots deploys on the
sandbox over HTTP (CreateStack, CREATE_COMPLETE) with every slot filled: each table's three alarms
and its ARN in the drill role's policy. The committed 5-slot file is deployed in
``test_drill_schedule_stack.py``.

AWS documents followed: the CloudFormation Template Reference pages of AWS::CloudWatch::Alarm and
AWS::IAM::Role
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudwatch-alarm.html);
GetRolePolicy, IAM API Reference (the inline policy document of a role).
"""

from __future__ import annotations

import ast
import time

import pytest

from runbook_lib.schedule import template

STACK = "pitr-drills"


@pytest.mark.parametrize("slots", [1, 3])
def test_a_rendering_with_n_slots_deploys_the_alarms_and_grants_of_n_tables(aws, slots):
    # GIVEN the template rendered with `slots` slots, every slot given a table
    tables = [f"table{i}" for i in range(slots)]
    targets = [str(600 * (i + 1)) for i in range(slots)]
    cfn = aws("cloudformation")
    params = {"SourceTables": ",".join(tables), "RtoTargetsSeconds": ",".join(targets)}
    # WHEN it is deployed
    cfn.create_stack(StackName=STACK, TemplateBody=template.render(slots), Capabilities=["CAPABILITY_NAMED_IAM"],
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    deadline = time.monotonic() + 60
    while (stack := cfn.describe_stacks(StackName=STACK)["Stacks"][0])["StackStatus"].endswith("IN_PROGRESS"):
        assert time.monotonic() < deadline, stack["StackStatus"]
        time.sleep(0.2)
    # THEN the stack is complete with three alarms per table, each on its own table and target
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    alarms = {a["AlarmName"]: a for a in aws("cloudwatch").describe_alarms(AlarmNamePrefix=STACK)["MetricAlarms"]}
    assert sorted(alarms) == sorted(f"{STACK}-{t}-{k}" for t in tables
                                    for k in ("drill-failed", "drill-missed", "rto-over-target"))
    for table, target in zip(tables, targets):
        rto = alarms[f"{STACK}-{table}-rto-over-target"]
        assert rto["Threshold"] == float(target) and rto["Dimensions"] == [{"Name": "TableName", "Value": table}]
    # AND the drill role may restore from exactly these tables
    document = aws("iam").get_role_policy(RoleName=f"{STACK}-drill", PolicyName="drill")["PolicyDocument"]
    if isinstance(document, str):  # moto answers a stack's inline policy as Python's repr of it, not JSON
        document = ast.literal_eval(document)
    (restore,) = [s for s in document["Statement"] if s.get("Sid") == "RestoreFromSourceTables"]
    assert [r.rsplit(":table/", 1)[1] for r in restore["Resource"]] == tables
