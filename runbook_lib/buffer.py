"""The change-data-capture buffer: deploy it, operate it, tear it down.

Size: over 600 lines on purpose until the restructure issue (#11), which splits the code base by concern in one pass; here the template/zip, deploy, operate (status, lag, redrive) and teardown become a `buffer` package. Splitting it alone now would move code the other open issues are about to change.

The buffer is one CloudFormation stack, ``infra/buffer.yaml``: the source table's stream feeds a
forwarder Lambda that writes every change to an SQS FIFO queue (one message group per item key);
an applier Lambda, behind a queue mapping created **disabled**, replays the queue into the restored
table once replay is enabled (by :func:`enable_replay`, or with ``automation="event"`` by a Step
Functions workflow that the restore's CloudTrail event starts).

Typical use::

    target = AwsTarget(region="eu-west-1")
    p = plan(target, source_table="orders", target_table="orders-restored")   # changes nothing
    stack = deploy(target, p)                                                # capture starts
    set_replay_start(target, stack, replay_from)                             # R, once chosen
    enable_replay(target, stack)                                             # target ACTIVE
    status(target, stack).drained     # queue empty AND forwarder caught up with the stream
    forwarder_lag(target, stack)                                             # IteratorAge, s
    redrive_dlq(target, stack, execute=True)                                 # DLQ back, once fixed
    teardown(target, stack, execute=True)                                    # and verifies

Where the sandbox (moto) differs and this module works around it, a comment says so: the
artifact bucket gets no TLS-only policy on the sandbox (plain HTTP there); a resource failure
inside moto's ``CreateStack`` surfaces as an unparsable response; moto lists a resource left out
by a false Condition with empty fields.

Every wait has a timeout and raises :class:`~runbook_lib.errors.BufferError` naming the remedy.
Long operations accept ``progress``, a callable taking one message string. Nothing here reads or
logs item values.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from . import progress as progress_bar
from . import workflow_budget
from .aws.clients import AwsTarget
from .aws.codes import error_code as _code, error_message
from .aws.partitions import partition
from .errors import BufferError, InputError, PreconditionError
from .aws.tables import validate_table_pair
from .times import iso, to_utc, utcnow

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
T = TypeVar("T")

TEMPLATE_FILE = "buffer.yaml"
ASL_FILE = "enable_replay.asl.json"
AUTOMATIONS = ("notebook", "event")
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")
#: Resource names are ``<stack>-forwarder`` etc.; Lambda function names stop at 64 characters.
MAX_STACK_NAME = 50
#: a change reaches the DLQ no sooner than MaxReceiveCount x QueueVisibilityTimeout after it was
#: first sent; at least SQS's five-minute deduplication interval keeps a redriven change
#: recognisably late to the applier (runbook_lib/cdc/applier.py, path (b))
REDRIVE_MIN_SECONDS = 300
#: The forwarder keeps up with the stream while the newest one-minute datapoint of its Lambda
#: ``IteratorAge`` (the age of a batch's last record when the batch was sent) is at most this many
#: seconds. A healthy stream mapping reads a second or so behind (Lambda polls each shard about
#: four times a second, a cold start takes a few seconds, and ``ApproximateCreationDateTime`` is
#: rounded down to the second); 30 s is well above that, yet far below a real backlog (retried
#: batches back off, a TRIM_HORIZON start reads hours behind).
LAG_TOLERANCE_SECONDS = 30.0
#: Lambda sends its metrics to CloudWatch in one-minute intervals: the finest period there is.
LAG_PERIOD_SECONDS = 60
#: CloudFormation's limit for an inline ``TemplateBody``.
MAX_TEMPLATE_BODY = 51_200
#: The zip's fixed timestamp (the earliest a zip can hold) and file mode: reproducible bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644
ARTIFACT_PREFIX = "pitr-runbook"
STACK_TAG = "pitr-runbook:component"

_PACKAGE_DIR = Path(__file__).resolve().parent
_STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
_ASL_MARKER = "generated from infra/enable_replay.asl.json"

_STACK_IN_PROGRESS = re.compile(r"_IN_PROGRESS$")
_STACK_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
_MAPPING_SETTLED = {"Enabled", "Disabled"}


# ===================================================================================== results
@dataclass(frozen=True)
class PlannedResource:
    logical_id: str
    type: str
    name: str  # physical name as it will be, or what assigns it ("(generated)")


@dataclass(frozen=True)
class DeployPlan:
    """What :func:`deploy` will do. Building it reads AWS and changes nothing."""

    stack_name: str
    action: str  # "create" | "update"
    region: str
    account_id: str
    source_table: str
    target_table: str
    source_table_arn: str
    source_stream_arn: str
    stream_view_type: str
    automation: str
    replay_from: datetime | None
    starting_position: str
    #: every template parameter except ``CodeBucket``/``CodeKey`` (known at deploy time)
    parameters: Mapping[str, str]
    code_key: str
    code_sha256: str
    default_artifact_bucket: str
    resources: tuple[PlannedResource, ...]
    existing_status: str | None = None
    warnings: tuple[str, ...] = ()
    code_zip: bytes = field(default=b"", repr=False, compare=False)

    def rows(self) -> list[dict[str, str]]:
        """One row per resource, for a table in the notebook."""
        return [asdict(r) for r in self.resources]

    @property
    def applier_max_concurrency(self) -> int | None:
        """The queue mapping's ``ScalingConfig.MaximumConcurrency``; None = no cap."""
        return int(float(self.parameters.get("ApplierMaximumConcurrency", "0"))) or None


@dataclass(frozen=True)
class BufferStack:
    """A deployed buffer: the stack's outputs and parameters, as CloudFormation reports them."""

    stack_name: str
    stack_id: str
    status: str
    region: str
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]

    def _out(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise BufferError(
                f"stack {self.stack_name} has no output {key}: it was not deployed from this "
                "version of infra/buffer.yaml; deploy it again",
                step="buffer",
            ) from None

    queue_url = property(lambda self: self._out("QueueUrl"))
    queue_arn = property(lambda self: self._out("QueueArn"))
    dlq_url = property(lambda self: self._out("DlqUrl"))
    dlq_arn = property(lambda self: self._out("DlqArn"))
    stream_failure_queue_url = property(lambda self: self.outputs.get("StreamFailureQueueUrl"))
    forwarder_function_name = property(lambda self: self._out("ForwarderFunctionName"))
    applier_function_name = property(lambda self: self._out("ApplierFunctionName"))
    stream_mapping_uuid = property(lambda self: self._out("StreamMappingUuid"))
    queue_mapping_uuid = property(lambda self: self._out("QueueMappingUuid"))
    state_machine_arn = property(lambda self: self.outputs.get("StateMachineArn"))
    rule_name = property(lambda self: self.outputs.get("RuleName"))
    #: (event mode) the standard queue of events the rule could not deliver to the workflow
    rule_dlq_url = property(lambda self: self.outputs.get("RuleDlqUrl"))
    rule_dlq_arn = property(lambda self: self.outputs.get("RuleDlqArn"))
    #: the ARN (never the value) of the secret that keys the key digest (redacted reports)
    key_digest_secret_arn = property(lambda self: self._out("KeyDigestSecretArn"))
    automation = property(lambda self: self.parameters.get("Automation", "notebook"))
    source_table = property(lambda self: self.parameters.get("SourceTableName"))
    target_table = property(lambda self: self.parameters.get("TargetTableName"))
    source_stream_arn = property(lambda self: self.parameters.get("SourceStreamArn"))
    code_bucket = property(lambda self: self.parameters.get("CodeBucket"))
    code_key = property(lambda self: self.parameters.get("CodeKey"))

    def to_dict(self) -> dict[str, Any]:
        """For ``run_dir/state.json`` (``stack``)."""
        return {
            "name": self.stack_name,
            "id": self.stack_id,
            "status": self.status,
            "region": self.region,
            "outputs": dict(self.outputs),
            "parameters": dict(self.parameters),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BufferStack:
        return cls(
            stack_name=data["name"],
            stack_id=data.get("id", data["name"]),
            status=data.get("status", "UNKNOWN"),
            region=data.get("region", ""),
            outputs=MappingProxyType(dict(data.get("outputs", {}))),
            parameters=MappingProxyType(dict(data.get("parameters", {}))),
        )


@dataclass(frozen=True)
class BufferStatus:
    """One sample of the buffer's state."""

    depth: int  # ApproximateNumberOfMessages
    in_flight: int  # ApproximateNumberOfMessagesNotVisible
    delayed: int  # ApproximateNumberOfMessagesDelayed
    dlq_depth: int  # messages in the dead-letter queue (visible + in flight)
    stream_failures: int  # stream records the forwarder gave up on: changes NOT buffered
    oldest_age_seconds: float | None  # CloudWatch ApproximateAgeOfOldestMessage, None if unknown
    stream_mapping_state: str
    queue_mapping_state: str
    sampled_at: datetime
    #: the forwarder's newest IteratorAge Maximum, in seconds; None: no invocation in the window
    stream_lag_seconds: float | None = None
    #: failed forwarder invocations (Lambda ``Errors``) in the newest datapoint; None: no datapoint
    forwarder_errors: int | None = None

    @property
    def forwarder_behind(self) -> bool:
        """The forwarder has not caught up with the stream: changes may wait there, not in the queue.

        Behind when its newest ``IteratorAge`` exceeds :data:`LAG_TOLERANCE_SECONDS` or its newest
        ``Errors`` datapoint counts a failed invocation (a failed stream batch is retried, its
        changes not yet in the queue). No datapoint = no invocation in the window = not behind.
        """
        lagging = self.stream_lag_seconds is not None and self.stream_lag_seconds > LAG_TOLERANCE_SECONDS
        return lagging or bool(self.forwarder_errors)

    @property
    def queue_empty(self) -> bool:
        return self.depth == 0 and self.in_flight == 0 and self.delayed == 0

    @property
    def drained(self) -> bool:
        """Nothing waits in the queue AND nothing waits in the stream (:attr:`forwarder_behind`).

        The stream half reads Lambda's one-minute metrics, so on AWS it can say "drained" up to a
        minute (plus CloudWatch's publication delay) late; a bad minute with no invocation after
        it keeps it "behind" until that datapoint leaves the window: late, never early.
        """
        return self.queue_empty and not self.forwarder_behind

    @property
    def replay_enabled(self) -> bool:
        return self.queue_mapping_state == "Enabled"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sampled_at"] = iso(self.sampled_at)
        data["drained"] = self.drained
        data["forwarder_behind"] = self.forwarder_behind
        return data


@dataclass(frozen=True)
class TeardownReport:
    stack_name: str
    executed: bool
    stack_found: bool
    #: what the teardown deletes (dry run) or deleted: "Type name"
    resources: tuple[str, ...]
    #: the verification found nothing left (a leftover raises BufferError instead)
    verified: bool = False
    #: messages still in the buffer (and its DLQ) when the stack was deleted
    discarded_messages: int = 0
    discarded_dlq_messages: int = 0

    @property
    def clean(self) -> bool:
        return self.executed and self.verified

    def rows(self) -> list[dict[str, str]]:
        return [{"resource": r, "action": "deleted" if self.executed else "will be deleted"} for r in self.resources]


# ======================================================================== the template itself
def infra_dir() -> Path:
    """``infra/`` of the source tree, or the copy installed as package data."""
    for candidate in (_PACKAGE_DIR.parent / "infra", _PACKAGE_DIR / "infra"):
        if (candidate / TEMPLATE_FILE).exists():
            return candidate
    raise BufferError(f"cannot find infra/{TEMPLATE_FILE}: reinstall pitr-runbook", step="buffer")


def template_text() -> str:
    return (infra_dir() / TEMPLATE_FILE).read_text()


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


def _substitute(node: Any, values: Mapping[str, str]) -> Any:
    """Resolve ``Ref`` and one-argument ``Fn::Sub`` against ``values`` (pseudo parameters too)."""
    if isinstance(node, list):
        return [_substitute(n, values) for n in node]
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            return re.sub(r"\$\{([A-Za-z0-9_:]+)\}", lambda m: str(values.get(m.group(1), m.group(0))), node["Fn::Sub"])
        return {k: _substitute(v, values) for k, v in node.items()}
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
    return re.sub(r"\$\{([A-Za-z0-9_:]+)\}", lambda m: values[m.group(1)], text)


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
    return _substitute(
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


# ========================================================================== the handler zip
def _zip_sources() -> list[tuple[str, Path]]:
    root = _PACKAGE_DIR.parent
    files = [_PACKAGE_DIR / "__init__.py"]
    cdc = _PACKAGE_DIR / "cdc"
    if cdc.is_dir():
        files += [p for p in cdc.rglob("*.py") if "__pycache__" not in p.parts and p.is_file()]
    return sorted((p.relative_to(root).as_posix(), p) for p in files)


def build_zip() -> bytes:
    """The Lambda package: ``runbook_lib/__init__.py`` and ``runbook_lib/cdc/**/*.py``.

    Reproducible: sorted entries, fixed timestamps and permissions, fixed compression, so the
    same sources give the same bytes (and the same CodeSha256) every time.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in _zip_sources():
            info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever builds it
            info.external_attr = ZIP_FILE_MODE << 16
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    return out.getvalue()


def code_sha256(zip_bytes: bytes) -> str:
    """Base64 SHA-256, as Lambda reports ``CodeSha256``."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


# ==================================================================================== naming
def stack_name_for(source_table: str, target_table: str) -> str:
    """``pitr-<source>-<target>-<hash>``: deterministic, a valid stack name, at most 47 characters."""

    def slug(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:16].strip("-") or "t"

    digest = hashlib.sha256(f"{source_table}\x00{target_table}".encode()).hexdigest()[:8]
    return f"pitr-{slug(source_table)}-{slug(target_table)}-{digest}"


def default_artifact_bucket(account_id: str, region: str) -> str:
    return f"{ARTIFACT_PREFIX}-{account_id}-{region}"


def _names(stack_name: str) -> dict[str, str]:
    """Physical names the template gives its resources (see the Fn::Sub of each name)."""
    return {
        "queue": f"{stack_name}.fifo",
        "dlq": f"{stack_name}-dlq.fifo",
        "stream_failures": f"{stack_name}-stream-failures",
        "forwarder": f"{stack_name}-forwarder",
        "applier": f"{stack_name}-applier",
        "rule": f"{stack_name}-restore",
        "rule_dlq": f"{stack_name}-restore-dlq",
        "state_machine": f"{stack_name}-enable-replay",
        "forwarder_logs": f"/aws/lambda/{stack_name}-forwarder",
        "applier_logs": f"/aws/lambda/{stack_name}-applier",
        "key_digest_secret": f"{stack_name}-key-digest",
    }


# ================================================================================ helpers
def _say(progress: Progress | None, message: str) -> None:
    log.info("%s", message)
    if progress is not None:
        progress(message)


def _aws_failure(exc: ClientError, doing: str, remedy: str, *, table: str | None = None) -> BufferError:
    message = error_message(exc)
    return BufferError(f"{doing} failed ({_code(exc)}: {message}): {remedy}", code=_code(exc), table=table, step="buffer")


def _interval(target: AwsTarget, aws: float) -> float:
    return 0.1 if target.is_sandbox else aws


def _wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    what: str,
    remedy: str,
) -> T:
    """Call ``check`` until it returns something other than None; BufferError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise BufferError(f"timed out after {timeout:.0f} s waiting for {what}: {remedy}", step="buffer")
        time.sleep(interval)


_as_utc = to_utc


def _account_id(target: AwsTarget) -> str:
    try:
        return target.client("sts").get_caller_identity()["Account"]
    except ClientError as exc:
        raise _aws_failure(exc, "GetCallerIdentity", "check the credentials for this account and region") from exc


# ======================================================================= parameter checking
def _check_parameter(name: str, value: str, spec: Mapping[str, Any]) -> None:
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


def _resolve_parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
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
        _check_parameter(name, values[name], spec)
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
    if values.get("Automation") == "event":
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


# ====================================================================================== plan
def plan(
    target: AwsTarget,
    *,
    source_table: str,
    target_table: str,
    automation: str = "notebook",
    replay_from: datetime | str | None = None,
    starting_position: str = "TRIM_HORIZON",
    max_message_bytes: int | None = None,
    restore_timeout_seconds: int | None = None,
    log_retention_days: int | None = None,
    applier_max_concurrency: int | None = None,
    stack_name: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> DeployPlan:
    """What :func:`deploy` would create or update, with every template parameter. Changes nothing.

    Inputs are checked before any call (:class:`InputError`); then the source table must exist and
    have a stream (:class:`PreconditionError`). ``parameters`` overrides any other template
    parameter by name (``QueueVisibilityTimeout``, ``MaxReceiveCount``, ``ApplierBatchSize``...).
    ``applier_max_concurrency`` caps the applier's concurrent invocations (the queue mapping's
    ``ScalingConfig.MaximumConcurrency``, 2 to 1000, 0 = no cap; None = the template's default).
    """
    # -- inputs, before any call ---------------------------------------------------------------
    validate_table_pair(source_table, target_table)
    if automation not in AUTOMATIONS:
        raise InputError(f"automation {automation!r} must be one of {', '.join(AUTOMATIONS)}")
    if starting_position not in STARTING_POSITIONS:
        raise InputError(f"starting_position {starting_position!r} must be one of {', '.join(STARTING_POSITIONS)}")
    replay_at = _as_utc(replay_from, "replay_from")
    name = stack_name or stack_name_for(source_table, target_table)
    if len(name) > MAX_STACK_NAME or not _STACK_NAME_RE.match(name):
        raise InputError(
            f"stack name {name!r} must start with a letter, hold only letters, digits and hyphens, and be "
            f"at most {MAX_STACK_NAME} characters (resource names are derived from it)"
        )
    given: dict[str, Any] = dict(parameters or {})
    for reserved in ("SourceTableName", "TargetTableName", "SourceStreamArn", "CodeBucket", "CodeKey"):
        if reserved in given:
            raise InputError(f"{reserved} is set by plan/deploy, not through parameters")
    given.update(Automation=automation, StreamStartingPosition=starting_position)
    given["ReplayFrom"] = iso(replay_at) if replay_at else ""
    if max_message_bytes is not None:
        given["MaximumMessageSize"] = max_message_bytes
    if restore_timeout_seconds is not None:
        given["RestoreTimeoutSeconds"] = restore_timeout_seconds
    if log_retention_days is not None:
        given["LogRetentionDays"] = log_retention_days
    if applier_max_concurrency is not None:
        given["ApplierMaximumConcurrency"] = applier_max_concurrency
    template = load_template()
    values = _resolve_parameters(template, {k: str(v) for k, v in given.items()})
    zip_bytes = build_zip()
    sha = code_sha256(zip_bytes)
    code_key = f"{ARTIFACT_PREFIX}/{name}/cdc-{hashlib.sha256(zip_bytes).hexdigest()[:24]}.zip"

    # -- AWS, read only ------------------------------------------------------------------------
    region = target.region_name
    account = _account_id(target)
    ddb = target.client("dynamodb")
    try:
        table = ddb.describe_table(TableName=source_table)["Table"]
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            raise PreconditionError(
                f"source table {source_table} does not exist in {region}: check the table name and the region",
                table=source_table,
                code=_code(exc),
                step="buffer",
            ) from None
        raise _aws_failure(exc, f"DescribeTable {source_table}", "check permissions", table=source_table) from exc
    spec = table.get("StreamSpecification") or {}
    stream_arn = table.get("LatestStreamArn")
    if not spec.get("StreamEnabled") or not stream_arn:
        raise PreconditionError(
            f"table {source_table} has no stream, so its changes cannot be captured: enable one with "
            "UpdateTable StreamSpecification={StreamEnabled: true, StreamViewType: NEW_AND_OLD_IMAGES}",
            table=source_table,
            step="buffer",
        )
    view = spec.get("StreamViewType", "")
    warnings: list[str] = []
    if view in ("KEYS_ONLY", "OLD_IMAGE"):
        warnings.append(
            f"stream view type is {view}: every change is applied by re-reading the item from the source "
            "(convergent, but more reads); NEW_AND_OLD_IMAGES avoids that"
        )
    if values["StreamStartingPosition"] == "LATEST":
        warnings.append("StreamStartingPosition LATEST: changes made before deployment are not buffered")
    if float(values["ApplierMaximumConcurrency"]) == 0:
        warnings.append(
            "ApplierMaximumConcurrency 0: replay is uncapped (one invocation per message group, up to 1,250 at "
            "once): it can take the account's Lambda concurrency and throttle against the restored table"
        )

    existing = _describe_raw(target, name)
    existing_status = existing["StackStatus"] if existing else None
    if existing:
        params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in existing.get("Parameters", [])}
        if (params.get("SourceTableName"), params.get("TargetTableName")) != (source_table, target_table):
            raise PreconditionError(
                f"stack {name} already buffers {params.get('SourceTableName')} -> {params.get('TargetTableName')}: "
                "choose another stack_name, or tear that buffer down first",
                step="buffer",
            )
    values["SourceTableName"] = source_table
    values["TargetTableName"] = target_table
    values["SourceStreamArn"] = stream_arn
    _check_parameter("SourceStreamArn", stream_arn, template["Parameters"]["SourceStreamArn"])

    action = "update" if existing and existing_status not in ("ROLLBACK_COMPLETE",) else "create"
    resources = _planned_resources(template, name, values, region, account)
    return DeployPlan(
        stack_name=name,
        action=action,
        region=region,
        account_id=account,
        source_table=source_table,
        target_table=target_table,
        source_table_arn=table["TableArn"],
        source_stream_arn=stream_arn,
        stream_view_type=view,
        automation=automation,
        replay_from=replay_at,
        starting_position=starting_position,
        parameters=MappingProxyType(values),
        code_key=code_key,
        code_sha256=sha,
        default_artifact_bucket=default_artifact_bucket(account, region),
        resources=resources,
        existing_status=existing_status,
        warnings=tuple(warnings),
        code_zip=zip_bytes,
    )


_NAME_PROPERTY = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Events::Rule": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SecretsManager::Secret": "Name",
}


def _planned_resources(
    template: Mapping[str, Any], stack_name: str, values: Mapping[str, str], region: str, account: str
) -> tuple[PlannedResource, ...]:
    event_mode = values["Automation"] == "event"
    subs = {
        **values,
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": partition(region),
    }
    out = []
    for logical_id, res in template["Resources"].items():
        if res.get("Condition") == "EventAutomation" and not event_mode:
            continue
        prop = _NAME_PROPERTY.get(res["Type"])
        name = _substitute(res["Properties"].get(prop), subs) if prop else None
        if not isinstance(name, str):
            name = "(assigned at create)" if res["Type"] == "AWS::Lambda::EventSourceMapping" else "(generated)"
        out.append(PlannedResource(logical_id, res["Type"], name))
    return tuple(out)


# ==================================================================================== deploy
def _describe_raw(target: AwsTarget, stack: str) -> dict[str, Any] | None:
    """The stack (by name or id), or None if there is none (or it is deleted)."""
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if _code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise _aws_failure(exc, f"DescribeStacks {stack}", "check permissions and the region") from exc
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return stacks[0]


def _to_stack(raw: Mapping[str, Any], region: str) -> BufferStack:
    return BufferStack(
        stack_name=raw["StackName"],
        stack_id=raw["StackId"],
        status=raw["StackStatus"],
        region=region,
        outputs=MappingProxyType({o["OutputKey"]: o["OutputValue"] for o in raw.get("Outputs", [])}),
        parameters=MappingProxyType({p["ParameterKey"]: p.get("ParameterValue", "") for p in raw.get("Parameters", [])}),
    )


def describe(target: AwsTarget, stack_name: str) -> BufferStack | None:
    """The deployed buffer named ``stack_name``, or None."""
    raw = _describe_raw(target, stack_name)
    return _to_stack(raw, target.region_name) if raw else None


def _failure_reasons(target: AwsTarget, stack_id: str, since: datetime | None) -> list[str]:
    cfn = target.client("cloudformation")
    reasons: list[str] = []
    try:
        for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
            for ev in page["StackEvents"]:
                if since is not None and ev["Timestamp"] < since:
                    continue
                if ev.get("ResourceStatus", "").endswith("_FAILED") and ev.get("ResourceStatusReason"):
                    reasons.append(f"{ev['LogicalResourceId']}: {ev['ResourceStatusReason']}")
    except ClientError as exc:  # the reasons are a courtesy; the failure itself is reported
        log.warning("cannot read the events of %s: %s", stack_id, _code(exc))
    return list(dict.fromkeys(reversed(reasons)))


def _wait_stack(
    target: AwsTarget,
    stack_id: str,
    *,
    timeout: float,
    progress: Progress | None,
    what: str,
) -> dict[str, Any]:
    """Wait until the stack leaves every *_IN_PROGRESS state; return it (DELETE_COMPLETE included)."""
    cfn = target.client("cloudformation")
    seen: set[str] = set()

    def check() -> dict[str, Any] | None:
        raw = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        try:
            events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        except ClientError:
            events = []
        for ev in reversed(events):
            if ev["EventId"] not in seen:
                seen.add(ev["EventId"])
                if ev["LogicalResourceId"] != raw["StackName"] and progress is not None:
                    progress(f"{ev['LogicalResourceId']} {ev['ResourceStatus']}")
        return None if _STACK_IN_PROGRESS.search(raw["StackStatus"]) else raw

    return _wait_until(
        check,
        timeout=timeout,
        interval=_interval(target, 5.0),
        what=what,
        remedy="follow the stack in the CloudFormation console, then run the step again",
    )


def _ensure_bucket(target: AwsTarget, bucket: str, account: str, *, create: bool, progress: Progress | None) -> None:
    s3 = target.client("s3")
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        return
    except ClientError as exc:
        code = _code(exc)
        if code not in ("404", "NoSuchBucket"):  # HEAD has no body: botocore reports the status
            raise _aws_failure(
                exc, f"HeadBucket {bucket}", "the artifact bucket must exist and belong to this account"
            ) from exc
        if not create:
            raise BufferError(
                f"artifact bucket {bucket} does not exist: create it, or leave artifact_bucket unset",
                code=code,
                step="buffer",
            ) from None
    _say(progress, f"creating the private, encrypted artifact bucket {bucket}")
    try:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if target.region_name != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": target.region_name}
        s3.create_bucket(**kwargs)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
            },
        )
        if not target.is_sandbox:
            # TLS only. Not on the sandbox: it serves plain HTTP on loopback, and moto enforces
            # bucket policies, so this statement would deny our own uploads there.
            arn = f"arn:{target.partition}:s3:::{bucket}"
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, f"{arn}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    except ClientError as exc:
        raise _aws_failure(exc, f"creating artifact bucket {bucket}", "pass artifact_bucket= an existing private bucket") from exc


def deploy(
    target: AwsTarget,
    plan: DeployPlan,
    *,
    artifact_bucket: str | None = None,
    progress: Progress | None = None,
    timeout: float = 1800.0,
    cfn_role_arn: str | None = None,
) -> BufferStack:
    """Upload the handler zip, create or update the stack, wait for it; returns the outputs.

    Without ``artifact_bucket`` the zip goes to ``pitr-runbook-<account>-<region>``, created
    (private, encrypted, TLS only) if missing. On failure raises :class:`BufferError` with the
    failed resources' reasons; a failed create leaves no stack behind.

    ``cfn_role_arn``: the CloudFormation service role (``infra/cfn-service-role.yaml``) the stack is
    created, updated and deleted with (``RoleARN``), so that the caller needs only ``iam:PassRole``
    on it, never ``iam:CreateRole``/``iam:PutRolePolicy`` of their own. None: the caller's own
    credentials (or the role the stack was created with, which CloudFormation keeps using).
    """
    if plan.region != target.region_name:
        raise InputError(f"the plan is for {plan.region}, the target is {target.region_name}: plan again")
    if cfn_role_arn:
        boundary_arn_for(cfn_role_arn)  # a malformed ARN is refused before any call
    cfn = target.client("cloudformation")
    name = plan.stack_name

    existing = _describe_raw(target, name)
    if existing and _STACK_IN_PROGRESS.search(existing["StackStatus"]):
        _say(progress, f"stack {name} is {existing['StackStatus']}: waiting for it to settle")
        existing = _wait_stack(target, existing["StackId"], timeout=timeout, progress=progress, what=f"stack {name}")
        existing = None if existing["StackStatus"] == "DELETE_COMPLETE" else existing
    if existing and existing["StackStatus"] == "ROLLBACK_COMPLETE":
        # A create that failed and rolled back holds no resources, and blocks a new create.
        _say(progress, f"stack {name} is ROLLBACK_COMPLETE from a failed create: deleting it first")
        cfn.delete_stack(StackName=existing["StackId"], **_role(cfn_role_arn or existing.get("RoleARN")))
        _wait_stack(target, existing["StackId"], timeout=timeout, progress=progress, what=f"deletion of {name}")
        existing = None
    if existing and existing["StackStatus"] not in _STACK_OK | {"UPDATE_ROLLBACK_COMPLETE"}:
        raise PreconditionError(
            f"stack {name} is {existing['StackStatus']}: repair it in the CloudFormation console "
            "(or tear the buffer down) before deploying",
            step="buffer",
        )

    bucket = artifact_bucket or plan.default_artifact_bucket
    _ensure_bucket(target, bucket, plan.account_id, create=artifact_bucket is None, progress=progress)
    zip_bytes = plan.code_zip or build_zip()
    if code_sha256(zip_bytes) != plan.code_sha256:
        raise InputError("the handler code changed since the plan was made: plan again")
    _say(progress, f"uploading the handlers ({len(zip_bytes)} bytes) to s3://{bucket}/{plan.code_key}")
    try:
        target.client("s3").put_object(
            Bucket=bucket,
            Key=plan.code_key,
            Body=zip_bytes,
            ServerSideEncryption="AES256",
            ExpectedBucketOwner=plan.account_id,
        )
    except ClientError as exc:
        raise _aws_failure(exc, f"uploading the handlers to {bucket}", "check write access to the bucket") from exc

    body = template_text()
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        raise BufferError(f"infra/{TEMPLATE_FILE} exceeds CloudFormation's {MAX_TEMPLATE_BODY} byte limit", step="buffer")
    values = dict(plan.parameters)
    if cfn_role_arn and not values.get("RoleBoundaryArn"):
        # the service role may create roles only with its boundary: give every role of the stack that one
        values["RoleBoundaryArn"] = boundary_arn_for(cfn_role_arn)
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
    params += [
        {"ParameterKey": "CodeBucket", "ParameterValue": bucket},
        {"ParameterKey": "CodeKey", "ParameterValue": plan.code_key},
    ]
    tags = [
        {"Key": STACK_TAG, "Value": "cdc-buffer"},
        {"Key": "pitr-runbook:source-table", "Value": plan.source_table},
        {"Key": "pitr-runbook:target-table", "Value": plan.target_table},
    ]
    started = utcnow() - timedelta(seconds=1)
    replay_was: str | None = None
    try:
        if existing is None:
            _say(progress, f"creating stack {name} ({plan.automation} automation)")
            stack_id = cfn.create_stack(
                StackName=name,
                TemplateBody=body,
                Parameters=params,
                Capabilities=["CAPABILITY_IAM"],
                OnFailure="DELETE",
                Tags=tags,
                **_role(cfn_role_arn),
            )["StackId"]
            verb = "create"
        else:
            stack_id = existing["StackId"]
            replay_was = _mapping_state_or_none(target, _to_stack(existing, target.region_name))
            _say(progress, f"updating stack {name}")
            try:
                cfn.update_stack(
                    StackName=stack_id, TemplateBody=body, Parameters=params, Capabilities=["CAPABILITY_IAM"], Tags=tags,
                    **_role(cfn_role_arn),
                )
            except ClientError as exc:
                if _code(exc) == "ValidationError" and "No updates are to be performed" in str(exc):
                    _say(progress, f"stack {name} is already up to date")
                    return _to_stack(existing, target.region_name)
                raise
            verb = "update"
    except ClientError as exc:
        raise _aws_failure(exc, f"{'CreateStack' if existing is None else 'UpdateStack'} {name}", "fix the cause and deploy again") from exc
    except ResponseParserError as exc:
        # moto (the sandbox) creates resources inside the CreateStack request: a resource's error
        # comes back as that service's error body, which the CloudFormation client cannot parse,
        # and the stack stays CREATE_IN_PROGRESS half built. AWS reports CREATE_FAILED instead.
        raise BufferError(
            f"{'CreateStack' if existing is None else 'UpdateStack'} {name} failed: {exc}. Tear the buffer "
            "down (teardown(..., execute=True)), fix the cause and deploy again",
            step="buffer",
        ) from exc

    raw = _wait_stack(target, stack_id, timeout=timeout, progress=progress, what=f"stack {name} to {verb}")
    if raw["StackStatus"] not in _STACK_OK:
        reasons = _failure_reasons(target, stack_id, started) or [raw.get("StackStatusReason", "no reason given")]
        after = (
            "the failed create was rolled back and deleted"
            if verb == "create"
            else f"the stack was rolled back to its previous version ({raw['StackStatus']})"
        )
        raise BufferError(
            f"stack {name} failed to {verb}: {'; '.join(reasons)}. {after}; fix the cause and deploy again",
            step="buffer",
        )
    stack = _to_stack(raw, target.region_name)
    _check_code(target, stack, plan.code_sha256)
    if replay_was == "Enabled" and _mapping_state_or_none(target, stack) != "Enabled":
        # The template creates the queue mapping disabled; an update that touches the mapping
        # sends that Enabled: false again. Replay that was on stays on.
        _say(progress, "the update turned replay off: turning it back on")
        enable_replay(target, stack, progress=progress)
    _say(progress, f"stack {name} is {stack.status}; capture has started")
    return stack


def boundary_arn_for(cfn_role_arn: str) -> str:
    """The permissions boundary ``infra/cfn-service-role.yaml`` creates beside the role: the managed
    policy ``<RoleName>-boundary`` of the same account (``arn:<partition>:iam::<account>:policy/...``)."""
    m = re.fullmatch(r"arn:(aws[a-z-]*):iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", cfn_role_arn)
    if not m:
        raise InputError(f"cfn_role_arn {cfn_role_arn!r} is not an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)")
    partition, account, name = m.groups()
    return f"arn:{partition}:iam::{account}:policy/{name}-boundary"


def _role(cfn_role_arn: str | None) -> dict[str, str]:
    """``RoleARN`` for CreateStack/UpdateStack/DeleteStack when a service role is given."""
    return {"RoleARN": cfn_role_arn} if cfn_role_arn else {}


def _check_code(target: AwsTarget, stack: BufferStack, sha: str) -> None:
    """Both functions run exactly the zip that was built."""
    lam = target.client("lambda")
    for fn in (stack.forwarder_function_name, stack.applier_function_name):
        got = lam.get_function_configuration(FunctionName=fn).get("CodeSha256")
        if got != sha:
            raise BufferError(
                f"function {fn} runs code {got}, not the package just built ({sha}): deploy again",
                step="buffer",
            )


# ================================================================================= operate
def _function_settled(target: AwsTarget, function_name: str, *, timeout: float, progress: Progress | None) -> dict:
    """Wait while the function is being created or updated (the sample's race); its configuration."""
    lam = target.client("lambda")
    announced = False

    def check() -> dict | None:
        nonlocal announced
        try:
            config = lam.get_function_configuration(FunctionName=function_name)
        except ClientError as exc:
            raise _aws_failure(exc, f"GetFunctionConfiguration {function_name}", "is the buffer deployed?") from exc
        if config.get("State") == "Pending" or config.get("LastUpdateStatus") == "InProgress":
            if not announced:
                _say(progress, f"waiting for the update of {function_name} to finish")
                announced = True
            return None
        return config

    return _wait_until(
        check,
        timeout=timeout,
        interval=_interval(target, 2.0),
        what=f"the update of function {function_name}",
        remedy="check the function in the Lambda console, then retry",
    )


def set_replay_start(
    target: AwsTarget,
    stack: BufferStack,
    replay_from: datetime | str | None,
    *,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> str:
    """Set the applier's ``REPLAY_FROM`` (None = replay everything); keep its other variables.

    Waits until the update is ``Successful``. Returns the value set. The stack's ``ReplayFrom``
    parameter keeps its deployed value: a later :func:`deploy` that changes that parameter
    overrides this.
    """
    when = _as_utc(replay_from, "replay_from")
    value = iso(when) if when else ""
    fn = stack.applier_function_name
    lam = target.client("lambda")
    deadline = time.monotonic() + timeout
    while True:
        config = _function_settled(target, fn, timeout=max(1.0, deadline - time.monotonic()), progress=progress)
        env = dict((config.get("Environment") or {}).get("Variables") or {})
        if env.get("REPLAY_FROM", "") == value and config.get("LastUpdateStatus", "Successful") == "Successful":
            return value
        env["REPLAY_FROM"] = value
        _say(progress, f"setting REPLAY_FROM={value or '(all)'} on {fn}")
        try:
            kwargs: dict[str, Any] = {"FunctionName": fn, "Environment": {"Variables": env}}
            if config.get("RevisionId"):
                kwargs["RevisionId"] = config["RevisionId"]
            lam.update_function_configuration(**kwargs)
            break
        except ClientError as exc:
            # Someone else changed the function between our read and our write: read again.
            if _code(exc) in ("PreconditionFailedException", "ResourceConflictException") and time.monotonic() < deadline:
                time.sleep(_interval(target, 1.0))
                continue
            raise _aws_failure(exc, f"UpdateFunctionConfiguration {fn}", "retry set_replay_start") from exc
    config = _function_settled(target, fn, timeout=max(1.0, deadline - time.monotonic()), progress=progress)
    if config.get("LastUpdateStatus", "Successful") != "Successful":
        raise BufferError(
            f"the update of {fn} ended {config.get('LastUpdateStatus')}: "
            f"{config.get('LastUpdateStatusReason', 'no reason given')}; retry set_replay_start",
            code=config.get("LastUpdateStatusReasonCode"),
            step="buffer",
        )
    got = ((config.get("Environment") or {}).get("Variables") or {}).get("REPLAY_FROM", "")
    if got != value:
        raise BufferError(f"{fn} has REPLAY_FROM={got!r} after the update, not {value!r}: retry", step="buffer")
    return value


def _mapping(target: AwsTarget, uuid: str) -> dict[str, Any]:
    try:
        return target.client("lambda").get_event_source_mapping(UUID=uuid)
    except ClientError as exc:
        raise _aws_failure(exc, f"GetEventSourceMapping {uuid}", "is the buffer deployed?") from exc


def _mapping_state_or_none(target: AwsTarget, stack: BufferStack) -> str | None:
    uuid = stack.outputs.get("QueueMappingUuid")
    if not uuid:
        return None
    try:
        return target.client("lambda").get_event_source_mapping(UUID=uuid).get("State")
    except ClientError:
        return None


def _set_mapping(
    target: AwsTarget, stack: BufferStack, *, enabled: bool, timeout: float, progress: Progress | None
) -> str:
    uuid = stack.queue_mapping_uuid
    want = "Enabled" if enabled else "Disabled"
    lam = target.client("lambda")
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        return max(1.0, deadline - time.monotonic())

    # The sample's race: a mapping change while the function's configuration is being updated
    # fails (ResourceConflictException). Wait for any update first.
    _function_settled(target, stack.applier_function_name, timeout=remaining(), progress=progress)

    def settled() -> str | None:
        state = _mapping(target, uuid).get("State", "")
        return state if state in _MAPPING_SETTLED else None

    state = _wait_until(
        settled, timeout=remaining(), interval=_interval(target, 2.0), what=f"mapping {uuid} to settle",
        remedy="check the mapping in the Lambda console, then retry",
    )  # fmt: skip
    if state == want:
        return state
    _say(progress, f"{'enabling' if enabled else 'disabling'} replay (queue mapping {uuid})")
    while True:
        try:
            lam.update_event_source_mapping(UUID=uuid, Enabled=enabled)
            break
        except ClientError as exc:
            if _code(exc) in ("ResourceInUseException", "ResourceConflictException", "TooManyRequestsException") and (
                time.monotonic() < deadline
            ):
                time.sleep(_interval(target, 2.0))
                continue
            raise _aws_failure(exc, f"UpdateEventSourceMapping {uuid}", "retry") from exc

    def reached() -> str | None:
        m = _mapping(target, uuid)
        state = m.get("State", "")
        if state == want:
            return state
        if state in _MAPPING_SETTLED:
            raise BufferError(
                f"queue mapping {uuid} went back to {state} ({m.get('StateTransitionReason', '')}): "
                "something else changed it; check the mapping and retry",
                step="buffer",
            )
        return None

    state = _wait_until(
        reached, timeout=remaining(), interval=_interval(target, 2.0), what=f"mapping {uuid} to be {want}",
        remedy="check the mapping in the Lambda console, then retry",
    )  # fmt: skip
    _say(progress, f"replay {'on' if enabled else 'off'}: queue mapping {state}")
    return state


def enable_replay(
    target: AwsTarget, stack: BufferStack, *, timeout: float = 300.0, progress: Progress | None = None
) -> str:
    """Turn replay on (the queue mapping); waits for ``Enabled``. Returns the mapping state."""
    return _set_mapping(target, stack, enabled=True, timeout=timeout, progress=progress)


def disable_replay(
    target: AwsTarget, stack: BufferStack, *, timeout: float = 300.0, progress: Progress | None = None
) -> str:
    """Turn replay off; waits for ``Disabled``. Messages stay in the queue."""
    return _set_mapping(target, stack, enabled=False, timeout=timeout, progress=progress)


def _queue_counts(sqs, url: str) -> dict[str, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {k: int(v) for k, v in attrs.items()}


def _oldest_age(target: AwsTarget, queue_name: str) -> float | None:
    now = utcnow()
    try:
        points = target.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name}],
            StartTime=now - timedelta(minutes=15),
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
    except ClientError as exc:
        log.debug("no ApproximateAgeOfOldestMessage for %s: %s", queue_name, _code(exc))
        return None
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"])


def _newest_datapoint(target: AwsTarget, function_name: str, metric: str, stat: str, window_seconds: float) -> float | None:
    now = utcnow()
    try:
        points = target.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=[{"Name": "FunctionName", "Value": function_name}],
            StartTime=now - timedelta(seconds=window_seconds),
            EndTime=now + timedelta(seconds=LAG_PERIOD_SECONDS),
            Period=LAG_PERIOD_SECONDS,
            Statistics=[stat],
        )["Datapoints"]
    except ClientError as exc:
        raise _aws_failure(
            exc,
            f"reading the {metric} metric of {function_name}",
            "the operator needs cloudwatch:GetMetricStatistics to tell whether the forwarder keeps up with the stream",
        ) from exc
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])[stat])


def forwarder_lag(target: AwsTarget, stack: BufferStack, *, window_seconds: float = 300) -> float | None:
    """How far the forwarder is behind the source's stream, in seconds; None if it was not invoked.

    The Maximum of the forwarder's Lambda ``IteratorAge`` (the age of the last record of a batch
    when the stream mapping sent it to the function) in the NEWEST one-minute datapoint of the last
    ``window_seconds``: "Types of metrics for Lambda functions", AWS Lambda Developer Guide,
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html. Lambda sends
    metrics in one-minute intervals, so this is up to a minute (plus CloudWatch's delay) old.
    """
    ms = _newest_datapoint(target, stack.forwarder_function_name, "IteratorAge", "Maximum", window_seconds)
    return None if ms is None else ms / 1000.0


def forwarder_errors(target: AwsTarget, stack: BufferStack, *, window_seconds: float = 300) -> int | None:
    """Failed forwarder invocations (Lambda ``Errors``, Sum) in the newest one-minute datapoint."""
    n = _newest_datapoint(target, stack.forwarder_function_name, "Errors", "Sum", window_seconds)
    return None if n is None else int(n)


def status(target: AwsTarget, stack: BufferStack) -> BufferStatus:
    """Depth, in flight, DLQ, stream failures, age of the oldest message, both mappings' states,
    and whether the forwarder keeps up with the stream (:func:`forwarder_lag`)."""
    sqs = target.client("sqs")
    try:
        main = _queue_counts(sqs, stack.queue_url)
        dlq = _queue_counts(sqs, stack.dlq_url)
        failures = _queue_counts(sqs, stack.stream_failure_queue_url) if stack.stream_failure_queue_url else {}
    except ClientError as exc:
        raise _aws_failure(exc, f"reading the queues of {stack.stack_name}", "is the buffer deployed?") from exc
    stream_state = _mapping(target, stack.stream_mapping_uuid).get("State", "")
    queue_state = _mapping(target, stack.queue_mapping_uuid).get("State", "")
    return BufferStatus(
        depth=main.get("ApproximateNumberOfMessages", 0),
        in_flight=main.get("ApproximateNumberOfMessagesNotVisible", 0),
        delayed=main.get("ApproximateNumberOfMessagesDelayed", 0),
        dlq_depth=dlq.get("ApproximateNumberOfMessages", 0) + dlq.get("ApproximateNumberOfMessagesNotVisible", 0),
        stream_failures=failures.get("ApproximateNumberOfMessages", 0)
        + failures.get("ApproximateNumberOfMessagesNotVisible", 0),
        oldest_age_seconds=_oldest_age(target, stack.queue_url.rsplit("/", 1)[-1]),
        stream_mapping_state=stream_state,
        queue_mapping_state=queue_state,
        sampled_at=utcnow(),
        stream_lag_seconds=forwarder_lag(target, stack),
        forwarder_errors=forwarder_errors(target, stack),
    )


# ================================================================================= teardown
@dataclass(frozen=True)
class RedriveResult:
    """What :func:`redrive_dlq` did (or, without ``execute``, would do)."""

    executed: bool
    status: str  # "planned", "empty", or the task's final status (COMPLETED, CANCELLED, FAILED)
    to_move: int
    moved: int
    seconds: float = 0.0
    task_handle: str | None = None
    failure_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("planned", "empty", "COMPLETED")

    def rows(self) -> list[dict[str, str]]:
        return [{"field": k, "value": "" if v is None else str(v)} for k, v in asdict(self).items()]


def _dlq_messages(sqs, stack: BufferStack) -> int:
    counts = _queue_counts(sqs, stack.dlq_url)
    return counts.get("ApproximateNumberOfMessages", 0) + counts.get("ApproximateNumberOfMessagesNotVisible", 0)


def redrive_dlq(
    target: AwsTarget,
    stack: BufferStack,
    *,
    execute: bool = False,
    max_per_second: int | None = None,
    wait_for_dlq: float = 0.0,
    timeout: float = 1800.0,
    progress: Progress | None = None,
) -> RedriveResult:
    """Move the dead-letter queue's messages back to the buffer queue, and wait until they are moved.

    Run it once the cause is gone (the applier's log group says why each message failed, by hashed
    key). Without ``execute`` it only counts the DLQ. With it: ``StartMessageMoveTask`` from the DLQ
    to the buffer queue (``max_per_second``: 1 to 500; default: SQS chooses), or follows the task
    already running, reporting progress from ``ListMessageMoveTasks`` until it ends. The moved
    messages are new messages sent now, so the applier recognises them as late and applies each
    key's current source item (see ``runbook_lib/cdc/applier.py``); replay must be on for them to be
    applied. ``wait_for_dlq``: if the DLQ is empty, wait up to that many seconds for failing
    changes to land in it first (a change reaches the DLQ only when it is received once more after
    ``MaxReceiveCount`` failed receives, a visibility timeout after the last). Needs ``sqs:StartMessageMoveTask``, ``sqs:ListMessageMoveTasks``,
    ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and ``sqs:GetQueueAttributes`` on the DLQ and
    ``sqs:SendMessage`` on the buffer queue. Raises :class:`BufferError` if the task fails or does
    not end within ``timeout`` (it keeps running: cancel it with ``CancelMessageMoveTask``).
    """
    sqs = target.client("sqs")
    try:
        waiting = _dlq_messages(sqs, stack)
    except ClientError as exc:
        raise _aws_failure(exc, f"reading the DLQ of {stack.stack_name}", "is the buffer deployed?") from exc
    if not execute:
        _say(progress, f"DLQ holds {waiting} message(s); run with execute=True to move them back to the buffer")
        return RedriveResult(False, "planned", waiting, 0)
    started = time.monotonic()
    if waiting == 0 and wait_for_dlq > 0:
        _say(progress, f"DLQ is empty: waiting up to {wait_for_dlq:.0f} s for failing changes to reach it")
        bar = progress_bar.wait("failing changes to reach the DLQ", timeout=wait_for_dlq)
        while waiting == 0 and time.monotonic() - started < wait_for_dlq:
            time.sleep(1.0 if target.is_sandbox else 5.0)
            waiting = _dlq_messages(sqs, stack)
            bar.update(status=f"DLQ holds {waiting}")
        bar.close(ok=True)
    try:
        tasks = sqs.list_message_move_tasks(SourceArn=stack.dlq_arn, MaxResults=1).get("Results", [])
        running = tasks[0] if tasks and tasks[0].get("Status") == "RUNNING" else None
        if running is not None:
            handle = running.get("TaskHandle")
            _say(progress, "a redrive of this DLQ is already running: following it")
        elif waiting == 0:
            _say(progress, "DLQ is empty: nothing to move")
            return RedriveResult(True, "empty", 0, 0)
        else:
            kwargs: dict[str, Any] = {"SourceArn": stack.dlq_arn, "DestinationArn": stack.queue_arn}
            if max_per_second is not None:
                kwargs["MaxNumberOfMessagesPerSecond"] = int(max_per_second)
            handle = sqs.start_message_move_task(**kwargs)["TaskHandle"]
            _say(progress, f"redrive started: {waiting} message(s) from the DLQ back to the buffer queue")
    except ClientError as exc:
        raise _aws_failure(
            exc, f"starting the redrive of {stack.dlq_arn}",
            "check sqs:StartMessageMoveTask and sqs:ListMessageMoveTasks on the DLQ, then run it again",
        ) from exc
    deadline = started + timeout
    last_moved = -1
    bar = progress_bar.wait("the DLQ redrive", timeout=timeout, unit="messages moved")
    while True:
        try:
            (task,) = sqs.list_message_move_tasks(SourceArn=stack.dlq_arn, MaxResults=1)["Results"]
        except (ClientError, ValueError) as exc:
            if isinstance(exc, ClientError):
                raise _aws_failure(exc, f"following the redrive of {stack.dlq_arn}", "run it again") from exc
            raise BufferError(f"no move task is listed for {stack.dlq_arn}: run the redrive again", step="buffer") from exc
        moved, to_move = int(task.get("ApproximateNumberOfMessagesMoved", 0)), int(task.get("ApproximateNumberOfMessagesToMove") or 0)
        bar.update(moved, total=to_move or None, status=task.get("Status", ""))
        if moved != last_moved:
            _say(progress, f"redrive {task.get('Status')}: {moved} of {to_move} moved")
            last_moved = moved
        status_now = task.get("Status", "")
        if status_now not in ("RUNNING", "CANCELLING"):
            bar.close(ok=status_now == "COMPLETED")
            result = RedriveResult(True, status_now, to_move, moved, time.monotonic() - started, handle,
                                   task.get("FailureReason"))
            if status_now == "FAILED":
                raise BufferError(
                    f"the redrive of {stack.dlq_arn} failed ({task.get('FailureReason')}) after moving {moved} of "
                    f"{to_move}: fix the cause and run buffer.redrive_dlq again", step="buffer")
            return result
        if time.monotonic() > deadline:
            raise BufferError(
                f"the redrive of {stack.dlq_arn} is still running after {timeout:.0f} s ({moved} of {to_move} moved): "
                f"follow it with buffer.redrive_dlq again, or stop it with CancelMessageMoveTask (TaskHandle {handle})",
                step="buffer")
        time.sleep(_interval(target, 5.0))


def _stack_resources(target: AwsTarget, stack_id: str) -> list[dict[str, Any]]:
    cfn = target.client("cloudformation")
    out: list[dict[str, Any]] = []
    try:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
            # moto also lists the resources a false Condition left out, with empty fields.
            out += [r for r in page["StackResourceSummaries"] if r.get("ResourceType") and r.get("PhysicalResourceId")]
    except ClientError as exc:
        raise _aws_failure(exc, f"ListStackResources {stack_id}", "check permissions") from exc
    return out


def _exists(call: Callable[[], Any], gone: Iterable[str]) -> bool:
    try:
        call()
        return True
    except ClientError as exc:
        if _code(exc) in set(gone):
            return False
        raise


def _leftovers(
    target: AwsTarget,
    stack_name: str,
    *,
    stream_arn: str | None,
    queue_arn: str | None,
    state_machine_arn: str | None,
    role_names: Iterable[str],
    artifact: tuple[str, str] | None,
) -> list[str]:
    """What of the buffer still exists, by the names the template gives (and the stack had)."""
    names = _names(stack_name)
    lam, sqs = target.client("lambda"), target.client("sqs")
    left: list[str] = []
    function_names = {names["forwarder"], names["applier"]}

    # Event source mappings naming our functions, on the stream or the queue (the sample's
    # mapping outlived its stack).
    for source in filter(None, (stream_arn, queue_arn)):
        try:
            for page in lam.get_paginator("list_event_source_mappings").paginate(EventSourceArn=source):
                for m in page["EventSourceMappings"]:
                    if m["FunctionArn"].rsplit(":function:", 1)[-1].split(":")[0] in function_names:
                        left.append(f"AWS::Lambda::EventSourceMapping {m['UUID']} ({m.get('State')})")
        except ClientError as exc:
            if _code(exc) not in ("ResourceNotFoundException", "InvalidParameterValueException"):
                raise
    for fn in sorted(function_names):
        try:
            for page in lam.get_paginator("list_event_source_mappings").paginate(FunctionName=fn):
                for m in page["EventSourceMappings"]:
                    entry = f"AWS::Lambda::EventSourceMapping {m['UUID']} ({m.get('State')})"
                    if not any(m["UUID"] in x for x in left):
                        left.append(entry)
        except ClientError as exc:
            if _code(exc) not in ("ResourceNotFoundException",):
                raise
        if _exists(lambda fn=fn: lam.get_function(FunctionName=fn), ["ResourceNotFoundException"]):
            left.append(f"AWS::Lambda::Function {fn}")
    for key in ("queue", "dlq", "stream_failures", "rule_dlq"):
        if _exists(
            lambda key=key: sqs.get_queue_url(QueueName=names[key]),
            ["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"],
        ):
            left.append(f"AWS::SQS::Queue {names[key]}")
    if _exists(lambda: target.client("events").describe_rule(Name=names["rule"]), ["ResourceNotFoundException"]):
        left.append(f"AWS::Events::Rule {names['rule']}")
    sfn = target.client("stepfunctions")
    sm_arn = state_machine_arn or (
        f"arn:{target.partition}:states:{target.region_name}:{_account_id(target)}"
        f":stateMachine:{names['state_machine']}"
    )
    try:
        sm = sfn.describe_state_machine(stateMachineArn=sm_arn)
        if sm.get("status") != "DELETING":
            left.append(f"AWS::StepFunctions::StateMachine {sm_arn}")
    except ClientError as exc:
        if _code(exc) != "StateMachineDoesNotExist":
            raise
    logs = target.client("logs")
    for key in ("forwarder_logs", "applier_logs"):
        groups = logs.describe_log_groups(logGroupNamePrefix=names[key])["logGroups"]
        if any(g["logGroupName"] == names[key] for g in groups):
            left.append(f"AWS::Logs::LogGroup {names[key]}")
    if _exists(lambda: target.client("secretsmanager").describe_secret(SecretId=names["key_digest_secret"]),
               ["ResourceNotFoundException"]):
        left.append(f"AWS::SecretsManager::Secret {names['key_digest_secret']}")
    iam = target.client("iam")
    for role in role_names:
        if _exists(lambda role=role: iam.get_role(RoleName=role), ["NoSuchEntity"]):
            left.append(f"AWS::IAM::Role {role}")
    if artifact:
        bucket, key = artifact
        if _exists(lambda: target.client("s3").head_object(Bucket=bucket, Key=key), ["404", "NoSuchKey", "NoSuchBucket"]):
            left.append(f"AWS::S3::Object s3://{bucket}/{key}")
    return left


def teardown(
    target: AwsTarget,
    stack: BufferStack | str,
    *,
    execute: bool = False,
    timeout: float = 1800.0,
    progress: Progress | None = None,
    cfn_role_arn: str | None = None,
) -> TeardownReport:
    """Delete the buffer and prove nothing is left.

    Dry run (default): lists what would be deleted. ``execute=True``: turns replay off, deletes the
    stack and waits, deletes the handler zip, then checks that no mapping on the source stream or
    the queue names our functions and that no queue, function, rule, state machine, log group or
    role is left; raises :class:`BufferError` listing any leftover. Tearing
    down a buffer that is already gone is a no-op (that still verifies). ``cfn_role_arn``: the
    CloudFormation service role the stack is deleted with (see :func:`deploy`); None: the role the
    stack holds (``RoleARN`` of ``DescribeStacks``), if any.
    """
    known = stack if isinstance(stack, BufferStack) else None
    name = known.stack_name if known else str(stack)
    raw = _describe_raw(target, known.stack_id if known and known.stack_id else name)
    if raw is None and known is not None:
        raw = _describe_raw(target, name)
    current = _to_stack(raw, target.region_name) if raw else known
    resources = _stack_resources(target, raw["StackId"]) if raw else []
    artifact = (current.code_bucket, current.code_key) if current and current.code_bucket and current.code_key else None

    listed = [f"{r['ResourceType']} {r.get('PhysicalResourceId') or r['LogicalResourceId']}" for r in resources]
    if raw is not None:
        listed.insert(0, f"AWS::CloudFormation::Stack {name}")
    if artifact:
        listed.append(f"AWS::S3::Object s3://{artifact[0]}/{artifact[1]}")
    roles = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::IAM::Role" and r.get("PhysicalResourceId")]

    if not execute:
        return TeardownReport(stack_name=name, executed=False, stack_found=raw is not None, resources=tuple(listed))

    discarded = (0, 0)
    if raw is not None:
        try:
            mapping_state = _mapping(target, current.queue_mapping_uuid).get("State") if current.outputs else None
        except BufferError:
            mapping_state = None
        if mapping_state and mapping_state != "Disabled":
            disable_replay(target, current, timeout=min(timeout, 300.0), progress=progress)
        discarded = _buffered_counts(target, current)
        if any(discarded):
            _say(progress, f"discarding {discarded[0]} buffered message(s) and {discarded[1]} in the DLQ")
        _stop_workflows(target, current, progress)
        _say(progress, f"deleting stack {name}")
        cfn = target.client("cloudformation")
        started = utcnow() - timedelta(seconds=1)
        try:
            # without a role given, the one the stack was created with: the operator's policy allows
            # DeleteStack only with the service role (cloudformation:RoleArn), and a request without
            # RoleARN carries no such key, so it would be denied although CloudFormation would use it
            cfn.delete_stack(StackName=raw["StackId"], **_role(cfn_role_arn or raw.get("RoleARN")))
        except ClientError as exc:
            raise _aws_failure(exc, f"DeleteStack {name}", "retry the teardown") from exc
        final = _wait_stack(target, raw["StackId"], timeout=timeout, progress=progress, what=f"deletion of {name}")
        if final["StackStatus"] != "DELETE_COMPLETE":
            reasons = _failure_reasons(target, raw["StackId"], started) or [final.get("StackStatusReason", "")]
            raise BufferError(
                f"stack {name} ended {final['StackStatus']}: {'; '.join(reasons)}. Delete the resources named "
                "there by hand, then run the teardown again",
                step="buffer",
            )
    else:
        _say(progress, f"stack {name} is already gone: verifying that nothing is left")
    if artifact:
        try:
            target.client("s3").delete_object(Bucket=artifact[0], Key=artifact[1])
        except ClientError as exc:
            if _code(exc) not in ("NoSuchBucket", "NoSuchKey", "404"):
                raise _aws_failure(exc, f"deleting s3://{artifact[0]}/{artifact[1]}", "delete it by hand") from exc

    def leftovers_now() -> list[str]:
        return _leftovers(
            target,
            name,
            stream_arn=current.source_stream_arn if current else None,
            queue_arn=(current.outputs.get("QueueArn") if current else None)
            or f"arn:{target.partition}:sqs:{target.region_name}:{_account_id(target)}:{_names(name)['queue']}",
            state_machine_arn=current.state_machine_arn if current else None,
            role_names=roles,
            artifact=artifact,
        )

    # Deletions settle: a mapping or a table may still be deleting for a moment.
    leftovers = leftovers_now()
    deadline = time.monotonic() + (2.0 if target.is_sandbox else 120.0)
    while leftovers and time.monotonic() < deadline:
        time.sleep(_interval(target, 5.0))
        leftovers = leftovers_now()
    if leftovers:
        raise BufferError(
            f"teardown of {name} left {len(leftovers)} resource(s) behind: {'; '.join(leftovers)}. "
            "Delete them by hand (or run the teardown again), then verify",
            step="buffer",
        )
    _say(progress, f"buffer {name} torn down; nothing left")
    return TeardownReport(
        stack_name=name,
        executed=True,
        stack_found=raw is not None,
        resources=tuple(listed),
        verified=True,
        discarded_messages=discarded[0],
        discarded_dlq_messages=discarded[1],
    )


def _buffered_counts(target: AwsTarget, stack: BufferStack) -> tuple[int, int]:
    """(messages in the buffer, messages in its DLQ), 0 for a queue that cannot be read."""
    sqs = target.client("sqs")
    counts = []
    for url in (stack.outputs.get("QueueUrl"), stack.outputs.get("DlqUrl")):
        try:
            c = _queue_counts(sqs, url) if url else {}
        except ClientError:
            c = {}
        counts.append(sum(c.values()))
    return counts[0], counts[1]


def _stop_workflows(target: AwsTarget, stack: BufferStack, progress: Progress | None) -> None:
    """Stop running enable-replay executions: one waiting for a restore would outlive the stack."""
    arn = stack.state_machine_arn
    if not arn:
        return
    sfn = target.client("stepfunctions")
    try:
        running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
        for execution in running:
            _say(progress, f"stopping the enable-replay execution {execution['name']}")
            sfn.stop_execution(
                executionArn=execution["executionArn"], error="BufferTornDown", cause="the buffer stack is being deleted"
            )
    except ClientError as exc:
        if _code(exc) not in ("StateMachineDoesNotExist", "ExecutionDoesNotExist"):
            raise _aws_failure(exc, f"stopping the executions of {arn}", "stop them by hand, then retry") from exc
