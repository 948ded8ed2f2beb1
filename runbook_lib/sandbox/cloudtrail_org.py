"""Organization trails, as a member account sees them, and who may create one.

Enterprises often log every account with one organization trail, created in the organization's
management account. The runbook's CloudTrail check (event automation needs a trail that logs the
restore's event) runs in a member account, so the sandbox shows that trail there as AWS does;
moto keeps a trail in the account that created it only, so a member account saw no trail at all
and event mode could not be tried against an organization's setup.

AWS documents followed:
- ``DescribeTrails`` (AWS CloudTrail API Reference): "A shadow trail is ... in the case of an
  organization trail, the replication of an organization trail in member accounts. If you do not
  include shadow trails, organization trails in a member account ... will not be returned."
  https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_DescribeTrails.html
- ``GetTrailStatus``: "If the trail is an organization trail and you are a member account in the
  organization in Organizations, you must provide the full ARN of that trail, and not just the
  name." https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetTrailStatus.html
  (``GetEventSelectors`` takes the same name or ARN.)
- ``CreateTrail`` / ``UpdateTrail`` ``IsOrganizationTrail``: only the organization's management
  account may set it (``NotOrganizationMasterAccountException``; outside an organization
  ``OrganizationsNotInUseException``); the organization must have all features
  (``OrganizationNotInAllFeaturesModeException``) and trusted access for CloudTrail
  (``CloudTrailAccessNotEnabledException``). "Prepare for creating a trail for your organization",
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-an-organizational-trail-prepare.html
- An organization trail logs the member accounts' events, so a member account's EventBridge gets
  their "AWS API Call via CloudTrail" events ("Creating a trail for an organization",
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html):
  :func:`organization_trails` is what ``events.logging_trail_for`` also looks at.

Differences left: a delegated administrator account cannot create organization trails here (AWS
allows it), and the service-linked role checks (``NoManagementAccountSLRExistsException``) are not
made.
"""

from __future__ import annotations

from typing import Any

from moto.cloudtrail import models as ct_models
from moto.cloudtrail import responses as ct_responses
from moto.cloudtrail.exceptions import TrailNotFoundException
from moto.core.exceptions import JsonRESTError

_installed = False
CLOUDTRAIL_PRINCIPAL = "cloudtrail.amazonaws.com"


class _CloudTrailError(JsonRESTError):
    code = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


def _organization_of(account_id: str) -> tuple[str, Any] | None:
    """(management account id, its Organizations backend) of the organization ``account_id`` is in."""
    from moto.organizations.models import organizations_backends

    member = organizations_backends.master_accounts.get(account_id)
    if member is not None:
        management, partition = member
        backend = organizations_backends[management][partition]
        return (management, backend) if backend.org is not None else None
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        try:
            backend = organizations_backends[account_id][partition]
        except KeyError:
            continue
        if backend.org is not None:
            return account_id, backend
    return None


def organization_trails(account_id: str, region: str) -> list[Any]:
    """The organization trails of the management account of ``account_id``'s organization that cover
    ``region``, when ``account_id`` is a member (not the management account, which sees them as its own)."""
    org = _organization_of(account_id)
    if org is None or org[0] == account_id:
        return []
    management = org[0]
    found = []
    for backend in list(ct_models.cloudtrail_backends[management].values()):
        for trail in list(backend.trails.values()):
            if trail.is_org_trail and (trail.is_multi_region or trail.region_name == region):
                found.append(trail)
    return found


def _org_trail_by_arn(account_id: str, region: str, name: str) -> Any | None:
    if not name.startswith("arn:"):
        return None
    return next((t for t in organization_trails(account_id, region) if t.arn == name), None)


def _wrap_describe_trails(original):
    def describe_trails(self, include_shadow_trails: bool):
        own = list(original(self, include_shadow_trails))
        if include_shadow_trails:
            own.extend(organization_trails(self.account_id, self.region_name))
        return own

    return describe_trails


def _organization_trail_for_read(backend: Any, name: str) -> Any | None:
    """The organization trail a member account's read names by its ARN; None for the account's own
    trails. Named by its name alone, it is not found, as on AWS (the member must give the full ARN)."""
    trail = _org_trail_by_arn(backend.account_id, backend.region_name, name)
    if trail is not None:
        return trail
    if not name.startswith("arn:") and name not in backend.trails and any(
        t.trail_name == name for t in organization_trails(backend.account_id, backend.region_name)
    ):
        raise TrailNotFoundException(account_id=backend.account_id, name=name)
    return None


def _wrap_get_trail_status(original):
    def get_trail_status(self, name: str):
        trail = _organization_trail_for_read(self, name)
        return trail.status if trail is not None else original(self, name)

    return get_trail_status


def _wrap_get_event_selectors(original):
    """Only the reads: a member account cannot change an organization trail (moto's ``get_trail``,
    which the writes use, still finds the account's own trails only)."""

    def get_event_selectors(self, trail_name: str):
        trail = _organization_trail_for_read(self, trail_name)
        if trail is None:
            return original(self, trail_name)
        event_selectors, advanced = trail.get_event_selectors()
        return trail.arn, event_selectors, advanced

    return get_event_selectors


def _check_organization_trail(account_id: str) -> None:
    org = _organization_of(account_id)
    if org is None:
        raise _CloudTrailError(
            "OrganizationsNotInUseException",
            "This account is not a member of an organization in AWS Organizations.",
        )
    management, backend = org
    if management != account_id:
        raise _CloudTrailError(
            "NotOrganizationMasterAccountException",
            "The request must be made by the management account of the organization to create or "
            "update an organization trail.",
        )
    if backend.org.feature_set != "ALL":
        raise _CloudTrailError(
            "OrganizationNotInAllFeaturesModeException",
            "All features must be enabled in the organization to create an organization trail.",
        )
    enabled = {s.get("ServicePrincipal") for s in backend.list_aws_service_access_for_organization()
               .get("EnabledServicePrincipals", [])}
    if CLOUDTRAIL_PRINCIPAL not in enabled:
        raise _CloudTrailError(
            "CloudTrailAccessNotEnabledException",
            "Trusted access for AWS CloudTrail is not enabled in AWS Organizations "
            "(EnableAWSServiceAccess ServicePrincipal=cloudtrail.amazonaws.com).",
        )


def _wrap_response(original, param: str):
    def handler(self):
        if self._get_bool_param(param, False):
            _check_organization_trail(self.current_account)
        return original(self)

    return handler


def install() -> None:
    global _installed
    if _installed:
        return
    backend = ct_models.CloudTrailBackend
    backend.describe_trails = _wrap_describe_trails(backend.describe_trails)
    backend.get_trail_status = _wrap_get_trail_status(backend.get_trail_status)
    backend.get_event_selectors = _wrap_get_event_selectors(backend.get_event_selectors)
    response = ct_responses.CloudTrailResponse
    response.create_trail = _wrap_response(response.create_trail, "IsOrganizationTrail")
    response.update_trail = _wrap_response(response.update_trail, "IsOrganizationTrail")
    _installed = True


install()
