"""Step 00: what must hold before a restore, as a checklist (PASS / WARN / FAIL, each with its remedy).

>>> pf = run_checks(target, source_table="orders", target_table="orders-restored", automation="event")
>>> pf.to_dataframe()        # the checklist
>>> pf.raise_for_failures()  # the notebook's gate: PreconditionError naming every FAIL and its remedy
>>> pf.snapshot              # the settings a restore will not carry (see ``settings``)

Input is checked before any call (:class:`InputError`); a missing source table is a
:class:`PreconditionError` (code ``ResourceNotFoundException``). Every other check returns a
row, and is a function of its own (``check_*``) so that it can be tested alone. A read that AWS
(or the sandbox) refuses degrades to a WARN row ``could not read X: <code>``, never a crash.
Findings hold names, counts, sizes and times, never an item attribute value.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from botocore.exceptions import ClientError

from . import settings as settings_mod
from .aws.clients import AwsTarget
from .aws.cloudtrail import logs_management_writes
from .aws.codes import ACCESS_DENIED_CODES
from .errors import InputError, PreconditionError
from .aws.codes import error_code
from .aws.tables import describe_table, optional_client, validate_table_pair
from .settings.model import iso_time

log = logging.getLogger(__name__)

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
AUTOMATIONS = ("notebook", "event")

#: SQS's default MaximumMessageSize (256 KiB); the buffer's queue may be configured up to 1 MiB.
DEFAULT_MAX_MESSAGE_BYTES = 262_144
#: What a buffered change carries besides the item image (event id, name, keys, sequence
#: number, times, table), in bytes: a generous allowance.
MESSAGE_OVERHEAD_BYTES = 1024
#: "Any number of users can execute up to 50 concurrent restores (any type of restore) in a
#: given account" (DynamoDB API reference, RestoreTableFromBackup / RestoreTableToPointInTime).
MAX_CONCURRENT_RESTORES = 50
#: WARN from this many restores in progress.
NEAR_CONCURRENT_RESTORES = 40
#: DynamoDB Streams: "no more than two processes at most should be reading from the same
#: streams shard at the same time".
MAX_STREAM_READERS = 2
#: DescribeTable calls the concurrent-restore check makes at most.
MAX_TABLES_DESCRIBED = 1000

@dataclass(frozen=True)
class CheckRow:
    check: str
    status: str  # PASS | WARN | FAIL
    finding: str
    remedy: str = ""
    #: the AWS error code behind a ``could not read`` row
    code: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Preflight:
    """The checklist for one source/target pair. Computed once by :func:`run_checks`."""

    rows: tuple[CheckRow, ...]
    snapshot: dict = field(default_factory=dict, repr=False)
    source_table: str | None = None
    target_table: str | None = None

    @property
    def ok(self) -> bool:
        return not any(r.status == FAIL for r in self.rows)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if r.status == FAIL)

    @property
    def warnings(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if r.status == WARN)

    def row(self, check: str) -> CheckRow:
        for r in self.rows:
            if r.check == check:
                return r
        raise KeyError(check)

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(
            [{"check": r.check, "status": r.status, "finding": r.finding, "remedy": r.remedy} for r in self.rows],
            columns=["check", "status", "finding", "remedy"],
        )

    def to_dict(self) -> dict:
        """JSON-ready, for ``state.json`` (``preflight`` and ``settings_snapshot``)."""
        return {
            "source_table": self.source_table,
            "target_table": self.target_table,
            "ok": self.ok,
            "rows": [
                {"check": r.check, "status": r.status, "finding": r.finding, "remedy": r.remedy, "code": r.code}
                for r in self.rows
            ],
        }

    def raise_for_failures(self) -> None:
        failures = self.failures
        if not failures:
            return
        lines = "; ".join(f"[{r.check}] {r.finding} -> {r.remedy}" for r in failures)
        raise PreconditionError(
            f"preflight failed for {self.source_table} -> {self.target_table}: "
            f"{len(failures)} check(s) failed: {lines}",
            table=self.source_table,
            step="preflight",
            code=failures[0].code if len(failures) == 1 else None,
        )


# -- input ----------------------------------------------------------------------------------
def validate_inputs(
    *,
    source_table: Any,
    target_table: Any,
    automation: Any = "event",
    max_message_bytes: Any = DEFAULT_MAX_MESSAGE_BYTES,
    sample_items: Any = 1000,
    message_overhead_bytes: int = MESSAGE_OVERHEAD_BYTES,
) -> None:
    """Raise :class:`InputError` for malformed parameters. Makes no call."""
    validate_table_pair(source_table, target_table)
    if automation not in AUTOMATIONS:
        raise InputError(f"automation must be one of {', '.join(AUTOMATIONS)}, not {automation!r}")
    if not isinstance(max_message_bytes, int) or isinstance(max_message_bytes, bool) or max_message_bytes <= message_overhead_bytes:
        raise InputError(
            f"max_message_bytes must be an integer above the message overhead ({message_overhead_bytes} bytes); "
            f"got {max_message_bytes!r}: pass the buffer queue's MaximumMessageSize"
        )
    if not isinstance(sample_items, int) or isinstance(sample_items, bool) or sample_items < 1:
        raise InputError(f"sample_items must be a positive integer, got {sample_items!r}")


# -- checks ---------------------------------------------------------------------------------
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


def check_pitr(target: AwsTarget, table: str) -> CheckRow:
    """PITR on, with its restorable window; FAIL with the remedy when off."""
    ddb = target.client("dynamodb")
    cb = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    p = cb.get("PointInTimeRecoveryDescription") or {}
    status = p.get("PointInTimeRecoveryStatus") or "DISABLED"
    if status != "ENABLED":
        return CheckRow(
            "pitr",
            FAIL,
            f"point-in-time recovery is {status} on {table}: nothing to restore from",
            f"enable it (UpdateContinuousBackups TableName={table} "
            "PointInTimeRecoverySpecification={PointInTimeRecoveryEnabled: true}); restores are possible "
            "from EarliestRestorableDateTime on, so only changes after enabling can be recovered",
        )
    earliest = iso_time(p.get("EarliestRestorableDateTime"))
    latest = iso_time(p.get("LatestRestorableDateTime"))
    days = p.get("RecoveryPeriodInDays")
    period = f", recovery period {days} days" if days else ""
    return CheckRow("pitr", PASS, f"PITR on; restorable from {earliest} to {latest}{period}")


def check_stream(target: AwsTarget, table: str) -> CheckRow:
    """Stream on; ``NEW_IMAGE``/``NEW_AND_OLD_IMAGES`` PASS, ``KEYS_ONLY``/``OLD_IMAGE`` WARN, off FAIL."""
    desc = describe_table(target, table)
    spec = desc.get("StreamSpecification") or {}
    view = spec.get("StreamViewType")
    if not spec.get("StreamEnabled"):
        return CheckRow(
            "stream",
            FAIL,
            f"DynamoDB Streams is off on {table}: the buffer has nothing to capture",
            f"enable it (UpdateTable TableName={table} StreamSpecification={{StreamEnabled: true, "
            "StreamViewType: NEW_AND_OLD_IMAGES}}); changes are captured from then on",
        )
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        return CheckRow("stream", PASS, f"stream on, view type {view}: records carry the full new image")
    return CheckRow(
        "stream",
        WARN,
        f"stream on, view type {view}: records carry no new image, so the applier re-reads each item from "
        f"{table} at apply time (slower, more read capacity, and it applies the live state)",
        "acceptable; for full images switch to NEW_AND_OLD_IMAGES (disable the stream, then enable it "
        "with the new view type: that creates a new stream, so do it before the buffer is deployed)",
    )


def check_stream_consumers(target: AwsTarget, table: str) -> CheckRow:
    """Lambda event source mappings already reading the table's stream (2 readers per shard)."""
    desc = describe_table(target, table)
    spec = desc.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled") or not desc.get("LatestStreamArn"):
        return CheckRow("stream_consumers", PASS, "no stream, so no consumer (see the stream check)")
    arn = desc["LatestStreamArn"]
    lam = target.client("lambda")
    active: list[str] = []
    idle = 0
    for page in lam.get_paginator("list_event_source_mappings").paginate(EventSourceArn=arn):
        for m in page.get("EventSourceMappings") or []:
            if (m.get("State") or "Enabled") in ("Disabled", "Disabling", "Deleting"):
                idle += 1
            else:
                active.append(m.get("FunctionArn") or m.get("UUID") or "?")
    disabled = f" ({idle} disabled mapping(s) not counted)" if idle else ""
    caveat = "; readers other than Lambda (KCL, Flink, Pipes) are not visible here"
    if not active:
        return CheckRow("stream_consumers", PASS, f"no Lambda mapping reads the stream{disabled}{caveat}")
    names = ", ".join(sorted(active))
    if len(active) < MAX_STREAM_READERS:
        return CheckRow(
            "stream_consumers",
            WARN,
            f"{len(active)} Lambda mapping already reads the stream ({names}){disabled}: the buffer takes the "
            f"last of {MAX_STREAM_READERS} concurrent readers per shard{caveat}",
            "no action needed unless another reader exists; a third reader would be throttled",
        )
    return CheckRow(
        "stream_consumers",
        FAIL,
        f"{len(active)} Lambda mappings already read the stream ({names}){disabled}: DynamoDB Streams "
        f"supports {MAX_STREAM_READERS} concurrent readers per shard, so the buffer would be throttled",
        "disable or delete one mapping (UpdateEventSourceMapping Enabled=false) for the duration of the "
        "restore, or fan the stream out through a single reader",
    )


def check_item_sizes(
    target: AwsTarget,
    table: str,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    sample_items: int = 1000,
    message_overhead_bytes: int = MESSAGE_OVERHEAD_BYTES,
) -> CheckRow:
    """The largest items of a bounded sample against the buffer queue's maximum message size.

    Each item's size is estimated both by DynamoDB's rules (:func:`item_size`) and as the JSON
    the buffer sends (:func:`json_size`, binaries in base64); the larger must fit in
    ``max_message_bytes`` minus the envelope. Larger items are not lost: they travel as their
    key and the applier re-reads them (WARN). Only sizes are reported.
    """
    ddb = target.client("dynamodb")
    budget = max_message_bytes - message_overhead_bytes
    sizes: list[tuple[int, int]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    more = False
    while len(sizes) < sample_items:
        kwargs["Limit"] = min(sample_items - len(sizes), 1000)
        page = ddb.scan(**kwargs)
        for item in page.get("Items") or []:
            sizes.append((item_size(item), json_size(item)))
        more = bool(page.get("LastEvaluatedKey"))
        if not more:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    del kwargs
    if not sizes:
        return CheckRow("item_sizes", PASS, f"{table} is empty: no item to size")
    largest_ddb = max(s[0] for s in sizes)
    largest_json = max(s[1] for s in sizes)
    over = sum(1 for s in sizes if max(s) > budget)
    scope = f"sample of {len(sizes)} item(s){' (not the whole table)' if more else ' (the whole table)'}"
    finding = (
        f"{scope}: largest {_kb(largest_ddb)} by DynamoDB's size rules, {_kb(largest_json)} as a JSON message; "
        f"budget {_kb(budget)} (max message {_kb(max_message_bytes)} minus {_kb(message_overhead_bytes)} envelope)"
    )
    if not over:
        return CheckRow("item_sizes", PASS, finding)
    return CheckRow(
        "item_sizes",
        WARN,
        f"{finding}; {over} sampled item(s) over budget: such changes travel as their key only and the "
        "applier re-reads the item from the source at apply time (still convergent, slower)",
        "acceptable; to carry full images raise the buffer queue's MaximumMessageSize (up to 1 MiB)",
    )


def _kb(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB"


def item_size(item: dict) -> int:
    """An item's size by DynamoDB's rules: attribute name bytes plus value bytes, recursively."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _number_size(text: str) -> int:
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        digits = tuple(c for c in text if c.isdigit())
    significant = len(digits) if any(digits) else 1
    return (significant + 1) // 2 + 1


def _binary_len(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    try:
        return len(base64.b64decode(value, validate=True))
    except Exception:  # noqa: BLE001 - a non-base64 string: count its bytes
        return len(str(value).encode())


def _value_size(value: dict) -> int:
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return _binary_len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(_number_size(n) for n in v)
    if kind == "BS":
        return sum(_binary_len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + _value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(e) for k, e in v.items())
    return len(json.dumps(v, default=str).encode())


def json_size(item: dict) -> int:
    """The item's size as DynamoDB JSON (what a stream record's image is), binaries in base64."""

    def default(o: Any) -> Any:
        if isinstance(o, (bytes, bytearray)):
            return base64.b64encode(o).decode()
        if isinstance(o, set):
            return list(o)
        return str(o)

    return len(json.dumps(item, default=default, separators=(",", ":")).encode())


def check_target_free(target: AwsTarget, target_table: str) -> CheckRow:
    """The target name is free: ``DescribeTable`` answers ResourceNotFound."""
    ddb = target.client("dynamodb")
    try:
        desc = ddb.describe_table(TableName=target_table)["Table"]
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return CheckRow("target_free", PASS, f"no table named {target_table} in {target.region_name}")
        raise
    restoring = (desc.get("RestoreSummary") or {}).get("RestoreInProgress")
    state = desc.get("TableStatus")
    extra = " (a restore into it is in progress)" if restoring else ""
    return CheckRow(
        "target_free",
        FAIL,
        f"table {target_table} already exists ({state}){extra}: RestoreTableToPointInTime would fail "
        "with TableAlreadyExistsException",
        f"choose another target_table or delete {target_table} (after checking it is not in use; "
        "disable its deletion protection first if it is on)",
        code="TableAlreadyExistsException",
    )


def check_concurrent_restores(target: AwsTarget, *, max_tables: int = MAX_TABLES_DESCRIBED) -> CheckRow:
    """Restores in progress in the account against the quota of 50 concurrent restores."""
    ddb = target.client("dynamodb")
    names: list[str] = []
    for page in ddb.get_paginator("list_tables").paginate():
        names.extend(page.get("TableNames") or [])
    restoring: list[str] = []
    unreadable = 0
    for name in names[:max_tables]:
        try:
            desc = ddb.describe_table(TableName=name)["Table"]
        except ClientError as err:
            if error_code(err) == "ResourceNotFoundException":
                continue  # deleted meanwhile
            if error_code(err) == "AccessDeniedException":
                # a least-privilege operator may describe only the tables of its restore
                unreadable += 1
                continue
            raise
        if (desc.get("RestoreSummary") or {}).get("RestoreInProgress"):
            restoring.append(name)
    partial = f" (checked {max_tables} of {len(names)} tables)" if len(names) > max_tables else ""
    if unreadable:
        partial += (f" ({unreadable} table(s) the caller may not describe are not counted: were every one of "
                    f"them restoring, {len(restoring) + unreadable} would be)")
    listed = f": {', '.join(sorted(restoring)[:10])}{' ...' if len(restoring) > 10 else ''}" if restoring else ""
    finding = (
        f"{len(restoring)} restore(s) in progress in {target.region_name}{partial}{listed}; the account "
        f"allows {MAX_CONCURRENT_RESTORES} concurrent restores"
    )
    if len(restoring) >= MAX_CONCURRENT_RESTORES:
        return CheckRow(
            "concurrent_restores",
            FAIL,
            finding + ": a new restore would fail with LimitExceededException",
            "wait for restores in progress to finish (DescribeTable RestoreSummary.RestoreInProgress)",
            code="LimitExceededException",
        )
    if len(restoring) + unreadable >= NEAR_CONCURRENT_RESTORES or len(names) > max_tables:
        return CheckRow(
            "concurrent_restores",
            WARN,
            finding,
            "restore soon, or wait for some restores to finish; others restoring meanwhile may use the "
            "remaining slots",
        )
    return CheckRow("concurrent_restores", PASS, finding)


# -- permissions ------------------------------------------------------------------------------
def simulation_source(caller_arn: str) -> str | None:
    """The ``PolicySourceArn`` to simulate for ``caller_arn`` (``sts:GetCallerIdentity``'s ``Arn``): an
    IAM user as is, an assumed-role session as its role (``arn:...:iam::A:role/R``; a role with a path
    is not named by the session's ARN and answers NoSuchEntity); None for the root user and anything
    IAM cannot simulate (federated users, the sandbox's root keys)."""
    import re

    m = re.fullmatch(r"arn:(aws[a-z-]*):iam::(\d{12}):user/.+", caller_arn)
    if m:
        return caller_arn
    m = re.fullmatch(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+", caller_arn)
    if m:
        return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}"
    return None


def check_permissions(
    target: AwsTarget,
    *,
    source_table: str,
    target_table: str,
    automation: str = "notebook",
    cfn_role_arn: str | None = None,
) -> CheckRow:
    """Whether the caller may make the calls a run needs, asked of ``iam:SimulatePrincipalPolicy``
    (the actions and the real resource ARNs of :func:`runbook_lib.permissions.run_checks`, with the
    condition keys AWS sets for them). FAIL names each denied action, its resource and the statement
    of ``infra/operator-policy.json`` that grants it. Where the caller may not simulate (AccessDenied
    on the simulation itself), or is not an IAM user or role, a WARN says the check was skipped and
    why: never a FAIL. The simulation sees identity policies (and SCPs as Organizations reports them),
    not resource policies or session policies: a PASS is strong evidence, not proof."""
    from . import permissions
    from .buffer import stack_name_for

    who = target.client("sts").get_caller_identity()
    caller, account = who["Arn"], who["Account"]
    source = simulation_source(caller)
    if source is None:
        root = caller.endswith(":root")
        return CheckRow(
            "permissions",
            WARN,
            f"not checked: {caller} is "
            + ("the account's root user, whom IAM policies do not restrict" if root else
               "not an IAM user or an assumed role, which iam:SimulatePrincipalPolicy cannot simulate"),
            "run the runbook as an IAM user or role that holds infra/operator-policy.json (README, "
            "\"Running it on AWS\")" + (", never as root" if root else ""),
        )
    checks = permissions.run_checks(
        partition=target.partition, region=target.region_name, account=account, source_table=source_table,
        target_table=target_table, stack_name=stack_name_for(source_table, target_table), cfn_role_arn=cfn_role_arn,
        automation=automation,
    )
    # one simulation per (resource, context): each action named in it is evaluated on that resource
    groups: dict[tuple[str, str], list[str]] = {}
    for action, resource, context in checks:
        groups.setdefault((resource, json.dumps(context, sort_keys=True)), []).append(action)
    iam = target.client("iam")
    denied: list[tuple[str, str, str]] = []
    try:
        for (resource, context_json), actions in groups.items():
            entries = [
                {"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
                for key, value in json.loads(context_json).items()
            ]
            kwargs: dict[str, Any] = {"PolicySourceArn": source, "ActionNames": actions, "ResourceArns": [resource]}
            if entries:
                kwargs["ContextEntries"] = entries
            for page in iam.get_paginator("simulate_principal_policy").paginate(**kwargs):
                for result in page["EvaluationResults"]:
                    if result["EvalDecision"] != "allowed":
                        denied.append((result["EvalActionName"], result.get("EvalResourceName") or resource,
                                       result["EvalDecision"]))
    except ClientError as err:
        code = error_code(err)
        if code in ACCESS_DENIED_CODES:
            reason = f"{caller} may not call iam:SimulatePrincipalPolicy on {source} ({code})"
        elif code == "NoSuchEntity":
            reason = f"IAM found no {source} to simulate ({code}; a role with a path is not named by its session's ARN)"
        else:
            raise
        return CheckRow(
            "permissions",
            WARN,
            f"not checked: {reason}",
            "grant iam:SimulatePrincipalPolicy on your own ARN (statement CheckOwnPermissions of "
            "infra/operator-policy.json) to have missing permissions found here, or compare your policy with "
            "infra/operator-policy.json by hand; a missing permission otherwise stops the run where it is needed",
            code=code,
        )
    needed = len(checks)
    if not denied:
        return CheckRow("permissions", PASS, f"{caller}: the {needed} actions a run needs are allowed "
                                             "(iam:SimulatePrincipalPolicy on the run's own resource ARNs)")
    listed = "; ".join(
        f"{action} on {resource} ({decision}"
        + (f", statement {permissions.statement_for_action(action)}" if permissions.statement_for_action(action) else "")
        + ")"
        for action, resource, decision in denied
    )
    return CheckRow(
        "permissions",
        FAIL,
        f"{len(denied)} of the {needed} actions a run needs are denied to {caller}: {listed}",
        "grant them as the named statements of infra/operator-policy.json do (README, \"Running it on AWS\"), "
        "then run preflight again; an explicitDeny comes from a Deny statement (or an SCP) that must be lifted",
        code="AccessDenied",
    )


def settings_rows(snapshot: dict) -> list[CheckRow]:
    """One WARN row per setting the snapshot could not read, then the summary row."""
    rows = []
    for setting, code in sorted((snapshot.get("unreadable") or {}).items()):
        label = settings_mod.LABELS.get(setting, setting)
        rows.append(
            CheckRow(
                f"settings:{setting}",
                WARN,
                f"could not read {label}: {code}",
                f"grant {settings_mod.READ_APIS.get(setting, 'the read permission')} (or, on an emulator, "
                f"record the {label} of {snapshot.get('table')} by hand): it will not be re-applied after "
                "the restore",
                code=code,
            )
        )
    rows.append(
        CheckRow(
            "settings_to_reapply",
            PASS,
            "a restore will not carry over: " + settings_mod.summarize(snapshot),
            "review and re-apply them to the restored table in 05_cutover (settings.diff / settings.apply)",
        )
    )
    return rows


# -- all together ---------------------------------------------------------------------------
def _guarded(name: str, fn: Callable[[], CheckRow | list[CheckRow]]) -> list[CheckRow]:
    """Run a check; an AWS refusal becomes a WARN row rather than ending the preflight."""
    try:
        out = fn()
    except ClientError as err:
        code = error_code(err)
        log.warning("preflight check %s could not read: %s", name, code)
        return [
            CheckRow(
                name,
                WARN,
                f"could not read {name.replace('_', ' ')}: {code}",
                "check the caller's permissions (or the emulator's support) for this read, then run "
                "preflight again; otherwise verify it by hand",
                code=code,
            )
        ]
    return out if isinstance(out, list) else [out]


def run_checks(
    target: AwsTarget,
    *,
    source_table: str,
    target_table: str,
    automation: str = "event",
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    sample_items: int = 1000,
    message_overhead_bytes: int = MESSAGE_OVERHEAD_BYTES,
    check_iam: bool = False,
    cfn_role_arn: str | None = None,
) -> Preflight:
    """Run every check for restoring ``source_table`` into ``target_table``; change nothing.

    ``check_iam``: also simulate the caller's permissions (:func:`check_permissions`; the notebook
    does, ``check_permissions=True``), for a buffer deployed with ``cfn_role_arn``.

    Raises :class:`InputError` for malformed parameters (before any call) and
    :class:`PreconditionError` (code ``ResourceNotFoundException``) if the source is missing.
    """
    validate_inputs(
        source_table=source_table,
        target_table=target_table,
        automation=automation,
        max_message_bytes=max_message_bytes,
        sample_items=sample_items,
        message_overhead_bytes=message_overhead_bytes,
    )
    describe_table(target, source_table)  # PreconditionError when missing

    rows: list[CheckRow] = []
    if check_iam:
        rows += _guarded("permissions", lambda: check_permissions(
            target, source_table=source_table, target_table=target_table, automation=automation,
            cfn_role_arn=cfn_role_arn))
    rows += _guarded("cloudtrail", lambda: check_cloudtrail(target, automation=automation))
    rows += _guarded("pitr", lambda: check_pitr(target, source_table))
    rows += _guarded("stream", lambda: check_stream(target, source_table))
    rows += _guarded("stream_consumers", lambda: check_stream_consumers(target, source_table))
    rows += _guarded(
        "item_sizes",
        lambda: check_item_sizes(
            target,
            source_table,
            max_message_bytes=max_message_bytes,
            sample_items=sample_items,
            message_overhead_bytes=message_overhead_bytes,
        ),
    )
    rows += _guarded("target_free", lambda: check_target_free(target, target_table))
    rows += _guarded("concurrent_restores", lambda: check_concurrent_restores(target))
    snap = settings_mod.snapshot(target, source_table)
    rows += settings_rows(snap)
    for r in rows:
        log.info("preflight %s: %s", r.check, r.status)
    return Preflight(rows=tuple(rows), snapshot=snap, source_table=source_table, target_table=target_table)
