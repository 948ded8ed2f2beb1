"""CloudTrail: whether a trail's event selectors log a service's management write events.

One rule, read by the preflight (over ``GetEventSelectors``) and by the sandbox (which decides
with it whether a restore's CloudTrail event is delivered). It follows "Logging management
events" (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html),
"GetEventSelectors" (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetEventSelectors.html),
"EventSelector" (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_EventSelector.html)
and "AdvancedFieldSelector" (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_AdvancedFieldSelector.html):

- a trail without selectors logs all read and write management events (CloudTrail's default);
- a basic selector logs them when ``IncludeManagementEvents`` (default true) and ``ReadWriteType``
  ``All`` or ``WriteOnly`` (default ``All``), unless the service is in
  ``ExcludeManagementEventSources``;
- an advanced selector logs them when ``eventCategory`` equals ``Management``, ``readOnly`` is
  absent or ``false``, and its ``eventSource`` field (if any) does not leave the service out;
- the trail logs an event that any one of its selectors matches.
"""

from __future__ import annotations

from typing import Any, Mapping

#: The ``eventSource`` of DynamoDB's calls in CloudTrail records.
DYNAMODB_EVENT_SOURCE = "dynamodb.amazonaws.com"


def logs_management_writes(selectors: Mapping[str, Any], event_source: str = DYNAMODB_EVENT_SOURCE) -> bool:
    """Whether a ``GetEventSelectors`` answer (``EventSelectors`` and/or ``AdvancedEventSelectors``)
    logs the management write events of ``event_source``."""
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return True  # a trail without custom selectors logs all read and write management events
    if any(_basic_logs_writes(sel, event_source) for sel in basic):
        return True
    return any(_advanced_logs_writes(sel.get("FieldSelectors") or [], event_source) for sel in advanced)


def _basic_logs_writes(selector: Mapping[str, Any], event_source: str) -> bool:
    return bool(
        selector.get("IncludeManagementEvents", True)
        and selector.get("ReadWriteType", "All") in ("All", "WriteOnly")
        and event_source not in (selector.get("ExcludeManagementEventSources") or [])
    )


def _advanced_logs_writes(fields: list[dict], event_source: str) -> bool:
    by_field = {f.get("Field"): f for f in fields}
    category = by_field.get("eventCategory") or {}
    if "Management" not in (category.get("Equals") or []):
        return False
    read_only = by_field.get("readOnly") or {}
    equals = {str(v).lower() for v in read_only.get("Equals") or []}
    if equals and "false" not in equals:  # readOnly = true: read events only
        return False
    if "false" in {str(v).lower() for v in read_only.get("NotEquals") or []}:
        return False
    source = by_field.get("eventSource") or {}
    if source.get("Equals") and event_source not in source["Equals"]:
        return False
    if event_source in (source.get("NotEquals") or []):
        return False
    if source.get("StartsWith") and not any(event_source.startswith(p) for p in source["StartsWith"]):
        return False
    if any(event_source.startswith(p) for p in source.get("NotStartsWith") or []):
        return False
    return True
