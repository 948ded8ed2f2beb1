"""The IAM policy language as the sandbox evaluates it (``iam_auth`` applies it to requests).

Parsing (cached by the document's text), ``*``/``?`` wildcards, ``Action``/``NotAction``,
``Resource``/``NotResource``, ``Condition`` operators, and the evaluation "explicit deny over allow
over implicit deny" ("Policy evaluation logic", IAM User Guide,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html), plus
trust policies (``Principal``/``NotPrincipal``). Pure: no moto, no request. What is not evaluated is
said in ``iam_auth``'s docstring.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import unquote

ALLOWED = "allowed"
EXPLICIT_DENY = "explicitDeny"
IMPLICIT_DENY = "implicitDeny"

# ------------------------------------------------------------------------------------ policies
@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[re.Pattern, ...] | None
    not_actions: tuple[re.Pattern, ...] | None
    resources: tuple[re.Pattern, ...] | None
    not_resources: tuple[re.Pattern, ...] | None
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]
    principals: dict[str, tuple[str, ...]] | None = None  # trust policies only
    not_principal: bool = False


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    """``*`` any run of characters, ``?`` exactly one (IAM JSON policy elements: Action, Resource)."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _patterns(values: Any, ignore_case: bool) -> tuple[re.Pattern, ...] | None:
    if values is None:
        return None
    return tuple(_wildcard(str(v), ignore_case) for v in _as_list(values))


@lru_cache(maxsize=1024)
def parse_policy(document: str) -> tuple[Statement, ...]:
    """A policy document (JSON text, possibly URL-encoded) as statements; cached by its text."""
    text = document
    if text.lstrip().startswith("%7B") or text.lstrip().startswith("%7b"):
        text = unquote(text)
    doc = json.loads(text)
    statements = []
    for raw in _as_list(doc.get("Statement")):
        conditions = []
        for operator, keys in (raw.get("Condition") or {}).items():
            for key, values in (keys or {}).items():
                conditions.append((operator, key, tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(values))))
        principals = None
        not_principal = False
        spec = raw.get("Principal")
        if spec is None and raw.get("NotPrincipal") is not None:
            spec, not_principal = raw.get("NotPrincipal"), True
        if spec is not None:
            principals = {"*": ("*",)} if spec == "*" else {k: tuple(str(v) for v in _as_list(v)) for k, v in spec.items()}
        statements.append(
            Statement(
                effect=str(raw.get("Effect", "")),
                actions=_patterns(raw.get("Action"), True),
                not_actions=_patterns(raw.get("NotAction"), True),
                resources=_patterns(raw.get("Resource"), False),
                not_resources=_patterns(raw.get("NotResource"), False),
                conditions=tuple(conditions),
                principals=principals,
                not_principal=not_principal,
            )
        )
    return tuple(statements)


def _document(policy: Any) -> str:
    if isinstance(policy, str):
        return policy
    if isinstance(policy, dict):
        return json.dumps(policy)
    # a moto ManagedPolicy: its default version
    for version in getattr(policy, "versions", []) or []:
        if getattr(version, "is_default", False):
            return version.document if isinstance(version.document, str) else json.dumps(version.document)
    return getattr(policy, "document", "") or "{}"


# ---------------------------------------------------------------------------------- conditions
def _values(context: dict[str, Any], key: str) -> list[str] | None:
    value = context.get(key)
    if value is None:
        lowered = key.lower()
        for k, v in context.items():
            if k.lower() == lowered:
                value = v
                break
    if value is None:
        return None
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(value)]


def _one(op: str, policy_value: str, value: str) -> bool:
    if op in ("StringEquals", "ArnEquals"):
        return value == policy_value if op == "StringEquals" else _wildcard(policy_value, False).match(value) is not None
    if op == "StringEqualsIgnoreCase":
        return value.lower() == policy_value.lower()
    if op in ("StringLike", "ArnLike"):
        return _wildcard(policy_value, False).match(value) is not None
    if op == "Bool":
        return value.lower() == policy_value.lower()
    if op.startswith("Numeric"):
        try:
            a, b = float(value), float(policy_value)
        except ValueError:
            return False
        return {"NumericEquals": a == b, "NumericLessThan": a < b, "NumericLessThanEquals": a <= b,
                "NumericGreaterThan": a > b, "NumericGreaterThanEquals": a >= b}.get(op, False)
    raise KeyError(op)


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


def _condition_holds(operator: str, key: str, policy_values: tuple[str, ...], context: dict[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    values = _values(context, key)
    if operator == "Null":
        want_absent = policy_values and policy_values[0].lower() == "true"
        return (values is None) == bool(want_absent)
    if values is None:
        if if_exists:
            return True
        if qualifier == "ForAllValues":
            return True
        return operator in _NEGATED
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)
    try:
        def matches(value: str) -> bool:
            return any(_one(base, pv, value) for pv in policy_values)

        # a set operator applies its operator, negated or not, to each value of the request
        # ("Set operators for multivalued context keys", IAM User Guide): ForAllValues:StringNotEquals
        # holds when no value of the request is one of the policy's
        def holds(value: str) -> bool:
            return not matches(value) if negated else matches(value)

        if qualifier == "ForAllValues":
            return all(holds(v) for v in values)
        if qualifier == "ForAnyValue":
            return any(holds(v) for v in values)
        hit = any(matches(v) for v in values)
        return not hit if negated else hit
    except KeyError:
        return False  # an operator the sandbox does not evaluate (Date*, IpAddress, Binary): no match


def _statement_applies(st: Statement, action: str, resource: str, context: dict[str, Any]) -> bool:
    if st.actions is not None and not any(p.match(action) for p in st.actions):
        return False
    if st.not_actions is not None and any(p.match(action) for p in st.not_actions):
        return False
    if st.actions is None and st.not_actions is None:
        return False
    if st.resources is not None and not any(p.match(resource) for p in st.resources):
        return False
    if st.not_resources is not None and any(p.match(resource) for p in st.not_resources):
        return False
    return all(_condition_holds(op, key, values, context) for op, key, values in st.conditions)


def decide(policies: Iterable[tuple[Statement, ...]], action: str, resource: str, context: dict[str, Any]) -> str:
    """Explicit deny over allow over implicit deny, across every statement of every policy."""
    allowed = False
    for statements in policies:
        for st in statements:
            if st.principals is not None:
                continue  # a statement with a Principal belongs to a resource or trust policy
            if _statement_applies(st, action, resource, context):
                if st.effect == "Deny":
                    return EXPLICIT_DENY
                if st.effect == "Allow":
                    allowed = True
    return ALLOWED if allowed else IMPLICIT_DENY


# -------------------------------------------------------------------------------- trust policies
def _principal_named(st: Statement, caller: Any, service: str | None) -> tuple[bool, bool]:
    """(matches, names the caller's very ARN) for one trust statement's Principal."""
    assert st.principals is not None
    if "*" in st.principals and "*" in st.principals["*"]:
        return True, False
    if service is not None:
        return service in st.principals.get("Service", ()), False
    if caller is None:
        return False, False
    own = {caller.arn}
    if caller.kind == "session":
        own.add(caller.role_arn)
    for value in st.principals.get("AWS", ()):
        if value == "*":
            return True, False
        if value in own:
            return True, True
        if value in (caller.account, f"arn:{caller.partition}:iam::{caller.account}:root"):
            return True, False
    return False, False


def trust_allows(role: Any, *, caller: Any = None, service: str | None = None, context: dict[str, Any] | None = None) -> tuple[bool, bool]:
    """(allowed, names the caller itself) under ``role``'s trust policy for ``sts:AssumeRole``."""
    try:
        statements = parse_policy(_document(role.assume_role_policy_document))
    except (ValueError, TypeError, AttributeError):
        return False, False
    ctx = dict(context or {})
    allowed = named = False
    for st in statements:
        if st.principals is None:
            continue
        hit, own = _principal_named(st, caller, service)
        if st.not_principal:
            hit, own = not hit, False
        if not hit:
            continue
        if not _statement_applies(
            Statement(st.effect, st.actions, st.not_actions, None, None, st.conditions), "sts:AssumeRole", role.arn, ctx
        ):
            continue
        if st.effect == "Deny":
            return False, False
        if st.effect == "Allow":
            allowed = True
            named = named or own
    return allowed, named
