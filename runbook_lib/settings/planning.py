"""The diff: what makes the restored table carry the settings a snapshot recorded.

:func:`diff` reads the restored table once, then runs one small function per setting family
(:data:`FAMILIES`, in the order their changes are applied); each reads what it needs and adds its
changes and notes to the :class:`~.model.Draft`. Only reads: nothing is changed here.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable

from ..aws.clients import AwsTarget
from ..aws.tables import describe_table, optional_client, validate_table_name
from ..errors import InputError
from .alarms import diff_alarms
from .autoscaling import diff_autoscaling
from .model import LABELS, SNAPSHOT_VERSION, STREAM_ARN_TOKEN, Draft, SettingsPlan, Step
from .optional_reads import Reads
from .reading import KINESIS_ON, kinesis_destinations, list_tags, read_pitr, read_policy, read_ttl, throughput, warm

log = logging.getLogger(__name__)


def diff(target: AwsTarget, snap: dict, target_table: str) -> SettingsPlan:
    """The changes that make ``target_table`` carry the settings recorded in ``snap``.

    Reads only; changes nothing. Raises :class:`InputError` for a malformed name or snapshot and
    :class:`PreconditionError` if the target table does not exist (restore it first).
    """
    validate_table_name(target_table, param="target_table")
    if not isinstance(snap, dict) or snap.get("version") != SNAPSHOT_VERSION or "table" not in snap:
        raise InputError(
            "the settings snapshot is missing or from another version: take it again with "
            "settings.snapshot(target, source_table) (00_preflight stores it in the run state)",
            table=target_table,
            step="settings",
        )
    desc = describe_table(target, target_table, client=target.client("dynamodb"))
    spec = desc.get("StreamSpecification") or {}
    draft = Draft(
        target=target,
        snap=snap,
        target_table=target_table,
        desc=desc,
        opt_ddb=optional_client(target, "dynamodb"),
        reads=Reads(),
        stream_arn=desc.get("LatestStreamArn") if spec.get("StreamEnabled") else None,
    )
    draft.notes += [
        f"{LABELS.get(k, k)} of {draft.source} could not be read ({code}): not copied; check it by hand"
        for k, code in sorted((snap.get("unreadable") or {}).items())
    ]
    for family in FAMILIES:
        family(draft)
    draft.notes += [
        f"{LABELS.get(k, k)} of {target_table} could not be read ({code}): planned as if absent"
        for k, code in sorted(draft.reads.unreadable.items())
    ]
    log.info("settings diff %s -> %s: %d change(s)", draft.source, target_table, len(draft.changes))
    return SettingsPlan(
        source_table=draft.source,
        target_table=target_table,
        changes=tuple(draft.changes),
        notes=tuple(draft.notes),
        stream_arn=draft.stream_arn,
        snapshot=snap,
    )


# -- table-level settings (UpdateTable) -------------------------------------------------------
def _billing_mode(desc: dict) -> str:
    return (desc.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"


def diff_deletion_protection(d: Draft) -> None:
    """Enabled where the source had it; never disabled."""
    on = d.desc.get("DeletionProtectionEnabled")
    if d.snap.get("deletion_protection") and not on:
        d.add(
            "deletion_protection",
            False,
            True,
            Step("dynamodb", "UpdateTable", {"TableName": d.target_table, "DeletionProtectionEnabled": True}, True),
        )
    elif not d.snap.get("deletion_protection") and on:
        d.notes.append(f"deletion protection is on for {d.target_table} and was off for {d.source}: left on")


def diff_table_class(d: Draft) -> None:
    have = (d.desc.get("TableClassSummary") or {}).get("TableClass") or "STANDARD"
    want = d.snap.get("table_class")
    if want and want != have:
        d.add("table_class", have, want, Step("dynamodb", "UpdateTable", {"TableName": d.target_table, "TableClass": want}, True))


def diff_billing(d: Draft) -> None:
    """The source's billing mode; in provisioned mode its throughput, unless auto scaling manages it."""
    snap, target_table = d.snap, d.target_table
    src_mode = snap.get("billing_mode")
    tgt_mode = _billing_mode(d.desc)
    if not src_mode:
        return
    scaled = any(
        t["resource_id"] == f"table/{snap['table']}" for t in ((snap.get("autoscaling") or {}).get("targets") or [])
    )
    if src_mode != tgt_mode:
        params: dict[str, Any] = {"TableName": target_table, "BillingMode": src_mode}
        if src_mode == "PROVISIONED":
            pt = snap.get("provisioned_throughput") or {"read": 5, "write": 5}
            params["ProvisionedThroughput"] = {"ReadCapacityUnits": pt["read"], "WriteCapacityUnits": pt["write"]}
            updates = [
                {
                    "Update": {
                        "IndexName": g["name"],
                        "ProvisionedThroughput": {
                            "ReadCapacityUnits": (g["provisioned_throughput"] or pt)["read"],
                            "WriteCapacityUnits": (g["provisioned_throughput"] or pt)["write"],
                        },
                    }
                }
                for g in snap["indexes"]["global"]
                if g["name"] in d.target_gsis
            ]
            if updates:
                params["GlobalSecondaryIndexUpdates"] = updates
        d.add("billing_mode", tgt_mode, src_mode, Step("dynamodb", "UpdateTable", params, True))
        return
    if src_mode == "PROVISIONED" and snap.get("provisioned_throughput"):
        want = snap["provisioned_throughput"]
        cur = throughput(d.desc.get("ProvisionedThroughput"))
        if cur != want and not scaled:
            d.add(
                "provisioned_throughput",
                cur,
                want,
                Step(
                    "dynamodb",
                    "UpdateTable",
                    {"TableName": target_table, "ProvisionedThroughput": {"ReadCapacityUnits": want["read"], "WriteCapacityUnits": want["write"]}},
                    True,
                ),
            )
        elif cur != want:
            d.notes.append("provisioned throughput differs but auto scaling manages it: left to the copied policies")


def diff_throughput_limits(d: Draft) -> None:
    """On-demand maximums the source had; warm throughput up to the source's (it only increases)."""
    want_od = {k: v for k, v in (d.snap.get("on_demand_throughput") or {}).items() if v not in (None, -1)}
    have_od = {k: v for k, v in (d.desc.get("OnDemandThroughput") or {}).items() if v not in (None, -1)}
    if d.snap.get("billing_mode") == "PAY_PER_REQUEST" == _billing_mode(d.desc) and want_od and want_od != have_od:
        d.add(
            "on_demand_throughput",
            have_od or None,
            want_od,
            Step("dynamodb", "UpdateTable", {"TableName": d.target_table, "OnDemandThroughput": want_od}, True),
        )
    want_warm = d.snap.get("warm_throughput") or {}
    have_warm = warm(d.desc.get("WarmThroughput")) or {}
    raise_to = {k: v for k, v in want_warm.items() if v > have_warm.get(k, 0)}
    if raise_to:
        d.add(
            "warm_throughput",
            have_warm or None,
            {**have_warm, **raise_to},
            Step("dynamodb", "UpdateTable", {"TableName": d.target_table, "WarmThroughput": raise_to}, True),
        )


def note_sse(d: Draft) -> None:
    """SSE is reported, not changed: it is set at restore time."""
    tgt_sse = d.desc.get("SSEDescription") or {}
    tgt_key = tgt_sse.get("KMSMasterKeyArn") if tgt_sse.get("Status") in ("ENABLED", "UPDATING") else None
    src_key = (d.snap.get("sse") or {}).get("kms_key_arn")
    if src_key != tgt_key:
        d.notes.append(
            f"encryption differs: {d.source} uses "
            + (f"KMS key {src_key}" if src_key else "the AWS owned key")
            + f", {d.target_table} uses "
            + (f"KMS key {tgt_key}" if tgt_key else "the AWS owned key")
            + ": pass SSESpecificationOverride to RestoreTableToPointInTime, or UpdateTable SSESpecification"
        )


def diff_stream(d: Draft) -> None:
    """The source's stream view type; a view type cannot change in place: disable, then enable."""
    src_stream = d.snap["stream"]
    spec = d.desc.get("StreamSpecification") or {}
    tgt_on = bool(spec.get("StreamEnabled"))
    tgt_view = spec.get("StreamViewType") if tgt_on else None
    if not src_stream["enabled"] or tgt_view == src_stream["view_type"]:
        return
    steps = [
        Step(
            "dynamodb",
            "UpdateTable",
            {"TableName": d.target_table, "StreamSpecification": {"StreamEnabled": True, "StreamViewType": src_stream["view_type"]}},
            True,
        )
    ]
    if tgt_on:  # disable first: the enabled stream is a new one, with a new ARN
        steps.insert(
            0, Step("dynamodb", "UpdateTable", {"TableName": d.target_table, "StreamSpecification": {"StreamEnabled": False}}, True)
        )
    d.add(
        "stream",
        {"enabled": tgt_on, "view_type": tgt_view},
        {"enabled": True, "view_type": src_stream["view_type"]},
        *steps,
    )
    d.stream_planned = True


# -- settings with calls of their own ---------------------------------------------------------
def diff_ttl(d: Draft) -> None:
    src = d.snap.get("ttl")
    if src is None or not src["enabled"]:
        return
    cur = read_ttl(d.reads, d.opt_ddb, d.target_table)

    def update(enabled: bool, attribute: str) -> Step:
        return Step(
            "dynamodb",
            "UpdateTimeToLive",
            {"TableName": d.target_table, "TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}},
        )

    if cur is not None and cur["enabled"] and cur["attribute"] != src["attribute"]:
        # AWS refuses any UpdateTimeToLive on a table for up to an hour after the last one
        # (ValidationException), so a switch of attribute is two applies an hour apart.
        d.add(
            "ttl",
            {"enabled": True, "attribute": cur["attribute"]},
            {"enabled": False, "attribute": cur["attribute"]},
            update(False, cur["attribute"]),
        )
        d.notes.append(
            f"TTL of {d.target_table} is on attribute {cur['attribute']}, {d.source}'s on {src['attribute']}: "
            "this plan disables it; AWS refuses another UpdateTimeToLive on the table for up to an hour, so run "
            f"diff and apply again after that to enable it on {src['attribute']}"
        )
    elif cur is None or not cur["enabled"]:
        d.add(
            "ttl",
            cur and {"enabled": cur["enabled"], "attribute": cur["attribute"]},
            {"enabled": True, "attribute": src["attribute"]},
            update(True, src["attribute"]),
        )


def diff_pitr(d: Draft) -> None:
    """Enabled, or its recovery period aligned; never disabled."""
    src = d.snap.get("pitr")
    if src is None or not src["enabled"]:
        return
    cur = read_pitr(d.reads, d.opt_ddb, d.target_table)
    want_days = src.get("recovery_period_days")
    if cur is not None and cur["enabled"] and not (want_days and cur.get("recovery_period_days") != want_days):
        return
    spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
    if want_days:
        spec["RecoveryPeriodInDays"] = want_days
    d.add(
        "pitr",
        cur and {"enabled": cur["enabled"], "recovery_period_days": cur.get("recovery_period_days")},
        {"enabled": True, "recovery_period_days": want_days},
        Step("dynamodb", "UpdateContinuousBackups", {"TableName": d.target_table, "PointInTimeRecoverySpecification": spec}),
    )


def diff_tags(d: Draft) -> None:
    """Missing tags added, values aligned; ``aws:`` tags are reserved; none removed."""
    src_tags = {k: v for k, v in (d.snap.get("tags") or {}).items() if not k.startswith("aws:")}
    if not src_tags:
        return
    arn = d.desc["TableArn"]
    cur_tags = d.reads("tags", lambda: list_tags(d.opt_ddb, arn)) or {}
    missing = {k: v for k, v in src_tags.items() if cur_tags.get(k) != v}
    if missing:
        d.add(
            "tags",
            {k: cur_tags[k] for k in missing if k in cur_tags},
            missing,
            Step("dynamodb", "TagResource", {"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in sorted(missing.items())]}),
        )


def _rewrite_arn(text: str, source_arn: str, target_arn: str) -> str:
    """Replace ``source_arn`` where it stands as a whole ARN or an ARN prefix (``/...``, ``*``)."""
    return re.sub(re.escape(source_arn) + r'(?=["/*]|$)', target_arn.replace("\\", r"\\"), text)


def _policy_equal(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return a == b


def diff_resource_policy(d: Draft) -> None:
    """The source table's policy, its ARN rewritten to the restored table's."""
    if not d.snap.get("resource_policy"):
        return
    arn = d.desc["TableArn"]
    desired = _rewrite_arn(d.snap["resource_policy"], d.snap["table_arn"], arn)
    cur = read_policy(d.reads, d.opt_ddb, "resource_policy", arn)
    if not _policy_equal(cur, desired):
        d.add("resource_policy", cur, desired, Step("dynamodb", "PutResourcePolicy", {"ResourceArn": arn, "Policy": desired}))


def diff_stream_resource_policy(d: Draft) -> None:
    """The source stream's policy, on the restored table's stream (:data:`STREAM_ARN_TOKEN` until
    the plan has enabled it)."""
    src_stream_arn = d.snap["stream"].get("arn")
    if not d.snap.get("stream_resource_policy") or not src_stream_arn:
        return
    new_stream = STREAM_ARN_TOKEN if d.stream_planned or not d.stream_arn else d.stream_arn
    desired = _rewrite_arn(d.snap["stream_resource_policy"], src_stream_arn, new_stream)
    desired = _rewrite_arn(desired, d.snap["table_arn"], d.desc["TableArn"])
    cur = None
    if new_stream != STREAM_ARN_TOKEN:
        cur = read_policy(d.reads, d.opt_ddb, "stream_resource_policy", new_stream)
    if not _policy_equal(cur, desired):
        d.add(
            "stream_resource_policy",
            cur,
            desired,
            Step("dynamodb", "PutResourcePolicy", {"ResourceArn": new_stream, "Policy": desired}),
        )


def diff_contributor_insights(d: Draft) -> None:
    """Enabled on the table and each index where the source had it."""
    ci = d.snap.get("contributor_insights")
    if ci is None:
        return
    wanted = [(None, ci["table"])] + [(g, v) for g, v in sorted(ci["indexes"].items())]
    for index, state in wanted:
        if not state["enabled"]:
            continue
        if index is not None and index not in d.target_gsis:
            d.notes.append(f"index {index} is not on {d.target_table}: its contributor insights are not copied")
            continue
        kwargs = {"TableName": d.target_table} | ({"IndexName": index} if index else {})
        cur = d.reads("contributor_insights", lambda: d.opt_ddb.describe_contributor_insights(**kwargs))
        status = None if cur is None else (cur.get("ContributorInsightsStatus") or "DISABLED")
        if status in ("ENABLED", "ENABLING"):
            continue
        params = {**kwargs, "ContributorInsightsAction": "ENABLE"}
        if state.get("mode"):
            params["ContributorInsightsMode"] = state["mode"]
        d.add(
            "contributor_insights" + (f":index/{index}" if index else ":table"),
            status,
            "ENABLED",
            Step("dynamodb", "UpdateContributorInsights", params),
        )


def diff_kinesis(d: Draft) -> None:
    """The restored table streams to each Kinesis stream the source streamed to."""
    wanted = d.snap.get("kinesis_destinations") or []
    if not wanted:
        return
    cur = d.reads("kinesis_destinations", lambda: kinesis_destinations(d.opt_ddb, d.target_table)) or []
    have = {dest["stream_arn"]: dest for dest in cur}
    for dest in wanted:
        status = (have.get(dest["stream_arn"]) or {}).get("status")
        if status in KINESIS_ON:
            continue
        params: dict[str, Any] = {"TableName": d.target_table, "StreamArn": dest["stream_arn"]}
        if dest.get("precision"):
            params["EnableKinesisStreamingConfiguration"] = {"ApproximateCreationDateTimePrecision": dest["precision"]}
        d.add(f"kinesis_destination:{dest['stream_arn']}", status, "ACTIVE", Step("dynamodb", "EnableKinesisStreamingDestination", params))
        d.notes.append(
            f"{d.target_table} will stream to {dest['stream_arn']} like {d.source}: until {d.source}'s destination is "
            "disabled, that stream carries the changes of both tables"
        )


#: The setting families, in the order their changes are planned and applied (the stream before
#: its policy; the table's own settings first).
FAMILIES: tuple[Callable[[Draft], None], ...] = (
    diff_deletion_protection,
    diff_table_class,
    diff_billing,
    diff_throughput_limits,
    note_sse,
    diff_stream,
    diff_ttl,
    diff_pitr,
    diff_tags,
    diff_resource_policy,
    diff_stream_resource_policy,
    diff_contributor_insights,
    diff_kinesis,
    diff_autoscaling,
    diff_alarms,
)
