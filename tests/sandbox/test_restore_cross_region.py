"""Planning and preflight of a restore into another region, over HTTP against the sandbox: the
target name is checked in the target's region, the restore is called there with SourceTableArn and
an SSE override, and preflight says what differs. Documents: "Restoring a DynamoDB table to a point
in time" and "Point-in-time recovery: How it works", Amazon DynamoDB Developer Guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html)."""

from __future__ import annotations

import pytest

from runbook_lib import preflight, restore
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import PreconditionError
from runbook_lib.preflight import FAIL, PASS
from runbook_lib.sandbox.traffic import create_demo_table


@pytest.fixture
def sides(endpoint):
    return AwsTarget(region="us-east-1", endpoint_url=endpoint), AwsTarget(region="eu-west-1", endpoint_url=endpoint)


def test_a_plan_into_another_region_restores_there_by_arn_with_an_sse_override(sides):
    source, there = sides
    create_demo_table(source.client("dynamodb"), "orders")
    # the name is taken in the source's region only: free in eu-west-1
    create_demo_table(source.client("dynamodb"), "orders-r", pitr=False, stream=None)
    plan = restore.plan_restore(source, source_table="orders", target_table="orders-r", destination=there)
    assert plan.target_region == "eu-west-1" and plan.sse_override == {"Enabled": False}
    assert plan.source_arn.startswith("arn:aws:dynamodb:us-east-1:")
    desc = restore.start_restore(there, plan, execute=True)
    assert desc["TableArn"].split(":")[3] == "eu-west-1"
    assert desc["RestoreSummary"]["SourceTableArn"] == plan.source_arn
    restore.wait_active(there, "orders-r", timeout=30, interval=0.1)
    # taken now in eu-west-1: a second plan there is refused before any call
    with pytest.raises(PreconditionError) as info:
        restore.plan_restore(source, source_table="orders", target_table="orders-r", destination=there)
    assert info.value.code == "TableAlreadyExistsException" and "eu-west-1" in str(info.value)


def test_preflight_checks_the_target_name_and_region_where_the_target_goes(sides):
    source, there = sides
    create_demo_table(source.client("dynamodb"), "orders")
    create_demo_table(there.client("dynamodb"), "orders-r", pitr=False, stream=None)
    checks = preflight.run_checks(source, source_table="orders", target_table="orders-r", automation="notebook",
                                  destination=there, sse_kms_key_id="arn:aws:kms:us-east-1:123456789012:key/x")
    rows = {r.check: r for r in checks.rows}
    assert rows["target_free"].status == FAIL and "eu-west-1" in rows["target_free"].finding
    assert rows["target_region"].status == PASS
    assert rows["target_encryption"].status == FAIL and rows["target_encryption"].code == "ValidationException"
    assert rows["target_region_tables"].status == PASS and "1 tables in eu-west-1" in rows["target_region_tables"].finding
    # in the source's region the same name is free, and no cross-region rows are added
    same = {r.check: r for r in preflight.run_checks(source, source_table="orders", target_table="orders-r",
                                                      automation="notebook").rows}
    assert same["target_free"].status == PASS and "target_region" not in same
