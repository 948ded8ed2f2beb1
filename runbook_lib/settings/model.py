"""What the settings step works with: the calls it may make, a planned call (:class:`Step`), a
change of one setting (:class:`Change`), the reviewed plan (:class:`SettingsPlan`), and the plan
while :func:`~runbook_lib.settings.planning.diff` drafts it (:class:`Draft`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import PreconditionError
from ..times import iso

if TYPE_CHECKING:
    from ..aws.clients import AwsTarget
    from .optional_reads import Reads

SNAPSHOT_VERSION = 1

#: Stands for the restored table's stream ARN in a planned call until the stream exists.
STREAM_ARN_TOKEN = "${TargetStreamArn}"

#: Every AWS call the snapshot, diff and apply make, by the setting it reads or sets:
#: (service, operation). The one list: ``READ_APIS`` (the remedies' permissions) derives from
#: it, a :class:`Step` may only plan a call listed here, and ``tests/sandbox/test_settings_api.py``
#: records the calls the code really makes against it and drives each one against the sandbox.
API_CALLS: dict[str, tuple[tuple[str, str], ...]] = {
    "table": (("dynamodb", "DescribeTable"), ("dynamodb", "UpdateTable")),
    "ttl": (("dynamodb", "DescribeTimeToLive"), ("dynamodb", "UpdateTimeToLive")),
    "pitr": (("dynamodb", "DescribeContinuousBackups"), ("dynamodb", "UpdateContinuousBackups")),
    "tags": (("dynamodb", "ListTagsOfResource"), ("dynamodb", "TagResource")),
    "autoscaling": (
        ("application-autoscaling", "DescribeScalableTargets"),
        ("application-autoscaling", "DescribeScalingPolicies"),
        ("application-autoscaling", "RegisterScalableTarget"),
        ("application-autoscaling", "PutScalingPolicy"),
    ),
    "alarms": (("cloudwatch", "DescribeAlarms"), ("cloudwatch", "PutMetricAlarm")),
    "contributor_insights": (
        ("dynamodb", "DescribeContributorInsights"),
        ("dynamodb", "UpdateContributorInsights"),
    ),
    "resource_policy": (("dynamodb", "GetResourcePolicy"), ("dynamodb", "PutResourcePolicy")),
    "stream_resource_policy": (("dynamodb", "GetResourcePolicy"), ("dynamodb", "PutResourcePolicy")),
    "kinesis_destinations": (
        ("dynamodb", "DescribeKinesisStreamingDestination"),
        ("dynamodb", "EnableKinesisStreamingDestination"),
    ),
}

_READ_PREFIXES = ("Describe", "Get", "List")
_ALL_CALLS = frozenset(call for calls in API_CALLS.values() for call in calls)

#: Human labels of the settings a snapshot reads, used in rows and notes.
LABELS = {
    "ttl": "TTL",
    "pitr": "point-in-time recovery",
    "tags": "tags",
    "autoscaling": "auto scaling targets and policies",
    "alarms": "CloudWatch alarms",
    "contributor_insights": "contributor insights",
    "resource_policy": "resource policy",
    "stream_resource_policy": "stream resource policy",
    "kinesis_destinations": "Kinesis streaming destinations",
}

#: The permission(s) each optional read needs, named in remedies (from :data:`API_CALLS`).
READ_APIS = {
    setting: " and ".join(f"{service}:{op}" for service, op in calls if op.startswith(_READ_PREFIXES))
    for setting, calls in API_CALLS.items()
    if setting != "table"
}


# -- values ---------------------------------------------------------------------------------
def iso_time(value: Any) -> str | None:
    """A datetime as ISO-8601 UTC text (naive means UTC); None stays None, anything else its ``str``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def jsonable(value: Any) -> Any:
    """Datetimes to ISO strings, recursively: what a snapshot and a plan hold must dump as JSON."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso_time(value)
    return value


def short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def norm(value: Any) -> Any:
    """Compare structures loosely: numbers by value, lists of dicts in any order."""
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items() if v is not None and v != [] and v != ""}
    if isinstance(value, (list, tuple)):
        items = [norm(v) for v in value]
        try:
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
        except TypeError:
            return items
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


# -- the plan -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One API call of a change. ``wait_active``: the table must be ACTIVE before and after."""

    service: str
    operation: str  # the API's name, e.g. "UpdateTimeToLive"
    params: dict
    wait_active: bool = False

    def __post_init__(self) -> None:
        if (self.service, self.operation) not in _ALL_CALLS:
            raise ValueError(f"{self.service}:{self.operation} is not in settings.API_CALLS: add it there (and to its test)")

    def render(self) -> str:
        args = ", ".join(f"{k}={short(v)}" for k, v in self.params.items())
        return f"{self.operation}({args})"


@dataclass(frozen=True)
class Change:
    """One setting to change on the restored table, and the API call(s) that change it."""

    setting: str
    current: Any
    desired: Any
    api_call: str
    steps: tuple[Step, ...] = field(default=(), repr=False, compare=False)
    #: ``planned`` (dry run), ``applied``, ``already in place`` or ``failed``
    status: str = "planned"
    error: str | None = None


@dataclass(frozen=True)
class SettingsPlan:
    """The reviewed diff between a snapshot and the restored table (see :func:`diff`)."""

    source_table: str
    target_table: str
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()
    executed: bool = False
    #: the restored table's stream ARN (new when :func:`apply` enabled the stream)
    stream_arn: str | None = None
    snapshot: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not self.changes

    def __len__(self) -> int:
        return len(self.changes)

    @property
    def failed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.status == "failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dataframe(self):
        import pandas as pd

        rows = [
            {
                "setting": c.setting,
                "current": "" if c.current is None else short(c.current, 200),
                "desired": "" if c.desired is None else short(c.desired, 200),
                "api_call": c.api_call,
                "status": c.status,
                "error": c.error or "",
            }
            for c in self.changes
        ]
        return pd.DataFrame(rows, columns=["setting", "current", "desired", "api_call", "status", "error"])

    def to_dict(self) -> dict:
        return jsonable(
            {
                "source_table": self.source_table,
                "target_table": self.target_table,
                "executed": self.executed,
                "stream_arn": self.stream_arn,
                "notes": list(self.notes),
                "changes": [
                    {
                        "setting": c.setting,
                        "current": c.current,
                        "desired": c.desired,
                        "api_call": c.api_call,
                        "status": c.status,
                        "error": c.error,
                    }
                    for c in self.changes
                ],
            }
        )

    def raise_for_failures(self) -> None:
        if self.failed:
            lines = "; ".join(f"{c.setting}: {c.error}" for c in self.failed)
            err = PreconditionError(
                f"{len(self.failed)} setting(s) could not be applied to {self.target_table}: {lines}. "
                "Fix the cause (permissions, a pending table update), then run diff and apply again",
                table=self.target_table,
                step="settings",
                code=self.failed[0].error.split(":")[0] if self.failed[0].error else None,
            )
            err.plan = self  # type: ignore[attr-defined]
            raise err


@dataclass
class Draft:
    """The plan while ``diff`` drafts it: what each setting family reads from, and what it adds.

    ``desc`` is the restored table's ``DescribeTable``; ``opt_ddb`` a DynamoDB client for reads
    whose failure only becomes a note; ``stream_arn`` the restored table's stream now, and
    ``stream_planned`` whether the plan (re-)enables it, which gives the stream a new ARN.
    """

    target: AwsTarget
    snap: dict
    target_table: str
    desc: dict
    opt_ddb: Any
    reads: Reads
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stream_arn: str | None = None
    stream_planned: bool = False

    @property
    def source(self) -> str:
        return self.snap["table"]

    @property
    def target_gsis(self) -> set[str]:
        return {g["IndexName"] for g in self.desc.get("GlobalSecondaryIndexes") or []}

    def add(self, setting: str, current: Any, desired: Any, *steps: Step) -> None:
        self.changes.append(
            Change(
                setting=setting,
                current=jsonable(current),
                desired=jsonable(desired),
                api_call=" then ".join(s.render() for s in steps),
                steps=tuple(steps),
            )
        )
