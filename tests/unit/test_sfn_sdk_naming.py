"""The naming rule of Step Functions' AWS SDK integrations (runbook_lib.sandbox.sfn_sdk_naming, sfn_definitions, sfn_executions).

Known conversions, each from an AWS document:
- Step Functions developer guide, "Learning to use AWS service SDK integrations in Step Functions",
  https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html: parameters in
  PascalCase (``StateMachineArn``); ``Equals`` is ``EqualsValue``; errors ``ServiceName.ErrorName``
  (``AcmPca.ResourceNotFoundException``, ``S3.BucketAlreadyExistsException`` for S3's
  ``BucketAlreadyExists``);
- "Call DynamoDB APIs with Step Functions", https://docs.aws.amazon.com/step-functions/latest/dg/connect-ddb.html:
  the SDK integration's error prefix is ``DynamoDb``;
- issue 9 (quoting the developer guide's naming examples): DynamoDB ``BOOL`` -> ``Bool``, RDS
  ``DBClusterIdentifier`` -> ``DbClusterIdentifier``, Lambda ``UUID`` -> ``Uuid`` (EventBridge
  Scheduler's universal target for ``lambda:updateEventSourceMapping``);
- the rule itself: aws/aws-sdk-java-v2 ``codegen/.../internal/Utils.java`` ``unCapitalize`` and
  ``DefaultNamingStrategy.rewriteInvalidMemberName``; DynamoDB's ``NULL`` is emitted as ``NUL``
  (``services/dynamodb/.../customization.config``), hence ``Nul``.
"""

from __future__ import annotations

import json

import pytest

from runbook_lib.sandbox.sfn_definitions import definition_errors
from runbook_lib.sandbox.sfn_executions import execution_name_problem, history_page
from runbook_lib.sandbox.sfn_sdk_naming import (
    operation_model,
    sdk_error_name,
    sdk_member_name,
    sdk_service_name,
    to_botocore,
    to_sdk,
)


@pytest.mark.parametrize(
    ("api", "sdk"),
    [
        ("UUID", "Uuid"),
        ("DBClusterIdentifier", "DbClusterIdentifier"),
        ("BOOL", "Bool"),
        ("StateMachineArn", "StateMachineArn"),
        ("Equals", "EqualsValue"),
        ("TableName", "TableName"),
        ("S", "S"),
        ("SSESpecification", "SseSpecification"),
        ("KMSMasterKeyId", "KmsMasterKeyId"),
        ("S3Bucket", "S3Bucket"),
        ("Default", "DefaultValue"),  # a Java keyword, like "equals" a reserved method
    ],
)
def test_member_names_follow_the_sdk(api, sdk):
    assert sdk_member_name(api) == sdk


@pytest.mark.parametrize(
    ("service", "code", "name"),
    [
        ("acmpca", "ResourceNotFoundException", "AcmPca.ResourceNotFoundException"),
        ("s3", "BucketAlreadyExists", "S3.BucketAlreadyExistsException"),
        ("dynamodb", "ResourceNotFoundException", "DynamoDb.ResourceNotFoundException"),
        ("lambda", "ResourceConflictException", "Lambda.ResourceConflictException"),
        ("sfn", "ExecutionDoesNotExist", "Sfn.ExecutionDoesNotExistException"),
    ],
)
def test_error_names_are_service_dot_exception(service, code, name):
    assert sdk_error_name(service, code) == name


def test_service_names_are_the_sdk_client_names():
    assert [sdk_service_name(s) for s in ("DynamoDB", "Lambda", "SFN", "ACM PCA", "S3")] == [
        "DynamoDb", "Lambda", "Sfn", "AcmPca", "S3",
    ]  # fmt: skip


def test_results_and_parameters_are_translated_both_ways():
    op = operation_model("dynamodb", "getItem")
    response = {"Item": {"pk": {"S": "a"}, "flag": {"BOOL": True}, "none": {"NULL": True}, "l": {"L": [{"BOOL": False}]}}}
    sdk = to_sdk(response, op.output_shape, "dynamodb")
    assert sdk == {"Item": {"pk": {"S": "a"}, "flag": {"Bool": True}, "none": {"Nul": True}, "l": {"L": [{"Bool": False}]}}}
    lam = operation_model("lambda", "updateEventSourceMapping")
    assert to_botocore({"Uuid": "u", "Enabled": True}, lam.input_shape, "lambda") == {"UUID": "u", "Enabled": True}
    assert to_sdk({"UUID": "u", "State": "Enabling"}, lam.output_shape, "lambda") == {"Uuid": "u", "State": "Enabling"}


def test_definition_errors_cover_nested_states_and_path_fields():
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "E",
                        "States": {
                            "E": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::aws-sdk:lambda:updateEventSourceMapping.waitForTaskToken",
                                "Parameters": {"UUID.$": "$.id", "Enabled": True},
                                "End": True,
                            }
                        },
                    }
                ],
                "End": True,
            }
        },
    }
    assert definition_errors(json.dumps(definition)) == [
        'SCHEMA_VALIDATION_FAILED: The field "UUID" is not supported by Step Functions at /States/P/Branches[0]/States/E/Parameters'
    ]


@pytest.mark.parametrize(
    ("name", "problem"),
    [("ok-name_1", None), ("n" * 80, None), ("n" * 81, "length"), ("a b", "characters"), ("a{b", "characters"), ("\x7f", "characters"), ("\ud800", "characters")],
)
def test_execution_name_rules(name, problem):
    assert execution_name_problem(name) == problem


def test_history_pages_follow_event_ids():
    events = [{"id": i} for i in range(1, 251)]
    page, token = history_page(events, execution_arn="a", max_results=None, reverse=False, next_token=None)
    assert [e["id"] for e in page] == list(range(1, 101)) and token
    events.append({"id": 251})  # a running execution adds events between calls
    page, token = history_page(events, execution_arn="a", max_results=200, reverse=False, next_token=token)
    assert [e["id"] for e in page] == list(range(101, 251)) + [251] and token is None


def test_a_document_member_holds_any_json():
    """A document shape (botocore ``document: true``) is free-form JSON: its keys are data."""
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:bedrockruntime:converse",
                "Parameters": {"ModelId": "m", "Messages": [], "AdditionalModelRequestFields": {"any_key": {"UUID": 1}}},
                "End": True,
            }
        },
    }
    assert definition_errors(json.dumps(definition)) == []
    definition["States"]["C"]["Parameters"]["modelId"] = "m"
    assert definition_errors(json.dumps(definition)) == [
        'SCHEMA_VALIDATION_FAILED: The field "modelId" is not supported by Step Functions at /States/C/Parameters'
    ]
