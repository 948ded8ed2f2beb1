"""Every AWS error code the sandbox answers with, and every one our code catches or carries by name,
exists for the operation it belongs to: in that operation's error shapes in botocore's service model,
or among the errors AWS documents for every operation of the service.

Two tables, each checked against botocore, and each kept complete by a scan of the source:
``SANDBOX_RAISES`` (the sandbox's answers) and ``RUNBOOK_CODES`` (codes ``runbook_lib`` catches,
or puts on its own errors to name what AWS would answer). A new ``raise`` of a moto exception in
``runbook_lib/sandbox/``, or a new code-like string anywhere in ``runbook_lib/``, fails
``test_*_table_is_complete`` until it is added to its table, where the model check then applies.

Common errors, documented for all operations but not in each operation's model:
- DynamoDB: "Error handling with DynamoDB", Amazon DynamoDB Developer Guide,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
  (ValidationException, ThrottlingException, AccessDeniedException, UnrecognizedClientException, ...
  "Error messages and codes", HTTP 400) and "Common Errors", Amazon DynamoDB API Reference,
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html.
- CloudFormation: "Common Errors", AWS CloudFormation API Reference,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html (ValidationError).
- S3: the "List of error codes" in "Error responses", Amazon S3 API Reference,
  https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (NoSuchBucket, NoSuchKey,
  ServerSideEncryptionConfigurationNotFoundError), for any
  operation; ``HeadBucket`` and ``HeadObject``: "A message body is not included", so the SDK reports
  the HTTP status as the code ("HeadBucket", https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html).
- Step Functions: "Common Errors", AWS Step Functions API Reference,
  https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html (ThrottlingException);
  ValidationException is the service's constraint error (modelled on StartExecution, CreateStateMachine
  and others) and is answered for a constraint the model does not list on GetExecutionHistory.
- EventBridge: "Common Errors", Amazon EventBridge API Reference,
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html; its constraint
  failures ("1 validation error detected") carry ValidationException.
- SQS speaks JSON but is query-compatible: its errors carry the legacy Query code in the
  ``x-amzn-query-error`` header, which botocore reports as the code (``botocore/parsers.py``,
  ``_do_query_compatible_error_parse``); ``QueueDoesNotExist`` arrives as
  ``AWS.SimpleQueueService.NonExistentQueue`` ("GetQueueUrl", Amazon SQS API Reference,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueUrl.html).
- SSM: PutParameter's ``Name`` in its API reference (and botocore's model): "If the specified name for a
  parameter contains spaces between characters, the request fails with a ValidationException error"
  ("PutParameter", AWS Systems Manager API Reference,
  https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html).
- Authentication and authorization (iam_auth.py): "Common Errors" of the IAM API Reference,
  https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html (AccessDeniedException,
  ExpiredTokenException, InvalidClientTokenId, HTTP 403), of the STS API Reference (the same list),
  of the Lambda API Reference (AccessDeniedException, UnrecognizedClientException), and S3's "List of
  error codes" (AccessDenied, InvalidAccessKeyId, HTTP 403).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re

import botocore.session
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "runbook_lib"

COMMON = {
    "dynamodb": {"ValidationException", "ThrottlingException", "AccessDeniedException", "UnrecognizedClientException"},
    "cloudformation": {"ValidationError"},
    "s3": {"NoSuchBucket", "NoSuchKey", "AccessDenied", "InvalidAccessKeyId", "ServerSideEncryptionConfigurationNotFoundError"},
    "stepfunctions": {"ThrottlingException", "ValidationException"},
    "events": {"ValidationException"},
    "iam": {"AccessDeniedException", "ExpiredTokenException", "InvalidClientTokenId"},
    "sts": {"AccessDeniedException", "ExpiredTokenException", "InvalidClientTokenId"},
    "lambda": {"AccessDeniedException", "UnrecognizedClientException"},
    "ssm": {"ValidationException"},
}
HEAD_STATUS = {("s3", "HeadBucket"): {"404"}, ("s3", "HeadObject"): {"404"}}
QUERY_CODES = {("sqs", "AWS.SimpleQueueService.NonExistentQueue"): "QueueDoesNotExist"}

_DATA_PLANE = ("GetItem", "PutItem", "DeleteItem", "UpdateItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
               "TransactGetItems", "TransactWriteItems")

#: (service, operation, code): every error the sandbox's extensions answer with
SANDBOX_RAISES = [
    # cloudtrail_org.py: organization trails
    ("cloudtrail", "GetTrailStatus", "TrailNotFoundException"),
    ("cloudtrail", "GetEventSelectors", "TrailNotFoundException"),
    *[("cloudtrail", op, code) for op in ("CreateTrail", "UpdateTrail") for code in (
        "OrganizationsNotInUseException", "NotOrganizationMasterAccountException",
        "OrganizationNotInAllFeaturesModeException", "CloudTrailAccessNotEnabledException")],
    # pitr.py: the restore
    ("dynamodb", "RestoreTableToPointInTime", "ValidationException"),
    ("dynamodb", "RestoreTableToPointInTime", "TableNotFoundException"),
    ("dynamodb", "RestoreTableToPointInTime", "TableAlreadyExistsException"),
    ("dynamodb", "RestoreTableToPointInTime", "TableInUseException"),
    ("dynamodb", "RestoreTableToPointInTime", "PointInTimeRecoveryUnavailableException"),
    ("dynamodb", "RestoreTableToPointInTime", "InvalidRestoreTimeException"),
    # dynamodb_exports.py: exports to S3
    *[("dynamodb", "ExportTableToPointInTime", code) for code in (
        "ValidationException", "TableNotFoundException", "PointInTimeRecoveryUnavailableException",
        "InvalidExportTimeException", "ExportConflictException")],
    ("dynamodb", "DescribeExport", "ValidationException"),
    ("dynamodb", "DescribeExport", "ExportNotFoundException"),
    ("dynamodb", "ListExports", "ValidationException"),
    # pitr.py: a table still CREATING
    *[("dynamodb", op, "ResourceNotFoundException") for op in _DATA_PLANE],
    ("dynamodb", "DeleteTable", "ResourceInUseException"),
    ("dynamodb", "UpdateTable", "ResourceInUseException"),
    # sqs_redrive.py: message move tasks (moto 5.2.5 has none)
    ("sqs", "StartMessageMoveTask", "ResourceNotFoundException"),
    ("sqs", "StartMessageMoveTask", "UnsupportedOperation"),
    ("sqs", "ListMessageMoveTasks", "ResourceNotFoundException"),
    ("sqs", "CancelMessageMoveTask", "ResourceNotFoundException"),
    # capacity.py: provisioned capacity enforced (a transaction is cancelled instead)
    *[("dynamodb", op, "ProvisionedThroughputExceededException") for op in _DATA_PLANE if not op.startswith("Transact")],
    ("dynamodb", "TransactWriteItems", "TransactionCanceledException"),
    ("dynamodb", "TransactGetItems", "TransactionCanceledException"),
    # dynamodb_transactions.py: a ClientRequestToken reused with another request
    ("dynamodb", "TransactWriteItems", "IdempotentParameterMismatchException"),
    ("dynamodb", "ExecuteTransaction", "IdempotentParameterMismatchException"),
    # dynamodb_partiql.py: PartiQL writes
    ("dynamodb", "ExecuteStatement", "DuplicateItemException"),
    ("dynamodb", "ExecuteStatement", "ConditionalCheckFailedException"),
    ("dynamodb", "ExecuteStatement", "ResourceNotFoundException"),
    ("dynamodb", "ExecuteStatement", "ValidationException"),
    ("dynamodb", "ExecuteTransaction", "TransactionCanceledException"),
    ("dynamodb", "ExecuteTransaction", "ResourceNotFoundException"),
    ("dynamodb", "ExecuteTransaction", "ValidationException"),
    # dynamodb_answers.py: a missing index
    ("dynamodb", "Query", "ValidationException"),
    ("dynamodb", "Scan", "ValidationException"),
    ("dynamodb", "UpdateTable", "ResourceNotFoundException"),
    # table_settings_state.py: a second stream, or none to disable
    ("dynamodb", "UpdateTable", "ValidationException"),
    # dynamodb_stream_history.py: a stream label the table never had
    ("dynamodbstreams", "DescribeStream", "ResourceNotFoundException"),
    ("dynamodbstreams", "GetShardIterator", "ResourceNotFoundException"),
    # validation.py
    ("dynamodb", "BatchWriteItem", "ValidationException"),
    ("lambda", "CreateEventSourceMapping", "InvalidParameterValueException"),
    ("lambda", "UpdateEventSourceMapping", "InvalidParameterValueException"),
    # sqs_thread_safety.py: SQS delete in one pass
    ("sqs", "DeleteMessage", "ReceiptHandleIsInvalid"),
    # table_settings.py, table_settings_state.py: the settings calls
    *[("dynamodb", op, "ResourceNotFoundException") for op in (
        "DescribeContributorInsights", "UpdateContributorInsights", "GetResourcePolicy", "PutResourcePolicy",
        "DeleteResourcePolicy", "DescribeKinesisStreamingDestination", "EnableKinesisStreamingDestination",
        "DisableKinesisStreamingDestination", "UpdateKinesisStreamingDestination", "DescribeTimeToLive",
        "UpdateTimeToLive", "TagResource", "UntagResource")],
    *[("dynamodb", op, "PolicyNotFoundException") for op in ("GetResourcePolicy", "PutResourcePolicy", "DeleteResourcePolicy")],
    ("dynamodb", "EnableKinesisStreamingDestination", "ResourceInUseException"),
    *[("dynamodb", op, "ValidationException") for op in (
        "UpdateContributorInsights", "CreateTable", "UpdateTable", "UpdateTimeToLive",
        "EnableKinesisStreamingDestination", "UpdateKinesisStreamingDestination")],
    # fault settings-access-denied, on the reads it may deny
    *[("dynamodb", op, "AccessDeniedException") for op in (
        "DescribeTimeToLive", "DescribeContinuousBackups", "ListTagsOfResource", "DescribeContributorInsights",
        "GetResourcePolicy", "DescribeKinesisStreamingDestination")],
    # app_autoscaling.py
    ("application-autoscaling", "PutScalingPolicy", "ObjectNotFoundException"),
    # stepfunctions.py, sfn_*.py
    ("stepfunctions", "CreateStateMachine", "InvalidDefinition"),
    ("stepfunctions", "UpdateStateMachine", "InvalidDefinition"),
    ("stepfunctions", "GetExecutionHistory", "InvalidToken"),
    ("stepfunctions", "GetExecutionHistory", "ValidationException"),
    ("stepfunctions", "StartExecution", "ValidationException"),
    ("stepfunctions", "StartExecution", "InvalidName"),
    # iam_auth.py: a sandbox principal's request refused (any operation; one named per code)
    ("dynamodb", "DescribeTable", "AccessDeniedException"),
    ("dynamodb", "DescribeTable", "UnrecognizedClientException"),
    ("lambda", "GetFunction", "AccessDeniedException"),
    ("iam", "ListUsers", "InvalidClientTokenId"),
    ("iam", "ListUsers", "ExpiredTokenException"),
    ("s3", "PutObject", "InvalidAccessKeyId"),
    # iam_simulate.py: SimulatePrincipalPolicy's source and paging
    ("iam", "SimulatePrincipalPolicy", "InvalidInput"),
    ("iam", "SimulatePrincipalPolicy", "NoSuchEntity"),
    # iam_auth.py: a role Lambda may not assume; an execution role without the poller's actions
    ("lambda", "CreateFunction", "InvalidParameterValueException"),
    ("lambda", "CreateEventSourceMapping", "InvalidParameterValueException"),
    # events.py: PutRule's description, PutTargets' dead-letter and retry settings
    ("events", "PutRule", "ValidationException"),
    ("events", "PutTargets", "ValidationException"),
    # secrets.py: AWS::SecretsManager::Secret with both SecretString and GenerateSecretString
    ("cloudformation", "CreateStack", "ValidationError"),
    # cfn_dynamodb.py: IMPORT change sets (ResourcesToImport, DeletionPolicy, Outputs), and one not AVAILABLE
    ("cloudformation", "CreateChangeSet", "ValidationError"),
    ("cloudformation", "ExecuteChangeSet", "InvalidChangeSetStatus"),
    # ssm_parameters.py: PutParameter's names and types, as AWS checks them
    ("ssm", "PutParameter", "ValidationException"),
    ("ssm", "PutParameter", "HierarchyTypeMismatchException"),
]

#: (service, operation, code): codes the sandbox reads from a call it makes (events.py maps what
#: StartExecution answers to the dead-letter ERROR_CODE EventBridge would give)
SANDBOX_READS = [
    *[("stepfunctions", "StartExecution", code) for code in (
        "StateMachineDoesNotExist", "StateMachineDeleting", "InvalidArn", "InvalidExecutionInput", "InvalidName",
        "ExecutionLimitExceeded", "ThrottlingException")],
]

#: codes that are no AWS answer to the call, named by the sandbox because moto gives them
MOTO_ONLY = {
    # moto's Step Functions interpreter answers ResourceNotFound where AWS's StartExecution answers
    # StateMachineDoesNotExist; events.py maps both to NO_RESOURCE (harmless: AWS never sends it)
    ("stepfunctions", "StartExecution", "ResourceNotFound"),
}

#: code-like strings in the sandbox that are not API error codes
SANDBOX_NOT_API_CODES = {
    "MoveTaskError",  # sqs_redrive's exception class, named in its __all__
    "SenderFault",  # a field of SendMessageBatch's failed entries (the partial-send fault sets it)
    "RecordAgeExceeded",  # requestContext.condition of a stream mapping's on-failure record (lambda_runtime)
    # capacity.py: ThrottlingReasons[].reason of a ProvisionedThroughputExceededException, and the
    # CancellationReasons[].Code of a cancelled transaction (DynamoDB API reference, "Error handling")
    "TableWriteProvisionedThroughputExceeded",
    "TableReadProvisionedThroughputExceeded",
    "ProvisionedThroughputExceeded",
}

#: (service, operation, code): codes runbook_lib catches from that call, or carries on its own
#: error to say what that call answers (preflight rows, input checks)
RUNBOOK_CODES = [
    ("dynamodb", "DescribeTable", "ResourceNotFoundException"),  # cli, settings, preflight, restore, reconcile, buffer
    ("dynamodb", "DescribeContinuousBackups", "TableNotFoundException"),  # restore.restorable_window
    ("dynamodb", "RestoreTableToPointInTime", "InvalidRestoreTimeException"),  # restore: remedies, plan check
    ("dynamodb", "RestoreTableToPointInTime", "TableAlreadyExistsException"),  # restore, preflight
    ("dynamodb", "RestoreTableToPointInTime", "PointInTimeRecoveryUnavailableException"),
    ("dynamodb", "RestoreTableToPointInTime", "TableNotFoundException"),
    ("dynamodb", "RestoreTableToPointInTime", "TableInUseException"),
    ("dynamodb", "RestoreTableToPointInTime", "LimitExceededException"),  # restore, preflight
    ("dynamodb", "RestoreTableToPointInTime", "ValidationException"),  # aws.tables.validate_table_name
    ("dynamodb", "GetResourcePolicy", "PolicyNotFoundException"),  # settings
    # settings.applying._call retries these on the steps it applies
    ("dynamodb", "UpdateTable", "ResourceInUseException"),
    ("dynamodb", "UpdateTable", "LimitExceededException"),
    ("dynamodb", "TagResource", "ResourceInUseException"),
    ("dynamodb", "PutResourcePolicy", "LimitExceededException"),
    ("dynamodb", "UpdateContinuousBackups", "ContinuousBackupsUnavailableException"),
    ("dynamodbstreams", "GetShardIterator", "ResourceNotFoundException"),  # reconcile
    # cdc/applier: throttling, retried
    *[("dynamodb", op, code) for op in ("BatchWriteItem", "GetItem")
      for code in ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")],
    # buffer
    ("cloudformation", "DescribeStacks", "ValidationError"),
    ("cloudformation", "UpdateStack", "ValidationError"),
    ("s3", "HeadBucket", "NoSuchBucket"),
    ("s3", "HeadBucket", "404"),
    ("s3", "HeadObject", "NoSuchKey"),
    ("s3", "HeadObject", "NoSuchBucket"),
    ("s3", "HeadObject", "404"),
    ("s3", "DeleteObject", "NoSuchBucket"),
    ("s3", "DeleteObject", "NoSuchKey"),
    ("iam", "GetRole", "NoSuchEntity"),
    # reconcile.exports: the export method (start: remedies; layout: locating and reading the files)
    ("dynamodb", "DescribeExport", "ExportNotFoundException"),
    ("dynamodb", "ExportTableToPointInTime", "PointInTimeRecoveryUnavailableException"),
    ("dynamodb", "ExportTableToPointInTime", "InvalidExportTimeException"),
    ("dynamodb", "ExportTableToPointInTime", "ExportConflictException"),
    ("dynamodb", "ExportTableToPointInTime", "LimitExceededException"),
    ("dynamodb", "ExportTableToPointInTime", "TableNotFoundException"),
    ("s3", "GetObject", "NoSuchKey"),
    ("s3", "GetObject", "NoSuchBucket"),
    ("s3", "GetBucketEncryption", "NoSuchBucket"),  # schedule.publish: the --bucket is missing
    ("s3", "GetBucketEncryption", "ServerSideEncryptionConfigurationNotFoundError"),  # schedule.publish: SSE-S3 then
    ("s3", "ListObjectsV2", "NoSuchBucket"),  # schedule.history --bucket
    ("secretsmanager", "DescribeSecret", "ResourceNotFoundException"),  # buffer teardown: the key digest secret
    ("lambda", "UpdateFunctionConfiguration", "PreconditionFailedException"),
    ("lambda", "UpdateFunctionConfiguration", "ResourceConflictException"),
    ("lambda", "UpdateEventSourceMapping", "ResourceInUseException"),
    ("lambda", "UpdateEventSourceMapping", "ResourceConflictException"),
    ("lambda", "UpdateEventSourceMapping", "TooManyRequestsException"),
    ("lambda", "ListEventSourceMappings", "ResourceNotFoundException"),
    # preflight: the permission check, and tables a least-privilege caller may not describe; errors.AccessDeniedError
    ("iam", "SimulatePrincipalPolicy", "NoSuchEntity"),
    ("iam", "SimulatePrincipalPolicy", "AccessDeniedException"),
    ("dynamodb", "DescribeTable", "AccessDeniedException"),
    ("lambda", "ListEventSourceMappings", "InvalidParameterValueException"),
    ("lambda", "GetFunction", "ResourceNotFoundException"),
    ("sqs", "GetQueueUrl", "QueueDoesNotExist"),
    ("sqs", "GetQueueUrl", "AWS.SimpleQueueService.NonExistentQueue"),
    ("events", "DescribeRule", "ResourceNotFoundException"),
    ("stepfunctions", "DescribeStateMachine", "StateMachineDoesNotExist"),
    ("stepfunctions", "ListExecutions", "StateMachineDoesNotExist"),
    ("stepfunctions", "StopExecution", "ExecutionDoesNotExist"),
    # switch: the application's SSM parameter (read, created or overwritten, put back)
    ("ssm", "GetParameter", "ParameterNotFound"),
    ("ssm", "DeleteParameter", "ParameterNotFound"),
    ("ssm", "PutParameter", "ParameterAlreadyExists"),
    ("ssm", "PutParameter", "HierarchyTypeMismatchException"),
    ("ssm", "PutParameter", "InvalidAllowedPatternException"),
    ("ssm", "PutParameter", "ParameterPatternMismatchException"),
]

#: code-like names in runbook_lib that are Python classes, not AWS error codes
NOT_AWS_CODES = {
    "BufferError", "CutoverError", "InputError", "PreconditionError", "RestoreError", "RunbookError",  # ours
    "AccessDeniedError",  # ours
    "ExportError",  # ours: reconcile.exports, an export that cannot be read as AWS documents it
    "AthenaError",  # a field of GetQueryExecution's QueryExecutionStatus (ErrorCategory, ErrorType, ErrorMessage)
    "UnsupportedDefinition",  # workflow_budget: a definition its walk cannot count (ours)
    "ClientError", "EndpointConnectionError", "NoCredentialsError", "NoRegionError", "ParamValidationError",  # botocore
    "SenderFault",  # a field of SendMessageBatch's failed entries (forwarder logs it), not a code
}

_CODE_LIKE = re.compile(
    r"^(AWS\.[\w.]+|[A-Z][A-Za-z]*(Exception|Error|Fault|Exceeded|DoesNotExist|NotFound|Invalid|Deleting)"
    r"|NoSuch[A-Za-z]+|Invalid[A-Z][A-Za-z]+|Unsupported[A-Z][A-Za-z]+)$"
)


def _allowed(service: str, operation: str) -> set[str]:
    model = botocore.session.get_session().get_service_model(service)
    op = model.operation_model(operation)  # raises if the operation does not exist
    codes = set(COMMON.get(service, ()))
    for shape in op.error_shapes:
        codes.add(shape.name)
        codes.add(shape.error_code)
    codes |= HEAD_STATUS.get((service, operation), set())
    return codes


def _modeled(service: str, operation: str, code: str) -> bool:
    allowed = _allowed(service, operation)
    return code in allowed or QUERY_CODES.get((service, code)) in allowed


@pytest.mark.parametrize("service,operation,code", SANDBOX_RAISES + SANDBOX_READS, ids=lambda v: v)
def test_every_error_the_sandbox_raises_is_one_aws_lists_for_the_operation(service, operation, code):
    assert _modeled(service, operation, code), f"{service} {operation} does not answer {code}: {sorted(_allowed(service, operation))}"


@pytest.mark.parametrize("service,operation,code", RUNBOOK_CODES, ids=lambda v: v)
def test_every_error_our_code_names_is_one_aws_lists_for_the_call(service, operation, code):
    assert _modeled(service, operation, code), f"{service} {operation} does not answer {code}: {sorted(_allowed(service, operation))}"


def _code_of(cls: type) -> str | None:
    """The error code a moto exception class answers with (instantiated with placeholder arguments)."""
    from moto.core.exceptions import JsonRESTError, ServiceException

    if cls in (JsonRESTError, ServiceException):
        return None  # raised with the code as a literal, which the constant scan reads
    if not (issubclass(cls, JsonRESTError) or issubclass(cls, ServiceException)):
        return None
    if "code" in inspect.signature(cls.__init__).parameters:
        return None  # the code is an argument, a literal at the raise, which the constant scan reads
    params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
              if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    try:
        exc = cls(*["x"] * len(params))
    except Exception:  # noqa: BLE001 - a constructor that wants real arguments: read the class
        declared = getattr(cls, "error_type", None) or getattr(cls, "code", None)
        return str(declared).split("#")[-1] if declared else None
    if isinstance(exc, JsonRESTError):
        return exc.error_type.split("#")[-1]
    return exc.code


def _sandbox_codes() -> dict[str, set[str]]:
    """Code -> the sandbox modules that raise it: every ``raise`` of a moto exception class, and every
    code-like string constant (a hand-built error body)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "sandbox").glob("*.py")):
        module = importlib.import_module(f"runbook_lib.sandbox.{path.stem}")
        for node in ast.walk(ast.parse(path.read_text())):
            code = None
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                cls = getattr(module, name, None)
                if cls is None:  # imported inside the function: resolve through the import there
                    cls = _imported_in(path, name)
                if inspect.isclass(cls):
                    code = _code_of(cls)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.split("#")[-1]
                if _CODE_LIKE.match(text):
                    code = text
            if code and code not in SANDBOX_NOT_API_CODES:
                found.setdefault(code, set()).add(path.name)
    return found


def _imported_in(path: pathlib.Path, name: str):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == name for a in node.names):
            module = importlib.import_module(node.module)
            return getattr(module, name, None)
    return None


def test_sandbox_table_is_complete():
    """Every code the sandbox's source can answer with is in SANDBOX_RAISES, and nothing else is."""
    found = _sandbox_codes()
    listed = {code for _, _, code in SANDBOX_RAISES + SANDBOX_READS} | {code for _, _, code in MOTO_ONLY}
    assert set(found) - listed == set(), f"raised in the sandbox but not in SANDBOX_RAISES: {found}"
    assert listed - set(found) == set(), "listed in SANDBOX_RAISES but raised nowhere"
    # the old, wrong one is gone for good
    assert "SourceTableNotFoundException" not in found


def _runbook_codes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        if "sandbox" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            code = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CODE_LIKE.match(node.value):
                code = node.value
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "exceptions":
                code = node.attr  # client.exceptions.X
            if code and code not in NOT_AWS_CODES:
                found.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return found


def test_runbook_table_is_complete():
    """Every AWS error code named in runbook_lib (outside the sandbox) is in RUNBOOK_CODES."""
    found = _runbook_codes()
    listed = {code for _, _, code in RUNBOOK_CODES}
    missing = {code: where for code, where in found.items() if code not in listed}
    assert missing == {}, f"error codes named in runbook_lib but not in RUNBOOK_CODES: {missing}"
