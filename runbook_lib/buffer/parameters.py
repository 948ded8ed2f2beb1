"""The template's parameters: checked against the template's own constraints and the rules
between them (before any call: CloudFormation, Lambda or Step Functions would refuse them later,
or worse, accept them), and resolved to the values a stack is deployed with."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import workflow_budget
from ..automation import AUTOMATIONS, EVENT  # noqa: F401 - AUTOMATIONS: imported from here by planning
from ..errors import InputError
from .template import TEMPLATE_FILE, longest_restore_timeout, workflow_history_events

STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")
#: a change reaches the DLQ no sooner than MaxReceiveCount x QueueVisibilityTimeout after it was
#: first sent; at least SQS's five-minute deduplication interval keeps a redriven change
#: recognisably late to the applier (runbook_lib/cdc/applier.py, path (b))
REDRIVE_MIN_SECONDS = 300
#: Set by plan/deploy from the tables and the artifact, never through ``parameters``.
RESERVED = ("SourceTableName", "TargetTableName", "TargetRegion", "SourceStreamArn", "CodeBucket", "CodeKey")


def check_parameter(name: str, value: str, spec: Mapping[str, Any]) -> None:
    """The template's own constraints, checked before any call (CloudFormation would, later)."""
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        raise InputError(f"{name}={value!r} is not one of {', '.join(map(str, spec['AllowedValues']))}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise InputError(f"{name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise InputError(f"{name}={value} is below its minimum {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise InputError(f"{name}={value} is above its maximum {spec['MaxValue']}")
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        raise InputError(f"{name}={value!r} does not match {spec['AllowedPattern']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise InputError(f"{name} is too short (at least {spec['MinLength']} characters)")


def resolve_parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Every parameter's value (``given``, else the template's default), each one checked, then
    the rules between them; ``CodeBucket``/``CodeKey`` are left out (known at deploy time)."""
    specs = template["Parameters"]
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise InputError(f"unknown template parameter(s) {', '.join(unknown)}: see infra/{TEMPLATE_FILE}")
    values: dict[str, str] = {}
    for name, spec in specs.items():
        if name in given:
            values[name] = str(given[name])
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            continue  # CodeBucket / CodeKey: known at deploy time
        check_parameter(name, values[name], spec)
    num = {k: float(v) for k, v in values.items() if specs[k].get("Type") == "Number"}
    if num["QueueVisibilityTimeout"] < num["ApplierTimeoutSeconds"]:
        raise InputError(
            f"QueueVisibilityTimeout ({values['QueueVisibilityTimeout']} s) is shorter than the applier's "
            f"timeout ({values['ApplierTimeoutSeconds']} s): Lambda refuses the queue mapping; raise it "
            "(six times the function timeout is AWS's advice)"
        )
    if num["MaxReceiveCount"] * num["QueueVisibilityTimeout"] < REDRIVE_MIN_SECONDS:
        raise InputError(
            f"MaxReceiveCount x QueueVisibilityTimeout ({values['MaxReceiveCount']} x "
            f"{values['QueueVisibilityTimeout']} s) is under {REDRIVE_MIN_SECONDS} s: a change could reach the "
            "DLQ and be redriven before the applier can tell it is late (it relies on SQS's five-minute "
            "deduplication interval); raise either"
        )
    if num["ApplierMaximumConcurrency"] == 1 or not num["ApplierMaximumConcurrency"].is_integer():
        raise InputError(
            "ApplierMaximumConcurrency must be a whole number: 0 (no cap) or between 2 and 1000 "
            "(Lambda's range for ScalingConfig.MaximumConcurrency)"
        )
    if num["RestorePollSeconds"] > num["RestoreTimeoutSeconds"]:
        raise InputError("RestorePollSeconds is longer than RestoreTimeoutSeconds: shorten the poll interval")
    if values.get("Automation") == EVENT:
        _check_workflow_history(num)
    return values


def _check_workflow_history(num: Mapping[str, float]) -> None:
    """Refuse enable-replay parameters whose worst case outgrows a Step Functions execution."""
    poll, cap, timeout = (int(num[k]) for k in ("RestorePollSeconds", "RestorePollMaxSeconds", "RestoreTimeoutSeconds"))
    if poll > cap:
        raise InputError(
            f"RestorePollSeconds ({poll} s) is longer than RestorePollMaxSeconds ({cap} s): the first wait is the "
            "shortest and waits grow up to the maximum; lower RestorePollSeconds or raise RestorePollMaxSeconds"
        )
    events = workflow_history_events(restore_timeout_seconds=timeout, restore_poll_seconds=poll, restore_poll_max_seconds=cap)
    if events > workflow_budget.HISTORY_LIMIT:
        longest = longest_restore_timeout(restore_poll_seconds=poll, restore_poll_max_seconds=cap)
        raise InputError(
            f"RestoreTimeoutSeconds={timeout} with waits from {poll} s up to RestorePollMaxSeconds={cap} s could write "
            f"{events:,} or more history events, over the 25,000 a Step Functions execution holds (the workflow "
            f"would fail mid-restore with States.Runtime): raise RestorePollMaxSeconds (at most 3600) or lower "
            f"RestoreTimeoutSeconds to {longest} or less"
        )


def max_message_warnings(deployed: int, checked: int | None) -> list[str]:
    """A warning when preflight (step 00) sized the items against another maximum message size
    than the queue is deployed with; none when it checked the same value, or was not told."""
    if checked is None or int(checked) == deployed:
        return []
    consequence = (
        "items between the two sizes will travel as their key only and be re-read from the source (convergent, "
        "more reads)"
        if deployed < int(checked)
        else "the item-size finding of step 00 is more pessimistic than this deployment"
    )
    return [
        f"MaximumMessageSize {deployed} is deployed, but preflight (step 00) checked the item sizes against "
        f"{int(checked)}: {consequence}; run step 00 again with max_message_bytes={deployed}, or deploy with "
        f"MaximumMessageSize={int(checked)}"
    ]
