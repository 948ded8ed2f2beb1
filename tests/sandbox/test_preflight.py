"""Preflight checks over HTTP against the sandbox: each check has a passing and a failing case."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import pytest

from runbook_lib import preflight
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import InputError, PreconditionError
from runbook_lib.preflight import FAIL, PASS, WARN, checklist

REGION = "us-east-1"
CANARY = "CANARY-7f3a-value-never-logged"


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region=REGION, endpoint_url=endpoint)


def make_table(aws, name="orders", *, pitr=True, stream="NEW_AND_OLD_IMAGES", range_key=False):
    ddb = aws("dynamodb")
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    kwargs = {}
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    ddb.create_table(
        TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **kwargs
    )
    if pitr:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return ddb.describe_table(TableName=name)["Table"]


def make_trail(aws, name="main-trail", *, start=True, selectors=None, advanced=None, multi_region=False, client=None):
    s3 = aws("s3")
    bucket = f"{name}-logs"
    s3.create_bucket(Bucket=bucket)
    ct = client or aws("cloudtrail")
    ct.create_trail(Name=name, S3BucketName=bucket, IsMultiRegionTrail=multi_region)
    if selectors is not None:
        ct.put_event_selectors(TrailName=name, EventSelectors=selectors)
    if advanced is not None:
        ct.put_event_selectors(TrailName=name, AdvancedEventSelectors=advanced)
    if start:
        ct.start_logging(Name=name)
    return ct


def make_function(aws, name):
    role = aws("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return {'batchItemFailures': []}\n")
    return aws("lambda").create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="handler.handler", Code={"ZipFile": buf.getvalue()}
    )["FunctionArn"]


def attach_consumer(aws, stream_arn, name, *, enabled=True):
    fn = make_function(aws, name)
    aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=name, StartingPosition="LATEST", Enabled=enabled
    )
    return fn


# -- the whole checklist ---------------------------------------------------------------------
def test_ready_table_passes_every_check_and_the_gate(aws, target):
    # GIVEN a table with PITR and a full-image stream, a logging trail, a free target name
    make_table(aws, "orders")
    make_trail(aws)
    # WHEN
    pf = preflight.run_checks(target, source_table="orders", target_table="orders-restored", automation="event")
    # THEN
    statuses = {r.check: r.status for r in pf.rows}
    for check in ("cloudtrail", "pitr", "stream", "stream_consumers", "item_sizes", "target_free",
                  "concurrent_restores", "settings_to_reapply"):
        assert statuses[check] == PASS, pf.row(check)
    # and no WARN row: every settings read is answered as AWS answers it for such a table
    assert pf.warnings == (), pf.to_dataframe()
    assert pf.ok
    pf.raise_for_failures()
    df = pf.to_dataframe()
    assert list(df.columns) == ["check", "status", "finding", "remedy"]
    assert len(df) == len(pf.rows)
    assert pf.snapshot["table"] == "orders"
    json.dumps(pf.to_dict())
    json.dumps(pf.snapshot)


def test_unready_table_fails_the_gate_naming_each_check_and_remedy(aws, target):
    make_table(aws, "orders", pitr=False, stream=None)
    make_table(aws, "orders-restored")
    pf = preflight.run_checks(target, source_table="orders", target_table="orders-restored", automation="event")
    assert not pf.ok
    assert {r.check for r in pf.failures} == {"cloudtrail", "pitr", "stream", "target_free"}
    with pytest.raises(PreconditionError) as exc:
        pf.raise_for_failures()
    msg = str(exc.value)
    for check in ("cloudtrail", "pitr", "stream", "target_free"):
        assert f"[{check}]" in msg
    assert "UpdateContinuousBackups" in msg
    assert "choose another target_table or delete orders-restored" in msg
    assert exc.value.step == "preflight" and exc.value.table == "orders"


# -- input ----------------------------------------------------------------------------------
UNREACHABLE = AwsTarget(region=REGION, endpoint_url="http://127.0.0.1:9")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"source_table": "ab", "target_table": "orders-restored"},
        {"source_table": "orders", "target_table": "bad name!"},
        {"source_table": "x" * 256, "target_table": "orders-restored"},
        {"source_table": None, "target_table": "orders-restored"},
        {"source_table": "orders", "target_table": "orders"},
        {"source_table": "orders", "target_table": "orders-restored", "automation": "cron"},
        {"source_table": "orders", "target_table": "orders-restored", "max_message_bytes": 100},
        {"source_table": "orders", "target_table": "orders-restored", "sample_items": 0},
    ],
)
def test_bad_input_raises_input_error_before_any_call(kwargs):
    # An unreachable endpoint: any call would fail with a connection error, not InputError.
    with pytest.raises(InputError) as exc:
        preflight.run_checks(UNREACHABLE, **kwargs)
    assert exc.value.exit_code == 2


def test_bad_input_changes_nothing_in_the_sandbox(aws, target):
    before = aws("dynamodb").list_tables()["TableNames"]
    with pytest.raises(InputError, match="must differ"):
        preflight.run_checks(target, source_table="orders", target_table="orders")
    assert aws("dynamodb").list_tables()["TableNames"] == before == []


def test_missing_source_is_a_precondition_error_with_aws_code(target):
    with pytest.raises(PreconditionError) as exc:
        preflight.run_checks(target, source_table="no-such-table", target_table="orders-restored")
    assert exc.value.code == "ResourceNotFoundException"
    assert "no-such-table" in str(exc.value) and "region" in str(exc.value)


# -- CloudTrail ------------------------------------------------------------------------------
def test_cloudtrail_default_selectors_of_a_logging_trail_pass(aws, target):
    make_trail(aws)
    row = preflight.check_cloudtrail(target, automation="event")
    assert row.status == PASS and "main-trail" in row.finding


def test_cloudtrail_no_trail_fails_for_event_automation_and_warns_for_notebook(target):
    row = preflight.check_cloudtrail(target, automation="event")
    assert row.status == FAIL and "no trail covers us-east-1" in row.finding
    assert "StartLogging" in row.remedy and "automation='notebook'" in row.remedy
    assert preflight.check_cloudtrail(target, automation="notebook").status == WARN


def test_cloudtrail_trail_not_logging_fails(aws, target):
    make_trail(aws, start=False)
    row = preflight.check_cloudtrail(target, automation="event")
    assert row.status == FAIL and "not logging" in row.finding


def test_cloudtrail_trail_logging_only_read_events_fails(aws, target):
    make_trail(aws, selectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}])
    row = preflight.check_cloudtrail(target, automation="event")
    assert row.status == FAIL and "does not log management write events" in row.finding


def test_cloudtrail_trail_without_management_events_fails(aws, target):
    make_trail(aws, selectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False}])
    assert preflight.check_cloudtrail(target, automation="event").status == FAIL


def test_cloudtrail_advanced_selector_read_only_fails_and_write_only_passes(aws, target):
    ct = make_trail(
        aws,
        advanced=[{"Name": "reads", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "readOnly", "Equals": ["true"]},
        ]}],
    )
    assert preflight.check_cloudtrail(target, automation="event").status == FAIL
    ct.put_event_selectors(
        TrailName="main-trail",
        AdvancedEventSelectors=[{"Name": "writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "readOnly", "Equals": ["false"]},
        ]}],
    )
    assert preflight.check_cloudtrail(target, automation="event").status == PASS


def test_cloudtrail_trail_of_another_region_fails_unless_multi_region(aws, target, endpoint):
    import boto3

    west = boto3.client("cloudtrail", endpoint_url=endpoint, region_name="us-west-2")
    make_trail(aws, "west-trail", client=west)
    assert preflight.check_cloudtrail(target, automation="event").status == FAIL
    make_trail(aws, "global-trail", client=west, multi_region=True)
    row = preflight.check_cloudtrail(target, automation="event")
    assert row.status == PASS and "global-trail" in row.finding and "all regions" in row.finding, row


# -- PITR -----------------------------------------------------------------------------------
def test_pitr_on_passes_and_shows_the_window(aws, target):
    make_table(aws, "orders")
    row = preflight.check_pitr(target, "orders")
    assert row.status == PASS
    assert "restorable from 20" in row.finding and " to 20" in row.finding


def test_pitr_off_fails_with_the_remedy(aws, target):
    make_table(aws, "orders", pitr=False)
    row = preflight.check_pitr(target, "orders")
    assert row.status == FAIL and "UpdateContinuousBackups" in row.remedy


# -- stream ---------------------------------------------------------------------------------
@pytest.mark.parametrize("view", ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_stream_with_full_images_passes(aws, target, view):
    make_table(aws, "orders", stream=view)
    row = preflight.check_stream(target, "orders")
    assert row.status == PASS and view in row.finding


@pytest.mark.parametrize("view", ["KEYS_ONLY", "OLD_IMAGE"])
def test_stream_without_new_image_warns_that_items_are_re_read(aws, target, view):
    make_table(aws, "orders", stream=view)
    row = preflight.check_stream(target, "orders")
    assert row.status == WARN and "re-reads" in row.finding


def test_stream_off_fails_with_the_remedy(aws, target):
    make_table(aws, "orders", stream=None)
    row = preflight.check_stream(target, "orders")
    assert row.status == FAIL and "StreamSpecification" in row.remedy


# -- stream consumers ------------------------------------------------------------------------
def test_stream_without_consumers_passes(aws, target):
    make_table(aws, "orders")
    assert preflight.check_stream_consumers(target, "orders").status == PASS


def test_one_consumer_warns_and_two_fail_naming_the_functions(aws, target):
    stream_arn = make_table(aws, "orders")["LatestStreamArn"]
    first = attach_consumer(aws, stream_arn, "audit-fn")
    row = preflight.check_stream_consumers(target, "orders")
    assert row.status == WARN and first in row.finding
    second = attach_consumer(aws, stream_arn, "search-indexer")
    row = preflight.check_stream_consumers(target, "orders")
    assert row.status == FAIL
    assert first in row.finding and second in row.finding
    assert "UpdateEventSourceMapping" in row.remedy


def test_disabled_consumer_is_not_counted(aws, target):
    stream_arn = make_table(aws, "orders")["LatestStreamArn"]
    attach_consumer(aws, stream_arn, "paused-fn", enabled=False)
    row = preflight.check_stream_consumers(target, "orders")
    assert row.status == PASS and "1 disabled mapping" in row.finding


# -- item sizes -----------------------------------------------------------------------------
def test_small_items_fit_the_message_size(aws, target):
    make_table(aws, "orders")
    ddb = aws("dynamodb")
    for i in range(5):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}, "v": {"S": CANARY}})
    row = preflight.check_item_sizes(target, "orders", max_message_bytes=8192, sample_items=100)
    assert row.status == PASS and "the whole table" in row.finding
    assert CANARY not in row.finding and "k1" not in row.finding


def test_items_near_the_size_limit_warn_they_travel_key_only(aws, target):
    make_table(aws, "orders")
    ddb = aws("dynamodb")
    ddb.put_item(TableName="orders", Item={"pk": {"S": "small"}, "v": {"S": "x"}})
    for i in range(3):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"big{i}"}, "v": {"S": CANARY * 200}, "b": {"B": b"\0" * 1000}})
    row = preflight.check_item_sizes(target, "orders", max_message_bytes=4096, sample_items=100)
    assert row.status == WARN
    assert "3 sampled item(s) over budget" in row.finding and "key only" in row.finding
    assert "MaximumMessageSize" in row.remedy
    assert CANARY not in row.finding + row.remedy and "big0" not in row.finding


def test_item_sample_is_bounded(aws, target):
    make_table(aws, "orders")
    ddb = aws("dynamodb")
    for i in range(12):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}})
    row = preflight.check_item_sizes(target, "orders", sample_items=5)
    assert row.status == PASS and "sample of 5 item(s) (not the whole table)" in row.finding


def test_empty_table_passes_the_size_check(aws, target):
    make_table(aws, "orders")
    assert preflight.check_item_sizes(target, "orders").status == PASS


def test_item_size_follows_dynamodb_rules():
    item = {
        "pk": {"S": "abc"},  # 2 + 3
        "n": {"N": "123.45"},  # 1 + (5 digits + 1)//2 + 1 = 1 + 4
        "b": {"B": b"\x00\x01"},  # 1 + 2
        "t": {"BOOL": True},  # 1 + 1
        "l": {"L": [{"S": "x"}, {"N": "1"}]},  # 1 + 3 + (1+1) + (1+2)
        "m": {"M": {"k": {"S": "vv"}}},  # 1 + 3 + 1 + 1 + 2
    }
    assert preflight.item_size(item) == 5 + 5 + 3 + 2 + 9 + 8


# -- target name ----------------------------------------------------------------------------
def test_free_target_name_passes_and_taken_one_fails(aws, target):
    assert preflight.check_target_free(target, "orders-restored").status == PASS
    make_table(aws, "orders-restored", pitr=False, stream=None)
    row = preflight.check_target_free(target, "orders-restored")
    assert row.status == FAIL
    assert row.remedy.startswith("choose another target_table or delete orders-restored")
    assert row.code == "TableAlreadyExistsException"


# -- concurrent restores ---------------------------------------------------------------------
def test_no_restore_in_progress_passes(aws, target):
    make_table(aws, "orders")
    row = preflight.check_concurrent_restores(target)
    assert row.status == PASS and "0 restore(s) in progress" in row.finding and "50" in row.finding


def test_concurrent_restores_check_is_bounded_and_says_so(aws, target):
    for name in ("t-one", "t-two", "t-three"):
        make_table(aws, name, pitr=False, stream=None)
    row = preflight.check_concurrent_restores(target, max_tables=2)
    assert row.status == WARN and "checked 2 of 3 tables" in row.finding


class _FakeDynamo:
    """Only the calls the concurrent-restore check makes: N tables, ``restoring`` of them restoring."""

    def __init__(self, total: int, restoring: int) -> None:
        self.names = [f"t{i:03d}" for i in range(total)]
        self.restoring = set(self.names[:restoring])

    def get_paginator(self, name):
        assert name == "list_tables"
        names = self.names

        class _P:
            def paginate(self):
                yield {"TableNames": names}

        return _P()

    def describe_table(self, TableName):
        return {"Table": {"TableName": TableName, "RestoreSummary": {"RestoreInProgress": TableName in self.restoring}}}


class _FakeTarget:
    region_name = REGION
    is_sandbox = True

    def __init__(self, ddb):
        self.ddb = ddb

    def client(self, service, **kwargs):
        return self.ddb


@pytest.mark.parametrize("restoring, status", [(3, PASS), (40, WARN), (50, FAIL)])
def test_concurrent_restores_warn_near_and_fail_at_the_account_quota(restoring, status):
    row = preflight.check_concurrent_restores(_FakeTarget(_FakeDynamo(60, restoring)))
    assert row.status == status
    assert f"{restoring} restore(s) in progress" in row.finding


def test_restores_in_progress_on_the_sandbox_are_counted(aws, target, sandbox):
    # Needs the sandbox's time-faithful PITR (a restored table stays CREATING for restore_seconds).
    make_table(aws, "orders")
    sandbox.settings.restore_seconds = 30.0
    aws("dynamodb").restore_table_to_point_in_time(
        SourceTableName="orders", TargetTableName="orders-drill", UseLatestRestorableTime=True
    )
    desc = aws("dynamodb").describe_table(TableName="orders-drill")["Table"]
    assert (desc.get("RestoreSummary") or {}).get("RestoreInProgress") is True
    row = preflight.check_concurrent_restores(target)
    assert "1 restore(s) in progress" in row.finding and "orders-drill" in row.finding


# -- settings snapshot rows -------------------------------------------------------------------
def test_settings_rows_summarise_what_a_restore_does_not_carry(aws, target):
    make_table(aws, "orders")
    ddb = aws("dynamodb")
    ddb.update_time_to_live(TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    ddb.tag_resource(ResourceArn=ddb.describe_table(TableName="orders")["Table"]["TableArn"], Tags=[{"Key": "team", "Value": "payments"}])
    pf = preflight.run_checks(target, source_table="orders", target_table="orders-restored", automation="notebook")
    summary = pf.row("settings_to_reapply")
    assert summary.status == PASS
    assert "TTL on (expires)" in summary.finding and "1 tag(s)" in summary.finding
    assert "stream NEW_AND_OLD_IMAGES" in summary.finding and "PITR on" in summary.finding
    assert "05_cutover" in summary.remedy


def test_settings_reads_a_caller_may_not_make_degrade_to_warn_rows(aws, target):
    # GIVEN a caller without dynamodb:DescribeContributorInsights (the sandbox's fault answers
    # AccessDeniedException, as AWS does for an action no policy allows)
    from runbook_lib.sandbox import faults

    make_table(aws, "orders")
    faults.enable("settings-access-denied", operations="DescribeContributorInsights")
    pf = preflight.run_checks(target, source_table="orders", target_table="orders-restored", automation="notebook")
    # THEN that read, and only that one, is a WARN row keeping AWS's code and naming the permission
    assert pf.snapshot["unreadable"] == {"contributor_insights": "AccessDeniedException"}
    row = pf.row("settings:contributor_insights")
    assert row.status == WARN and row.finding == "could not read contributor insights: AccessDeniedException"
    assert row.code == "AccessDeniedException" and "dynamodb:DescribeContributorInsights" in row.remedy
    assert pf.ok


def test_a_refused_check_degrades_to_a_warn_row(aws, target, monkeypatch):
    from botocore.exceptions import ClientError

    make_table(aws, "orders")
    make_trail(aws)

    def refuse(*args, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListEventSourceMappings")

    monkeypatch.setattr(checklist, "check_stream_consumers", refuse)
    pf = preflight.run_checks(target, source_table="orders", target_table="orders-restored")
    row = pf.row("stream_consumers")
    assert row.status == WARN and row.code == "AccessDeniedException" and "could not read" in row.finding
    assert pf.ok


def test_preflight_logs_and_results_hold_no_item_values(aws, target, caplog):
    make_table(aws, "orders")
    aws("dynamodb").put_item(TableName="orders", Item={"pk": {"S": CANARY + "-key"}, "v": {"S": CANARY * 100}})
    with caplog.at_level(logging.DEBUG, logger="runbook_lib"):
        pf = preflight.run_checks(target, source_table="orders", target_table="orders-restored", max_message_bytes=2048)
    assert pf.row("item_sizes").status == WARN
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("runbook_lib")]
    assert ours, "preflight logs its checks"
    blob = json.dumps(pf.to_dict()) + json.dumps(pf.snapshot) + "\n".join(ours)
    assert CANARY not in blob
