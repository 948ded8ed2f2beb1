"""Settings snapshot, diff and apply over HTTP against the sandbox."""

from __future__ import annotations

import json

import pytest

from runbook_lib import settings
from runbook_lib.settings import applying, planning
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import InputError, PreconditionError

REGION = "us-east-1"
CANARY = "CANARY-91c2-value-never-copied"
KEY = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
       "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region=REGION, endpoint_url=endpoint)


def make_source(aws, name="orders"):
    """A table with TTL, tags, deletion protection, PITR (7 days) and a NEW_AND_OLD_IMAGES stream."""
    ddb = aws("dynamodb")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        DeletionProtectionEnabled=True,
        Tags=[{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "prod"}],
        **KEY,
    )
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    ddb.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7},
    )
    ddb.put_item(TableName=name, Item={"pk": {"S": "k1"}, "secret": {"S": CANARY}})
    return ddb.describe_table(TableName=name)["Table"]


def make_fresh(aws, name="orders-restored"):
    ddb = aws("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEY)
    return ddb.describe_table(TableName=name)["Table"]


def read_target(aws, name):
    ddb = aws("dynamodb")
    desc = ddb.describe_table(TableName=name)["Table"]
    return {
        "ttl": ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"].get("TimeToLiveStatus"),
        "pitr": ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "tags": ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"],
        "deletion_protection": desc.get("DeletionProtectionEnabled"),
        "stream": desc.get("StreamSpecification"),
    }


# -- snapshot -------------------------------------------------------------------------------
def test_snapshot_records_what_a_restore_does_not_carry(aws, target):
    src = make_source(aws)
    snap = settings.snapshot(target, "orders")
    assert snap["table"] == "orders" and snap["table_arn"] == src["TableArn"]
    assert snap["ttl"] == {"enabled": True, "status": "ENABLED", "attribute": "expires_at"}
    assert snap["pitr"]["enabled"] and snap["pitr"]["recovery_period_days"] == 7
    assert snap["pitr"]["earliest_restorable"] and snap["pitr"]["latest_restorable"]
    assert snap["tags"] == {"team": "payments", "env": "prod"}
    assert snap["deletion_protection"] is True
    assert snap["stream"] == {"enabled": True, "view_type": "NEW_AND_OLD_IMAGES", "arn": src["LatestStreamArn"]}
    assert snap["billing_mode"] == "PAY_PER_REQUEST" and snap["table_class"] == "STANDARD"
    assert snap["autoscaling"] == {"targets": [], "policies": []}
    assert snap["alarms"] == [] and snap["resource_policy"] is None
    # JSON-ready, and no item data
    text = json.dumps(snap)
    assert CANARY not in text and "k1" not in text


def test_snapshot_of_a_table_without_optional_settings_reads_them_as_off_not_unreadable(aws, target):
    # On AWS a table without contributor insights answers DISABLED, one without a (stream) policy
    # PolicyNotFoundException: "off", not "could not read".
    make_source(aws)
    snap = settings.snapshot(target, "orders")
    assert snap["unreadable"] == {}
    assert snap["contributor_insights"] == {"table": {"status": "DISABLED", "enabled": False, "mode": None}, "indexes": {}}
    assert snap["stream_resource_policy"] is None and snap["kinesis_destinations"] == []
    assert "not read" not in settings.summarize(snap)


def test_snapshot_input_errors(target):
    with pytest.raises(InputError):
        settings.snapshot(target, "x")
    with pytest.raises(PreconditionError) as exc:
        settings.snapshot(target, "missing-table")
    assert exc.value.code == "ResourceNotFoundException"


# -- diff / apply ---------------------------------------------------------------------------
def test_diff_against_a_fresh_table_lists_exactly_the_missing_settings(aws, target):
    make_source(aws)
    make_fresh(aws)
    plan = settings.diff(target, settings.snapshot(target, "orders"), "orders-restored")
    by = {c.setting: c for c in plan.changes}
    assert set(by) == {"deletion_protection", "stream", "ttl", "pitr", "tags"}
    assert by["stream"].desired == {"enabled": True, "view_type": "NEW_AND_OLD_IMAGES"}
    assert by["ttl"].desired == {"enabled": True, "attribute": "expires_at"}
    assert by["pitr"].desired == {"enabled": True, "recovery_period_days": 7}
    assert by["tags"].desired == {"team": "payments", "env": "prod"}
    assert "UpdateContinuousBackups(" in by["pitr"].api_call and "RecoveryPeriodInDays" in by["pitr"].api_call
    assert "UpdateTimeToLive(" in by["ttl"].api_call
    assert plan.stream_arn is None
    df = plan.to_dataframe()
    assert list(df.columns) == ["setting", "current", "desired", "api_call", "status", "error"]
    assert set(df["status"]) == {"planned"}
    json.dumps(plan.to_dict())


def test_dry_run_changes_nothing(aws, target):
    make_source(aws)
    make_fresh(aws)
    before = read_target(aws, "orders-restored")
    plan = settings.diff(target, settings.snapshot(target, "orders"), "orders-restored")
    out = settings.apply(target, plan, execute=False)
    assert out is plan and not out.executed
    assert read_target(aws, "orders-restored") == before
    assert len(settings.diff(target, plan.snapshot, "orders-restored")) == len(plan)


def test_apply_brings_the_target_in_line_then_diff_is_empty_and_apply_again_is_a_no_op(aws, target):
    src = make_source(aws)
    make_fresh(aws)
    snap = settings.snapshot(target, "orders")
    plan = settings.diff(target, snap, "orders-restored")
    # WHEN applied
    done = settings.apply(target, plan, execute=True)
    # THEN every change is applied, and the table carries the source's settings
    assert done.executed and done.ok
    assert {c.status for c in done.changes} == {"applied"}
    now = read_target(aws, "orders-restored")
    assert now["ttl"] == "ENABLED" and now["pitr"] == "ENABLED" and now["deletion_protection"] is True
    assert sorted((t["Key"], t["Value"]) for t in now["tags"]) == [("env", "prod"), ("team", "payments")]
    assert now["stream"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    # a new stream: its ARN is returned, and it is not the source's
    assert done.stream_arn and done.stream_arn.startswith(aws("dynamodb").describe_table(
        TableName="orders-restored")["Table"]["TableArn"] + "/stream/")
    assert done.stream_arn != src["LatestStreamArn"]
    pitr = aws("dynamodb").describe_continuous_backups(TableName="orders-restored")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr.get("RecoveryPeriodInDays") == 7
    # WHEN diffed again THEN nothing is left
    again = settings.diff(target, snap, "orders-restored")
    assert again.empty, again.to_dataframe()
    assert again.stream_arn == done.stream_arn
    # WHEN the same reviewed plan is applied twice THEN nothing is called again
    twice = settings.apply(target, plan, execute=True)
    assert {c.status for c in twice.changes} == {"already in place"}
    assert twice.stream_arn == done.stream_arn
    assert read_target(aws, "orders-restored") == now
    # and applying the empty plan is a no-op too
    assert settings.apply(target, again, execute=True).empty


def test_apply_waits_for_a_restored_table_to_be_active(aws, target, sandbox):
    # GIVEN a real restore (the sandbox keeps it CREATING for a moment)
    make_source(aws)
    snap = settings.snapshot(target, "orders")
    sandbox.settings.restore_seconds = 1.0
    aws("dynamodb").restore_table_to_point_in_time(
        SourceTableName="orders", TargetTableName="orders-restored", UseLatestRestorableTime=True
    )
    # WHEN diffed and applied at once
    plan = settings.diff(target, snap, "orders-restored")
    assert {"ttl", "pitr", "tags", "stream", "deletion_protection"} <= {c.setting for c in plan.changes}
    done = settings.apply(target, plan, execute=True)
    # THEN it waited, applied, and nothing is left
    assert done.ok and done.stream_arn
    assert settings.diff(target, snap, "orders-restored").empty


def test_apply_does_not_apply_changes_that_were_not_reviewed(aws, target):
    make_source(aws)
    make_fresh(aws)
    snap = settings.snapshot(target, "orders")
    plan = settings.diff(target, snap, "orders-restored")
    reviewed = settings.SettingsPlan(
        source_table=plan.source_table,
        target_table=plan.target_table,
        changes=tuple(c for c in plan.changes if c.setting == "tags"),
        snapshot=snap,
    )
    done = settings.apply(target, reviewed, execute=True)
    assert [c.setting for c in done.changes] == ["tags"]
    assert any("not in the reviewed plan" in n for n in done.notes)
    left = {c.setting for c in settings.diff(target, snap, "orders-restored").changes}
    assert left == {"deletion_protection", "stream", "ttl", "pitr"}


def test_diff_copies_autoscaling_alarms_and_resource_policy_for_the_new_table(aws, target):
    # GIVEN a provisioned source with auto scaling, an alarm on the table and a resource policy
    ddb = aws("dynamodb")
    ddb.create_table(TableName="orders", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}, **KEY)
    ddb.create_table(TableName="orders-restored", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}, **KEY)
    src_arn = ddb.describe_table(TableName="orders")["Table"]["TableArn"]
    tgt_arn = ddb.describe_table(TableName="orders-restored")["Table"]["TableArn"]
    aas = aws("application-autoscaling")
    aas.register_scalable_target(ServiceNamespace="dynamodb", ResourceId="table/orders",
                                 ScalableDimension="dynamodb:table:ReadCapacityUnits", MinCapacity=5, MaxCapacity=50)
    aas.put_scaling_policy(
        PolicyName="orders-read-scaling", ServiceNamespace="dynamodb", ResourceId="table/orders",
        ScalableDimension="dynamodb:table:ReadCapacityUnits", PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"},
        },
    )
    aws("cloudwatch").put_metric_alarm(
        AlarmName="orders-throttles", Namespace="AWS/DynamoDB", MetricName="ThrottledRequests",
        Dimensions=[{"Name": "TableName", "Value": "orders"}, {"Name": "Operation", "Value": "PutItem"}],
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    aws("cloudwatch").put_metric_alarm(
        AlarmName="other-table-alarm", Namespace="AWS/DynamoDB", MetricName="ThrottledRequests",
        Dimensions=[{"Name": "TableName", "Value": "unrelated"}],
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
    )
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": [src_arn, src_arn + "/index/*"]}]}
    ddb.put_resource_policy(ResourceArn=src_arn, Policy=json.dumps(policy))

    # WHEN
    snap = settings.snapshot(target, "orders")
    plan = settings.diff(target, snap, "orders-restored")

    # THEN the snapshot holds them (not the auto scaling's own alarms, not other tables' alarms)
    assert [a["name"] for a in snap["alarms"]] == ["orders-throttles"]
    assert snap["autoscaling"]["targets"][0]["resource_id"] == "table/orders"
    by = {c.setting: c for c in plan.changes}
    assert set(by) == {
        "autoscaling_target:table/orders-restored:dynamodb:table:ReadCapacityUnits",
        "autoscaling_policy:table/orders-restored:orders-read-scaling",
        "alarm:orders-restored-throttles",
        "resource_policy",
    }
    alarm_params = by["alarm:orders-restored-throttles"].steps[0].params
    assert alarm_params["AlarmName"] == settings.derived_alarm_name("orders-throttles", "orders", "orders-restored")
    assert {"Name": "TableName", "Value": "orders-restored"} in alarm_params["Dimensions"]
    assert {"Name": "Operation", "Value": "PutItem"} in alarm_params["Dimensions"]
    desired_policy = json.loads(by["resource_policy"].desired)
    assert desired_policy["Statement"][0]["Resource"] == [tgt_arn, tgt_arn + "/index/*"]

    # WHEN applied THEN a second diff is empty
    done = settings.apply(target, plan, execute=True)
    assert done.ok
    assert settings.diff(target, snap, "orders-restored").empty
    targets = aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=["table/orders-restored"])
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets["ScalableTargets"]] == [(5, 50)]
    copied = aws("cloudwatch").describe_alarms(AlarmNames=["orders-restored-throttles"])["MetricAlarms"]
    assert len(copied) == 1
    # the source's settings are untouched
    assert [a["name"] for a in settings.snapshot(target, "orders")["alarms"]] == ["orders-throttles"]


def test_derived_alarm_names_are_deterministic_and_bounded():
    assert settings.derived_alarm_name("orders-5xx", "orders", "orders-r") == "orders-r-5xx"
    assert settings.derived_alarm_name("high-latency", "orders", "orders-r") == "high-latency-orders-r"
    long = settings.derived_alarm_name("a" * 250, "orders", "orders-restored")
    assert len(long) == 255 and long == settings.derived_alarm_name("a" * 250, "orders", "orders-restored")


def test_diff_replaces_a_stream_of_another_view_type_by_disable_then_enable(aws, target):
    make_source(aws)
    ddb = aws("dynamodb")
    ddb.create_table(TableName="orders-restored", BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}, **KEY)
    plan = settings.diff(target, settings.snapshot(target, "orders"), "orders-restored")
    stream = next(c for c in plan.changes if c.setting == "stream")
    assert [s.params["StreamSpecification"] for s in stream.steps] == [
        {"StreamEnabled": False},
        {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    ]
    assert all(s.wait_active for s in stream.steps)
    assert plan.stream_arn  # the current (KEYS_ONLY) stream
    # WHEN applied THEN the table has a new stream of the source's view type (a new ARN)
    done = settings.apply(target, replace_plan_only(plan, "stream"), execute=True)
    desc = ddb.describe_table(TableName="orders-restored")["Table"]
    assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert done.stream_arn == desc["LatestStreamArn"] != plan.stream_arn


def replace_plan_only(plan, setting):
    """The reviewed plan narrowed to one setting."""
    return settings.SettingsPlan(
        source_table=plan.source_table, target_table=plan.target_table,
        changes=tuple(c for c in plan.changes if c.setting == setting), snapshot=plan.snapshot,
    )


def test_diff_switches_a_ttl_attribute_in_two_applies_an_hour_apart(aws, target, sandbox):
    # AWS refuses an UpdateTimeToLive within up to an hour of the last one on the table
    # ("UpdateTimeToLive - Amazon DynamoDB",
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html)
    make_source(aws)  # TTL on expires_at
    make_fresh(aws)
    ddb = aws("dynamodb")
    ddb.update_time_to_live(TableName="orders-restored", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    snap = settings.snapshot(target, "orders")
    # WHEN diffed THEN only the disable is planned, with a note saying when to come back
    plan = settings.diff(target, snap, "orders-restored")
    ttl = next(c for c in plan.changes if c.setting == "ttl")
    assert [s.params["TimeToLiveSpecification"] for s in ttl.steps] == [{"Enabled": False, "AttributeName": "ttl"}]
    assert any("an hour" in n and "expires_at" in n for n in plan.notes)
    # applying it at once is refused as AWS would (the enable above was less than an hour ago)
    with pytest.raises(PreconditionError) as exc:
        settings.apply(target, replace_plan_only(plan, "ttl"), execute=True)
    assert exc.value.code == "ValidationException"
    # once the hour has passed: disable, then (another hour later) enable on the source's attribute
    sandbox.settings.ttl_change_seconds = 0.0
    assert settings.apply(target, replace_plan_only(plan, "ttl"), execute=True).ok
    again = settings.diff(target, snap, "orders-restored")
    assert next(c for c in again.changes if c.setting == "ttl").desired == {"enabled": True, "attribute": "expires_at"}
    settings.apply(target, replace_plan_only(again, "ttl"), execute=True)
    assert ddb.describe_time_to_live(TableName="orders-restored")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_diff_never_disables_protection_on_the_target(aws, target):
    ddb = aws("dynamodb")
    ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST", **KEY)
    ddb.create_table(TableName="orders-restored", BillingMode="PAY_PER_REQUEST", DeletionProtectionEnabled=True, **KEY)
    ddb.update_continuous_backups(TableName="orders-restored",
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    plan = settings.diff(target, settings.snapshot(target, "orders"), "orders-restored")
    assert plan.empty
    assert any("deletion protection" in n for n in plan.notes)


def test_diff_input_and_precondition_errors(aws, target):
    make_source(aws)
    snap = settings.snapshot(target, "orders")
    with pytest.raises(InputError):
        settings.diff(target, snap, "no")
    with pytest.raises(InputError, match="snapshot"):
        settings.diff(target, {"table": "orders"}, "orders-restored")
    with pytest.raises(PreconditionError) as exc:
        settings.diff(target, snap, "orders-restored")
    assert exc.value.code == "ResourceNotFoundException"


def test_apply_on_a_deleted_table_is_a_precondition_error(aws, target):
    make_source(aws)
    make_fresh(aws)
    plan = settings.diff(target, settings.snapshot(target, "orders"), "orders-restored")
    aws("dynamodb").delete_table(TableName="orders-restored")
    with pytest.raises(PreconditionError) as exc:
        settings.apply(target, plan, execute=True)
    assert exc.value.code == "ResourceNotFoundException"


def test_a_failed_change_does_not_stop_the_others_and_is_raised_with_the_plan(aws, target, monkeypatch):
    from botocore.exceptions import ClientError

    make_source(aws)
    make_fresh(aws)
    plan = settings.diff(target, settings.snapshot(target, "orders"), "orders-restored")
    real_call = applying._call

    def call(target_, clients, step, table, timeout):
        if step.operation == "UpdateTimeToLive":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "UpdateTimeToLive")
        return real_call(target_, clients, step, table, timeout)

    monkeypatch.setattr(applying, "_call", call)
    with pytest.raises(PreconditionError) as exc:
        settings.apply(target, plan, execute=True)
    assert "ttl: AccessDeniedException: not allowed" in str(exc.value)
    assert exc.value.code == "AccessDeniedException"
    result = exc.value.plan
    assert {c.setting: c.status for c in result.changes} == {
        "deletion_protection": "applied", "stream": "applied", "ttl": "failed", "pitr": "applied", "tags": "applied",
    }
    monkeypatch.setattr(applying, "_call", real_call)
    assert [c.setting for c in settings.diff(target, plan.snapshot, "orders-restored").changes] == ["ttl"]


def test_policy_arns_are_rewritten_whole_and_the_new_stream_arn_is_filled_in_at_apply():
    src = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    tgt = "arn:aws:dynamodb:us-east-1:123456789012:table/orders-restored"
    text = json.dumps({"Resource": [src, src + "/index/*", src + "-archive", src + "*"]})
    assert json.loads(planning._rewrite_arn(text, src, tgt))["Resource"] == [
        tgt, tgt + "/index/*", src + "-archive", tgt + "*"]
    step = settings.Step("dynamodb", "PutResourcePolicy", {"ResourceArn": settings.STREAM_ARN_TOKEN, "Policy": "{}"})
    assert applying._resolve(step, tgt + "/stream/2026").params["ResourceArn"] == tgt + "/stream/2026"
    with pytest.raises(PreconditionError):
        applying._resolve(step, None)


def test_diff_copies_on_demand_maximums_and_raises_warm_throughput_to_the_source(aws, target):
    # OnDemandThroughput and WarmThroughput are UpdateTable settings ("UpdateTable - Amazon DynamoDB",
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html)
    make_source(aws)
    make_fresh(aws)
    ddb = aws("dynamodb")
    warm = ddb.describe_table(TableName="orders")["Table"]["WarmThroughput"]
    ddb.update_table(TableName="orders", OnDemandThroughput={"MaxReadRequestUnits": 400},
                     WarmThroughput={"WriteUnitsPerSecond": warm["WriteUnitsPerSecond"] + 500})
    snap = settings.snapshot(target, "orders")
    plan = settings.diff(target, snap, "orders-restored")
    by = {c.setting: c for c in plan.changes}
    assert by["on_demand_throughput"].desired == {"MaxReadRequestUnits": 400}
    assert by["warm_throughput"].steps[0].params["WarmThroughput"] == {"WriteUnitsPerSecond": warm["WriteUnitsPerSecond"] + 500}
    settings.apply(target, replace_plan_only(plan, "on_demand_throughput"), execute=True)
    settings.apply(target, replace_plan_only(plan, "warm_throughput"), execute=True)
    desc = ddb.describe_table(TableName="orders-restored")["Table"]
    assert desc["OnDemandThroughput"] == {"MaxReadRequestUnits": 400}
    assert desc["WarmThroughput"]["WriteUnitsPerSecond"] == warm["WriteUnitsPerSecond"] + 500
    left = {c.setting for c in settings.diff(target, snap, "orders-restored").changes}
    assert not left & {"on_demand_throughput", "warm_throughput"}
