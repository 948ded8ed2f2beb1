"""The restored table's capacity is decided before replay starts: the restore plan's overrides, and
the sandbox's ``RestoreTableToPointInTime`` honouring (and refusing) them as AWS does.

AWS documents followed:
- API reference ``RestoreTableToPointInTime`` (``BillingModeOverride``,
  ``ProvisionedThroughputOverride``, ``GlobalSecondaryIndexOverride``; provisioned capacity is
  carried from the source, auto scaling policies are not),
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html
- API reference ``CreateTable`` (``BillingMode``: PAY_PER_REQUEST takes no ``ProvisionedThroughput``,
  PROVISIONED needs it, for the table and for each global secondary index), the rules a restore's
  new table is held to, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from runbook_lib import restore, run_state, times
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import InputError


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def _source(ddb, name: str = "orders", *, provisioned: bool = True, gsi: bool = False) -> None:
    kwargs = dict(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
    )
    index = {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
    if provisioned:
        kwargs.update(BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 4})
        index["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 4}
    else:
        kwargs.update(BillingMode="PAY_PER_REQUEST")
    if gsi:
        kwargs["GlobalSecondaryIndexes"] = [index]
    else:
        kwargs["AttributeDefinitions"] = kwargs["AttributeDefinitions"][:1]
    ddb.create_table(**kwargs)
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    time.sleep(1.1)


def _restore(ddb, target_name: str, **overrides):
    return ddb.restore_table_to_point_in_time(
        SourceTableName="orders", TargetTableName=target_name, UseLatestRestorableTime=True, **overrides
    )["TableDescription"]


def _billing(desc: dict) -> str:
    return (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")


def test_restore_keeps_the_source_capacity_or_applies_the_overrides(aws):
    ddb = aws("dynamodb")
    _source(ddb)
    kept = _restore(ddb, "same")
    assert _billing(kept) == "PROVISIONED"
    assert (kept["ProvisionedThroughput"]["ReadCapacityUnits"], kept["ProvisionedThroughput"]["WriteCapacityUnits"]) == (5, 4)
    on_demand = _restore(ddb, "ondemand", BillingModeOverride="PAY_PER_REQUEST")
    assert _billing(on_demand) == "PAY_PER_REQUEST"
    bigger = _restore(ddb, "bigger", ProvisionedThroughputOverride={"ReadCapacityUnits": 7, "WriteCapacityUnits": 90})
    assert (bigger["ProvisionedThroughput"]["ReadCapacityUnits"], bigger["ProvisionedThroughput"]["WriteCapacityUnits"]) == (7, 90)


@pytest.mark.parametrize(
    "provisioned, gsi, overrides, fragment",
    [
        (True, False, {"BillingModeOverride": "FREE"}, "billingModeOverride"),
        (True, False, {"BillingModeOverride": "PAY_PER_REQUEST",
                       "ProvisionedThroughputOverride": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}, "PAY_PER_REQUEST"),
        (False, False, {"BillingModeOverride": "PROVISIONED"}, "must both be specified"),
        (False, True, {"BillingModeOverride": "PROVISIONED",
                       "ProvisionedThroughputOverride": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}, "index: by-g"),
        (True, True, {"BillingModeOverride": "PAY_PER_REQUEST", "GlobalSecondaryIndexOverride": [{
            "IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}, "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}]},
         "should not be specified for index: by-g"),
    ],
    ids=["unknown-mode", "on-demand-with-throughput", "provisioned-without-throughput", "provisioned-index-without-throughput",
         "on-demand-index-with-throughput"],
)
def test_restore_refuses_capacity_overrides_the_billing_mode_does_not_allow(aws, provisioned, gsi, overrides, fragment):
    ddb = aws("dynamodb")
    _source(ddb, provisioned=provisioned, gsi=gsi)
    with pytest.raises(ClientError) as err:
        _restore(ddb, "refused", **overrides)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment in err.value.response["Error"]["Message"]
    assert "refused" not in ddb.list_tables()["TableNames"]


def test_plan_of_a_provisioned_source_says_what_the_target_gets_and_warns_about_auto_scaling(aws, target):
    _source(aws("dynamodb"))
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
    assert plan.capacity.billing_mode == "PROVISIONED"
    assert (plan.capacity.read_capacity, plan.capacity.write_capacity) == (5, 4)
    assert plan.capacity.overrides == {}
    assert any("auto scaling is not carried over" in w and "4 WCU" in w for w in plan.capacity.warnings)
    frame = plan.to_dataframe()
    assert "provisioned: 5 RCU, 4 WCU" in frame.loc[frame["item"] == "target capacity", "value"].iloc[0]


def test_plan_with_an_on_demand_override_restores_an_on_demand_target(aws, target, tmp_path):
    ddb = aws("dynamodb")
    _source(ddb)
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r", billing_mode_override="pay_per_request")
    assert plan.capacity.billing_mode == "PAY_PER_REQUEST" and not plan.capacity.warnings
    # the plan survives the run state, so that step 03 and later know what the target got
    restore.write_plan(tmp_path, plan)
    assert restore.plan_from_state(tmp_path).capacity == plan.capacity
    desc = restore.start_restore(target, plan, execute=True)
    assert _billing(desc) == "PAY_PER_REQUEST"
    assert _billing(ddb.describe_table(TableName="orders-r")["Table"]) == "PAY_PER_REQUEST"


def test_plan_with_a_throughput_override_sends_it(aws, target):
    _source(aws("dynamodb"))
    plan = restore.plan_restore(
        target, source_table="orders", target_table="orders-r",
        provisioned_throughput_override={"ReadCapacityUnits": 50, "WriteCapacityUnits": 400},
    )
    assert plan.capacity.write_capacity == 400 and any("400 WCU" in w for w in plan.capacity.warnings)
    desc = restore.start_restore(target, plan, execute=True)
    assert desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 400


@pytest.mark.parametrize(
    "provisioned, kwargs",
    [
        (True, {"billing_mode_override": "FREE"}),
        (True, {"billing_mode_override": "PAY_PER_REQUEST",
                "provisioned_throughput_override": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}),
        (True, {"provisioned_throughput_override": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}}),
        (True, {"provisioned_throughput_override": {"WriteCapacityUnits": 1}}),
        (False, {"billing_mode_override": "PROVISIONED"}),
    ],
)
def test_bad_capacity_overrides_are_refused_by_the_plan_and_change_nothing(aws, target, provisioned, kwargs):
    _source(aws("dynamodb"), provisioned=provisioned)
    with pytest.raises(InputError):
        restore.plan_restore(target, source_table="orders", target_table="orders-r", **kwargs)
    assert aws("dynamodb").list_tables()["TableNames"] == ["orders"]


def test_a_plan_saved_without_capacity_loads_with_none(tmp_path):
    t = times.parse_iso("2026-01-01T00:00:00+00:00")
    with run_state.edit(tmp_path) as state:
        state.params.source_table, state.params.target_table = "a", "b"
        state.plan = run_state.Plan(mode="catchup", restore_time=t, replay_from=t, earliest_restorable=t, latest_restorable=t)
    assert restore.plan_from_state(tmp_path).capacity is None


def test_plan_says_when_the_source_has_auto_scaling_that_the_target_will_not(aws, target):
    _source(aws("dynamodb"))
    aws("application-autoscaling").register_scalable_target(
        ServiceNamespace="dynamodb", ResourceId="table/orders", ScalableDimension="dynamodb:table:WriteCapacityUnits",
        MinCapacity=4, MaxCapacity=400,
    )
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
    assert plan.capacity.source_autoscaled is True
    frame = plan.to_dataframe()
    assert "with auto scaling" in frame.loc[frame["item"] == "source capacity", "value"].iloc[0]
