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

from runbook_lib.sandbox import iam_auth, iam_principals

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
    S3 (``AccessDenied``, 403), Step Functions and EventBridge (``AccessDeniedException``), CloudWatch
    (``AccessDenied`` through ``x-amzn-query-error``: its model is awsQueryCompatible)."""
    queue_url = aws("sqs").create_queue(QueueName="buffer.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    key = _user(aws, "nobody")
    err = _denied(_client(endpoint, "sqs", key).get_queue_attributes, QueueUrl=queue_url)
    assert err.response["Error"]["Code"] == "AccessDenied"
    # SQS names the action in lower case (as quoted from real refusals in
    # aws/serverless-application-model#3633: "not authorized to perform: sqs:sendmessage")
    assert f"sqs:getqueueattributes on resource: arn:aws:sqs:{REGION}:{ACCOUNT}:buffer.fifo" in err.response["Error"]["Message"]
    assert err.response["Error"]["Message"].endswith("allows the sqs:getqueueattributes action")
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
    # CloudWatch (JSON here; CBOR where botocore picks smithy-rpc-v2-cbor: answered in kind)
    # and, its model being awsQueryCompatible, names the query code in x-amzn-query-error, which
    # botocore reports
    err = _denied(_client(endpoint, "cloudwatch", key).put_metric_data, Namespace="pitr", MetricData=[{"MetricName": "m", "Value": 1}])
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert "cloudwatch:PutMetricData on resource: *" in err.response["Error"]["Message"]
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


# ------------------------------------------------------------------------ Lambda execution roles
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"}}]}

WRITER = '''
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    ddb = boto3.client("dynamodb")
    ddb.put_item(TableName="sink", Item={"pk": {"S": "single"}})
    try:
        ddb.batch_write_item(RequestItems={"sink": [{"PutRequest": {"Item": {"pk": {"S": "batch"}}}}]})
    except ClientError as exc:
        return {"code": exc.response["Error"]["Code"], "message": exc.response["Error"]["Message"]}
    return {"code": None}
'''


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def _role(aws, name: str, trust: dict, *statements: dict) -> str:
    iam = aws("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(statements)}))
    return arn


def test_a_function_runs_as_its_execution_role_and_is_denied_what_the_role_lacks(aws):
    """Lambda gives the function its execution role's temporary credentials in
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` ("Defining Lambda function
    permissions with an execution role", https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html;
    "Defined runtime environment variables", https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html):
    a role allowing PutItem but not BatchWriteItem makes the function's BatchWriteItem fail with
    AccessDeniedException, the session named after the function."""
    sink = _table(aws, "sink")
    role = _role(aws, "writer-role", LAMBDA_TRUST, {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": sink})
    aws("lambda").create_function(FunctionName="writer", Runtime="python3.12", Role=role, Handler="app.handler",
                                  Code={"ZipFile": _zip({"app.py": WRITER})}, Timeout=10)
    out = json.loads(aws("lambda").invoke(FunctionName="writer", Payload=b"{}")["Payload"].read())
    assert out["code"] == "AccessDeniedException"
    assert out["message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/writer-role/writer is not authorized to perform: "
        f"dynamodb:BatchWriteItem on resource: {sink} because no identity-based policy allows the "
        "dynamodb:BatchWriteItem action"
    )
    items = aws("dynamodb").scan(TableName="sink")["Items"]
    assert items == [{"pk": {"S": "single"}}]


def test_a_function_whose_role_lambda_cannot_assume_is_refused(aws):
    """CreateFunction refuses a role whose trust policy does not name lambda.amazonaws.com
    (``InvalidParameterValueException``, "CreateFunction", AWS Lambda API reference,
    https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html; "Defining Lambda function
    permissions with an execution role": the trust policy must let Lambda assume the role)."""
    states_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "states.amazonaws.com"}}]}
    role = _role(aws, "not-for-lambda", states_trust)
    with pytest.raises(ClientError) as info:
        aws("lambda").create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="app.handler",
                                      Code={"ZipFile": _zip({"app.py": WRITER})})
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_an_sqs_mapping_needs_the_role_to_receive_from_the_queue(aws):
    """Lambda polls the queue as the execution role, which needs sqs:ReceiveMessage,
    sqs:DeleteMessage and sqs:GetQueueAttributes on it ("Using Lambda with Amazon SQS", execution
    role permissions, https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions);
    CreateEventSourceMapping refuses a role without them (InvalidParameterValueException)."""
    queue_url = aws("sqs").create_queue(QueueName="buffer.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:buffer.fifo"
    role = _role(aws, "consumer", LAMBDA_TRUST,
                 {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"], "Resource": queue_arn})
    lam = aws("lambda")
    lam.create_function(FunctionName="applier", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": _zip({"app.py": WRITER})})
    with pytest.raises(ClientError) as info:
        lam.create_event_source_mapping(FunctionName="applier", EventSourceArn=queue_arn, BatchSize=10)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "DeleteMessage" in info.value.response["Error"]["Message"]
    aws("iam").put_role_policy(RoleName="consumer", PolicyName="delete", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:DeleteMessage", "Resource": queue_arn}]}))
    lam.create_event_source_mapping(FunctionName="applier", EventSourceArn=queue_arn, BatchSize=10, Enabled=False)
    assert queue_url


# --------------------------------------------------------- Step Functions and EventBridge as roles
STATES_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "states.amazonaws.com"}}]}
EVENTS_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "events.amazonaws.com"}}]}


def _mapping(aws) -> str:
    """A disabled SQS mapping of a function whose role may consume the queue."""
    aws("sqs").create_queue(QueueName="buffer.fifo", Attributes={"FifoQueue": "true"})
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:buffer.fifo"
    role = _role(aws, "applier-role", LAMBDA_TRUST, {"Effect": "Allow", "Resource": queue_arn,
                 "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]})
    aws("lambda").create_function(FunctionName="applier", Runtime="python3.12", Role=role, Handler="app.handler",
                                  Code={"ZipFile": _zip({"app.py": "def handler(e, c):\n    return {}\n"})})
    return aws("lambda").create_event_source_mapping(FunctionName="applier", EventSourceArn=queue_arn,
                                                     BatchSize=10, Enabled=False)["UUID"]


def _execute(aws, machine: str) -> dict:
    import time

    sfn = aws("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError("the execution did not finish")


def test_a_state_machine_calls_aws_as_its_role(aws):
    """An aws-sdk task calls the API with the state machine's execution role ("Step Functions
    execution role"/"How Step Functions generates IAM policies for integrated services",
    https://docs.aws.amazon.com/step-functions/latest/dg/service-integration-iam-templates.html):
    without ``lambda:UpdateEventSourceMapping`` on the mapping's ARN the task fails with
    ``Lambda.AccessDeniedException`` and so does the execution ("Error handling in Step Functions",
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html); with it, it
    succeeds."""
    uuid_ = _mapping(aws)
    role = _role(aws, "workflow", STATES_TRUST, {"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": "*"})
    definition = {"StartAt": "Enable", "States": {"Enable": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:lambda:updateEventSourceMapping",
        "Parameters": {"Uuid": uuid_, "Enabled": True}, "ResultSelector": {"state.$": "$.State"}, "End": True}}}
    machine = aws("stepfunctions").create_state_machine(name="enable", definition=json.dumps(definition),
                                                        roleArn=role)["stateMachineArn"]
    failed = _execute(aws, machine)
    assert (failed["status"], failed.get("error")) == ("FAILED", "Lambda.AccessDeniedException")
    assert f"lambda:UpdateEventSourceMapping on resource: arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid_}" in failed["cause"]
    assert aws("lambda").get_event_source_mapping(UUID=uuid_)["State"] == "Disabled"

    aws("iam").put_role_policy(RoleName="workflow", PolicyName="enable", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:UpdateEventSourceMapping",
         "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid_}"}]}))
    assert _execute(aws, machine)["status"] == "SUCCEEDED"
    assert aws("lambda").get_event_source_mapping(UUID=uuid_)["State"] in ("Enabled", "Enabling")


def test_a_rule_whose_role_may_not_start_the_workflow_dead_letters_the_event(aws):
    """EventBridge starts a Step Functions target as the target's ``RoleArn``; a role without
    ``states:StartExecution`` fails the invocation, which is not retried and goes to the target's
    dead-letter queue with ``ERROR_CODE`` ``NO_PERMISSIONS`` ("Using dead-letter queues to process
    undelivered events in EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
    machine = aws("stepfunctions").create_state_machine(
        name="noop", definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=_role(aws, "workflow", STATES_TRUST))["stateMachineArn"]
    rule_role = _role(aws, "rule-role", EVENTS_TRUST, {"Effect": "Allow", "Action": "states:StartExecution",
                      "Resource": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:other"})
    events = aws("events")
    rule_arn = events.put_rule(Name="on-test", EventPattern=json.dumps({"source": ["runbook.test"]}))["RuleArn"]
    sqs = aws("sqs")
    dlq = sqs.create_queue(QueueName="rule-dlq")["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:rule-dlq"
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": dlq_arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    events.put_targets(Rule="on-test", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": rule_role,
                                                 "DeadLetterConfig": {"Arn": dlq_arn}}])
    events.put_events(Entries=[{"Source": "runbook.test", "DetailType": "t", "Detail": "{}"}])

    assert aws("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []
    messages = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"]).get("Messages", [])
    assert len(messages) == 1
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert "states:StartExecution" in attributes["ERROR_MESSAGE"]

    # allowed on this state machine: the rule starts it
    aws("iam").put_role_policy(RoleName="rule-role", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine}]}))
    events.put_events(Entries=[{"Source": "runbook.test", "DetailType": "t", "Detail": "{}"}])
    assert len(aws("stepfunctions").list_executions(stateMachineArn=machine)["executions"]) == 1


def test_s3_subresources_need_their_own_actions(aws, endpoint):
    """``PutBucketEncryption`` needs ``s3:PutEncryptionConfiguration`` on the bucket ("Required
    permissions for Amazon S3 API operations",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html)."""
    aws("s3").create_bucket(Bucket="code")
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    key = _user(aws, "packager", {"Effect": "Allow", "Action": "s3:CreateBucket", "Resource": "arn:aws:s3:::code"})
    err = _denied(_client(endpoint, "s3", key).put_bucket_encryption, Bucket="code", ServerSideEncryptionConfiguration=encryption)
    assert "s3:PutEncryptionConfiguration on resource: arn:aws:s3:::code" in err.response["Error"]["Message"]
    key = _user(aws, "encrypter", {"Effect": "Allow", "Action": "s3:PutEncryptionConfiguration", "Resource": "arn:aws:s3:::code"})
    _client(endpoint, "s3", key).put_bucket_encryption(Bucket="code", ServerSideEncryptionConfiguration=encryption)


def test_get_caller_identity_needs_no_permission(aws, endpoint):
    """"No permissions are required to perform this operation" ("GetCallerIdentity", AWS STS API
    reference, https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)."""
    key = _user(aws, "nobody")
    assert _client(endpoint, "sts", key).get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/nobody"


def test_log_group_actions_match_the_group_arn_in_either_form(aws, endpoint):
    """A log group's ARN is ``arn:aws:logs:REGION:ACCOUNT:log-group:NAME`` ("Actions, resources, and
    condition keys for Amazon CloudWatch Logs",
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html);
    CloudWatch Logs' examples grant ``log-group:NAME:*`` ("CloudWatch Logs permissions reference",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/permissions-reference-cwl.html)."""
    logs = aws("logs")
    for name in ("/aws/lambda/pitr-applier", "/aws/lambda/other"):
        logs.create_log_group(logGroupName=name)
    key = _user(aws, "reader", {"Effect": "Allow", "Action": "logs:FilterLogEvents",
                                "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/pitr-applier:*"})
    client = _client(endpoint, "logs", key)
    client.filter_log_events(logGroupName="/aws/lambda/pitr-applier")
    err = _denied(client.filter_log_events, logGroupName="/aws/lambda/other")
    assert f"logs:FilterLogEvents on resource: arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/other " in err.response["Error"]["Message"]


WHOAMI = '''
import os
import boto3

def handler(event, context):
    arn = boto3.client("sts").get_caller_identity()["Arn"]
    return {"key": os.environ["AWS_ACCESS_KEY_ID"], "arn": arn}
'''


def test_a_warm_function_gets_renewed_credentials_before_they_expire(aws, monkeypatch):
    """Lambda's execution role credentials are temporary and renewed for a running environment
    ("Defined runtime environment variables": ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``, "the access keys obtained from the function's execution role",
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html). Made to renew at once
    here: the same warm worker then signs with a new key, still as ``assumed-role/ROLE/FUNCTION``."""
    from runbook_lib.sandbox import lambda_worker_process

    role = _role(aws, "whoami-role", LAMBDA_TRUST)
    aws("lambda").create_function(FunctionName="whoami", Runtime="python3.12", Role=role, Handler="app.handler",
                                  Code={"ZipFile": _zip({"app.py": WHOAMI})}, Timeout=10)
    first = json.loads(aws("lambda").invoke(FunctionName="whoami", Payload=b"{}")["Payload"].read())
    assert first["key"].startswith("ASIA")
    assert first["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/whoami-role/whoami"

    monkeypatch.setattr(iam_principals, "REFRESH_AHEAD", 10 * 3600)  # every session counts as about to expire
    monkeypatch.setattr(lambda_worker_process, "CREDENTIALS_CHECK_SECONDS", 0.0)
    second = json.loads(aws("lambda").invoke(FunctionName="whoami", Payload=b"{}")["Payload"].read())
    assert second["key"] != first["key"]
    assert second["arn"] == first["arn"]


def test_a_stream_mapping_needs_the_role_to_read_the_stream(aws):
    """Lambda reads a DynamoDB stream as the execution role, which needs ``dynamodb:DescribeStream``,
    ``GetRecords``, ``GetShardIterator`` and ``ListStreams`` on it ("Using AWS Lambda with Amazon
    DynamoDB", execution role permissions, https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#events-dynamodb-permissions)."""
    stream_arn = aws("dynamodb").create_table(
        TableName="orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    role = _role(aws, "forwarder-role", LAMBDA_TRUST, {"Effect": "Allow", "Resource": stream_arn,
                 "Action": ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]})
    lam = aws("lambda")
    lam.create_function(FunctionName="forwarder", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": _zip({"app.py": WRITER})})
    with pytest.raises(ClientError) as info:
        lam.create_event_source_mapping(FunctionName="forwarder", EventSourceArn=stream_arn, StartingPosition="LATEST")
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert info.value.response["Error"]["Message"].startswith(f"Cannot access stream {stream_arn}.")


def test_a_rule_whose_role_events_cannot_assume_dead_letters_the_event(aws):
    """A target role whose trust policy does not name ``events.amazonaws.com``: the invocation fails
    with ``ERROR_CODE`` ``FAILED_TO_ASSUME_ROLE`` in the target's dead-letter queue ("Using
    dead-letter queues to process undelivered events in EventBridge",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
    machine = aws("stepfunctions").create_state_machine(
        name="noop", definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=_role(aws, "workflow", STATES_TRUST))["stateMachineArn"]
    not_for_events = _role(aws, "lambda-only", LAMBDA_TRUST, {"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine})
    events, sqs = aws("events"), aws("sqs")
    rule_arn = events.put_rule(Name="on-test", EventPattern=json.dumps({"source": ["runbook.test"]}))["RuleArn"]
    dlq = sqs.create_queue(QueueName="rule-dlq")["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:rule-dlq"
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": dlq_arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    events.put_targets(Rule="on-test", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": not_for_events,
                                                 "DeadLetterConfig": {"Arn": dlq_arn}}])
    events.put_events(Entries=[{"Source": "runbook.test", "DetailType": "t", "Detail": "{}"}])
    assert aws("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []
    messages = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"]).get("Messages", [])
    assert [m["MessageAttributes"]["ERROR_CODE"]["StringValue"] for m in messages] == ["FAILED_TO_ASSUME_ROLE"]
