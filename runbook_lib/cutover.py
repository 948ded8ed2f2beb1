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
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from . import buffer, monitor
from . import progress as progress_bar
from . import run_state
from . import times
from .aws.clients import AwsTarget
from .aws.streams import stream_shards
from .errors import CutoverError, PreconditionError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuietReport:
    quiet: bool
    waited_seconds: float
    writes_seen: int  # stream records seen while waiting (counts only)


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
) -> QuietReport:
    """Wait until no change reaches the source's stream for ``quiet_seconds`` (up to ``timeout``)."""
    ddb = target.client("dynamodb")
    desc = ddb.describe_table(TableName=source_table)["Table"]
    stream_arn = desc.get("LatestStreamArn")
    if not stream_arn or not desc.get("StreamSpecification", {}).get("StreamEnabled"):
        raise PreconditionError(f"table {source_table} has no stream: cannot tell whether writers have stopped", table=source_table)
    streams = target.client("dynamodbstreams")
    iterators = _open_shard_iterators(streams, stream_arn)
    started = last_write = time.monotonic()
    seen = 0
    bar = progress_bar.wait(f"quiet on {source_table}", timeout=timeout, total=quiet_seconds, unit="s without a write",
                           show=progress is None)
    while True:
        now = time.monotonic()
        bar.update(min(now - last_write, quiet_seconds), status=f"{seen} new write(s) seen")
        if now - last_write >= quiet_seconds:
            bar.close(ok=True)
            return QuietReport(True, now - started, seen)
        if now - started >= timeout:
            bar.close(ok=False)
            return QuietReport(False, now - started, seen)
        next_iterators = []
        for it in iterators:
            if it is None:
                continue
            resp = streams.get_records(ShardIterator=it, Limit=1000)
            records = resp.get("Records", [])
            if records:
                seen += len(records)
                last_write = time.monotonic()
            next_iterators.append(resp.get("NextShardIterator"))
        iterators = [i for i in next_iterators if i] or _open_shard_iterators(streams, stream_arn)
        if progress:
            progress(f"{seen} new write(s) seen; quiet for {time.monotonic() - last_write:.0f}/{quiet_seconds:.0f} s")
        time.sleep(poll_seconds)


@dataclass(frozen=True)
class CutoverReport:
    executed: bool
    quiet: QuietReport | None
    drained: bool
    replay_disabled: bool
    teardown: buffer.TeardownReport | None
    steps: tuple[str, ...] = field(default_factory=tuple)

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
) -> CutoverReport:
    """Quiet period, drained buffer, replay off, stack deleted and verified gone.

    ``cfn_role_arn``: the CloudFormation service role the stack is deleted with (``buffer.teardown``).
    """
    plan = [
        f"wait until no write reaches {stack.source_table}'s stream for {quiet_seconds:.0f} s (at most {timeout:.0f} s)",
        "confirm the buffer has drained (queue empty, the forwarder caught up with the stream) and the DLQ is empty",
        f"turn replay off (mapping {stack.queue_mapping_uuid})",
    ]
    if teardown:
        plan.append(f"delete stack {stack.stack_name} and verify nothing is left")
    if not execute:
        return CutoverReport(False, None, False, False, buffer.teardown(target, stack, execute=False) if teardown else None, tuple(plan))

    quiet = wait_for_quiet(target, stack.source_table, quiet_seconds=quiet_seconds, timeout=timeout, progress=progress)
    if not quiet.quiet and not force:
        raise CutoverError(
            f"writes are still reaching {stack.source_table} ({quiet.writes_seen} in the last {quiet.waited_seconds:.0f} s): "
            "stop the application's writers first, then run cutover again (force=True cuts over anyway and "
            "loses every write that arrives after replay stops)",
            table=stack.source_table,
            step="05_cutover",
        )
    drain = monitor.follow_drain(
        target, stack, run_dir=run_dir, timeout=drain_timeout, sample_seconds=1.0, quiet_samples=2, require_empty=True
    )
    if (drain.dlq_depth or drain.stream_failures) and not force:
        raise CutoverError(
            f"{drain.dlq_depth} message(s) in the DLQ and {drain.stream_failures} stream failure(s): those changes were "
            f"not applied to {stack.target_table}. Inspect the DLQ ({stack.dlq_url}), fix the cause and redrive it, "
            "then run cutover again (force=True ignores them)",
            table=stack.target_table,
            step="05_cutover",
        )
    final = buffer.status(target, stack)
    if not final.drained and not force:
        raise CutoverError(
            f"the buffer of {stack.source_table} is not drained (queue depth {final.depth}, in flight {final.in_flight}, "
            f"forwarder {final.stream_lag_seconds} s behind the stream, {final.forwarder_errors} failed forwarder "
            f"invocation(s) in the newest minute): replay stays on; check the forwarder's log group, then run cutover "
            "again (force=True turns replay off anyway and loses the changes not yet applied)",
            table=stack.source_table,
            step="05_cutover",
        )
    buffer.disable_replay(target, stack)
    if run_dir is not None:
        with run_state.edit(run_dir) as state:
            state.timings.cutover_done = times.utcnow()
    report = tear_down(target, stack, run_dir=run_dir, cfn_role_arn=cfn_role_arn) if teardown else None
    return CutoverReport(True, quiet, True, True, report, tuple(plan))


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
