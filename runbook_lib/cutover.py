"""Step 05: cut over safely, then take the buffer down.

The application must stop writing to the source before replay stops, or its last writes are lost.
So cutover first waits until no new change has reached the source's stream for a quiet period
(read from the stream itself, from ``LATEST``, so only new writes count), up to a timeout; if
writes keep coming it stops with an error telling the operator to stop the writers (``force``
overrides). Then it confirms the buffer has drained and the DLQ is empty, turns replay off, and
tears the stack down, verifying that nothing is left behind. Drained means the queue is empty AND
the forwarder has caught up with the stream (``buffer.BufferStatus.drained``: its Lambda
``IteratorAge`` within ``buffer.LAG_TOLERANCE_SECONDS``, no failed invocation in the newest
minute): an empty queue alone says nothing of the changes still waiting in the stream, and replay
turned off then would lose them.

With a switch (``switch``: an SSM parameter the application reads its table name from,
:mod:`runbook_lib.switch`), once replay is off and the target's settings are checked, the restored
table's name is written into it; never while writes still reach the source or the buffer holds
changes (``CutoverError``, exit 2, nothing changed, unless ``force_switch``). Then the stack is
deleted, and where the target has a stream the first write the application makes there is looked
for. The write-unavailability window (:class:`run_state.Downtime`) is recorded as it goes: from
the last write seen on the source's stream, through the quiet period, the drain, the settings and
the switch, to the first write seen on the target.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from . import buffer, monitor
from . import progress as progress_bar
from . import run_state
from . import switch as switch_lib
from . import times
from .aws.clients import AwsTarget
from .aws.streams import stream_shards
from .errors import BufferError, CutoverError, InputError, PreconditionError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuietReport:
    quiet: bool
    waited_seconds: float
    writes_seen: int  # stream records seen while waiting (counts only)
    #: the newest ``ApproximateCreationDateTime`` among them (DynamoDB Streams rounds it down to the second)
    last_write: object = None


def _open_shard_iterators(streams, stream_arn: str) -> list[str]:
    return [
        streams.get_shard_iterator(StreamArn=stream_arn, ShardId=s["ShardId"], ShardIteratorType="LATEST")["ShardIterator"]
        for s in stream_shards(streams, stream_arn).open_shards
    ]


def wait_for_quiet(
    target: AwsTarget,
    source_table: str,
    *,
    quiet_seconds: float = 30.0,
    timeout: float = 600.0,
    poll_seconds: float = 1.0,
    progress: Callable[[str], None] | None = None,
    on_watching: Callable[[], None] | None = None,
) -> QuietReport:
    """Wait until no change reaches the source's stream for ``quiet_seconds`` (up to ``timeout``).
    ``on_watching`` is called once the stream is watched (its iterators open): from then on every
    write is seen, so that is when the writers are told to stop."""
    ddb = target.client("dynamodb")
    desc = ddb.describe_table(TableName=source_table)["Table"]
    stream_arn = desc.get("LatestStreamArn")
    if not stream_arn or not desc.get("StreamSpecification", {}).get("StreamEnabled"):
        raise PreconditionError(f"table {source_table} has no stream: cannot tell whether writers have stopped", table=source_table)
    streams = target.client("dynamodbstreams")
    iterators = _open_shard_iterators(streams, stream_arn)
    if on_watching is not None:
        on_watching()
    started = last_write = time.monotonic()
    seen = 0
    newest = None
    bar = progress_bar.wait(f"quiet on {source_table}", timeout=timeout, total=quiet_seconds, unit="s without a write",
                           show=progress is None)
    while True:
        # read first, then judge: a write that reached the stream since the last read (during the
        # sleep) must be seen before the period can be called quiet
        next_iterators = []
        for it in iterators:
            if it is None:
                continue
            resp = streams.get_records(ShardIterator=it, Limit=1000)
            records = resp.get("Records", [])
            if records:
                seen += len(records)
                last_write = time.monotonic()
                newest = max([t for t in (newest, *(_record_time(r) for r in records)) if t is not None], default=None)
            next_iterators.append(resp.get("NextShardIterator"))
        iterators = [i for i in next_iterators if i] or _open_shard_iterators(streams, stream_arn)
        now = time.monotonic()
        bar.update(min(now - last_write, quiet_seconds), status=f"{seen} new write(s) seen")
        if progress:
            progress(f"{seen} new write(s) seen; quiet for {now - last_write:.0f}/{quiet_seconds:.0f} s")
        if now - last_write >= quiet_seconds:
            bar.close(ok=True)
            return QuietReport(True, now - started, seen, newest)
        if now - started >= timeout:
            bar.close(ok=False)
            return QuietReport(False, now - started, seen, newest)
        time.sleep(min(poll_seconds, max(0.05, quiet_seconds - (now - last_write))))


def _record_time(record: dict):
    when = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    return times.to_utc(when, "ApproximateCreationDateTime") if when is not None else None


@dataclass(frozen=True)
class CutoverReport:
    executed: bool
    quiet: QuietReport | None
    drained: bool
    replay_disabled: bool
    teardown: buffer.TeardownReport | None
    steps: tuple[str, ...] = field(default_factory=tuple)
    switch: switch_lib.SwitchOutcome | None = None
    downtime: run_state.Downtime | None = None

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame({"step": list(self.steps)})


def cutover(
    target: AwsTarget,
    stack: buffer.BufferStack,
    *,
    run_dir=None,
    execute: bool = False,
    quiet_seconds: float = 30.0,
    timeout: float = 600.0,
    drain_timeout: float = 600.0,
    force: bool = False,
    teardown: bool = True,
    progress: Callable[[str], None] | None = None,
    cfn_role_arn: str | None = None,
    switch: str | None = None,
    force_switch: bool = False,
    settings_check: Callable[[], object] | None = None,
    first_write_wait: float = 60.0,
    destination: AwsTarget | None = None,
    drain_required: bool = True,
) -> CutoverReport:
    """Quiet period, drained buffer, replay off, settings checked, the switch written, stack deleted
    and verified gone, the first write on the target looked for.

    ``cfn_role_arn``: the CloudFormation service role the stack is deleted with (``buffer.teardown``).
    ``switch``: the SSM parameter name the application reads its table from (None: no switch; the
    operator points the application by hand). ``force_switch`` writes it even when writes kept
    reaching the source or the buffer did not drain (and so implies ``force``); without it a switch
    is refused (``CutoverError``) before anything changes. ``settings_check`` re-checks the target's
    settings after the drain (the window's "settings" part). ``first_write_wait``: how long to look
    for the first write on the target's stream after the switch (0: do not look). ``destination``: the
    target table's side when it lives in another region (its stream is read there, and the switch
    names it by ARN: :func:`switch.table_reference`). ``drain_required=False`` (a drill's scratch
    table, which nothing reads afterwards, with ``force`` and no switch only): a buffer that does not
    drain within ``drain_timeout`` under writes that never stop does not stop the cutover; the
    report says it did not drain.
    """
    if not drain_required and (switch or not force):
        raise InputError("drain_required=False is for a drill's scratch table only: with force and without a switch")
    force = force or force_switch
    plan = [
        f"wait until no write reaches {stack.source_table}'s stream for {quiet_seconds:.0f} s (at most {timeout:.0f} s)",
        "confirm the buffer has drained (queue empty, the forwarder caught up with the stream) and the DLQ is empty",
        f"turn replay off (mapping {stack.queue_mapping_uuid})",
    ]
    if switch:
        plan.append(switch_lib.plan_line(switch, stack.target_table))
    if teardown:
        plan.append(f"delete stack {stack.stack_name} and verify nothing is left")
    if not execute:
        if switch:
            switch_lib.check_writable(switch_lib.read(target, switch))
        return CutoverReport(False, None, False, False, buffer.teardown(target, stack, execute=False) if teardown else None, tuple(plan))
    destination = destination or target
    value = None
    if switch:  # before the writers are asked to stop: a parameter the switch cannot write is said now,
        # and the value it will hold is known (across regions DescribeTable there: not during the downtime)
        switch_lib.check_writable(switch_lib.read(target, switch))
        value = switch_lib.table_reference(target, destination, stack.target_table)

    downtime = run_state.Downtime()
    quiet = wait_for_quiet(target, stack.source_table, quiet_seconds=quiet_seconds, timeout=timeout, progress=progress,
                           on_watching=lambda: _watching(run_dir, downtime))
    downtime.last_source_write, downtime.quiet = quiet.last_write, times.utcnow()
    _save_downtime(run_dir, downtime)
    if not quiet.quiet and not force:
        raise CutoverError(
            f"writes are still reaching {stack.source_table} ({quiet.writes_seen} in the last {quiet.waited_seconds:.0f} s): "
            "stop the application's writers first, then run cutover again (force=True cuts over anyway and "
            "loses every write that arrives after replay stops"
            + ("; the switch is written only with force_switch=True" if switch else "") + ")",
            table=stack.source_table,
            step="05_cutover",
        )
    if switch and not quiet.quiet and not force_switch:
        raise CutoverError(_refused(switch, f"writes are still reaching {stack.source_table}"), table=stack.source_table,
                           step="05_cutover")
    try:
        drain = monitor.follow_drain(
            target, stack, run_dir=run_dir, timeout=drain_timeout, sample_seconds=1.0, quiet_samples=2, require_empty=True
        )
    except BufferError:
        if drain_required:
            raise
        # a drill's scratch table: writes that never stop (a production table) never leave the queue empty;
        # replay is turned off anyway and what the buffer still holds is not applied (the report says so)
        drain = None
        log.warning("cutover with force: the buffer did not drain within %.0f s; replay is turned off anyway", drain_timeout)
    if drain is not None and (drain.dlq_depth or drain.stream_failures) and not force:
        raise CutoverError(
            f"{drain.dlq_depth} message(s) in the DLQ and {drain.stream_failures} stream failure(s): those changes were "
            f"not applied to {stack.target_table}. Inspect the DLQ ({stack.dlq_url}), fix the cause and redrive it, "
            "then run cutover again (force=True ignores them)",
            table=stack.target_table,
            step="05_cutover",
        )
    final = buffer.status(target, stack)
    if not final.drained and (not force or (switch and not force_switch)):
        raise CutoverError(
            f"the buffer of {stack.source_table} is not drained (queue depth {final.depth}, in flight {final.in_flight}, "
            f"forwarder {final.stream_lag_seconds} s behind the stream, {final.forwarder_errors} failed forwarder "
            f"invocation(s) in the newest minute): replay stays on; check the forwarder's log group, then run cutover "
            "again (force=True turns replay off anyway and loses the changes not yet applied"
            + ("; force_switch=True also writes the switch" if switch else "") + ")",
            table=stack.source_table,
            step="05_cutover",
        )
    buffer.disable_replay(target, stack)
    downtime.drained = times.utcnow()
    with run_state.edit(run_dir) as state:
        state.timings.cutover_done = downtime.drained
        state.downtime = downtime
    outcome = None
    if settings_check is not None:
        settings_check()
    downtime.settings = times.utcnow()
    _save_downtime(run_dir, downtime)
    watcher = TargetWrites.open(destination, stack.target_table) if switch and first_write_wait > 0 else None
    if switch:
        outcome = switch_lib.write_switch(target, switch, value, run_dir=run_dir)
        downtime.switched = outcome.record.switched
        _save_downtime(run_dir, downtime)
    report = tear_down(target, stack, run_dir=run_dir, cfn_role_arn=cfn_role_arn) if teardown else None
    if switch and first_write_wait > 0:
        look_for_first_write(watcher, downtime, first_write_wait)
        _save_downtime(run_dir, downtime)
    return CutoverReport(True, quiet, final.drained, True, report, tuple(plan), outcome, downtime)


def _refused(switch: str, why: str) -> str:
    return (f"{why}: SSM parameter {switch} is not changed while writes reach the source or the buffer holds "
            "changes (the application would read a table that misses them); nothing was changed. Stop the writers "
            "and run cutover again, or force_switch=True (--force-switch) to switch anyway")


def switch_after_resume(
    target: AwsTarget,
    source_table: str,
    target_table: str,
    switch: str,
    *,
    run_dir=None,
    stack: buffer.BufferStack | None = None,
    quiet_seconds: float = 30.0,
    timeout: float = 600.0,
    force_switch: bool = False,
    first_write_wait: float = 60.0,
    destination: AwsTarget | None = None,
) -> switch_lib.SwitchOutcome:
    """A run interrupted after replay was turned off, before its switch: the writers must still be
    stopped (quiet period again) and the queue empty (a change that reached it since would never be
    applied: replay is off), else the switch is refused (``CutoverError``) unless ``force_switch``."""
    state = run_state.load(run_dir) if run_dir is not None else run_state.RunState()
    destination = destination or target
    value = switch_lib.table_reference(target, destination, target_table)
    done = state.switch
    if done is not None and done.parameter == switch and done.value == value and done.version is not None \
            and done.undone is None:
        return switch_lib.SwitchOutcome(done, False)
    switch_lib.check_writable(switch_lib.read(target, switch))
    downtime = run_state.Downtime()
    quiet = wait_for_quiet(target, source_table, quiet_seconds=quiet_seconds, timeout=timeout,
                           on_watching=lambda: _watching(run_dir, downtime))
    downtime.last_source_write, downtime.quiet = quiet.last_write, times.utcnow()
    if not quiet.quiet and not force_switch:
        raise CutoverError(_refused(switch, f"writes are still reaching {source_table}"), table=source_table,
                           step="05_cutover")
    if stack is not None:
        status = buffer.status(target, stack)
        if (status.depth or status.in_flight) and not force_switch:
            raise CutoverError(_refused(switch, f"the buffer holds {status.depth + status.in_flight} change(s) that "
                                                "replay, turned off already, will not apply"),
                               table=source_table, step="05_cutover")
    watcher = TargetWrites.open(destination, target_table) if first_write_wait > 0 else None
    outcome = switch_lib.write_switch(target, switch, value, run_dir=run_dir)
    downtime.switched = outcome.record.switched
    if first_write_wait > 0:
        look_for_first_write(watcher, downtime, first_write_wait)
    _save_downtime(run_dir, downtime)
    return outcome


def _watching(run_dir, downtime: run_state.Downtime) -> None:
    """The source's stream is watched: the writers are told to stop now (the run state says so; the
    notebook's text tells the operator, and a drill's writers watch for it)."""
    downtime.quiet_wait_started = times.utcnow()
    _save_downtime(run_dir, downtime)
    log.info("cutover watches the source's stream: stop the application's writers now")


def _save_downtime(run_dir, downtime: run_state.Downtime) -> None:
    if run_dir is None:
        return
    with run_state.edit(run_dir) as state:
        state.downtime = downtime


@dataclass
class TargetWrites:
    """Shard iterators on the target's stream opened at ``LATEST`` just before the switch: the first
    record they return is the application's first write to the restored table."""

    streams: object
    iterators: list[str]
    note: str | None = None

    @classmethod
    def open(cls, target: AwsTarget, table: str) -> "TargetWrites":
        desc = target.client("dynamodb").describe_table(TableName=table)["Table"]
        stream_arn = desc.get("LatestStreamArn")
        if not stream_arn or not (desc.get("StreamSpecification") or {}).get("StreamEnabled"):
            return cls(None, [], f"{table} has no stream: the first write on it is not seen")
        streams = target.client("dynamodbstreams")
        return cls(streams, _open_shard_iterators(streams, stream_arn))

    def first(self):
        """The ``ApproximateCreationDateTime`` of the first record since the iterators were opened, or None."""
        found, iterators = None, []
        for it in self.iterators:
            resp = self.streams.get_records(ShardIterator=it, Limit=100)
            stamps = [t for t in (_record_time(r) for r in resp.get("Records", [])) if t is not None]
            if stamps:
                found = min([t for t in (found, *stamps) if t is not None])
            if resp.get("NextShardIterator"):
                iterators.append(resp["NextShardIterator"])
        self.iterators = iterators
        return found


def look_for_first_write(watcher: TargetWrites | None, downtime: run_state.Downtime, wait: float,
                         poll_seconds: float = 1.0) -> None:
    """Record in ``downtime`` the first write on the target's stream, looking for up to ``wait``
    seconds after the switch; or why it is not known. A record's time is rounded down to the second
    by DynamoDB Streams; one that reads before the switch is counted at the switch."""
    from botocore.exceptions import ClientError

    downtime.first_write_wait_seconds = wait
    if watcher is None or watcher.streams is None:
        downtime.first_write_note = watcher.note if watcher else "not looked for"
        return
    switched = downtime.switched or times.utcnow()
    deadline = time.monotonic() + max(0.0, wait - (times.utcnow() - switched).total_seconds())
    try:
        while True:
            first = watcher.first()
            if first is not None:
                downtime.first_target_write = max(first, switched)
                return
            if time.monotonic() >= deadline or not watcher.iterators:
                break
            time.sleep(poll_seconds)
    except ClientError as exc:  # an iterator that expired (15 min on AWS) during a long teardown
        from .aws.codes import error_code

        downtime.first_write_note = f"the target's stream could not be read ({error_code(exc)})"
        return
    downtime.first_write_note = (f"no write reached the target's stream within {wait:.0f} s of the switch: check that "
                                 "the application reads the parameter (its cache time) and writes again")


def tear_down(target: AwsTarget, stack: buffer.BufferStack, *, run_dir=None, cfn_role_arn: str | None = None) -> buffer.TeardownReport:
    """Delete the stack (``buffer.teardown``, which raises ``BufferError`` naming anything left behind)
    and record the outcome in the run state. A teardown that did not verify the account is clean
    is refused rather than recorded as done."""
    report = buffer.teardown(target, stack, execute=True, cfn_role_arn=cfn_role_arn)
    if not report.clean:
        raise CutoverError(
            f"stack {stack.stack_name} was deleted but the teardown did not verify that nothing is left "
            f"({len(report.resources)} resource(s) to check: {', '.join(report.resources) or 'none listed'}): "
            "run buffer.teardown again, and delete by hand what it names",
            step="05_cutover",
        )
    if run_dir is not None:
        with run_state.edit(run_dir) as state:
            state.teardown = run_state.Teardown(clean=report.clean, resources=list(report.resources))
    return report
