"""Whether a trail logs DynamoDB's management write events, read from its ``GetEventSelectors`` answer.

The rule follows "Logging management events" (CloudTrail User Guide,
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html),
"GetEventSelectors" (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetEventSelectors.html),
"EventSelector" (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_EventSelector.html) and
"AdvancedFieldSelector" (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_AdvancedFieldSelector.html).
The preflight's CloudTrail check and the sandbox's delivery of a restore's event both decide with it.
"""

from __future__ import annotations

import pytest

from runbook_lib.aws.cloudtrail import logs_management_writes

MANAGEMENT = {"Field": "eventCategory", "Equals": ["Management"]}


def advanced(*fields: dict) -> dict:
    return {"AdvancedEventSelectors": [{"Name": "s", "FieldSelectors": list(fields)}]}


def basic(**selector) -> dict:
    return {"EventSelectors": [selector]}


@pytest.mark.parametrize(
    "selectors, expected",
    [
        # no custom selectors: CloudTrail's default logs all read and write management events
        ({}, True),
        ({"EventSelectors": [], "AdvancedEventSelectors": []}, True),
        # basic selectors: IncludeManagementEvents (default true) and ReadWriteType All/WriteOnly (default All)
        (basic(ReadWriteType="All", IncludeManagementEvents=True), True),
        (basic(ReadWriteType="WriteOnly", IncludeManagementEvents=True), True),
        (basic(ReadWriteType="WriteOnly"), True),
        (basic(IncludeManagementEvents=True), True),
        (basic(ReadWriteType="ReadOnly", IncludeManagementEvents=True), False),
        (basic(ReadWriteType="All", IncludeManagementEvents=False), False),
        (basic(ReadWriteType="All", IncludeManagementEvents=True, ExcludeManagementEventSources=["dynamodb.amazonaws.com"]), False),
        (basic(ReadWriteType="All", IncludeManagementEvents=True, ExcludeManagementEventSources=["kms.amazonaws.com"]), True),
        # any one selector of the trail is enough
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly"}, {"ReadWriteType": "WriteOnly"}]}, True),
        # advanced selectors: eventCategory = Management, readOnly absent or false
        (advanced(MANAGEMENT), True),
        (advanced(MANAGEMENT, {"Field": "readOnly", "Equals": ["false"]}), True),
        (advanced(MANAGEMENT, {"Field": "readOnly", "Equals": ["true"]}), False),
        (advanced(MANAGEMENT, {"Field": "readOnly", "NotEquals": ["false"]}), False),
        (advanced({"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::DynamoDB::Table"]}), False),
        (advanced(MANAGEMENT, {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}), True),
        (advanced(MANAGEMENT, {"Field": "eventSource", "NotEquals": ["dynamodb.amazonaws.com"]}), False),
        ({"AdvancedEventSelectors": [
            {"FieldSelectors": [MANAGEMENT, {"Field": "readOnly", "Equals": ["true"]}]},
            {"FieldSelectors": [MANAGEMENT, {"Field": "readOnly", "Equals": ["false"]}]},
        ]}, True),
    ],
)
def test_logs_management_writes_reads_basic_and_advanced_selectors(selectors, expected):
    assert logs_management_writes(selectors) is expected


def test_the_event_source_is_the_service_asked_about():
    excluded = basic(ReadWriteType="All", ExcludeManagementEventSources=["kms.amazonaws.com"])
    assert logs_management_writes(excluded, "kms.amazonaws.com") is False
    assert logs_management_writes(excluded, "dynamodb.amazonaws.com") is True
