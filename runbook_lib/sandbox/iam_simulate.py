"""``iam:SimulatePrincipalPolicy`` in the sandbox, on top of ``iam_auth``'s policy evaluation.

moto 5.2.5 does not implement it (its ``IamResponse`` has no ``simulate_principal_policy``: any call
fails). The runbook's preflight asks it whether the caller may make the calls a run needs
(``runbook_lib.preflight.check_permissions``). This module answers as the IAM API reference
documents ("SimulatePrincipalPolicy", https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html):

- ``PolicySourceArn``: a user, group or role of the account (``NoSuchEntity``, HTTP 404, when there
  is none; ``InvalidInput`` for anything else, an assumed-role session included: simulate its role);
- ``ActionNames`` (required), ``ResourceArns`` (default ``*``): "Each operation is evaluated for each
  resource": one ``EvaluationResult`` per (action, resource), in that order, each with
  ``EvalActionName``, ``EvalResourceName``, ``EvalDecision`` (``allowed``, ``explicitDeny``,
  ``implicitDeny``, from ``iam_auth.evaluate``), ``MatchedStatements`` (for each policy whose
  statements decide: ``SourcePolicyId`` the policy's name, ``SourcePolicyType`` ``user``, ``group``,
  ``role``, ``aws-managed`` or ``user-managed``) and ``MissingContextValues`` (empty);
- ``ContextEntries`` (``ContextKeyName``, ``ContextKeyValues``) add condition keys;
- paging: ``MaxItems`` (1 to 1000, default 100) results a page, ``IsTruncated`` and an opaque
  ``Marker`` to pass back; a marker that is not ours is ``InvalidInput``.

Where it differs from AWS: ``PolicyInputList``, ``PermissionsBoundaryPolicyInputList``,
``ResourcePolicy``, ``CallerArn`` and ``ResourceOwner`` are ignored (identity policies only, as
``iam_auth`` evaluates them: no permissions boundaries, SCPs or resource policies);
``MatchedStatements`` names the policy, without ``StartPosition``/``EndPosition``;
``MissingContextValues`` is always empty; ``EvalDecisionDetails`` and ``ResourceSpecificResults``
are not returned. The call itself is authorized by ``iam_auth`` like any other
(``iam:SimulatePrincipalPolicy`` on the simulated principal's ARN).
"""

from __future__ import annotations

import base64
import re
import threading
from typing import Any

_lock = threading.Lock()
_installed = False

DEFAULT_MAX_ITEMS = 100
_SOURCE = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):(user|group|role)/(?:.*/)?([\w+=,.@-]+)")


def _marker(index: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{index}".encode()).decode()


def _start(marker: str | None) -> int:
    from moto.iam.exceptions import InvalidInput

    if not marker:
        return 0
    try:
        text = base64.urlsafe_b64decode(marker.encode()).decode()
        if not text.startswith("sim:"):
            raise ValueError
        return int(text[4:])
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Invalid Marker: pass the Marker of the previous answer unchanged") from None


def _policies(backend: Any, kind: str, name: str) -> list[tuple[str, str, Any]]:
    """(SourcePolicyId, SourcePolicyType, document) of every identity policy of the principal."""
    from moto.iam.models import AWSManagedPolicy

    def managed(policy: Any) -> tuple[str, str, Any]:
        return (policy.name, "aws-managed" if isinstance(policy, AWSManagedPolicy) else "user-managed", policy)

    out: list[tuple[str, str, Any]] = []
    if kind == "user":
        user = backend.users[name]
        out += [(n, "user", doc) for n, doc in user.policies.items()]
        out += [managed(p) for p in user.managed_policies.values()]
        for group in list(backend.groups.values()):
            if user in group.users:
                out += [(n, "group", doc) for n, doc in group.policies.items()]
                out += [managed(p) for p in group.managed_policies.values()]
    elif kind == "role":
        role = backend.get_role(name)
        out += [(n, "role", doc) for n, doc in role.policies.items()]
        out += [managed(p) for p in role.managed_policies.values()]
    else:
        group = backend.get_group(name)
        out += [(n, "group", doc) for n, doc in group.policies.items()]
        out += [managed(p) for p in group.managed_policies.values()]
    return out


def _entity_exists(backend: Any, kind: str, name: str) -> bool:
    try:
        if kind == "user":
            return name in backend.users
        if kind == "role":
            backend.get_role(name)
        else:
            backend.get_group(name)
        return True
    except Exception:  # noqa: BLE001 - moto raises its own NoSuchEntity
        return False


def _context(entries: list[dict[str, Any]]) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    for entry in entries or []:
        values = entry.get("ContextKeyValues") or []
        if entry.get("ContextKeyName"):
            ctx[str(entry["ContextKeyName"])] = values[0] if len(values) == 1 else list(values)
    return ctx


def _evaluate(principal_arn: str, group: tuple[str, str] | None, policies: list[tuple[str, str, Any]],
              action: str, resource: str, context: dict[str, Any]) -> dict[str, Any]:
    from . import iam_auth

    if group is None:
        decision = iam_auth.evaluate(principal_arn, action, resource, context)
        base = iam_auth._base_context(iam_auth.principal_from_arn(principal_arn),
                                      resource.split(":")[3] if resource.count(":") >= 4 else None)
    else:
        decision, base = None, {}
    ctx = {**base, **context}
    matched = []
    overall_parts = []
    for policy_id, policy_type, doc in policies:
        single = iam_auth.decide([iam_auth.parse_policy(iam_auth._document(doc))], action, resource, ctx)
        overall_parts.append(single)
        if single != iam_auth.IMPLICIT_DENY:
            matched.append((single, {"SourcePolicyId": policy_id, "SourcePolicyType": policy_type}))
    if decision is None:  # a group: its own policies decide
        decision = (iam_auth.EXPLICIT_DENY if iam_auth.EXPLICIT_DENY in overall_parts
                    else iam_auth.ALLOWED if iam_auth.ALLOWED in overall_parts else iam_auth.IMPLICIT_DENY)
    # "if any statement denies that action, then the explicit deny overrides any allow. In addition,
    # the deny statement is the only entry included in the result"
    statements = [s for d, s in matched if d == decision] if decision != iam_auth.IMPLICIT_DENY else []
    return {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": decision,
        "MatchedStatements": statements,
        "MissingContextValues": [],
    }


def simulate_principal_policy(self) -> Any:
    from moto.core.responses import ActionResult

    from . import iam_auth

    from moto.iam.exceptions import InvalidInput, NoSuchEntity

    source = str(self._get_param("PolicySourceArn") or "")
    actions = list(self._get_param("ActionNames", []) or [])
    resources = list(self._get_param("ResourceArns", []) or []) or ["*"]
    max_items = self._get_param("MaxItems")
    if not actions:
        raise InvalidInput("ActionNames must name at least one action")
    if any(":" not in a for a in actions):
        raise InvalidInput("Each action name must include the service identifier, such as iam:CreateUser")
    m = _SOURCE.fullmatch(source)
    if not m:
        raise InvalidInput(f"Invalid ARN {source!r}: PolicySourceArn must be an IAM user, group or role")
    partition, account, kind, name = m.groups()
    backend = iam_auth._iam_backend(account, partition)
    if not _entity_exists(backend, kind, name):
        raise NoSuchEntity(f"The {kind} with name {name} cannot be found.")
    try:
        max_items = DEFAULT_MAX_ITEMS if max_items in (None, "") else int(max_items)
    except ValueError:
        raise InvalidInput("MaxItems must be a whole number") from None
    if not 1 <= max_items <= 1000:
        raise InvalidInput("MaxItems must be between 1 and 1000")
    start = _start(self._get_param("Marker"))
    context = _context(self._get_param("ContextEntries", []) or [])
    policies = _policies(backend, kind, name)
    pairs = [(a, r) for a in actions for r in resources]
    page = pairs[start:start + max_items]
    principal = None if kind == "group" else f"arn:{partition}:iam::{account}:{kind}/{name}"
    if kind == "role":
        principal = backend.get_role(name).arn
    elif kind == "user":
        principal = backend.users[name].arn
    results = [
        _evaluate(principal, (kind, name) if kind == "group" else None, policies, a, r, context)
        for a, r in page
    ]
    truncated = start + max_items < len(pairs)
    body: dict[str, Any] = {"EvaluationResults": results, "IsTruncated": truncated}
    if truncated:
        body["Marker"] = _marker(start + max_items)
    return ActionResult(body)


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.iam.responses import IamResponse

        IamResponse.simulate_principal_policy = simulate_principal_policy
        _installed = True


__all__ = ["install", "simulate_principal_policy", "DEFAULT_MAX_ITEMS"]
