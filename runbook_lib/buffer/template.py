"""The template ``infra/buffer.yaml`` and what is rendered from it: reading it (CloudFormation's
short-form tags expanded), resolving ``Ref``/``Fn::Sub``, the enable-replay state machine's
definition (``infra/enable_replay.asl.json``, carried inline in the template) and its worst-case
history, and the restore rule's event pattern."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .. import workflow_budget
from ..aws.partitions import partition
from ..errors import BufferError
from .package import LIBRARY_DIR

TEMPLATE_FILE = "buffer.yaml"
ASL_FILE = "enable_replay.asl.json"
#: CloudFormation's limit for an inline ``TemplateBody``.
MAX_TEMPLATE_BODY = 51_200

_ASL_MARKER = "generated from infra/enable_replay.asl.json"
_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_:]+)\}")


def infra_dir() -> Path:
    """``infra/`` of the source tree, or the copy installed as package data."""
    for candidate in (LIBRARY_DIR.parent / "infra", LIBRARY_DIR / "infra"):
        if (candidate / TEMPLATE_FILE).exists():
            return candidate
    raise BufferError(f"cannot find infra/{TEMPLATE_FILE}: reinstall pitr-runbook", step="buffer")


def template_text() -> str:
    return (infra_dir() / TEMPLATE_FILE).read_text()


def template_body() -> str:
    """The template as ``CreateStack``/``UpdateStack`` send it; refused over CloudFormation's limit."""
    body = template_text()
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        raise BufferError(f"infra/{TEMPLATE_FILE} exceeds CloudFormation's {MAX_TEMPLATE_BODY} byte limit", step="buffer")
    return body


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (``!Ref``, ``!Sub``, ...) as their long form."""


def _cfn_tag(tag: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag == "Ref":
            return {"Ref": value}
        if tag == "Condition":
            return {"Condition": value}
        if tag == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{tag}": value}

    return construct


for _tag in (
    "Ref", "Condition", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Select",
    "Split", "FindInMap", "GetAZs", "ImportValue", "Base64", "Cidr", "ToJsonString", "Length",
):  # fmt: skip
    _CfnLoader.add_constructor(f"!{_tag}", _cfn_tag(_tag))


def load_template(text: str | None = None) -> dict[str, Any]:
    """The template as plain data, short-form tags expanded."""
    return yaml.load(text if text is not None else template_text(), Loader=_CfnLoader)  # noqa: S506


def inline_state_machine_definition(asl_text: str, text: str | None = None) -> str:
    """``buffer.yaml`` with ``asl_text`` as the state machine's ``DefinitionString``.

    ``infra/enable_replay.asl.json`` is the one source of the definition; the template carries it
    verbatim as a ``Fn::Sub`` block scalar after the line that names the file. A test keeps the
    two equal (and regenerates the template's copy with ``UPDATE_GOLDEN=1``).
    """
    lines = (text if text is not None else template_text()).splitlines(keepends=True)
    for i, line in enumerate(lines):
        if _ASL_MARKER in line and line.lstrip().startswith("- |"):
            break
    else:
        raise BufferError(f"infra/{TEMPLATE_FILE} has no '{_ASL_MARKER}' block", step="buffer")
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    end = i + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(indent)):
        end += 1
    body = [(indent + row if row.strip() else "\n") for row in asl_text.rstrip("\n").splitlines(keepends=True)]
    body[-1] = body[-1].rstrip("\n") + "\n"
    return "".join(lines[: i + 1] + body + lines[end:])


def substitute(node: Any, values: Mapping[str, str]) -> Any:
    """Resolve ``Ref`` and one-argument ``Fn::Sub`` against ``values`` (pseudo parameters too)."""
    if isinstance(node, list):
        return [substitute(n, values) for n in node]
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            return _SUB_VARIABLE.sub(lambda m: str(values.get(m.group(1), m.group(0))), node["Fn::Sub"])
        return {k: substitute(v, values) for k, v in node.items()}
    return node


def render_state_machine_definition(
    *,
    target_table: str,
    queue_mapping_uuid: str,
    restore_timeout_seconds: int,
    restore_poll_seconds: int,
    restore_poll_max_seconds: int = 300,
    region: str = "us-east-1",
) -> str:
    """``enable_replay.asl.json`` with its placeholders filled, as ``Fn::Sub`` renders it.

    ``region`` gives ``${AWS::Partition}`` (the aws-sdk task ARNs are ``arn:<partition>:states:::``).
    """
    values = {
        "AWS::Partition": partition(region),
        "TargetTableName": target_table,
        "QueueMappingUuid": queue_mapping_uuid,
        "RestoreTimeoutSeconds": str(int(restore_timeout_seconds)),
        "RestorePollSeconds": str(int(restore_poll_seconds)),
        "RestorePollMaxSeconds": str(int(restore_poll_max_seconds)),
    }
    text = (infra_dir() / ASL_FILE).read_text()
    return _SUB_VARIABLE.sub(lambda m: values[m.group(1)], text)


def workflow_history_events(*, restore_timeout_seconds: int, restore_poll_seconds: int, restore_poll_max_seconds: int) -> int:
    """The most history events the enable-replay workflow can write with these parameters (every
    poll up to RestoreTimeoutSeconds, every call retried at its most), counted from the definition."""
    definition = json.loads(
        render_state_machine_definition(
            target_table="t",
            queue_mapping_uuid="u",
            restore_timeout_seconds=restore_timeout_seconds,
            restore_poll_seconds=restore_poll_seconds,
            restore_poll_max_seconds=restore_poll_max_seconds,
        )
    )
    return workflow_budget.enable_replay_worst_case(definition).events


def longest_restore_timeout(*, restore_poll_seconds: int, restore_poll_max_seconds: int) -> int:
    """The longest RestoreTimeoutSeconds whose worst case stays within Step Functions' history limit."""
    low, high = 1, 31536000
    while low < high:
        mid = (low + high + 1) // 2
        events = workflow_history_events(
            restore_timeout_seconds=mid, restore_poll_seconds=restore_poll_seconds, restore_poll_max_seconds=restore_poll_max_seconds
        )
        if events <= workflow_budget.HISTORY_LIMIT:
            low = mid
        else:
            high = mid - 1
    return low


def render_event_pattern(
    *, source_table: str, target_table: str, region: str, account_id: str, stack_name: str = "stack"
) -> dict[str, Any]:
    """The restore rule's event pattern as deployed for these tables (what the rule matches)."""
    template = load_template()
    pattern = template["Resources"]["RestoreRule"]["Properties"]["EventPattern"]
    return substitute(
        pattern,
        {
            "SourceTableName": source_table,
            "TargetTableName": target_table,
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": partition(region),
            "AWS::StackName": stack_name,
        },
    )
