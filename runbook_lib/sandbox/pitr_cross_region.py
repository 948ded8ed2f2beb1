"""Point-in-time restores into another region, for the sandbox's PITR (``pitr``).

moto keeps one DynamoDB backend per (account, region): a ``RestoreTableToPointInTime`` sent to
region B looks for its source only in B's backend, so a ``SourceTableArn`` of region A was "not
found" (and moto's own restore copies current items anyway). AWS restores across regions of one
partition; this module finds the source in the backend of its ARN's region, so that the restore
reads A's PITR journal and creates the target in B, and refuses what AWS refuses.

What AWS documents, and the sandbox follows:

- "You can restore your DynamoDB table data across AWS Regions such that the restored table is
  created in a different Region from where the source table resides. You can do cross-Region
  restores between AWS commercial Regions, AWS China Regions, and AWS GovCloud (US) Regions"
  ("Point-in-time recovery: How it works", Amazon DynamoDB Developer Guide,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html).
  Read as: within each of those partitions (an ARN names its partition; the partitions share no
  accounts, credentials or endpoints). The same page: "Cross-Region restore is not supported if the
  source or destination Region is Asia Pacific (Hong Kong) or Middle East (Bahrain)".
- "The sse-specification-override parameter is mandatory for cross-Region restores but optional for
  restores to the same Region as the source table. The source-table-arn parameter must be provided
  for cross-Region restores." and the call is made in the destination region ("Restoring a
  DynamoDB table to a point in time", AWS CLI section, Amazon DynamoDB Developer Guide,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html).
  "Mandatory" is checked exactly: the member must be present (``{"Enabled": false}``, an AWS owned
  key, is a valid override); its absence is refused, nothing else about it.
- The target name is looked up in the destination region only (tables are regional): a name taken
  in B is ``TableAlreadyExistsException`` (``TableInUseException`` while that table is CREATING),
  the same name in A is no obstacle.
- The restored table belongs to B (its ``TableArn`` is B's) and its ``RestoreSummary.SourceTableArn``
  is A's table; the CloudTrail event of the call is B's (the call is made there).

Where the sandbox chooses, AWS documenting nothing (each answer a code botocore's model or the
service's common errors list for the operation, ``tests/unit/test_error_codes.py``):

- a ``SourceTableArn`` that is not a DynamoDB table ARN, of another partition than the region the
  call is made in, of another account than the caller's, or of a region that takes no cross-region
  restore: ``ValidationException`` (PITR restores a table of the caller's own account; a
  cross-account copy is an AWS Backup job, not this call);
- a cross-region ``SSESpecificationOverride`` naming a KMS key by an ARN of another region than the
  destination: ``ValidationException`` (KMS keys are regional: "KMS keys are specific to the
  Region they were created in", AWS KMS Developer Guide, "Multi-Region keys in AWS KMS",
  https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html; a
  multi-Region key's replica has an ARN of its own region). A key given by id or alias is taken
  as the destination's, as AWS resolves it there; the sandbox keeps no KMS keys to check it against.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.exceptions import MockValidationException

#: "Cross-Region restore is not supported if the source or destination Region is Asia Pacific
#: (Hong Kong) or Middle East (Bahrain)" (PointInTimeRecovery_Howitworks, see the docstring)
NO_CROSS_REGION_RESTORE = frozenset({"ap-east-1", "me-south-1"})


def parse_table_arn(arn: str) -> tuple[str, str, str, str]:
    """(partition, region, account, table name) of a DynamoDB table ARN; ``ValidationException`` else."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "dynamodb" or not parts[5].startswith("table/"):
        raise MockValidationException(f"Invalid SourceTableArn: {arn} is not a DynamoDB table ARN")
    _, partition, _, region, account, resource = parts
    name = resource[len("table/"):]
    if not (partition and region and account and name) or "/" in name:
        raise MockValidationException(f"Invalid SourceTableArn: {arn} is not a DynamoDB table ARN")
    return partition, region, account, name


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


def source_backend(backend: Any, body: dict) -> tuple[Any, str, bool]:
    """Where the restore's source lives: (its region's backend, the name or ARN to look up, whether
    the restore crosses regions). Refuses, as described in the module docstring, before any lookup."""
    arn = body.get("SourceTableArn")
    if not arn:
        return backend, body.get("SourceTableName"), False
    partition, region, account, name = parse_table_arn(arn)
    here = backend.region_name
    if partition != _partition(here):
        raise MockValidationException(
            f"Invalid SourceTableArn: {arn} is in partition {partition}; a restore in {here} "
            f"({_partition(here)}) restores only tables of its own partition"
        )
    if account != backend.account_id:
        raise MockValidationException(
            f"Invalid SourceTableArn: {arn} belongs to account {account}, not to the caller's account "
            f"{backend.account_id}: a point-in-time restore restores a table of the caller's own account"
        )
    if region == here:
        return backend, arn, False
    for side in (region, here):
        if side in NO_CROSS_REGION_RESTORE:
            raise MockValidationException(f"Cross-Region restore is not supported to or from {side}")
    if body.get("SSESpecificationOverride") is None:
        raise MockValidationException(
            "SSESpecificationOverride must be specified for a cross-Region restore "
            f"(source region {region}, destination region {here})"
        )
    key = (body.get("SSESpecificationOverride") or {}).get("KMSMasterKeyId") or ""
    if key.startswith("arn:"):
        key_region = key.split(":")[3] if key.count(":") >= 5 else ""
        if key_region != here:
            raise MockValidationException(
                f"Invalid KMSMasterKeyId: {key} is a key of {key_region or 'no region'}; a table in {here} "
                f"is encrypted with a KMS key of {here}"
            )
    from moto.dynamodb.models import dynamodb_backends

    try:
        other = dynamodb_backends[account][region]
    except KeyError:
        raise MockValidationException(f"Invalid SourceTableArn: {arn} names no region DynamoDB is in") from None
    return other, name, True


__all__ = ["NO_CROSS_REGION_RESTORE", "parse_table_arn", "source_backend"]
