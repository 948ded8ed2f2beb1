"""CloudWatch metric alarms on a table: read the ones that name it, and plan copies for the
restored table (its name in the dimensions and, where it appears, in the alarm's name)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..aws.tables import optional_client
from .model import Draft, Step, jsonable, norm
from .optional_reads import Reads

#: CloudWatch alarms that Application Auto Scaling owns: re-created by the copied policies.
_AUTOSCALING_ALARM_PREFIX = "TargetTracking-"

#: The ``DescribeAlarms`` members that ``PutMetricAlarm`` takes back.
_ALARM_KEYS = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)


def _alarm_dimensions(alarm: dict) -> list[list[dict]]:
    dims = [alarm.get("Dimensions") or []]
    for m in alarm.get("Metrics") or []:
        dims.append(((m.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or [])
    return dims


def _names_table(alarm: dict, table: str) -> bool:
    return any(
        d.get("Name") == "TableName" and d.get("Value") == table for ds in _alarm_dimensions(alarm) for d in ds
    )


def _alarm_params(alarm: dict) -> dict:
    """The ``PutMetricAlarm`` arguments that re-create ``alarm`` (a DescribeAlarms entry)."""
    out: dict[str, Any] = {}
    for key in _ALARM_KEYS:
        value = alarm.get(key)
        if value is None or value == [] or value == "":
            continue
        out[key] = value
    return jsonable(out)


def _describe_metric_alarms(cw, **kwargs) -> list[dict]:
    alarms: list[dict] = []
    for page in cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"], **kwargs):
        alarms.extend(page.get("MetricAlarms") or [])
    return alarms


def read_alarms(reads: Reads, cw, table: str) -> list | None:
    """The metric alarms with a ``TableName`` dimension of ``table``, but auto scaling's own."""

    def read() -> list[dict]:
        out = []
        for a in _describe_metric_alarms(cw):
            if a["AlarmName"].startswith(_AUTOSCALING_ALARM_PREFIX) or not _names_table(a, table):
                continue
            out.append(
                {
                    "name": a["AlarmName"],
                    "params": _alarm_params(a),
                    "stream_label": any(d.get("Name") == "StreamLabel" for ds in _alarm_dimensions(a) for d in ds),
                }
            )
        return sorted(out, key=lambda a: a["name"])

    return reads("alarms", read)


def derived_alarm_name(name: str, source_table: str, target_table: str) -> str:
    """The copied alarm's name: the source table's name replaced by the target's, else suffixed.

    Deterministic, so re-running :func:`diff` finds the copy it made before. At most 255 characters.
    """
    new = name.replace(source_table, target_table) if source_table in name else f"{name}-{target_table}"
    if len(new) > 255:
        digest = hashlib.sha256(new.encode()).hexdigest()[:8]
        new = new[:246] + "-" + digest
    return new


def _rewrite_dims(dims: list[dict], source: str, target: str) -> list[dict]:
    return [
        {**d, "Value": target} if d.get("Name") == "TableName" and d.get("Value") == source else d for d in dims
    ]


def _rewrite_alarm(params: dict, source: str, target: str, name: str) -> dict:
    out = json.loads(json.dumps(params))
    if "Dimensions" in out:
        out["Dimensions"] = _rewrite_dims(out["Dimensions"], source, target)
    for m in out.get("Metrics") or []:
        metric = (m.get("MetricStat") or {}).get("Metric")
        if metric and "Dimensions" in metric:
            metric["Dimensions"] = _rewrite_dims(metric["Dimensions"], source, target)
    return {"AlarmName": name, **out}


def diff_alarms(draft: Draft) -> None:
    """A copy of each of the source's alarms on the restored table, unless one is there already."""
    alarms = draft.snap.get("alarms")
    if not alarms:
        return
    source, target_table = draft.source, draft.target_table
    cw = optional_client(draft.target, "cloudwatch")
    for a in alarms:
        if a.get("stream_label"):
            draft.notes.append(
                f"alarm {a['name']} watches {source}'s stream by its label: re-create it by hand for "
                f"{target_table}'s new stream"
            )
            continue
        new_name = derived_alarm_name(a["name"], source, target_table)
        desired = _rewrite_alarm(a["params"], source, target_table, new_name)
        existing = draft.reads("alarms", lambda: _describe_metric_alarms(cw, AlarmNames=[new_name])) or []
        have = {"AlarmName": new_name, **_alarm_params(existing[0])} if existing else None
        if have is not None and norm(have) == norm(desired):
            continue
        draft.add(
            f"alarm:{new_name}",
            have and "defined differently" or None,
            f"copy of {a['name']} on {target_table}",
            Step("cloudwatch", "PutMetricAlarm", desired),
        )
