"""What differs when the target table is restored into another region (``target_region``).

Rows (each PASS / WARN / FAIL with its remedy):

- ``target_region``: the region can take a cross-region restore from the source's: same partition,
  neither is Asia Pacific (Hong Kong) nor Middle East (Bahrain), automation ``notebook``
  ("Point-in-time recovery: How it works", Amazon DynamoDB Developer Guide,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html);
- ``target_encryption``: what ``SSESpecificationOverride`` the restore will send (mandatory across
  regions, "Restoring a DynamoDB table to a point in time", same guide,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html):
  FAIL for a key ARN of another region (KMS keys are regional), WARN when the source's KMS key
  cannot follow and the AWS managed key of the target's region is used instead;
- ``target_region_tables``: the tables in the target's region against DynamoDB's default quota of
  2,500 tables per account and region ("Service, account, and table quotas in Amazon DynamoDB",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html; the quota
  is adjustable, and an account's raised value is not read here: the row says so).

The target name free in the target region and the restores in progress there are the ordinary
``target_free`` and ``concurrent_restores`` rows, run against the target's region; the source's
PITR window stays the ``pitr`` row of the source's region.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code, is_access_denied
from ..errors import InputError
from .result import FAIL, PASS, WARN, CheckRow

#: "Maximum number of tables per account per region": 2,500 by default (see the module docstring)
DEFAULT_TABLES_PER_REGION = 2500
#: WARN from this share of the quota
NEAR_TABLES = 0.9


def check_target_region(source: AwsTarget, destination: AwsTarget, *, automation: str) -> CheckRow:
    from ..aws.regions import check_target_region as check

    try:
        check(source.region_name, destination.region_name, automation=automation)
    except InputError as exc:
        return CheckRow("target_region", FAIL, str(exc), "restore in the source's region, or choose another target region")
    return CheckRow("target_region", PASS, f"restore from {source.region_name} into {destination.region_name}: the "
                    "call is made there with SourceTableArn and SSESpecificationOverride")


def check_target_encryption(source_desc: dict, destination: AwsTarget, sse_kms_key_id: str | None) -> CheckRow:
    from ..restore import describe_sse, sse_override_for

    try:
        spec, notes = sse_override_for(source_desc, destination.region_name, sse_kms_key_id, cross_region=True)
    except InputError as exc:
        return CheckRow("target_encryption", FAIL, str(exc), f"give sse_kms_key_id: a KMS key of {destination.region_name}",
                        code="ValidationException")
    if notes:
        return CheckRow("target_encryption", WARN, "; ".join(notes),
                        f"give sse_kms_key_id (a key of {destination.region_name}) to keep a key of your own")
    return CheckRow("target_encryption", PASS, f"the restored table gets {describe_sse(spec)}")


def check_target_region_tables(destination: AwsTarget, *, quota: int = DEFAULT_TABLES_PER_REGION) -> CheckRow:
    ddb = destination.client("dynamodb")
    count, kwargs = 0, {}
    try:
        while True:
            page = ddb.list_tables(**kwargs)
            count += len(page.get("TableNames", []))
            if not page.get("LastEvaluatedTableName"):
                break
            kwargs = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}
    except ClientError as exc:
        if is_access_denied(exc):
            return CheckRow("target_region_tables", WARN, f"could not list the tables of {destination.region_name} "
                            f"({error_code(exc)})", "allow dynamodb:ListTables to check the table quota", code=error_code(exc))
        raise
    said = (f"{count} tables in {destination.region_name}; the default quota is {quota} per account and region "
            "(a raised quota is not read here)")
    if count >= quota:
        return CheckRow("target_region_tables", FAIL, said + ": the restore would exceed it (LimitExceededException)",
                        f"delete unused tables in {destination.region_name}, or ask for a higher quota (Service Quotas)",
                        code="LimitExceededException")
    if count >= quota * NEAR_TABLES:
        return CheckRow("target_region_tables", WARN, said, "check the account's quota in Service Quotas")
    return CheckRow("target_region_tables", PASS, said)


def cross_region_rows(source: AwsTarget, destination: AwsTarget, source_desc: dict, *, automation: str,
                      sse_kms_key_id: str | None) -> list[CheckRow]:
    """The rows above; none when the target is in the source's region."""
    if destination.region_name == source.region_name:
        return []
    return [
        check_target_region(source, destination, automation=automation),
        check_target_encryption(source_desc, destination, sse_kms_key_id),
        check_target_region_tables(destination),
    ]


__all__ = ["check_target_encryption", "check_target_region", "check_target_region_tables", "cross_region_rows"]
