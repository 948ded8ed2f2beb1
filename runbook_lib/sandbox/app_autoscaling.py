"""Application Auto Scaling as AWS answers it, for the DynamoDB scaling the runbook copies at cutover.

- ``PutScalingPolicy`` for a scalable target that is not registered succeeded: here
  ``ObjectNotFoundException``, as the API reference says of every operation that depends on a
  scalable target.
- ``DescribeScalableTargets`` / ``DescribeScalingPolicies`` sent ``"NextToken": null`` on the last
  page and null ``RoleARN`` / ``SuspendedState`` (nulls where the model has a string and a
  structure, and ``RoleARN`` is required): here absent members are left out, and a DynamoDB target
  registered without a role has the service-linked role's ARN.

Where it still differs from AWS: ``RegisterScalableTarget`` does not check that the table exists
(moto's behaviour, kept).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.core.exceptions import JsonRESTError

_installed = False
_lock = threading.Lock()


def _scaling_policy_needs_target(original):
    def put_scaling_policy(self, policy_name, service_namespace, resource_id, scalable_dimension, *args, **kwargs):
        if not self._scalable_target_exists(resource_id, scalable_dimension):
            raise JsonRESTError(
                "ObjectNotFoundException",
                f"No scalable target registered for service namespace: {service_namespace}, resource ID: "
                f"{resource_id}, scalable dimension: {scalable_dimension}",
            )
        return original(self, policy_name, service_namespace, resource_id, scalable_dimension, *args, **kwargs)

    return put_scaling_policy


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


#: the service-linked role Application Auto Scaling uses for DynamoDB when RegisterScalableTarget
#: names no RoleARN
_DYNAMODB_SCALING_ROLE = (
    "arn:aws:iam::{account}:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable"
)


def _as_modelled(original):
    """Members AWS leaves out are not sent as JSON null; a DynamoDB target has its role's ARN."""

    def action(self) -> str:
        body = _without_nulls(json.loads(original(self)))
        for target in body.get("ScalableTargets") or []:
            if target.get("ServiceNamespace") == "dynamodb" and "RoleARN" not in target:
                target["RoleARN"] = _DYNAMODB_SCALING_ROLE.format(account=self.current_account)
        return json.dumps(body)

    return action


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.applicationautoscaling.models import ApplicationAutoscalingBackend

        ApplicationAutoscalingBackend.put_scaling_policy = _scaling_policy_needs_target(
            ApplicationAutoscalingBackend.put_scaling_policy
        )
        from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse as AasResponse

        AasResponse.describe_scalable_targets = _as_modelled(AasResponse.describe_scalable_targets)
        AasResponse.describe_scaling_policies = _as_modelled(AasResponse.describe_scaling_policies)
        _installed = True
