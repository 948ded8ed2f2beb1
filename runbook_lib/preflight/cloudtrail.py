"""The CloudTrail check: a trail that delivers the restore's event (``automation="event"`` needs one)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.cloudtrail import logs_management_writes
from ..aws.codes import error_code, is_access_denied
from ..aws.tables import optional_client
from .result import FAIL, PASS, WARN, CheckRow


def check_cloudtrail(target: AwsTarget, *, automation: str = "event") -> CheckRow:
    """A trail that is logging, covers this region and logs management write events.

    Only the event-driven automation needs it (the restore's CloudTrail event starts the
    workflow), so a miss is FAIL for ``automation="event"`` and WARN for ``"notebook"``.
    """
    name = "cloudtrail"
    region = target.region_name
    ct = optional_client(target, "cloudtrail")
    trails = ct.describe_trails(includeShadowTrails=True).get("trailList") or []
    problems: list[str] = []
    denied_org_accounts: list[str] = []
    for trail in trails:
        label = trail.get("Name") or trail.get("TrailARN")
        ref = trail.get("TrailARN") or trail.get("Name")
        if not (trail.get("IsMultiRegionTrail") or trail.get("HomeRegion", region) == region):
            continue
        home = trail.get("HomeRegion") or region
        # Ask the trail's home region: a multi-region trail seen elsewhere is a shadow copy.
        home_ct = ct if home == region else optional_client(AwsTarget(home, target.endpoint_url), "cloudtrail")
        try:
            logging_on = bool(home_ct.get_trail_status(Name=ref).get("IsLogging"))
            selectors = home_ct.get_event_selectors(TrailName=ref)
        except ClientError as err:
            owner = _account_of(ref)
            if trail.get("IsOrganizationTrail") and owner and is_access_denied(err):
                # an organization trail's ARN names the management account: the operator policy's
                # CheckCloudTrail statement must name that account too (TrailAccount)
                denied_org_accounts.append(owner)
                problems.append(f"{label}: organization trail of account {owner}, could not read ({error_code(err)})")
            else:
                problems.append(f"{label}: could not read ({error_code(err)})")
            continue
        if not logging_on:
            problems.append(f"{label}: not logging")
            continue
        if not logs_management_writes(selectors):
            problems.append(f"{label}: does not log management write events")
            continue
        scope = "all regions" if trail.get("IsMultiRegionTrail") else region
        return CheckRow(name, PASS, f"trail {label} is logging management write events ({scope})")
    seen = "; ".join(problems) if problems else f"no trail covers {region}"
    if denied_org_accounts:
        account = denied_org_accounts[0]
        return CheckRow(
            name,
            FAIL if automation == "event" else WARN,
            f"could not tell whether the organization trail logs the restore's event ({seen})",
            f"let the operator read it: render the policy with `pitr-runbook policy ... --trail-account {account}` "
            "(its CheckCloudTrail statement then names the management account's trails), or run with "
            "automation='notebook'",
        )
    if automation == "event":
        return CheckRow(
            name,
            FAIL,
            f"no trail delivers the RestoreTableToPointInTime event ({seen}); automation='event' needs one",
            "create a multi-region trail logging management write events and start it "
            "(CreateTrail --is-multi-region-trail, then StartLogging), or fix the trail above "
            "(StartLogging / PutEventSelectors ReadWriteType=All); or run with automation='notebook'",
        )
    return CheckRow(
        name,
        WARN,
        f"no trail delivers the restore's CloudTrail event ({seen}); not needed with automation='notebook'",
        "none for automation='notebook'; for automation='event' create and start a trail logging "
        "management write events",
    )


def _account_of(arn: str | None) -> str | None:
    """The account id of a trail ARN (``arn:partition:cloudtrail:region:account:trail/name``)."""
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" and parts[4] else None
