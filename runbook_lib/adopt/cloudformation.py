"""The table as an ``AWS::DynamoDB::Table`` resource, and the IMPORT change set that adopts it.

Follows the CloudFormation Template Reference, AWS::DynamoDB::Table
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-dynamodb-table.html)
and its SSESpecification (``SSEEnabled`` false or absent: the AWS owned key; true with no
``KMSMasterKeyId``: the AWS managed key ``alias/aws/dynamodb``; ``KMSMasterKeyId`` only for another
key), and the User Guide's "Import AWS resources into a CloudFormation stack"
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources.html): every
resource to import has a ``DeletionPolicy`` (here ``Retain``, with ``UpdateReplacePolicy: Retain``,
so that neither a stack deletion nor a replacement can delete the table), is named by its
identifier (``TableName`` for this type), and an import adds no ``Outputs``.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import yaml

from .read import AWS_MANAGED, CUSTOMER_MANAGED, TableState

RESOURCE_TYPE = "AWS::DynamoDB::Table"


def logical_id(table: str) -> str:
    """A logical ID from the table's name: CloudFormation takes only A-Z, a-z, 0-9."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", table) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) + "Table"
    return name if name[0].isalpha() else "T" + name


def stack_name(table: str) -> str:
    """A stack name from the table's name: a letter first, then letters, digits and '-', at most 128."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", table).strip("-") or "table"
    if not name[0].isalpha():
        name = "t-" + name
    return name[:128].rstrip("-")


def _throughput(description: dict[str, Any] | None) -> dict[str, int] | None:
    if not description:
        return None
    return {"ReadCapacityUnits": int(description["ReadCapacityUnits"]),
            "WriteCapacityUnits": int(description["WriteCapacityUnits"])}


def _on_demand(description: dict[str, Any] | None) -> dict[str, int] | None:
    """``OnDemandThroughput`` when it sets a maximum (-1 or absent: none)."""
    values = {k: int(v) for k, v in (description or {}).items()
              if k in ("MaxReadRequestUnits", "MaxWriteRequestUnits") and int(v) > 0}
    return values or None


def _projection(projection: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        out["NonKeyAttributes"] = list(projection["NonKeyAttributes"])
    return out


def _keys(schema: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in schema]


def properties(state: TableState) -> dict[str, Any]:
    """The resource's ``Properties``, in the reference's terms."""
    t = state.table
    provisioned = state.billing_mode == "PROVISIONED"
    props: dict[str, Any] = {
        "TableName": state.name,
        "BillingMode": state.billing_mode,
        "AttributeDefinitions": state.attribute_definitions(),
        "KeySchema": _keys(t["KeySchema"]),
    }
    if provisioned:
        props["ProvisionedThroughput"] = _throughput(t.get("ProvisionedThroughput"))
    elif _on_demand(t.get("OnDemandThroughput")):
        props["OnDemandThroughput"] = _on_demand(t.get("OnDemandThroughput"))
    gsis = []
    for index in state.global_indexes():
        gsi: dict[str, Any] = {"IndexName": index["IndexName"], "KeySchema": _keys(index["KeySchema"]),
                               "Projection": _projection(index["Projection"])}
        if provisioned:
            gsi["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
        elif _on_demand(index.get("OnDemandThroughput")):
            gsi["OnDemandThroughput"] = _on_demand(index.get("OnDemandThroughput"))
        gsis.append(gsi)
    if gsis:
        props["GlobalSecondaryIndexes"] = gsis
    lsis = [{"IndexName": i["IndexName"], "KeySchema": _keys(i["KeySchema"]), "Projection": _projection(i["Projection"])}
            for i in state.local_indexes()]
    if lsis:
        props["LocalSecondaryIndexes"] = lsis
    if state.stream_view_type:
        props["StreamSpecification"] = {"StreamViewType": state.stream_view_type}
    if state.ttl_attribute:
        props["TimeToLiveSpecification"] = {"AttributeName": state.ttl_attribute, "Enabled": True}
    pitr: dict[str, Any] = {"PointInTimeRecoveryEnabled": state.pitr_enabled}
    if state.pitr_enabled and state.pitr.get("RecoveryPeriodInDays"):
        pitr["RecoveryPeriodInDays"] = int(state.pitr["RecoveryPeriodInDays"])
    props["PointInTimeRecoverySpecification"] = pitr
    sse: dict[str, Any] = {"SSEEnabled": state.sse_kind in (AWS_MANAGED, CUSTOMER_MANAGED)}
    if sse["SSEEnabled"]:
        sse["SSEType"] = "KMS"
    if state.sse_kind == CUSTOMER_MANAGED:
        sse["KMSMasterKeyId"] = state.kms_key_arn
    props["SSESpecification"] = sse
    if state.table_class:
        props["TableClass"] = state.table_class
    props["DeletionProtectionEnabled"] = bool(t.get("DeletionProtectionEnabled", False))
    if state.user_tags:
        props["Tags"] = [dict(tag) for tag in state.user_tags]
    return props


def template(state: TableState) -> dict[str, Any]:
    """The whole template: one table, Retain on delete and on replacement, no Outputs (an import adds none)."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"DynamoDB table {state.name} as it stands, for an IMPORT change set (pitr-runbook adopt)",
        "Resources": {
            logical_id(state.name): {
                "Type": RESOURCE_TYPE,
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": properties(state),
            }
        },
    }


def resources_to_import(state: TableState) -> list[dict[str, Any]]:
    """``ResourcesToImport`` of CreateChangeSet: the table, by its identifier ``TableName``."""
    return [{"ResourceType": RESOURCE_TYPE, "LogicalResourceId": logical_id(state.name),
             "ResourceIdentifier": {"TableName": state.name}}]


def render(state: TableState) -> str:
    return yaml.safe_dump(template(state), sort_keys=False, default_flow_style=False, width=120)


def import_steps(state: TableState, template_file: str, stack: str | None = None) -> list[str]:
    """The commands that adopt the table into a new stack, in order."""
    stack = stack or stack_name(state.name)
    change_set = ("import-" + logical_id(state.name))[:128]  # a change set name: at most 128 characters
    region = f" --region {shlex.quote(state.region)}"
    where = f"--stack-name {shlex.quote(stack)} --change-set-name {shlex.quote(change_set)}{region}"
    resources = json.dumps(resources_to_import(state), separators=(",", ":"))
    return [
        f"aws cloudformation create-change-set {where} --change-set-type IMPORT "
        f"--template-body file://{shlex.quote(template_file)} --resources-to-import {shlex.quote(resources)}",
        f"aws cloudformation wait change-set-create-complete {where}",
        f"aws cloudformation describe-change-set {where}   # review: one Import of {state.name}, nothing else",
        f"aws cloudformation execute-change-set {where}",
        f"aws cloudformation wait stack-import-complete --stack-name {shlex.quote(stack)}{region}",
        f"aws cloudformation detect-stack-drift --stack-name {shlex.quote(stack)}{region}   # then: describe-stack-resource-drifts",
    ]
