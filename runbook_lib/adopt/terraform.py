"""The table as a Terraform ``aws_dynamodb_table`` with an ``import`` block, written as HCL.

Follows the Terraform AWS provider's ``aws_dynamodb_table`` documentation
(https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/dynamodb_table):
``server_side_encryption`` absent is the AWS owned key, ``enabled = true`` without ``kms_key_arn``
the AWS managed key ``alias/aws/dynamodb``, ``kms_key_arn`` only for another key; ``ttl`` with
``attribute_name`` only when enabled; ``point_in_time_recovery`` with ``recovery_period_in_days``;
the ``import`` block (Terraform 1.5 and later) names the table by its ``name``. GSIs use
``hash_key``/``range_key``, which every provider version 5 and 6 takes (6 deprecates them for
``key_schema`` blocks, with a warning only), except a GSI with a multi-attribute key, which only
``key_schema`` blocks (provider 6) can describe. ``lifecycle { prevent_destroy = true }`` stands for
CloudFormation's ``DeletionPolicy: Retain``: a plan that would delete or replace the table fails.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from .read import AWS_MANAGED, CUSTOMER_MANAGED, TableState


class Block:
    """An HCL block: a type, labels, and a body of attributes and nested blocks, in order."""

    def __init__(self, kind: str, *labels: str) -> None:
        self.kind, self.labels = kind, labels
        self.body: list[tuple[str, Any]] = []

    def set(self, name: str, value: Any) -> "Block":
        self.body.append((name, value))
        return self

    def block(self, kind: str, *labels: str) -> "Block":
        child = Block(kind, *labels)
        self.body.append(("", child))
        return child

    def lines(self, indent: int = 0) -> list[str]:
        pad = "  " * indent
        head = " ".join([self.kind, *(string(label) for label in self.labels)])
        out = [f"{pad}{head} {{"]
        for name, value in self.body:
            if isinstance(value, Block):
                out.extend(value.lines(indent + 1))
            else:
                out.append(f"{pad}  {name} = {expression(value, indent + 1)}")
        out.append(f"{pad}}}")
        return out


class Reference(str):
    """A bare HCL expression (``aws_dynamodb_table.orders``), written without quotes."""


def string(text: str) -> str:
    """An HCL quoted string: backslash escapes, and ``${`` / ``%{`` doubled so they stay literal."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
               .replace("\t", "\\t").replace("${", "$${").replace("%{", "%%{"))
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


def expression(value: Any, indent: int = 0) -> str:
    if isinstance(value, Reference):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(expression(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = "  " * indent
        inner = [f"{pad}  {string(str(k))} = {expression(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + "\n".join(inner) + f"\n{pad}}}"
    raise TypeError(f"no HCL form for {type(value).__name__}")


def resource_name(table: str) -> str:
    """A Terraform resource name from the table's: letters, digits, '_' and '-', not a digit first."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", table)
    return name if re.match(r"[A-Za-z_]", name) else "t_" + name


def _key(schema: list[dict[str, str]], kind: str) -> str | None:
    return next((k["AttributeName"] for k in schema if k["KeyType"] == kind), None)


def _multi_attribute(schema: list[dict[str, str]]) -> bool:
    """A GSI key of more than one HASH or RANGE attribute (DynamoDB's multi-attribute keys)."""
    kinds = [k["KeyType"] for k in schema]
    return kinds.count("HASH") > 1 or kinds.count("RANGE") > 1


def _index_body(block: Block, index: dict[str, Any], *, hash_key: bool) -> None:
    block.set("name", index["IndexName"])
    if hash_key and _multi_attribute(index["KeySchema"]):
        # only key_schema blocks can say it (provider 6); hash_key/range_key hold one attribute each
        for key in index["KeySchema"]:
            block.block("key_schema").set("attribute_name", key["AttributeName"]).set("key_type", key["KeyType"])
    else:
        if hash_key:
            block.set("hash_key", _key(index["KeySchema"], "HASH"))
        range_key = _key(index["KeySchema"], "RANGE")
        if range_key:
            block.set("range_key", range_key)
    block.set("projection_type", index["Projection"]["ProjectionType"])
    if index["Projection"].get("NonKeyAttributes"):
        block.set("non_key_attributes", list(index["Projection"]["NonKeyAttributes"]))


def _on_demand(block: Block, description: dict[str, Any] | None) -> None:
    values = {k: int(v) for k, v in (description or {}).items() if int(v) > 0}
    if values:
        od = block.block("on_demand_throughput")
        if "MaxReadRequestUnits" in values:
            od.set("max_read_request_units", values["MaxReadRequestUnits"])
        if "MaxWriteRequestUnits" in values:
            od.set("max_write_request_units", values["MaxWriteRequestUnits"])


def resource(state: TableState) -> Block:
    t = state.table
    provisioned = state.billing_mode == "PROVISIONED"
    r = Block("resource", "aws_dynamodb_table", resource_name(state.name))
    r.set("name", state.name).set("billing_mode", state.billing_mode)
    r.set("hash_key", _key(t["KeySchema"], "HASH"))
    if _key(t["KeySchema"], "RANGE"):
        r.set("range_key", _key(t["KeySchema"], "RANGE"))
    if provisioned:
        r.set("read_capacity", int(t["ProvisionedThroughput"]["ReadCapacityUnits"]))
        r.set("write_capacity", int(t["ProvisionedThroughput"]["WriteCapacityUnits"]))
    if state.table_class:
        r.set("table_class", state.table_class)
    r.set("deletion_protection_enabled", bool(t.get("DeletionProtectionEnabled", False)))
    r.set("stream_enabled", state.stream_view_type is not None)
    if state.stream_view_type:
        r.set("stream_view_type", state.stream_view_type)
    for attribute in state.attribute_definitions():
        r.block("attribute").set("name", attribute["AttributeName"]).set("type", attribute["AttributeType"])
    for index in state.global_indexes():
        gsi = r.block("global_secondary_index")
        _index_body(gsi, index, hash_key=True)
        if provisioned:
            gsi.set("read_capacity", int(index["ProvisionedThroughput"]["ReadCapacityUnits"]))
            gsi.set("write_capacity", int(index["ProvisionedThroughput"]["WriteCapacityUnits"]))
        else:
            _on_demand(gsi, index.get("OnDemandThroughput"))
    for index in state.local_indexes():
        _index_body(r.block("local_secondary_index"), index, hash_key=False)
    if not provisioned:
        _on_demand(r, t.get("OnDemandThroughput"))
    if state.ttl_attribute:
        r.block("ttl").set("attribute_name", state.ttl_attribute).set("enabled", True)
    pitr = r.block("point_in_time_recovery").set("enabled", state.pitr_enabled)
    if state.pitr_enabled and state.pitr.get("RecoveryPeriodInDays"):
        pitr.set("recovery_period_in_days", int(state.pitr["RecoveryPeriodInDays"]))
    if state.sse_kind in (AWS_MANAGED, CUSTOMER_MANAGED):
        sse = r.block("server_side_encryption").set("enabled", True)
        if state.sse_kind == CUSTOMER_MANAGED:
            sse.set("kms_key_arn", state.kms_key_arn)
    if state.user_tags:
        r.set("tags", {tag["Key"]: tag["Value"] for tag in state.user_tags})
    r.block("lifecycle").set("prevent_destroy", True)
    return r


def import_block(state: TableState) -> Block:
    return (Block("import").set("to", Reference(f"aws_dynamodb_table.{resource_name(state.name)}"))
            .set("id", state.name))


def render(state: TableState) -> str:
    return "\n".join([*import_block(state).lines(), "", *resource(state).lines()]) + "\n"


def import_steps(state: TableState, config_file: str) -> list[str]:
    return [
        f"# put {config_file} in the Terraform configuration whose aws provider manages region {state.region} "
        "(Terraform 1.5 or later for the import block)",
        "terraform init",
        f"terraform plan   # must read: 1 to import, 0 to add, 0 to change, 0 to destroy "
        f"(aws_dynamodb_table.{resource_name(state.name)})",
        "terraform apply",
        f"# the import block in {shlex.quote(config_file)} may then go, or stay as a record: the table is in the state",
    ]
