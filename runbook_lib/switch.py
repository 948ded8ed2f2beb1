"""The switch the application reads: an SSM parameter holding the name of the table it writes to.

``--switch ssm:/path/to/parameter`` (notebook parameter ``switch`` of 05_cutover): at cutover, once
the writers have stopped and the buffer has drained, :func:`write_switch` puts the restored table's
name into the parameter (``PutParameter``, ``Type=String``), after saving what the parameter held
(its value and version, or that it did not exist) in the run state (:class:`run_state.Switch`).
:func:`undo` (``pitr-runbook cutover --undo --run-dir DIR``) puts that back: the old value written
over it, or the parameter deleted when it did not exist before; it refuses a parameter that someone
changed after the switch (its version is not the one the switch wrote) unless forced.

What the AWS Systems Manager API Reference says, and what this module does with it
("PutParameter", "GetParameter", "DeleteParameter",
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html,
.../API_GetParameter.html, .../API_DeleteParameter.html):

- ``PutParameter`` without ``Overwrite`` (default false) on an existing name answers
  ``ParameterAlreadyExists``; with it, a new version (the answer's ``Version``, one more each
  time). ``Type`` is required to create, not to update; Parameter Store does not change a
  parameter's type (``HierarchyTypeMismatchException``). The switch creates with ``Type=String``
  when the parameter does not exist (``Overwrite`` false: a parameter created meanwhile by someone
  else is not overwritten), and overwrites a ``String`` parameter without naming a type.
- ``GetParameter`` of a missing name answers ``ParameterNotFound`` (and ``DeleteParameter`` too);
  the answer carries ``Type``, ``Value`` and ``Version``.
- There is no conditional put: between reading the version and writing, someone else may write.
  The undo's version check narrows that window to one round trip; it cannot close it.
- ``SecureString`` is refused (a table name is no secret; reading and writing one would need
  ``kms:Decrypt``/``kms:Encrypt`` on its key, which the operator policy does not grant), and so is
  ``StringList`` (the application reads one table name). The remedy names a ``String`` parameter.

Across regions (``--target-region``) the value is the restored table's ARN, not its name
(:func:`table_reference`): a name alone would send the application, still in the source's region,
to a table that does not exist there. The ARN carries the region (``arn:PARTITION:dynamodb:REGION:
ACCOUNT:table/NAME``, "Amazon Resource Names", IAM User Guide), so the application's few lines
(README, "The switch") take the region and the name from it.

The parameter is never changed while writes still reach the source or the buffer holds changes:
:mod:`runbook_lib.cutover` calls :func:`write_switch` only after its quiet period and drain, and
refuses (``CutoverError``, exit 2, the parameter untouched) otherwise unless ``force_switch``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from botocore.exceptions import ClientError

from . import run_state, times
from .aws.clients import AwsTarget
from .aws.codes import error_code, error_message
from .errors import CutoverError, InputError, PreconditionError

log = logging.getLogger(__name__)

SCHEME = "ssm:"
#: the parameter type the switch writes and reads
STRING = "String"
#: "Parameter names can include only the following symbols and letters: a-zA-Z0-9_.-" and "/" for
#: hierarchies; not prefixed with "aws" or "ssm"; at most 15 levels; 1011 characters with the ARN's
#: prefix (PutParameter's ``Name``, AWS Systems Manager API Reference)
_NAME = re.compile(r"^/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
MAX_LEVELS = 15
#: 1011 less the longest ARN prefix: partition aws-us-gov, region us-gov-west-1 (56 characters with the
#: account and "parameter/"), so a name fits in every partition
MAX_NAME = 1011 - 56


def parse(text: str | None) -> str | None:
    """The parameter name of ``ssm:/path/to/parameter``; None for None or ``""``. Raises ``InputError``."""
    if text is None or text == "":
        return None
    if not text.startswith(SCHEME):
        raise InputError(f"switch {text!r}: give it as ssm:/path/to/parameter (an SSM parameter the application "
                         "reads its table name from)")
    name = text[len(SCHEME):]
    check_name(name)
    return name


def check_name(name: str) -> str:
    """``name`` if Parameter Store takes it as a parameter name; else ``InputError`` naming the rule."""
    bare = name.lstrip("/").lower()
    if not _NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise InputError(f"SSM parameter name {name!r}: only letters, digits, _ . - and / between levels "
                         f"(a leading / for a hierarchy), at most {MAX_NAME} characters")
    if bare.startswith("aws") or bare.startswith("ssm"):
        raise InputError(f"SSM parameter name {name!r}: a name can't be prefixed with \"aws\" or \"ssm\"")
    if name.strip("/").count("/") + 1 > MAX_LEVELS:
        raise InputError(f"SSM parameter name {name!r}: at most {MAX_LEVELS} levels")
    return name


def parameter_arn(name: str, *, partition: str, region: str, account: str) -> str:
    """The parameter's ARN, as IAM checks it: ``parameter/`` then the name without its leading slash."""
    return f"arn:{partition}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


@dataclass(frozen=True)
class ParameterValue:
    """What ``GetParameter`` said about a parameter (``exists`` False: ``ParameterNotFound``)."""

    name: str
    exists: bool
    value: str | None = None
    version: int | None = None
    type: str | None = None


def read(target: AwsTarget, name: str) -> ParameterValue:
    """The parameter as it stands (``GetParameter``, no decryption)."""
    ssm = target.client("ssm")
    try:
        p = ssm.get_parameter(Name=name)["Parameter"]
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return ParameterValue(name, False)
        raise
    return ParameterValue(name, True, p.get("Value"), int(p["Version"]), p.get("Type"))


def check_writable(current: ParameterValue) -> None:
    """A ``String`` parameter or none: anything else is refused with the remedy (``PreconditionError``)."""
    if current.exists and current.type != STRING:
        raise PreconditionError(
            f"SSM parameter {current.name} is a {current.type}, not a String: the switch writes one table name as a "
            "String (a SecureString would need kms:Decrypt and kms:Encrypt on its key, and Parameter Store does not "
            "change a parameter's type); give --switch a String parameter the application reads",
            code="HierarchyTypeMismatchException" if current.type == "SecureString" else None,
        )


def table_reference(source: AwsTarget, destination: AwsTarget | None, table: str) -> str:
    """What the switch writes for ``table``: its name when it lives in the source's region, its ARN
    (``TableArn`` of ``DescribeTable`` where it lives) when ``destination`` is another region."""
    if destination is None or destination.region_name == source.region_name:
        return table
    return destination.client("dynamodb").describe_table(TableName=table)["Table"]["TableArn"]


def plan_line(name: str, table: str) -> str:
    return f"write {table} into SSM parameter {name} (the application's table), the value before kept in the run state"


@dataclass(frozen=True)
class SwitchOutcome:
    """What :func:`write_switch` did: ``written`` (this call wrote it) or found done (a resumed run)."""

    record: run_state.Switch
    written: bool

    def line(self) -> str:
        r = self.record
        before = f"{r.previous_value!r} (version {r.previous_version})" if r.previous_exists else "nothing (created)"
        verb = "switched" if self.written else "already switched by this run"
        return f"{verb}: SSM parameter {r.parameter} = {r.value!r}, version {r.version}; before: {before}"


def write_switch(target: AwsTarget, name: str, table: str, *, run_dir=None) -> SwitchOutcome:
    """Write ``table`` into parameter ``name``, once per run.

    1. The run state already holds a switch to ``table`` with its version: done (nothing written).
    2. Otherwise the parameter is read; what it holds is saved in the run state *before* writing
       (unless a switch interrupted between the two holds it already), so that a kill after the
       write still leaves the value to undo to.
    3. A run interrupted after the write: the parameter holds ``table`` at the version after the
       one saved; that version is recorded and nothing is written again.
    4. ``PutParameter``: ``Overwrite`` for an existing String parameter, ``Type=String`` without
       ``Overwrite`` for a new one (a parameter someone created meanwhile answers
       ``ParameterAlreadyExists``: refused, nothing changed).
    """
    state = run_state.load(run_dir) if run_dir is not None else run_state.RunState()
    record = state.switch
    if record is not None and record.parameter == name and record.value == table and record.version is not None \
            and record.undone is None:
        return SwitchOutcome(record, False)
    current = read(target, name)
    check_writable(current)
    if record is None or record.parameter != name or record.value != table or record.undone is not None:
        record = run_state.Switch(parameter=name, value=table, previous_exists=current.exists,
                                  previous_value=current.value, previous_version=current.version)
        _save(run_dir, record)
    elif current.exists and current.value == table and current.version == (record.previous_version or 0) + 1:
        # step 3: the write of an interrupted run went through; record it, do not write again
        record.version, record.switched = current.version, times.utcnow()
        _save(run_dir, record)
        log.info("switch found written by the interrupted run: %s version %s", name, current.version)
        return SwitchOutcome(record, False)
    elif (current.exists, current.version) != (record.previous_exists, record.previous_version):
        raise CutoverError(
            f"SSM parameter {name} changed since this run read it (version {record.previous_version} -> "
            f"{current.version if current.exists else 'deleted'}): someone else is writing it; find out who, then run "
            "cutover again (the run state keeps the value it held before)",
            step="05_cutover",
        )
    ssm = target.client("ssm")
    try:
        if current.exists:
            answer = ssm.put_parameter(Name=name, Value=table, Overwrite=True)
        else:
            answer = ssm.put_parameter(Name=name, Value=table, Type=STRING, Overwrite=False)
    except ClientError as exc:
        if error_code(exc) == "ParameterAlreadyExists":
            raise CutoverError(
                f"SSM parameter {name} was created by someone else while cutover ran (ParameterAlreadyExists): "
                "nothing was overwritten; find out who writes it, then run cutover again",
                step="05_cutover", code="ParameterAlreadyExists",
            ) from None
        if error_code(exc) in ("InvalidAllowedPatternException", "ParameterPatternMismatchException"):
            # the reference words the first as the value not meeting the pattern, the second as a name
            # not valid; which one AWS answers for a value its stored AllowedPattern refuses is not said
            raise PreconditionError(
                f"SSM parameter {name} refused {table!r} ({error_code(exc)}: {error_message(exc)}): nothing was written; "
                "if the parameter has an AllowedPattern, widen it (or give --switch another parameter), then run "
                "cutover again", code=error_code(exc),
            ) from None
        if error_code(exc) == "HierarchyTypeMismatchException":
            raise PreconditionError(
                f"SSM parameter {name} changed type while cutover ran (HierarchyTypeMismatchException): give --switch "
                "a String parameter", code="HierarchyTypeMismatchException",
            ) from None
        raise
    record.version, record.switched = int(answer["Version"]), times.utcnow()
    _save(run_dir, record)
    log.info("switch written: %s version %s", name, record.version)
    return SwitchOutcome(record, True)


def _save(run_dir, record: run_state.Switch) -> None:
    with run_state.edit(run_dir) as state:
        state.switch = record


@dataclass(frozen=True)
class UndoOutcome:
    parameter: str
    action: str  # "restored" | "deleted" | "nothing"
    version: int | None
    line: str


def undo(target: AwsTarget, run_dir, *, force: bool = False) -> UndoOutcome:
    """Put the parameter back as it was before this run's switch (``pitr-runbook cutover --undo``).

    Refused (``PreconditionError``, exit 2, nothing changed) when the run state holds no switch, when
    it was undone already, and, unless ``force``, when the parameter is no longer at the version the
    switch wrote (someone changed or deleted it since: their value would be lost)."""
    state = run_state.load(run_dir)
    record = state.switch
    if record is None or record.version is None:
        raise PreconditionError(f"the run in {run_dir} did not switch an SSM parameter: nothing to undo")
    if record.undone is not None:
        raise PreconditionError(
            f"SSM parameter {record.parameter} was put back by this run already ({record.undo}, "
            f"{times.iso(record.undone)}): nothing to undo")
    current = read(target, record.parameter)
    if not force and (not current.exists or current.version != record.version):
        now = f"version {current.version} ({current.value!r})" if current.exists else "deleted"
        raise PreconditionError(
            f"SSM parameter {record.parameter} changed since the switch (version {record.version} -> {now}): someone "
            "else wrote it, and an undo would overwrite their value; check with them, then run cutover --undo --force "
            "to put back the value before the switch anyway",
        )
    ssm = target.client("ssm")
    if record.previous_exists:
        check_writable(current)
        if current.exists:
            answer = ssm.put_parameter(Name=record.parameter, Value=record.previous_value, Overwrite=True)
        else:
            answer = ssm.put_parameter(Name=record.parameter, Value=record.previous_value, Type=STRING, Overwrite=False)
        action, version = "restored", int(answer["Version"])
        line = (f"SSM parameter {record.parameter} = {record.previous_value!r} again (version {version}); the application "
                f"picks it up within its cache time")
    elif current.exists:
        try:
            ssm.delete_parameter(Name=record.parameter)
        except ClientError as exc:
            if error_code(exc) != "ParameterNotFound":
                raise
        action, version = "deleted", None
        line = f"SSM parameter {record.parameter} deleted: it did not exist before the switch"
    else:
        action, version = "nothing", None
        line = f"SSM parameter {record.parameter} did not exist before the switch and does not now: nothing to do"
    with run_state.edit(run_dir) as state:
        if state.switch is not None:
            state.switch.undone, state.switch.undo, state.switch.undo_version = times.utcnow(), action, version
    return UndoOutcome(record.parameter, action, version, line)


__all__ = ["ParameterValue", "SwitchOutcome", "UndoOutcome", "check_name", "check_writable",
           "parameter_arn", "parse", "plan_line", "read", "undo", "write_switch"]
