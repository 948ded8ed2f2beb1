"""The restore's cross-region parts: how the request names its source (``SourceTableArn`` across
regions) and the ``SSESpecificationOverride`` it sends (mandatory across regions).

"The sse-specification-override parameter is mandatory for cross-Region restores but optional for
restores to the same Region as the source table. The source-table-arn parameter must be provided
for cross-Region restores" ("Restoring a DynamoDB table to a point in time", Amazon DynamoDB
Developer Guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from .restore import RestorePlan


def describe_sse(spec: dict[str, Any]) -> str:
    """An ``SSESpecification`` in words."""
    if not spec.get("Enabled"):
        return "AWS owned key (SSESpecificationOverride Enabled=false)"
    key = spec.get("KMSMasterKeyId")
    return f"KMS key {key}" if key else "AWS managed key aws/dynamodb of the target's region"


def _key_region(key: str) -> str | None:
    """The region of a KMS key ARN (``arn:<partition>:kms:<region>:<account>:key/...``); None for a key id or alias."""
    parts = key.split(":")
    return parts[3] if key.startswith("arn:") and len(parts) >= 6 else None


def sse_override_for(
    source: dict[str, Any], target_region: str, kms_key_id: str | None, *, cross_region: bool
) -> tuple[dict[str, Any] | None, list[str]]:
    """The restore's ``SSESpecificationOverride`` and notes on it.

    "The sse-specification-override parameter is mandatory for cross-Region restores but optional
    for restores to the same Region as the source table" ("Restoring a DynamoDB table to a point in
    time", Amazon DynamoDB Developer Guide,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html).
    A KMS key belongs to one region, so across regions the source's key cannot follow: with
    ``kms_key_id`` (a key of the target's region) the target is encrypted with it; without, a source
    on an AWS owned key gets an AWS owned key (``Enabled: false``), a source on a KMS key the AWS
    managed key ``aws/dynamodb`` of the target's region, said in a note (give ``kms_key_id`` to keep
    a key of your own). In the source's region: None (as the source) unless ``kms_key_id`` is given.
    A key ARN of another region is an :class:`InputError`.
    """
    notes: list[str] = []
    if kms_key_id:
        region = _key_region(kms_key_id)
        if region is not None and region != target_region:
            raise InputError(
                f"sse_kms_key_id {kms_key_id} is a key of {region}, the target table is created in {target_region}: "
                f"KMS keys are regional; give a key of {target_region} (or a multi-Region key's replica there)",
                code="ValidationException",
            )
        return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key_id}, notes
    if not cross_region:
        return None, notes
    sse = source.get("SSEDescription") or {}
    if sse.get("Status") in ("ENABLED", "ENABLING", "UPDATING") and sse.get("SSEType") == "KMS":
        notes.append(
            f"the source is encrypted with KMS key {sse.get('KMSMasterKeyArn')}, which stays in its region: the "
            f"restored table in {target_region} gets the AWS managed key aws/dynamodb of {target_region}; give "
            f"sse_kms_key_id (a key of {target_region}) to use a key of your own"
        )
        return {"Enabled": True, "SSEType": "KMS"}, notes
    return {"Enabled": False}, notes


def cross_region_request(plan: "RestorePlan") -> dict[str, Any]:
    """How the restore names its source and encryption: ``SourceTableArn`` across regions ("The
    source-table-arn parameter must be provided for cross-Region restores", PointInTimeRecovery.Tutorial
    as above), ``SourceTableName`` otherwise; ``SSESpecificationOverride`` when the plan has one."""
    out: dict[str, Any] = {}
    if plan.target_region:
        if not plan.source_arn or plan.sse_override is None:
            raise InputError("a cross-region restore plan needs the source's ARN and an SSE override: plan it again")
        out["SourceTableArn"] = plan.source_arn
    else:
        out["SourceTableName"] = plan.source_table
    if plan.sse_override is not None:
        out["SSESpecificationOverride"] = dict(plan.sse_override)
    return out


__all__ = ["cross_region_request", "describe_sse", "sse_override_for"]
