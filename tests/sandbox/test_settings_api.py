"""Every call the settings snapshot, diff and apply make, answered by the sandbox as AWS answers it.

The operations come from ONE place, ``settings.API_CALLS``: the code plans its writes only from
it (``settings.Step`` refuses any other) and the first test records the calls the code really
makes and compares them with it. Each operation is then driven with plain boto3 against a table
that has the setting and one that does not (and a resource that does not exist), and every
answer is checked mechanically against botocore's model of that operation
(``botocore.session.get_session().get_service_model(...)``): a success against the output shape
(member names, required members, types, enum values), an error against the operation's error
shapes (or the service's common errors) and its HTTP status.

Each case names the AWS API reference page it follows (``Case.doc``), e.g.
"DescribeContributorInsights - Amazon DynamoDB",
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeContributorInsights.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from runbook_lib.aws import clients as config
from runbook_lib import preflight, settings
from runbook_lib.settings import reading
from runbook_lib.aws.clients import AwsTarget

REGION = "us-east-1"
KEY = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
       "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
ALL_CALLS = sorted({call for calls in settings.API_CALLS.values() for call in calls})
MODELS = {service: botocore.session.get_session().get_service_model(service) for service, _ in ALL_CALLS}

#: API reference pages, by service
DOCS = {
    "dynamodb": "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_{}.html",
    "application-autoscaling": "https://docs.aws.amazon.com/autoscaling/application/APIReference/API_{}.html",
    "cloudwatch": "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_{}.html",
}
#: errors any operation of the service may answer besides its own ("Common Errors" of each API
#: reference, e.g. https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html)
COMMON_ERRORS = {"ValidationException", "AccessDeniedException", "ThrottlingException"}


# -- checking an answer against botocore's model ------------------------------------------------
def shape_problems(value: Any, shape, path: str = "") -> list[str]:
    """What in ``value`` does not follow ``shape`` (a botocore shape); empty when it all does."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path or '/'}: {type(value).__name__} where {shape.name} (structure) belongs"]
        out = [f"{path}.{k}: not a member of {shape.name}" for k in value if k not in shape.members]
        out += [f"{path}.{k}: required by {shape.name}" for k in shape.required_members if k not in value]
        for k, v in value.items():
            if k in shape.members:
                out += shape_problems(v, shape.members[k], f"{path}.{k}")
        return out
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__} where a list belongs"]
        return [p for i, v in enumerate(value) for p in shape_problems(v, shape.member, f"{path}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__} where a map belongs"]
        return [p for k, v in value.items() for p in shape_problems(k, shape.key, f"{path}<key>") + shape_problems(v, shape.value, f"{path}[{k}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {value!r} is not a string"]
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} is not one of {shape.name} {shape.enum}"]
        return []
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: {value!r} is not an integer"]
    if kind in ("double", "float"):
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: {value!r} is not a number"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    if kind == "timestamp":
        ok = isinstance(value, (int, float, str, datetime)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not a timestamp"]
    if kind == "blob":
        return [] if isinstance(value, (str, bytes)) else [f"{path}: {value!r} is not a blob"]
    return []


def error_codes(service: str, operation: str) -> set[str]:
    op = MODELS[service].operation_model(operation)
    return {(e.metadata.get("error") or {}).get("code", e.name) for e in op.error_shapes}


@dataclass
class Answer:
    parsed: dict | None
    raw: Any  # the JSON body when the protocol is JSON, else None
    error: str | None
    status: int


def call(endpoint: str, service: str, operation: str, params: dict) -> Answer:
    """One call with plain boto3 (no retries), keeping the raw body as well as botocore's parse."""
    client = boto3.client(service, endpoint_url=endpoint, region_name=REGION, config=Config(retries={"max_attempts": 1}))
    raw: dict[str, Any] = {}

    def keep(response_dict, **_):
        raw["body"] = response_dict.get("body")

    client.meta.events.register(f"before-parse.*.{operation}", keep)
    method = getattr(client, botocore.xform_name(operation))
    try:
        parsed = method(**params)
    except ClientError as err:
        return Answer(None, None, err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"])
    status = parsed.pop("ResponseMetadata")["HTTPStatusCode"]
    body = None
    if MODELS[service].resolved_protocol == "json" and raw.get("body"):
        body = json.loads(raw["body"])
    return Answer(parsed, body, None, status)


def assert_follows_model(service: str, operation: str, answer: Answer, doc: str) -> None:
    op = MODELS[service].operation_model(operation)
    if answer.error is None:
        assert answer.status == 200, doc
        problems = shape_problems(answer.parsed, op.output_shape) if op.output_shape else []
        if answer.raw is not None and op.output_shape is not None:
            problems += [f"raw body {p}" for p in shape_problems(answer.raw, op.output_shape)]
        assert not problems, f"{operation} answer does not follow botocore's model ({doc}): {problems}"
    else:
        allowed = error_codes(service, operation) | COMMON_ERRORS
        assert answer.error in allowed, f"{operation} answered {answer.error}, not one of {sorted(allowed)} ({doc})"
        assert answer.status == 400, f"{operation} {answer.error} with HTTP {answer.status} ({doc})"


# -- the world the cases run in -----------------------------------------------------------------
def build_world(aws) -> dict[str, Any]:
    """``bare``: no optional setting; ``streamed``: a stream and nothing else; ``full``: every one."""
    ddb = aws("dynamodb")
    ddb.create_table(TableName="bare", BillingMode="PAY_PER_REQUEST", **KEY)
    ddb.create_table(TableName="streamed", BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}, **KEY)
    ddb.create_table(
        TableName="full",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        DeletionProtectionEnabled=True,
        TableClass="STANDARD_INFREQUENT_ACCESS",
        Tags=[{"Key": "team", "Value": "payments"}],
        **KEY,
    )
    full = ddb.describe_table(TableName="full")["Table"]
    world = {
        "bare_arn": ddb.describe_table(TableName="bare")["Table"]["TableArn"],
        "streamed_stream": ddb.describe_table(TableName="streamed")["Table"]["LatestStreamArn"],
        "full_arn": full["TableArn"],
        "full_stream": full["LatestStreamArn"],
    }
    ddb.update_time_to_live(TableName="full", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    ddb.update_continuous_backups(TableName="full", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})
    ddb.update_contributor_insights(TableName="full", ContributorInsightsAction="ENABLE")
    world["policy"] = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["dynamodb:GetItem"], "Resource": world["full_arn"]}]})
    world["stream_policy"] = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"],
        "Resource": world["full_stream"]}]})
    ddb.put_resource_policy(ResourceArn=world["full_arn"], Policy=world["policy"])
    ddb.put_resource_policy(ResourceArn=world["full_stream"], Policy=world["stream_policy"])
    kinesis = aws("kinesis")
    kinesis.create_stream(StreamName="orders-changes", ShardCount=1)
    world["kinesis"] = kinesis.describe_stream_summary(StreamName="orders-changes")["StreamDescriptionSummary"]["StreamARN"]
    ddb.enable_kinesis_streaming_destination(TableName="full", StreamArn=world["kinesis"])
    aas = aws("application-autoscaling")
    aas.register_scalable_target(ServiceNamespace="dynamodb", ResourceId="table/full",
                                 ScalableDimension="dynamodb:table:ReadCapacityUnits", MinCapacity=5, MaxCapacity=50)
    aas.put_scaling_policy(**scaling_policy("table/full"))
    aws("cloudwatch").put_metric_alarm(**alarm("full-throttles", "full"))
    return world


def scaling_policy(resource_id: str) -> dict:
    return dict(
        PolicyName="read-scaling", ServiceNamespace="dynamodb", ResourceId=resource_id,
        ScalableDimension="dynamodb:table:ReadCapacityUnits", PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"},
        },
    )


def alarm(name: str, table: str) -> dict:
    return dict(
        AlarmName=name, Namespace="AWS/DynamoDB", MetricName="ThrottledRequests",
        Dimensions=[{"Name": "TableName", "Value": table}], Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


@dataclass(frozen=True)
class Case:
    operation: str
    name: str
    params: Callable[[dict], dict]
    #: None: a success; else the error code AWS answers
    error: str | None = None
    #: what the answer must say (with or without the setting), beyond following the model
    check: Callable[[dict, dict], None] | None = None

    @property
    def service(self) -> str:
        return next(s for s, op in ALL_CALLS if op == self.operation)

    @property
    def doc(self) -> str:
        return DOCS[self.service].format(self.operation)


def _eq(path: Callable[[dict], Any], expected: Any) -> Callable[[dict, dict], None]:
    def check(answer: dict, world: dict) -> None:
        value = path(answer)
        want = expected(world) if callable(expected) else expected
        assert value == want, f"{value!r} != {want!r}"

    return check


MISSING = "arn:aws:dynamodb:us-east-1:123456789012:table/missing"
CASES = [
    # DescribeTable: TableClassSummary only where a class was set; a missing table
    Case("DescribeTable", "without table class", lambda w: {"TableName": "bare"},
         check=_eq(lambda a: a["Table"].get("TableClassSummary"), None)),
    Case("DescribeTable", "with table class", lambda w: {"TableName": "full"},
         check=_eq(lambda a: a["Table"]["TableClassSummary"]["TableClass"], "STANDARD_INFREQUENT_ACCESS")),
    Case("DescribeTable", "missing table", lambda w: {"TableName": "missing"}, "ResourceNotFoundException"),
    Case("UpdateTable", "set a table class", lambda w: {"TableName": "bare", "TableClass": "STANDARD_INFREQUENT_ACCESS"},
         check=_eq(lambda a: a["TableDescription"]["TableClassSummary"]["TableClass"], "STANDARD_INFREQUENT_ACCESS")),
    Case("UpdateTable", "on-demand maximum", lambda w: {"TableName": "bare", "OnDemandThroughput": {"MaxReadRequestUnits": 100}},
         check=_eq(lambda a: a["TableDescription"]["OnDemandThroughput"], {"MaxReadRequestUnits": 100})),
    Case("UpdateTable", "an unknown table class", lambda w: {"TableName": "bare", "TableClass": "GLACIER"}, "ValidationException"),
    Case("UpdateTable", "missing table", lambda w: {"TableName": "missing", "DeletionProtectionEnabled": True},
         "ResourceNotFoundException"),
    # TTL
    Case("DescribeTimeToLive", "without TTL", lambda w: {"TableName": "bare"},
         check=_eq(lambda a: a["TimeToLiveDescription"]["TimeToLiveStatus"], "DISABLED")),
    Case("DescribeTimeToLive", "with TTL", lambda w: {"TableName": "full"},
         check=_eq(lambda a: a["TimeToLiveDescription"], {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"})),
    Case("DescribeTimeToLive", "missing table", lambda w: {"TableName": "missing"}, "ResourceNotFoundException"),
    Case("UpdateTimeToLive", "enable", lambda w: {"TableName": "bare", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}}),
    Case("UpdateTimeToLive", "again within the hour", lambda w: {"TableName": "full", "TimeToLiveSpecification": {"Enabled": False, "AttributeName": "expires"}},
         "ValidationException"),
    Case("UpdateTimeToLive", "missing table", lambda w: {"TableName": "missing", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "x"}},
         "ResourceNotFoundException"),
    # PITR
    Case("DescribeContinuousBackups", "without PITR", lambda w: {"TableName": "bare"},
         check=_eq(lambda a: a["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"], "DISABLED")),
    Case("DescribeContinuousBackups", "with PITR", lambda w: {"TableName": "full"},
         check=_eq(lambda a: a["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"], 7)),
    Case("DescribeContinuousBackups", "missing table", lambda w: {"TableName": "missing"}, "TableNotFoundException"),
    Case("UpdateContinuousBackups", "enable", lambda w: {"TableName": "bare", "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}),
    Case("UpdateContinuousBackups", "missing table", lambda w: {"TableName": "missing", "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}},
         "TableNotFoundException"),
    # tags
    Case("ListTagsOfResource", "without tags", lambda w: {"ResourceArn": w["bare_arn"]}, check=_eq(lambda a: a["Tags"], [])),
    Case("ListTagsOfResource", "with tags", lambda w: {"ResourceArn": w["full_arn"]},
         check=_eq(lambda a: a["Tags"], [{"Key": "team", "Value": "payments"}])),
    Case("ListTagsOfResource", "missing table", lambda w: {"ResourceArn": MISSING}, "ResourceNotFoundException"),
    Case("TagResource", "add a tag", lambda w: {"ResourceArn": w["bare_arn"], "Tags": [{"Key": "k", "Value": "v"}]}),
    Case("TagResource", "missing table", lambda w: {"ResourceArn": MISSING, "Tags": [{"Key": "k", "Value": "v"}]},
         "ResourceNotFoundException"),
    # contributor insights
    Case("DescribeContributorInsights", "without", lambda w: {"TableName": "bare"},
         check=_eq(lambda a: (a["ContributorInsightsStatus"], a.get("ContributorInsightsRuleList")), ("DISABLED", None))),
    Case("DescribeContributorInsights", "with", lambda w: {"TableName": "full"},
         check=_eq(lambda a: (a["ContributorInsightsStatus"], bool(a["ContributorInsightsRuleList"]), a["ContributorInsightsMode"]),
                   ("ENABLED", True, "ACCESSED_AND_THROTTLED_KEYS"))),
    Case("DescribeContributorInsights", "missing table", lambda w: {"TableName": "missing"}, "ResourceNotFoundException"),
    Case("DescribeContributorInsights", "missing index", lambda w: {"TableName": "full", "IndexName": "nope"}, "ResourceNotFoundException"),
    Case("UpdateContributorInsights", "enable", lambda w: {"TableName": "bare", "ContributorInsightsAction": "ENABLE"},
         check=_eq(lambda a: a["ContributorInsightsStatus"], "ENABLING")),
    Case("UpdateContributorInsights", "disable", lambda w: {"TableName": "full", "ContributorInsightsAction": "DISABLE"},
         check=_eq(lambda a: a["ContributorInsightsStatus"], "DISABLING")),
    Case("UpdateContributorInsights", "missing table", lambda w: {"TableName": "missing", "ContributorInsightsAction": "ENABLE"},
         "ResourceNotFoundException"),
    # resource policies, on tables and on streams
    Case("GetResourcePolicy", "table without a policy", lambda w: {"ResourceArn": w["bare_arn"]}, "PolicyNotFoundException"),
    Case("GetResourcePolicy", "stream without a policy", lambda w: {"ResourceArn": w["streamed_stream"]}, "PolicyNotFoundException"),
    Case("GetResourcePolicy", "table with a policy", lambda w: {"ResourceArn": w["full_arn"]},
         check=_eq(lambda a: a["Policy"], lambda w: w["policy"])),
    Case("GetResourcePolicy", "stream with a policy", lambda w: {"ResourceArn": w["full_stream"]},
         check=_eq(lambda a: a["Policy"], lambda w: w["stream_policy"])),
    Case("GetResourcePolicy", "missing table", lambda w: {"ResourceArn": MISSING}, "ResourceNotFoundException"),
    Case("GetResourcePolicy", "missing stream", lambda w: {"ResourceArn": w["full_arn"] + "/stream/2001-01-01T00:00:00.000"},
         "ResourceNotFoundException"),
    Case("PutResourcePolicy", "on a table", lambda w: {"ResourceArn": w["bare_arn"], "Policy": w["policy"].replace(w["full_arn"], w["bare_arn"])}),
    Case("PutResourcePolicy", "on a stream", lambda w: {"ResourceArn": w["streamed_stream"], "Policy": w["stream_policy"]}),
    Case("PutResourcePolicy", "missing stream", lambda w: {"ResourceArn": w["bare_arn"] + "/stream/2001-01-01T00:00:00.000", "Policy": w["policy"]},
         "ResourceNotFoundException"),
    # Kinesis streaming destinations
    Case("DescribeKinesisStreamingDestination", "without", lambda w: {"TableName": "bare"},
         check=_eq(lambda a: a["KinesisDataStreamDestinations"], [])),
    Case("DescribeKinesisStreamingDestination", "with", lambda w: {"TableName": "full"},
         check=_eq(lambda a: [(d["StreamArn"], d["DestinationStatus"]) for d in a["KinesisDataStreamDestinations"]],
                   lambda w: [(w["kinesis"], "ACTIVE")])),
    Case("DescribeKinesisStreamingDestination", "missing table", lambda w: {"TableName": "missing"}, "ResourceNotFoundException"),
    Case("EnableKinesisStreamingDestination", "enable", lambda w: {"TableName": "bare", "StreamArn": w["kinesis"]},
         check=_eq(lambda a: a["DestinationStatus"], "ENABLING")),
    Case("EnableKinesisStreamingDestination", "missing table", lambda w: {"TableName": "missing", "StreamArn": w["kinesis"]},
         "ResourceNotFoundException"),
    # Application Auto Scaling
    Case("DescribeScalableTargets", "without", lambda w: {"ServiceNamespace": "dynamodb", "ResourceIds": ["table/bare"]},
         check=_eq(lambda a: a["ScalableTargets"], [])),
    Case("DescribeScalableTargets", "with", lambda w: {"ServiceNamespace": "dynamodb", "ResourceIds": ["table/full"]},
         check=_eq(lambda a: [(t["MinCapacity"], t["MaxCapacity"]) for t in a["ScalableTargets"]], [(5, 50)])),
    Case("DescribeScalableTargets", "an unknown namespace", lambda w: {"ServiceNamespace": "nope"}, "ValidationException"),
    Case("DescribeScalingPolicies", "without", lambda w: {"ServiceNamespace": "dynamodb", "ResourceId": "table/bare"},
         check=_eq(lambda a: a["ScalingPolicies"], [])),
    Case("DescribeScalingPolicies", "with", lambda w: {"ServiceNamespace": "dynamodb", "ResourceId": "table/full"},
         check=_eq(lambda a: [p["PolicyName"] for p in a["ScalingPolicies"]], ["read-scaling"])),
    Case("RegisterScalableTarget", "register", lambda w: {"ServiceNamespace": "dynamodb", "ResourceId": "table/full",
                                                          "ScalableDimension": "dynamodb:table:WriteCapacityUnits", "MinCapacity": 5, "MaxCapacity": 20}),
    Case("PutScalingPolicy", "on a registered target", lambda w: scaling_policy("table/full")),
    Case("PutScalingPolicy", "without a registered target", lambda w: scaling_policy("table/bare"), "ObjectNotFoundException"),
    # CloudWatch
    Case("DescribeAlarms", "without", lambda w: {"AlarmNamePrefix": "bare"}, check=_eq(lambda a: a["MetricAlarms"], [])),
    Case("DescribeAlarms", "with", lambda w: {"AlarmNamePrefix": "full"},
         check=_eq(lambda a: [m["AlarmName"] for m in a["MetricAlarms"]], ["full-throttles"])),
    Case("PutMetricAlarm", "put", lambda w: alarm("bare-throttles", "bare")),
]


@pytest.fixture
def world(aws):
    return build_world(aws)


def test_every_listed_operation_has_cases_that_succeed_and_cases_without_the_setting():
    by_op: dict[str, list[Case]] = {}
    for case in CASES:
        by_op.setdefault(case.operation, []).append(case)
    assert set(by_op) == {op for _, op in ALL_CALLS}, "every operation of settings.API_CALLS, and no other, has cases"
    for op, cases in by_op.items():
        assert any(c.error is None for c in cases), f"{op}: no case that succeeds"
        if op.startswith(("Describe", "Get", "List")):
            assert len(cases) >= 2, f"{op}: a case with the setting and one without"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.operation}:{c.name}")
def test_the_sandbox_answers_each_settings_call_as_botocore_models_it(case, world, endpoint):
    """Each case follows its API reference page (``case.doc``) and botocore's model of the call."""
    answer = call(endpoint, case.service, case.operation, case.params(world))
    assert answer.error == case.error, f"{case.operation} {case.name}: answered {answer.error or 'success'} ({case.doc})"
    assert_follows_model(case.service, case.operation, answer, case.doc)
    if case.check is not None:
        case.check(answer.parsed, world)


# -- the code calls exactly what the table lists --------------------------------------------------
@pytest.fixture
def recorded(monkeypatch):
    """Every (service, operation) the runbook's own clients call while the fixture is on."""
    calls: set[tuple[str, str]] = set()
    real = config._make_client

    def make(service, region, endpoint_url, cfg):
        client = real(service, region, endpoint_url, cfg)
        name = client.meta.service_model.service_name
        client.meta.events.register("before-call", lambda model, **_: calls.add((name, model.name)))
        return client

    config._shared_client_unlocked.cache_clear()
    monkeypatch.setattr(config, "_make_client", make)
    yield calls
    config._shared_client_unlocked.cache_clear()


def test_snapshot_diff_and_apply_call_exactly_the_operations_of_api_calls(aws, world, endpoint, recorded):
    # GIVEN a source with every setting and a fresh provisioned table as the restored one
    aws("dynamodb").create_table(TableName="full-restored", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}, **KEY)
    target = AwsTarget(region=REGION, endpoint_url=endpoint)
    # WHEN the settings are snapshotted, diffed and applied
    snap = settings.snapshot(target, "full")
    plan = settings.diff(target, snap, "full-restored")
    done = settings.apply(target, plan, execute=True)
    # THEN every call is one of settings.API_CALLS and every one of them was needed
    assert recorded == set(ALL_CALLS), {"not listed": recorded - set(ALL_CALLS), "never called": set(ALL_CALLS) - recorded}
    assert done.ok and not snap["unreadable"]
    # and each setting applied is what the next describe shows: nothing is left to apply
    assert settings.diff(target, snap, "full-restored").empty


def test_a_step_outside_api_calls_is_refused():
    with pytest.raises(ValueError, match="API_CALLS"):
        settings.Step("dynamodb", "DeleteTable", {"TableName": "orders"})


# -- applying a setting is visible to the next describe -------------------------------------------
def test_contributor_insights_enable_then_disable_is_what_describe_shows(aws, world):
    """UpdateContributorInsights answers ENABLING/DISABLING; DescribeContributorInsights then shows
    the status ("UpdateContributorInsights - Amazon DynamoDB",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateContributorInsights.html)."""
    ddb = aws("dynamodb")
    assert ddb.update_contributor_insights(TableName="bare", ContributorInsightsAction="ENABLE",
                                           ContributorInsightsMode="THROTTLED_KEYS")["ContributorInsightsStatus"] == "ENABLING"
    got = ddb.describe_contributor_insights(TableName="bare")
    assert (got["ContributorInsightsStatus"], got["ContributorInsightsMode"]) == ("ENABLED", "THROTTLED_KEYS")
    assert got["ContributorInsightsRuleList"] and got["LastUpdateDateTime"]
    ddb.update_contributor_insights(TableName="bare", ContributorInsightsAction="DISABLE")
    assert ddb.describe_contributor_insights(TableName="bare")["ContributorInsightsStatus"] == "DISABLED"


def test_a_policy_put_on_a_stream_is_what_get_returns_and_a_new_stream_has_none(aws, world):
    """A stream's ARN takes a policy of its own; a stream without one answers PolicyNotFoundException,
    a stream that does not exist ResourceNotFoundException ("GetResourcePolicy - Amazon DynamoDB",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetResourcePolicy.html; "Attach a
    resource-based policy to a DynamoDB stream",
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-attach-resource-policy-streams.html)."""
    ddb = aws("dynamodb")
    rev = ddb.put_resource_policy(ResourceArn=world["streamed_stream"], Policy=world["stream_policy"])["RevisionId"]
    got = ddb.get_resource_policy(ResourceArn=world["streamed_stream"])
    assert (got["Policy"], got["RevisionId"]) == (world["stream_policy"], rev)
    # the table itself still has none
    with pytest.raises(ClientError) as exc:
        ddb.get_resource_policy(ResourceArn=world["streamed_stream"].split("/stream/")[0])
    assert exc.value.response["Error"]["Code"] == "PolicyNotFoundException"
    # a new stream (disable, enable again) is a new resource, without a policy; the old one keeps its own
    ddb.update_table(TableName="streamed", StreamSpecification={"StreamEnabled": False})
    ddb.update_table(TableName="streamed", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    new = ddb.describe_table(TableName="streamed")["Table"]["LatestStreamArn"]
    assert new != world["streamed_stream"]
    with pytest.raises(ClientError) as exc:
        ddb.get_resource_policy(ResourceArn=new)
    assert exc.value.response["Error"]["Code"] == "PolicyNotFoundException"
    assert ddb.get_resource_policy(ResourceArn=world["streamed_stream"])["Policy"] == world["stream_policy"]
    # deleting where there is no policy is PolicyNotFoundException too
    with pytest.raises(ClientError) as exc:
        ddb.delete_resource_policy(ResourceArn=new)
    assert exc.value.response["Error"]["Code"] == "PolicyNotFoundException"


def test_a_kinesis_destination_enabled_is_described_active_and_disabled_stays_listed(aws, world):
    """EnableKinesisStreamingDestination answers ENABLING; DescribeKinesisStreamingDestination then
    lists it ("EnableKinesisStreamingDestination - Amazon DynamoDB",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_EnableKinesisStreamingDestination.html)."""
    ddb = aws("dynamodb")
    ddb.enable_kinesis_streaming_destination(TableName="bare", StreamArn=world["kinesis"],
                                             EnableKinesisStreamingConfiguration={"ApproximateCreationDateTimePrecision": "MICROSECOND"})
    dests = ddb.describe_kinesis_streaming_destination(TableName="bare")["KinesisDataStreamDestinations"]
    assert dests == [{"StreamArn": world["kinesis"], "DestinationStatus": "ACTIVE", "ApproximateCreationDateTimePrecision": "MICROSECOND"}]
    assert ddb.disable_kinesis_streaming_destination(TableName="bare", StreamArn=world["kinesis"])["DestinationStatus"] == "DISABLING"
    dests = ddb.describe_kinesis_streaming_destination(TableName="bare")["KinesisDataStreamDestinations"]
    assert [d["DestinationStatus"] for d in dests] == ["DISABLED"]


def test_table_class_on_demand_and_warm_throughput_updates_show_in_describe_table(aws, world):
    """UpdateTable's TableClass, OnDemandThroughput (-1 removes a maximum) and WarmThroughput are in
    the next DescribeTable ("UpdateTable - Amazon DynamoDB",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html;
    "OnDemandThroughput", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_OnDemandThroughput.html)."""
    ddb = aws("dynamodb")
    before = ddb.describe_table(TableName="bare")["Table"]["WarmThroughput"]
    ddb.update_table(TableName="bare", TableClass="STANDARD_INFREQUENT_ACCESS",
                     OnDemandThroughput={"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 50})
    ddb.update_table(TableName="bare", OnDemandThroughput={"MaxWriteRequestUnits": -1},
                     WarmThroughput={"ReadUnitsPerSecond": before["ReadUnitsPerSecond"] + 1000})
    desc = ddb.describe_table(TableName="bare")["Table"]
    assert desc["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert desc["OnDemandThroughput"] == {"MaxReadRequestUnits": 100}
    assert desc["WarmThroughput"]["ReadUnitsPerSecond"] == before["ReadUnitsPerSecond"] + 1000
    assert desc["WarmThroughput"]["WriteUnitsPerSecond"] == before["WriteUnitsPerSecond"]  # kept


def test_update_time_to_live_again_within_the_hour_is_refused(aws, world, sandbox):
    """"Any additional UpdateTimeToLive calls for the same table during this one hour duration result
    in a ValidationException" ("UpdateTimeToLive - Amazon DynamoDB",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html)."""
    ddb = aws("dynamodb")
    ddb.update_time_to_live(TableName="bare", TimeToLiveSpecification={"Enabled": True, "AttributeName": "a"})
    with pytest.raises(ClientError) as exc:
        ddb.update_time_to_live(TableName="bare", TimeToLiveSpecification={"Enabled": False, "AttributeName": "a"})
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert ddb.describe_time_to_live(TableName="bare")["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    sandbox.settings.ttl_change_seconds = 0.0  # the hour has passed
    ddb.update_time_to_live(TableName="bare", TimeToLiveSpecification={"Enabled": False, "AttributeName": "a"})
    assert ddb.describe_time_to_live(TableName="bare")["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"


# -- our own handling of the answers --------------------------------------------------------------
def test_a_table_without_optional_settings_gives_no_warn_row(aws, world, endpoint):
    target = AwsTarget(region=REGION, endpoint_url=endpoint)
    for table in ("bare", "streamed", "full"):
        snap = settings.snapshot(target, table)
        assert snap["unreadable"] == {}, table
        assert [r.check for r in preflight.settings_rows(snap) if r.status != preflight.PASS] == [], table
    snap = settings.snapshot(target, "streamed")
    assert snap["contributor_insights"]["table"]["status"] == "DISABLED"
    assert snap["stream_resource_policy"] is None and snap["resource_policy"] is None
    assert snap["kinesis_destinations"] == []
    full = settings.snapshot(target, "full")
    assert full["stream_resource_policy"] == world["stream_policy"] and full["resource_policy"] == world["policy"]
    assert full["contributor_insights"]["table"]["enabled"] is True
    assert full["kinesis_destinations"] == [{"stream_arn": world["kinesis"], "status": "ACTIVE", "precision": "MILLISECOND"}]
    assert full["table_class"] == "STANDARD_INFREQUENT_ACCESS"


def test_access_denied_is_a_warn_row_with_the_code_never_a_missing_policy(aws, world, endpoint, sandbox):
    """A caller without dynamodb:GetResourcePolicy gets AccessDeniedException ("Common Errors - Amazon
    DynamoDB", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html): the
    snapshot must say the policy could not be read, and the diff must not plan as if it were absent."""
    from runbook_lib.sandbox import faults

    target = AwsTarget(region=REGION, endpoint_url=endpoint)
    faults.enable("settings-access-denied", operations="GetResourcePolicy,DescribeContributorInsights")
    snap = settings.snapshot(target, "full")
    assert snap["unreadable"] == {
        "resource_policy": "AccessDeniedException",
        "stream_resource_policy": "AccessDeniedException",
        "contributor_insights": "AccessDeniedException",
    }
    assert snap["resource_policy"] is None and snap["contributor_insights"] is None
    rows = {r.check: r for r in preflight.settings_rows(snap)}
    assert rows["settings:resource_policy"].status == preflight.WARN
    assert rows["settings:resource_policy"].code == "AccessDeniedException"
    assert "dynamodb:GetResourcePolicy" in rows["settings:resource_policy"].remedy
    assert faults.snapshot()["events"]["settings-access-denied"]["denied GetResourcePolicy"] == 2
    faults.disable("settings-access-denied")
    aws("dynamodb").create_table(TableName="full-restored", BillingMode="PAY_PER_REQUEST", **KEY)
    plan = settings.diff(target, snap, "full-restored")
    assert not {c.setting for c in plan.changes} & {"resource_policy", "stream_resource_policy"}
    assert any("resource policy of full could not be read (AccessDeniedException)" in n for n in plan.notes)


def test_a_stream_that_is_gone_is_not_shown_as_a_stream_without_policy(aws, world, endpoint, monkeypatch):
    """ResourceNotFoundException means the stream itself is missing, PolicyNotFoundException that it
    has no policy ("GetResourcePolicy - Amazon DynamoDB",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetResourcePolicy.html)."""
    target = AwsTarget(region=REGION, endpoint_url=endpoint)
    real = reading.describe_table

    def stale_stream(target_, table, *, client=None):
        desc = real(target_, table, client=client)
        return {**desc, "LatestStreamArn": desc["TableArn"] + "/stream/2001-01-01T00:00:00.000"}

    monkeypatch.setattr(reading, "describe_table", stale_stream)
    snap = settings.snapshot(target, "streamed")
    assert snap["unreadable"] == {"stream_resource_policy": "ResourceNotFoundException"}


@pytest.mark.parametrize("tag", [
    {"Key": "aws:cloudformation:stack-name", "Value": "mine"},  # the reserved prefix, any case
    {"Key": "AWS:team", "Value": "x"},
    {"Key": "team", "Value": "aws:ops"},
    {"Key": "owner", "Value": "ops@example.com"},  # '@' is outside DynamoDB's set
    {"Key": "cost#center", "Value": "1"},
])
def test_tags_dynamodb_refuses_are_refused_before_anything_changes(aws, tag):
    """"Tagging restrictions in DynamoDB"
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TaggingRestrictions.html): letters,
    numbers, white space and + - = . _ : / only; the aws: prefix is assigned by AWS, "which you can't
    assign". moto took any tag."""
    ddb = aws("dynamodb")
    schema = dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    arn = ddb.create_table(TableName="tagged", Tags=[{"Key": "team", "Value": "ops + db/on-call: 1"}],
                           **schema)["TableDescription"]["TableArn"]
    with pytest.raises(ClientError) as err:
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "ok", "Value": "fine"}, tag])
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ops + db/on-call: 1"}]
    with pytest.raises(ClientError) as err:
        ddb.create_table(TableName="tagged-2", Tags=[tag], **schema)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "tagged-2" not in ddb.list_tables()["TableNames"]
