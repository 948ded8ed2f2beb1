"""Step 00 reads the switch's SSM parameter before anything changes: the operator learns at preflight,
not at the end of the incident, that the parameter cannot be written or names another table."""

from __future__ import annotations

import pytest

from runbook_lib import preflight
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.preflight.switch_parameter import check_switch_parameter
from runbook_lib.sandbox.traffic import create_demo_table

PARAM = "/app/orders/table-name"


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def test_a_missing_parameter_passes_and_says_cutover_creates_it(target):
    row = check_switch_parameter(target, PARAM, source_table="orders", target_table="orders-r")
    assert row.status == "PASS" and "does not exist yet" in row.finding and "orders-r" in row.finding


def test_a_string_naming_the_source_passes_with_its_version(aws, target):
    aws("ssm").put_parameter(Name=PARAM, Value="orders", Type="String")
    row = check_switch_parameter(target, PARAM, source_table="orders", target_table="orders-r")
    assert row.status == "PASS" and "version 1" in row.finding


def test_a_parameter_naming_another_table_warns(aws, target):
    aws("ssm").put_parameter(Name=PARAM, Value="invoices", Type="String")
    row = check_switch_parameter(target, PARAM, source_table="orders", target_table="orders-r")
    assert row.status == "WARN" and "'invoices'" in row.finding and "cutover --undo" in row.remedy


def test_a_securestring_fails_preflight_with_the_remedy(aws, target):
    aws("ssm").put_parameter(Name=PARAM, Value="orders", Type="SecureString")
    row = check_switch_parameter(target, PARAM, source_table="orders", target_table="orders-r")
    assert row.status == "FAIL" and "String" in row.remedy


def test_the_checklist_has_the_switch_row_only_when_a_switch_is_given(aws, target):
    create_demo_table(aws("dynamodb"), "orders")
    aws("ssm").put_parameter(Name=PARAM, Value="orders", Type="SecureString")
    with_switch = preflight.run_checks(target, source_table="orders", target_table="orders-r",
                                       automation="notebook", switch_parameter=PARAM)
    without = preflight.run_checks(target, source_table="orders", target_table="orders-r", automation="notebook")
    assert [r.status for r in with_switch.rows if r.check == "switch_parameter"] == ["FAIL"]
    assert [r.check for r in without.rows if r.check == "switch_parameter"] == []
