"""``drill --with-buffer`` (issue 13): how a difference is classified when a buffer replays a source whose
writers never stop, the buffer's horizon, the stream the buffer needs, and which stacks cleanup may take."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from runbook_lib import monitor
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.drills.buffer_drill import require_stream
from runbook_lib.errors import InputError, PreconditionError
from runbook_lib.reconcile import pipeline
from runbook_lib.reconcile.classify import classify
from runbook_lib.reconcile.reread import _Open
from runbook_lib.reconcile.result import EXPLAINED, IN_FLIGHT, UNEXPLAINED
from runbook_lib.reconcile.values import key_id

T = datetime(2026, 12, 1, 0, 0, 0, tzinfo=timezone.utc)
HORIZON = T + timedelta(seconds=30)


def _classified(entry: _Open, changed: datetime, explain_from: datetime | None = HORIZON) -> str:
    key = {"pk": {"S": "k1"}}
    return classify({key_id(key): entry}, changes={key_id(key): changed}, restore_time=T,
                    replay_from=T + timedelta(minutes=5), key_names=("pk",), key_digest=None, redact_keys=False,
                    show_values=False, live_source=True, explain_from=explain_from).differences[0].classification


@pytest.mark.parametrize("moving, target_moving", [(False, False), (True, False), (True, True)])
def test_with_a_buffer_a_write_after_its_horizon_explains_a_difference_whichever_side_moves(moving, target_moving):
    entry = _Open(b"s", b"t", moving=moving, target_moving=target_moving)
    assert _classified(entry, HORIZON + timedelta(seconds=2)) == EXPLAINED
    assert _classified(entry, HORIZON.replace(microsecond=0)) == EXPLAINED  # stream times are whole seconds


def test_with_a_buffer_a_difference_on_a_key_last_written_before_its_horizon_is_unexplained():
    """The buffer had applied every change older than its horizon: the key should match. Without a
    buffer the same write since T explains it (the scratch table is not written)."""
    settled = _Open(b"s", b"t")
    changed = T + timedelta(seconds=10)  # after T, before the horizon
    assert _classified(settled, changed) == UNEXPLAINED
    assert _classified(settled, changed, explain_from=None) == EXPLAINED
    assert _classified(_Open(b"s", b"t", moving=True, target_moving=True), changed) == IN_FLIGHT


def test_the_buffer_s_horizon_is_its_first_caught_up_sample_less_its_lag_and_the_metric_s_staleness():
    samples = tuple({"t": f"2026-12-01T00:01:0{n}Z", "stream_lag": lag} for n, lag in ((0, 50.0), (1, 3.0), (2, 1.0)))
    drain = monitor.DrainResult(True, 3.0, samples, 0, 0)
    aws, sandbox = AwsTarget("us-east-1"), AwsTarget("us-east-1", "http://127.0.0.1:5000")
    first = datetime(2026, 12, 1, 0, 1, 1, tzinfo=timezone.utc)
    assert monitor.applied_until(aws, drain, quiet_samples=2) == first - timedelta(seconds=3 + 120)
    assert monitor.applied_until(sandbox, drain, quiet_samples=2) == first - timedelta(seconds=3 + 2)


def test_a_horizon_goes_with_a_live_source_only():
    with pytest.raises(InputError, match="live_source"):
        pipeline._prepare("orders", "orders-drill-x", restore_time=T, replay_from=None, last_changes=None, segments=1,
                          rate_limit=None, reread_rounds=1, show_values=False, redact_keys=False, key_digest=None,
                          key_digest_secret_arn=None, sample_size=0, progress=None, method="scan", exports=None,
                          incremental=None, live_source=False, applied_until=lambda: T)


@pytest.mark.parametrize("spec, message", [
    ({}, "has no stream"),
    ({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}, "LatestStreamArn": "arn:s"},
     "StreamViewType KEYS_ONLY"),
])
def test_the_buffer_needs_a_stream_with_old_and_new_images(spec, message):
    with pytest.raises(PreconditionError, match=message):
        require_stream({"TableName": "orders", **spec})
    ok = {"TableName": "orders", "LatestStreamArn": "arn:s",
          "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    assert require_stream(ok) == "arn:s"


def test_cleanup_without_list_stacks_still_deletes_the_tables_and_says_why_stacks_were_not_checked():
    """An operator policy rendered before cleanup looked for buffer stacks has no cloudformation:ListStacks."""
    from botocore.exceptions import ClientError

    import importlib

    cleanup_mod = importlib.import_module("runbook_lib.drills.cleanup")  # the package exports the function by that name

    class Denied:
        def get_paginator(self, name):
            class Pages:
                def paginate(self):
                    raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: "
                                                 "cloudformation:ListStacks"}}, "ListStacks")
            return Pages()

    class Target:
        def client(self, service):
            return Denied()

    report = cleanup_mod.CleanupReport(deleted=["orders-drill-20260101T000000Z"])
    cleanup_mod._buffer_stacks(Target(), report, None, datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert report.stacks_deleted == [] and "FindDrillBufferStacks" in report.stacks_unchecked
    assert "deleted orders-drill-20260101T000000Z (due)" in report.lines()
    assert any(line.startswith("buffer stacks not checked: cloudformation:ListStacks was refused (AccessDenied)")
               for line in report.lines())


def test_the_report_of_a_drill_with_the_buffer_says_so_and_what_becomes_of_the_scratch_table_after_the_cutover():
    """report.html is written in step 04, before the drill deletes (or keeps) the scratch table."""
    from types import SimpleNamespace

    from runbook_lib.report.drill_facts import DrillFacts
    from runbook_lib.report.html import drill_rows

    def rows(**facts):
        return dict(drill_rows(SimpleNamespace(drill=DrillFacts.of({"mode": "restore", "scratch_table": "orders-drill-x",
                                                                    **facts}))))

    with_buffer = rows(with_buffer=True, keep_for_seconds=0.0)
    assert "forced cutover" in with_buffer["whole runbook on it"]
    assert with_buffer["scratch table afterwards"].startswith("to be deleted after the cutover")
    assert rows(with_buffer=True, keep_for_seconds=7200.0)["scratch table afterwards"].startswith("to be kept for 2 h")
    plain = rows(keep_for_seconds=0.0)
    assert "whole runbook on it" not in plain and plain["scratch table afterwards"] == "not deleted"
    assert DrillFacts.of({"mode": "restore", "with_buffer": True}).to_json()["with_buffer"] is True


def test_a_passing_drill_whose_buffer_dead_lettered_changes_fails_its_check_and_exits_1(tmp_path):
    """The horizon explains keys still written after it: the buffer's own accounting (DLQ, poison) is
    what shows a hot key whose every change was lost, so a drill with either fails."""
    import io
    import json
    import time

    from runbook_lib import console, run_state, runner
    from runbook_lib.drills import buffer_drill

    run_state.save(tmp_path, run_state.RunState())
    for dead, expected in ((0, 0), (2, 1)):
        (tmp_path / "summary.json").write_text(json.dumps({
            "verdict": "PASS", "buffer": {"applied": 40, "dead_lettered": dead, "poison": 0},
            "drill": {"checks": [{"check": "verdict", "ok": True, "detail": "PASS"}]}}))
        result = runner.RunResult(run_dir=str(tmp_path), steps_done=[], exit_code=0, verdict="PASS")
        out = console.Console(io.StringIO(), bars=False)
        done = buffer_drill._finish(tmp_path, result, out, time.monotonic())
        checks = json.loads((tmp_path / "summary.json").read_text())["drill"]["checks"]
        assert done.exit_code == expected, checks
        assert [c["check"] for c in checks if not c["ok"]] == (["buffer_applied_everything"] if dead else [])
