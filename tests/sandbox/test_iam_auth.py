"""IAM enforced in the sandbox for the principals created in it (``runbook_lib/sandbox/iam_auth.py``).

Each test names the AWS document it follows. The ones used throughout:

- "Policy evaluation logic", IAM User Guide,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  (explicit deny over allow, implicit deny without an allow);
- "Troubleshoot access denied error messages", IAM User Guide,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html (the wording
  "User: ARN is not authorized to perform: ACTION on resource: ARN because no identity-based policy
  allows the ACTION action" / "with an explicit deny in an identity-based policy");
- "Common Errors" of each API reference (AccessDeniedException, HTTP 400, for the JSON services;
  InvalidClientTokenId, HTTP 403), e.g. https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from runbook_lib.sandbox import iam_auth

REGION = "us-east-1"
ACCOUNT = "123456789012"


def _table(aws, name: str) -> str:
    aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _user(aws, name: str, *statements: dict, managed: bool = False) -> dict:
    """An IAM user holding one policy of ``statements``; its access key."""
    iam = aws("iam")
    iam.create_user(UserName=name)
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    if managed:
        arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=document)["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    elif statements:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=document)
    return iam.create_access_key(UserName=name)["AccessKey"]


def _client(endpoint: str, service: str, key: dict, region: str = REGION):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        aws_session_token=key.get("SessionToken"),
    )


def _denied(call, *args, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value


def test_a_user_may_describe_the_table_its_policy_names_and_no_other(aws, endpoint):
    """Resource matched against the table's ARN ("IAM JSON policy elements: Resource",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html;
    DynamoDB's resource types in "Actions, resources, and condition keys for Amazon DynamoDB",
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html)."""
    orders = _table(aws, "orders")
    other = _table(aws, "payments")
    key = _user(aws, "reader", {"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": orders})
    ddb = _client(endpoint, "dynamodb", key)

    assert ddb.describe_table(TableName="orders")["Table"]["TableArn"] == orders
    err = _denied(ddb.describe_table, TableName="payments")
    assert err.response["Error"]["Code"] == "AccessDeniedException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: dynamodb:DescribeTable "
        f"on resource: {other} because no identity-based policy allows the dynamodb:DescribeTable action"
    )
    # an action the policy does not name, on the table it does name
    assert _denied(ddb.scan, TableName="orders").response["Error"]["Code"] == "AccessDeniedException"


def test_an_explicit_deny_wins_over_an_allow(aws, endpoint):
    """"Policy evaluation logic": an explicit deny in any policy overrides any allow."""
    orders = _table(aws, "orders")
    key = _user(
        aws,
        "denied",
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": orders},
    )
    ddb = _client(endpoint, "dynamodb", key)
    ddb.describe_table(TableName="orders")
    err = _denied(ddb.delete_table, TableName="orders")
    assert err.response["Error"]["Message"].endswith(
        f"dynamodb:DeleteTable on resource: {orders} with an explicit deny in an identity-based policy"
    )
    assert aws("dynamodb").describe_table(TableName="orders")["Table"]["TableStatus"] == "ACTIVE"


def test_wildcards_match_actions_and_arns(aws, endpoint):
    """``*`` and ``?`` in Action (case-insensitive) and Resource ("IAM JSON policy elements: Action",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html, and
    "...: Resource": "You can use wildcard characters (* and ?) within any ARN segment")."""
    _table(aws, "orders-1")
    _table(aws, "orders-12")
    key = _user(aws, "wild", {"Effect": "Allow", "Action": "DynamoDB:describe*",
                              "Resource": f"arn:aws:dynamodb:*:{ACCOUNT}:table/orders-?"})
    ddb = _client(endpoint, "dynamodb", key)
    ddb.describe_table(TableName="orders-1")
    ddb.describe_continuous_backups(TableName="orders-1")
    assert _denied(ddb.describe_table, TableName="orders-12").response["Error"]["Code"] == "AccessDeniedException"


def test_not_action_and_not_resource_exclude(aws, endpoint):
    """``NotAction``/``NotResource`` match everything except what they list ("IAM JSON policy
    elements: NotAction", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html)."""
    _table(aws, "orders")
    secret = _table(aws, "secrets")
    key = _user(aws, "nots", {"Effect": "Allow", "NotAction": "dynamodb:Scan", "NotResource": secret})
    ddb = _client(endpoint, "dynamodb", key)
    ddb.describe_table(TableName="orders")
    assert _denied(ddb.scan, TableName="orders").response["Error"]["Code"] == "AccessDeniedException"
    assert _denied(ddb.describe_table, TableName="secrets").response["Error"]["Code"] == "AccessDeniedException"


def test_conditions_on_region_and_transport_decide(aws, endpoint):
    """Condition operators ("IAM JSON policy elements: Condition operators",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
    a StringEquals on ``aws:RequestedRegion`` and a deny on ``Bool aws:SecureTransport false`` (the
    sandbox speaks plain HTTP)."""
    _table(aws, "orders")
    key = _user(aws, "regional", {"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": "*",
                                  "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}})
    _client(endpoint, "dynamodb", key).describe_table(TableName="orders")
    elsewhere = _user(aws, "elsewhere", {"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": "*",
                                         "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}})
    assert _denied(_client(endpoint, "dynamodb", elsewhere).describe_table, TableName="orders")
    tls = _user(aws, "tls-only",
                {"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": "*"},
                {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    err = _denied(_client(endpoint, "dynamodb", tls).describe_table, TableName="orders")
    assert "explicit deny" in err.response["Error"]["Message"]


def test_a_managed_policy_counts_like_an_inline_one_until_detached(aws, endpoint):
    """Identity-based policies are managed or inline ("Managed policies and inline policies",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html)."""
    _table(aws, "orders")
    key = _user(aws, "managed", {"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": "*"}, managed=True)
    ddb = _client(endpoint, "dynamodb", key)
    ddb.describe_table(TableName="orders")
    aws("iam").detach_user_policy(UserName="managed", PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/managed-policy")
    assert _denied(ddb.describe_table, TableName="orders").response["Error"]["Code"] == "AccessDeniedException"


def test_an_assumed_role_is_named_by_its_session_in_a_denial(aws, endpoint):
    """An assumed role signs as ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``
    ("IAM identifiers", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html)
    and acts with the role's policies; the trust policy must name the caller ("AssumeRole", AWS
    STS API reference, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html)."""
    orders = _table(aws, "orders")
    _table(aws, "payments")
    iam = aws("iam")
    user_key = _user(aws, "operator")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/operator"}}]}
    role_arn = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": orders}]}))
    creds = _client(endpoint, "sts", user_key).assume_role(RoleArn=role_arn, RoleSessionName="drill")["Credentials"]
    ddb = _client(endpoint, "dynamodb", creds)
    ddb.describe_table(TableName="orders")
    err = _denied(ddb.describe_table, TableName="payments")
    assert err.response["Error"]["Message"].startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/reader/drill is not authorized to perform: dynamodb:DescribeTable"
    )
    # a role whose trust policy names only a service cannot be assumed by the user
    service_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    fn_role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(service_trust))["Role"]["Arn"]
    err = _denied(_client(endpoint, "sts", user_key).assume_role, RoleArn=fn_role, RoleSessionName="xx")
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_default_credentials_stay_unrestricted(aws):
    """The sandbox's own credentials act like the account's root user: no policy applies
    ("AWS account root user", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html)."""
    _table(aws, "orders")
    _user(aws, "someone")  # a user with no policy exists: the default key is not that user
    aws("dynamodb").delete_table(TableName="orders")
    aws("sqs").create_queue(QueueName="q")
    aws("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")


def test_a_deleted_or_inactive_key_is_not_recognised(aws, endpoint):
    """A key that does not exist: ``UnrecognizedClientException`` (JSON) / ``InvalidClientTokenId``
    (query), "Common Errors", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html
    and https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html."""
    _table(aws, "orders")
    key = _user(aws, "leaver", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    ddb = _client(endpoint, "dynamodb", key)
    ddb.describe_table(TableName="orders")
    aws("iam").update_access_key(UserName="leaver", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert _denied(ddb.describe_table, TableName="orders").response["Error"]["Code"] == "UnrecognizedClientException"
    aws("iam").delete_access_key(UserName="leaver", AccessKeyId=key["AccessKeyId"])
    err = _denied(_client(endpoint, "iam", key).list_users)
    assert err.response["Error"]["Code"] == "InvalidClientTokenId"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_each_protocol_answers_its_own_access_denied(aws, endpoint):
    """SQS (JSON, query-compatible: the code is ``AccessDenied``, "Troubleshoot an access denied error
    in Amazon SQS", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-access-denied.html),
    Lambda (``AccessDeniedException``, HTTP 403), IAM and CloudFormation (query: ``AccessDenied``, 403),
    S3 (``AccessDenied``, 403), Step Functions and EventBridge (``AccessDeniedException``)."""
    queue_url = aws("sqs").create_queue(QueueName="buffer.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    key = _user(aws, "nobody")
    err = _denied(_client(endpoint, "sqs", key).get_queue_attributes, QueueUrl=queue_url)
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert f"sqs:GetQueueAttributes on resource: arn:aws:sqs:{REGION}:{ACCOUNT}:buffer.fifo" in err.response["Error"]["Message"]
    err = _denied(_client(endpoint, "lambda", key).get_function, FunctionName="forwarder")
    assert (err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert f"lambda:GetFunction on resource: arn:aws:lambda:{REGION}:{ACCOUNT}:function:forwarder" in err.response["Error"]["Message"]
    err = _denied(_client(endpoint, "iam", key).get_role, RoleName="r")
    assert (err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    err = _denied(_client(endpoint, "cloudformation", key).describe_stacks, StackName="buffer")
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert f"on resource: arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/buffer/*" in err.response["Error"]["Message"]
    aws("s3").create_bucket(Bucket="code")
    err = _denied(_client(endpoint, "s3", key).put_object, Bucket="code", Key="cdc.zip", Body=b"x")
    assert (err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    err = _denied(_client(endpoint, "stepfunctions", key).list_state_machines)
    assert err.response["Error"]["Code"] == "AccessDeniedException"
    err = _denied(_client(endpoint, "events", key).describe_rule, Name="restore")
    assert err.response["Error"]["Code"] == "AccessDeniedException"
    assert f"on resource: arn:aws:events:{REGION}:{ACCOUNT}:rule/restore" in err.response["Error"]["Message"]


def test_batch_calls_are_checked_per_table(aws, endpoint):
    """``BatchWriteItem`` needs the action on every table it writes ("Actions, resources, and
    condition keys for Amazon DynamoDB": BatchWriteItem, resource type table)."""
    target = _table(aws, "restored")
    _table(aws, "source")
    key = _user(aws, "applier", {"Effect": "Allow", "Action": "dynamodb:BatchWriteItem", "Resource": target})
    ddb = _client(endpoint, "dynamodb", key)
    put = {"PutRequest": {"Item": {"pk": {"S": "a"}}}}
    ddb.batch_write_item(RequestItems={"restored": [put]})
    err = _denied(ddb.batch_write_item, RequestItems={"restored": [put], "source": [put]})
    assert "table/source" in err.response["Error"]["Message"]


def test_pass_role_is_needed_to_give_a_function_its_role(aws, endpoint):
    """``iam:PassRole`` with ``iam:PassedToService`` ("Grant a user permissions to pass a role to an
    AWS service", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html)."""
    iam = aws("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role_arn = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    key = _user(aws, "deployer",
                {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"},
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn,
                 "Condition": {"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}}})
    err = _denied(_client(endpoint, "lambda", key).create_function, FunctionName="f", Runtime="python3.12",
                  Role=role_arn, Handler="h.handler", Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18})
    assert f"iam:PassRole on resource: {role_arn}" in err.response["Error"]["Message"]


def test_evaluate_answers_for_a_principal_by_arn(aws):
    """The one evaluation function: allowed / explicitDeny / implicitDeny ("Policy evaluation logic")."""
    orders = _table(aws, "orders")
    _user(aws, "sim", {"Effect": "Allow", "Action": "dynamodb:Describe*", "Resource": orders},
          {"Effect": "Deny", "Action": "dynamodb:DescribeStream", "Resource": "*"})
    user = f"arn:aws:iam::{ACCOUNT}:user/sim"
    assert iam_auth.evaluate(user, "dynamodb:DescribeTable", orders) == "allowed"
    assert iam_auth.evaluate(user, "dynamodb:DescribeStream", orders + "/stream/x") == "explicitDeny"
    assert iam_auth.evaluate(user, "dynamodb:Scan", orders) == "implicitDeny"
