"""The target table's region: the source's, or another region of the same partition.

A point-in-time restore can create its table in another region: "You can do cross-Region restores
between AWS commercial Regions, AWS China Regions, and AWS GovCloud (US) Regions" and "Cross-Region
restore is not supported if the source or destination Region is Asia Pacific (Hong Kong) or Middle
East (Bahrain)" ("Point-in-time recovery: How it works", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html).
The call is made in the destination region, with ``SourceTableArn`` and ``SSESpecificationOverride``
("Restoring a DynamoDB table to a point in time", same guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html).

Everything of the source (its stream, the buffer stack, CloudTrail, the event rule) stays in the
source's region; everything of the target (the restore call, the restored table, its settings,
alarms and auto scaling, the applier's writes) is in the target's. ``destination`` gives the
:class:`AwsTarget` for the target's side.
"""

from __future__ import annotations

from .clients import AwsTarget

#: no cross-region restore to or from these (see the module docstring)
NO_CROSS_REGION_RESTORE = frozenset({"ap-east-1", "me-south-1"})


def check_target_region(source_region: str, target_region: str | None, *, automation: str = "notebook") -> str | None:
    """``target_region`` checked against the source's region: None when it is the same (or not given).

    Refused (:class:`InputError`, naming the remedy): another partition, a region without
    cross-region restores, and ``automation="event"`` across regions (the restore's CloudTrail event
    is recorded in the region it is called in, the target's, while the buffer stack's EventBridge
    rule listens in the source's: it would never fire).
    """
    from ..errors import InputError
    from .partitions import partition

    if target_region is None or target_region == "" or target_region == source_region:
        return None
    if not isinstance(target_region, str):
        raise InputError(f"target_region must be a region name such as eu-west-1, not {target_region!r}")
    if partition(target_region) != partition(source_region):
        raise InputError(
            f"target_region {target_region} is in partition {partition(target_region)}, the source's region "
            f"{source_region} in {partition(source_region)}: a restore crosses regions only within a partition; "
            "choose a target region of the source's partition"
        )
    for side in (source_region, target_region):
        if side in NO_CROSS_REGION_RESTORE:
            raise InputError(
                f"DynamoDB does not restore across regions to or from {side}: restore in the source's region "
                f"({source_region}), then copy the table"
            )
    if automation == "event":
        raise InputError(
            f"automation 'event' cannot follow a restore into {target_region}: CloudTrail records the restore in "
            f"{target_region}, where the buffer's EventBridge rule (in {source_region}) never sees it; use "
            "automation 'notebook' (step 03 turns replay on)"
        )
    return target_region


def destination(target: AwsTarget, target_region: str | None) -> AwsTarget:
    """Where the target table lives: ``target_region`` on the same endpoint, or ``target`` itself."""
    if not target_region or target_region == target.region_name:
        return target
    return AwsTarget(region=target_region, endpoint_url=target.endpoint_url)


__all__ = ["NO_CROSS_REGION_RESTORE", "check_target_region", "destination"]
