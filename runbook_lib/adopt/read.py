"""The table as it stands: every setting a template needs, read from DynamoDB (and KMS for the key).

Calls: ``DescribeTable``, ``DescribeTimeToLive``, ``DescribeContinuousBackups``,
``ListTagsOfResource`` (every page: ``NextToken``), and ``kms:DescribeKey`` when the table is
encrypted with a KMS key, to tell the AWS managed key ``aws/dynamodb`` (``KeyManager: AWS``) from a
customer managed key (``CUSTOMER``); DescribeTable gives only the key's ARN. Amazon DynamoDB API
Reference: DescribeTable, DescribeTimeToLive, DescribeContinuousBackups, ListTagsOfResource;
AWS KMS API Reference: DescribeKey (KeyMetadata.KeyManager).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code, is_access_denied
from ..aws.tables import describe_table

#: SSE kinds, as the CloudFormation reference (AWS::DynamoDB::Table SSESpecification) names them
AWS_OWNED, AWS_MANAGED, CUSTOMER_MANAGED = "aws-owned", "aws-managed", "customer-managed"


@dataclass(frozen=True)
class TableState:
    """What ``read_table`` found. ``notes``: what the operator should know about the output."""

    region: str
    table: dict[str, Any]
    ttl: dict[str, Any]
    continuous_backups: dict[str, Any]
    tags: list[dict[str, str]]
    sse_kind: str
    kms_key_arn: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.table["TableName"]

    @property
    def billing_mode(self) -> str:
        # a table made before on-demand existed describes no BillingModeSummary: it is PROVISIONED
        return (self.table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")

    @property
    def ttl_attribute(self) -> str | None:
        """The TTL attribute while TTL is on (ENABLED, or ENABLING: on once it settles)."""
        if self.ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return self.ttl.get("AttributeName")
        return None

    @property
    def pitr(self) -> dict[str, Any]:
        return self.continuous_backups.get("PointInTimeRecoveryDescription") or {}

    @property
    def pitr_enabled(self) -> bool:
        return self.pitr.get("PointInTimeRecoveryStatus") == "ENABLED"

    @property
    def stream_view_type(self) -> str | None:
        spec = self.table.get("StreamSpecification") or {}
        return spec.get("StreamViewType") if spec.get("StreamEnabled") else None

    @property
    def table_class(self) -> str | None:
        return (self.table.get("TableClassSummary") or {}).get("TableClass")

    @property
    def user_tags(self) -> list[dict[str, str]]:
        """Tags a template may set: ``aws:`` keys are AWS's own and cannot be set by anyone."""
        return [t for t in self.tags if not t["Key"].startswith("aws:")]

    def global_indexes(self) -> list[dict[str, Any]]:
        """The GSIs a template describes: all but those being deleted."""
        return [g for g in self.table.get("GlobalSecondaryIndexes") or [] if g.get("IndexStatus") != "DELETING"]

    def local_indexes(self) -> list[dict[str, Any]]:
        return list(self.table.get("LocalSecondaryIndexes") or [])

    def attribute_definitions(self) -> list[dict[str, str]]:
        """The key attributes of the table and of the indexes written: CloudFormation refuses a
        definition no key schema uses (one of an index being deleted, left out)."""
        used = {k["AttributeName"] for k in self.table["KeySchema"]}
        for index in self.global_indexes() + self.local_indexes():
            used |= {k["AttributeName"] for k in index["KeySchema"]}
        return [{"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                for a in self.table["AttributeDefinitions"] if a["AttributeName"] in used]


def read_table(target: AwsTarget, table: str) -> TableState:
    """Read ``table``; a missing table is a :class:`PreconditionError` naming it (nothing written)."""
    ddb = target.client("dynamodb")
    description = describe_table(target, table, client=ddb)
    ttl = ddb.describe_time_to_live(TableName=table).get("TimeToLiveDescription") or {}
    backups = ddb.describe_continuous_backups(TableName=table).get("ContinuousBackupsDescription") or {}
    tags = list_tags(ddb, description["TableArn"])
    notes = notes_on(description, ttl, tags)
    sse_kind, key_arn = sse_of(target, description, notes)
    return TableState(
        region=target.region_name, table=description, ttl=ttl, continuous_backups=backups, tags=tags,
        sse_kind=sse_kind, kms_key_arn=key_arn, notes=notes,
    )


def notes_on(description: dict[str, Any], ttl: dict[str, Any], tags: list[dict[str, str]]) -> list[str]:
    """What the operator should know before importing: states still changing, what was left out."""
    notes: list[str] = []
    if description.get("TableStatus") != "ACTIVE":
        notes.append(f"table status is {description.get('TableStatus')}: import it once it is ACTIVE")
    for index in description.get("GlobalSecondaryIndexes") or []:
        if index.get("IndexStatus") == "DELETING":
            notes.append(f"index {index['IndexName']} is being deleted: left out")
        elif index.get("IndexStatus") not in (None, "ACTIVE"):
            notes.append(f"index {index['IndexName']} is {index['IndexStatus']}: import once it is ACTIVE")
    if description.get("Replicas"):
        notes.append("the table has replicas (a global table): AWS::DynamoDB::Table and this HCL describe this "
                     "region's table only; a global table is AWS::DynamoDB::GlobalTable, or replica blocks in Terraform")
    if ttl.get("TimeToLiveStatus") in ("ENABLING", "DISABLING"):
        notes.append(f"TTL is {ttl['TimeToLiveStatus']}: written as it will be once that settles")
    if any(t["Key"].startswith("aws:") for t in tags):
        notes.append("tags with the aws: prefix are AWS's own (no one can set them): left out")
    owner = next((t["Value"] for t in tags if t["Key"] == "aws:cloudformation:stack-name"), None)
    if owner:
        notes.append(f"the table is tagged as a resource of stack {owner}: a resource belongs to one stack only; "
                     "remove it from that stack (with DeletionPolicy Retain) before importing it elsewhere")
    return notes


def list_tags(ddb, arn: str) -> list[dict[str, str]]:
    """Every tag of ``arn``, following ``NextToken`` (ListTagsOfResource pages its answer)."""
    tags: list[dict[str, str]] = []
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = ddb.list_tags_of_resource(**kwargs)
        tags.extend({"Key": t["Key"], "Value": t["Value"]} for t in page.get("Tags") or [])
        token = page.get("NextToken")
        if not token:
            return tags
        kwargs["NextToken"] = token


def sse_of(target: AwsTarget, description: dict[str, Any], notes: list[str]) -> tuple[str, str | None]:
    """(kind, key ARN): no ``SSEDescription`` (or not ENABLED/UPDATING) is the AWS owned key; a KMS
    key is AWS managed (``aws/dynamodb``) or customer managed, as ``kms:DescribeKey`` says."""
    sse = description.get("SSEDescription") or {}
    if sse.get("Status") not in ("ENABLED", "ENABLING", "UPDATING") or sse.get("SSEType") != "KMS":
        return AWS_OWNED, None
    key_arn = sse.get("KMSMasterKeyArn")
    if sse.get("Status") != "ENABLED":
        notes.append(f"encryption is {sse.get('Status')}: check the key again once it is ENABLED")
    try:
        manager = target.client("kms").describe_key(KeyId=key_arn)["KeyMetadata"].get("KeyManager")
    except ClientError as err:
        if not is_access_denied(err):
            raise
        # the key ARN kept as it is: right for a customer key; for aws/dynamodb CloudFormation and
        # Terraform would report a difference the operator can then remove
        notes.append(f"kms:DescribeKey was refused ({error_code(err)}): cannot tell whether {key_arn} is the AWS "
                     "managed key aws/dynamodb; written as a customer managed key: if it is aws/dynamodb, remove "
                     "KMSMasterKeyId / kms_key_arn")
        return CUSTOMER_MANAGED, key_arn
    return (AWS_MANAGED, None) if manager == "AWS" else (CUSTOMER_MANAGED, key_arn)
