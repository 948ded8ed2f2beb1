"""The restored table's capacity, decided before the restore: the source's billing mode and
throughput, the operator's overrides (checked as ``RestoreTableToPointInTime`` checks them), and a
warning where the source scales automatically (a restore does not carry auto scaling; step 05 puts
it back). Re-exported by :mod:`runbook_lib.restore`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .aws.clients import AwsTarget
from .errors import InputError

BILLING_MODES = ("PROVISIONED", "PAY_PER_REQUEST")


@dataclass(frozen=True)
class TargetCapacity:
    """The restored table's capacity, decided before replay starts.

    A restore keeps the source's billing mode and provisioned capacity but not its auto scaling
    (``RestoreTableToPointInTime``: "You must manually set up the following on the restored
    table: Auto scaling policies"); step 05 copies auto scaling only at cutover. Replay writes
    into the target meanwhile, so a provisioned target is throttled above its write capacity.
    ``overrides`` are the request fields sent with the restore (``BillingModeOverride``,
    ``ProvisionedThroughputOverride``, ``GlobalSecondaryIndexOverride``); empty = as the source.
    """

    source_billing_mode: str
    billing_mode: str  # the target's
    read_capacity: int | None  # the target's, when provisioned
    write_capacity: int | None
    overrides: dict[str, Any] = field(default_factory=dict)
    source_autoscaled: bool | None = None  # None: could not be read
    warnings: tuple[str, ...] = ()

    def rows(self) -> list[tuple[str, str]]:
        if self.billing_mode == "PAY_PER_REQUEST":
            what = "on-demand (PAY_PER_REQUEST): not throttled by provisioned capacity"
        else:
            what = f"provisioned: {self.read_capacity} RCU, {self.write_capacity} WCU, no auto scaling until cutover"
        source = "on-demand" if self.source_billing_mode == "PAY_PER_REQUEST" else "provisioned"
        if self.source_autoscaled:
            source += ", with auto scaling"
        rows = [("target capacity", what), ("source capacity", source)]
        rows += [("restore override", f"{k} = {v}") for k, v in self.overrides.items()]
        rows += [("WARNING", w) for w in self.warnings]
        return rows

    def to_state(self) -> dict[str, Any]:
        return {
            "source_billing_mode": self.source_billing_mode,
            "billing_mode": self.billing_mode,
            "read_capacity": self.read_capacity,
            "write_capacity": self.write_capacity,
            "overrides": self.overrides,
            "source_autoscaled": self.source_autoscaled,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_state(cls, data: dict[str, Any] | None) -> TargetCapacity | None:
        if not data:
            return None
        return cls(
            source_billing_mode=data["source_billing_mode"],
            billing_mode=data["billing_mode"],
            read_capacity=data.get("read_capacity"),
            write_capacity=data.get("write_capacity"),
            overrides=dict(data.get("overrides") or {}),
            source_autoscaled=data.get("source_autoscaled"),
            warnings=tuple(data.get("warnings") or ()),
        )


def _units(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError(f"{name} must be a whole number of capacity units (1 or more), not {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"{name} must be a whole number of capacity units (1 or more), not {value!r}") from None
    if number < 1:
        raise InputError(f"{name} must be at least 1 (DynamoDB's minimum), not {number}")
    return number


def check_capacity_overrides(
    billing_mode_override: str | None,
    provisioned_throughput_override: dict[str, Any] | None,
    global_secondary_index_override: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """The restore request's override fields, checked without AWS: ``{}`` when none is given."""
    overrides: dict[str, Any] = {}
    if billing_mode_override is not None:
        mode = str(billing_mode_override).strip().upper()
        if mode not in BILLING_MODES:
            raise InputError(f"billing_mode_override {billing_mode_override!r} must be PROVISIONED or PAY_PER_REQUEST (or None: as the source)")
        overrides["BillingModeOverride"] = mode
    if provisioned_throughput_override is not None:
        if not isinstance(provisioned_throughput_override, dict):
            raise InputError("provisioned_throughput_override must be {'ReadCapacityUnits': n, 'WriteCapacityUnits': n}")
        unknown = set(provisioned_throughput_override) - {"ReadCapacityUnits", "WriteCapacityUnits"}
        if unknown or len(provisioned_throughput_override) != 2:
            raise InputError("provisioned_throughput_override must give exactly ReadCapacityUnits and WriteCapacityUnits")
        if overrides.get("BillingModeOverride") == "PAY_PER_REQUEST":
            raise InputError(
                "provisioned_throughput_override is given with billing_mode_override PAY_PER_REQUEST: an on-demand "
                "table has no provisioned capacity; drop one of them"
            )
        overrides["ProvisionedThroughputOverride"] = {
            k: _units(provisioned_throughput_override[k], f"provisioned_throughput_override {k}")
            for k in ("ReadCapacityUnits", "WriteCapacityUnits")
        }
    if global_secondary_index_override is not None:
        if not isinstance(global_secondary_index_override, list) or not all(
            isinstance(g, dict) and g.get("IndexName") for g in global_secondary_index_override
        ):
            raise InputError("global_secondary_index_override must be a list of GlobalSecondaryIndex objects (IndexName, KeySchema, Projection, ProvisionedThroughput)")
        overrides["GlobalSecondaryIndexOverride"] = global_secondary_index_override
    return overrides


def _source_autoscaled(target: AwsTarget, table: str) -> bool | None:
    from .aws.tables import optional_client

    try:
        aas = optional_client(target, "application-autoscaling")
        found = aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=[f"table/{table}"])
        return bool(found.get("ScalableTargets"))
    except Exception:  # noqa: BLE001 - only the plan's wording depends on it
        return None


def target_capacity(target: AwsTarget, source: dict[str, Any], overrides: dict[str, Any]) -> TargetCapacity:
    """What the restored table gets from the source's description and the overrides; refuses a
    combination ``RestoreTableToPointInTime`` would refuse (:class:`InputError`)."""
    source_mode = (source.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    mode = overrides.get("BillingModeOverride", source_mode)
    throughput = overrides.get("ProvisionedThroughputOverride")
    source_tp = source.get("ProvisionedThroughput") or {}
    read = write = None
    if mode == "PROVISIONED":
        if throughput is None:
            if source_mode != "PROVISIONED" or not source_tp.get("WriteCapacityUnits"):
                raise InputError(
                    f"billing_mode_override PROVISIONED for on-demand table {source['TableName']} needs "
                    "provisioned_throughput_override {'ReadCapacityUnits': n, 'WriteCapacityUnits': n}",
                    table=source["TableName"],
                )
            throughput = source_tp
        read, write = int(throughput["ReadCapacityUnits"]), int(throughput["WriteCapacityUnits"])
        if source_mode != "PROVISIONED" and source.get("GlobalSecondaryIndexes") and "GlobalSecondaryIndexOverride" not in overrides:
            raise InputError(
                f"table {source['TableName']} has global secondary indexes without provisioned capacity: a PROVISIONED "
                "target needs global_secondary_index_override with ProvisionedThroughput for each index",
                table=source["TableName"],
            )
    autoscaled = _source_autoscaled(target, source["TableName"]) if source_mode == "PROVISIONED" else False
    warnings: list[str] = []
    if mode == "PROVISIONED":
        warnings.append(
            f"the restored table gets {write} WCU and {read} RCU, fixed: auto scaling is not carried over by a restore "
            "and step 05 copies it only at cutover. Replay costs at least one WCU per change (more for items over "
            f"1 KB): above {write} changes a second it is throttled and slows down. To avoid it, restore with "
            "billing_mode_override='PAY_PER_REQUEST' (switch back at cutover; DynamoDB allows a switch to provisioned "
            "once every 24 hours) or a higher provisioned_throughput_override"
        )
    return TargetCapacity(
        source_billing_mode=source_mode,
        billing_mode=mode,
        read_capacity=read,
        write_capacity=write,
        overrides=dict(overrides),
        source_autoscaled=autoscaled,
        warnings=tuple(warnings),
    )


