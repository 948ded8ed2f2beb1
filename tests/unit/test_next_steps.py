"""One test per "what to do next" rule (runbook_lib/report/next_steps.py): the rule applies exactly
when its cause is in the run, and names the command or notebook cell for this run's kind and mode.
The summaries come from the golden cases (test_report_golden.py), varied one field at a time."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from runbook_lib.reconcile import CHANGED, EXTRA, MISSING, PASS, UNEXPLAINED
from runbook_lib.report import next_steps as ns
from runbook_lib.report import summarize
from runbook_lib.report.accounting import BufferAccounting
from runbook_lib.report.summary import DifferenceRow
from test_report_golden import CASES, T


def summary(case: str, **changes):
    rec, state, run_dir = CASES[case]()
    return dataclasses.replace(summarize(rec, state, run_dir=run_dir), **changes)


def rules(s) -> dict[str, ns.NextStep]:
    return {step.rule: step for step in ns.next_steps(s)}


def row(kind: str, classification: str = UNEXPLAINED, key_hash: str = "") -> DifferenceRow:
    return DifferenceRow('{"pk":{"S":"a"}}', key_hash, kind, classification, ("pk",), None, None, None)


def test_a_pass_with_nothing_in_flight_and_every_drill_check_met_has_no_next_step():
    for case in ("reconcile-pass", "run-pass", "drill-pass"):
        assert ns.next_steps(summary(case)) == ()


@pytest.mark.parametrize("case, command", [
    ("reconcile-fail", "pitr-runbook reconcile --source-table orders --target-table orders-backup --region eu-west-1"),
    ("run-fail", "pitr-runbook run --source-table orders --target-table orders-restored --restore-time "
                 "2026-11-28T05:00:00Z --replay-from 2026-11-28T05:10:00Z --region eu-west-1 --execute --run-dir "
                 "runs/orders-20261128"),
    ("drill-fail", "pitr-runbook drill --mode catchup --items 150 --fault applier-crash --rto-target 300 --runs-dir runs"),
])
def test_keys_in_flight_say_reconcile_again_once_writes_stop_with_this_runs_command(case, command):
    assert ns.IN_FLIGHT not in rules(summary(case, in_flight=0))
    step = rules(summary(case, in_flight=3))[ns.IN_FLIGHT]
    assert "3 keys" in step.title and step.commands[0] == command
    if case == "run-fail":  # the notebook cell too, in the same run directory
        assert "notebooks/04_reconcile.ipynb" in step.commands[1] and "runs/orders-20261128" in step.commands[1]


def test_keys_in_flight_alone_make_a_pass_verdict_need_a_next_step():
    assert ns.IN_FLIGHT in rules(summary("reconcile-pass", in_flight=1))


def test_a_non_empty_dlq_names_the_redrive_in_03_and_the_applier_log_group():
    s = summary("run-fail")
    step = rules(s)[ns.DLQ]
    assert "2 changes" in step.title
    assert step.commands[0].startswith("aws logs filter-log-events --log-group-name /aws/lambda/pitr-orders-applier")
    assert "notebooks/03_monitor.ipynb with redrive_dlq = True, execute = True, run_dir = 'runs/orders-20261128'" in step.commands[1]
    assert ns.DLQ not in rules(dataclasses.replace(s, buffer=dataclasses.replace(s.buffer, dead_lettered=0)))


def test_a_dlq_in_a_drill_says_the_sandbox_is_gone_and_reruns_the_drill():
    s = summary("drill-fail")
    step = rules(dataclasses.replace(s, buffer=dataclasses.replace(s.buffer, dead_lettered=1)))[ns.DLQ]
    assert "faults section" in step.detail and step.commands[0].startswith("pitr-runbook drill")


def test_stream_records_given_up_on_are_named_after_a_fail():
    s = summary("run-fail")
    assert ns.STREAM_FAILURES not in rules(s)
    step = rules(dataclasses.replace(s, buffer=dataclasses.replace(s.buffer, stream_failures=4)))[ns.STREAM_FAILURES]
    assert "4 stream records" in step.title and "forwarder" in step.detail


def test_an_unreadable_accounting_names_the_permission_after_a_fail_only():
    why = "AccessDeniedException: not authorized to perform: logs:FilterLogEvents"
    step = rules(summary("run-fail", buffer=None, buffer_error=why))[ns.ACCOUNTING_UNREAD]
    assert why in step.detail and "logs:FilterLogEvents" in step.detail
    assert ns.next_steps(summary("run-pass", buffer=None, buffer_error=why)) == ()


def test_a_coverage_warning_with_unexplained_keys_points_at_an_incremental_export():
    warning = "the source's stream was enabled at 2026-11-28 05:05:00, after the restore point"
    step = rules(summary("run-fail", coverage_warning=warning))[ns.COVERAGE]
    assert warning in step.detail and "INCREMENTAL_EXPORT" in step.detail
    assert ns.COVERAGE not in rules(summary("run-fail"))


def test_a_reconcile_without_t_and_r_asks_for_them():
    step = rules(summary("reconcile-fail"))[ns.NO_WINDOW]
    assert step.detail.startswith("No restore point T and no replay start R were given")
    assert "--restore-time T --replay-from R" in step.commands[0]
    # T given, R not: T is filled in
    step = rules(summary("reconcile-fail", restore_time=T))[ns.NO_WINDOW]
    assert "--restore-time 2026-11-28T05:00:00Z --replay-from R" in step.commands[0]
    # both given (R after T): nothing to ask; a run has its plan: never asked
    assert ns.NO_WINDOW not in rules(summary("reconcile-fail", restore_time=T, replay_from=T + timedelta(minutes=5)))
    assert ns.NO_WINDOW not in rules(summary("run-fail"))


def test_unexplained_missing_keys_of_a_run_search_the_applier_log_for_the_first_keys_digest():
    step = rules(summary("run-fail"))[ns.MISSING_OR_EXTRA]
    assert "1 missing from the target" in step.title and "rollback" in step.detail
    assert step.commands == ("aws logs filter-log-events --log-group-name /aws/lambda/pitr-orders-applier "
                             f"--filter-pattern '\"{7:064x}\"' --region eu-west-1",)
    s = summary("run-fail", rows=(row(EXTRA), row(MISSING)))
    assert "1 missing from the target and 1 extra in the target" in rules(s)[ns.MISSING_OR_EXTRA].title
    assert ns.MISSING_OR_EXTRA not in rules(summary("run-fail", rows=(row(CHANGED),)))


def test_unexplained_missing_keys_of_a_reconcile_say_what_a_missing_or_extra_key_means():
    step = rules(summary("reconcile-fail"))[ns.MISSING_OR_EXTRA]
    assert "after the target's copy was taken" in step.detail
    assert step.commands[0].startswith("pitr-runbook reconcile")


def test_unexplained_changed_keys_say_re_read_then_show_values_in_a_restricted_place():
    step = rules(summary("reconcile-fail"))[ns.CHANGED]
    assert "re-read it after writes stop" in step.detail and "do not send that report" in step.detail
    assert step.commands == ("pitr-runbook reconcile --source-table orders --target-table orders-backup --region "
                             "eu-west-1 --show-values --run-dir RESTRICTED_DIR",)
    run = rules(summary("run-fail"))[ns.CHANGED]
    assert "notebooks/04_reconcile.ipynb with show_values = True" in run.commands[0]


def test_changed_keys_with_values_already_shown_point_at_differences_csv():
    step = rules(summary("reconcile-fail", values_shown=True))[ns.CHANGED]
    assert "differences.csv" in step.detail and step.commands == ()


def test_changed_keys_in_a_redacted_drill_rerun_it_with_keys_shown():
    step = rules(summary("drill-fail"))[ns.CHANGED]
    assert "--no-redact-keys" in step.commands[0]


def test_a_failed_drill_with_faults_is_rerun_without_them_first():
    step = rules(summary("drill-fail"))[ns.DRILL_RERUN]
    assert "--fault" not in step.commands[0] and "--fault applier-crash" in step.commands[1]
    assert ns.DRILL_RERUN not in rules(summary("run-fail"))


def test_an_rto_over_its_target_is_a_next_step_even_when_the_verdict_passes():
    s = summary("drill-pass")
    late = dataclasses.replace(s, drill=dataclasses.replace(s.drill, rto_target_seconds=60.0))
    step = rules(late)[ns.DRILL_RTO]
    assert "8 min 30 s" in step.detail and "1 min 0 s" in step.detail
    assert step.commands == ("pitr-runbook history --runs-dir runs",)
    assert ns.DRILL_RTO not in rules(s)  # 15 min target: met


def test_a_fault_that_never_fired_is_rerun_with_more_items():
    step = rules(summary("drill-fail"))[ns.DRILL_FAULT]
    assert "applier-crash" in step.title and "--items 1000" in step.commands[0]
    assert ns.DRILL_FAULT not in rules(summary("drill-pass"))


def test_the_steps_come_in_order_and_none_for_a_pass_without_keys_in_flight():
    order = [step.rule for step in ns.next_steps(summary("run-fail"))]
    assert order == [ns.IN_FLIGHT, ns.DLQ, ns.MISSING_OR_EXTRA, ns.CHANGED]
    assert ns.next_steps(summary("run-fail", verdict=PASS, in_flight=0, unexplained=0, rows=(),
                                 buffer=BufferAccounting(captured=1, applied=1, dead_lettered=0))) == ()


def test_the_notebook_view_of_a_reconcile_says_what_to_do_next_and_shows_no_empty_column():
    from runbook_lib import steps

    rec, state, run_dir = CASES["reconcile-fail"]()
    result = steps.reconcile.ReconcileResult("04_reconcile", False, "VERDICT: FAIL", reconciliation=rec,
                                             summary=summarize(rec, state, run_dir=run_dir))
    view = result._repr_html_()
    assert "<h2>What to do next</h2>" in view and "pitr-runbook reconcile" in view
    for empty in ("NaT", "None", "key_hash", "last_change", "source_values", "&ndash;", "<td></td>"):
        assert empty not in view, empty


def test_the_notebook_view_of_a_run_says_utc_once_and_shows_times_to_the_second():
    from runbook_lib import steps

    rec, state, run_dir = CASES["run-fail"]()
    result = steps.reconcile.ReconcileResult("04_reconcile", True, "VERDICT: FAIL", reconciliation=rec,
                                             summary=summarize(rec, state, run_dir=run_dir))
    view = result._repr_html_()
    assert view.count("UTC") == 1 and "+00:00" not in view and "2026-11-28 05:15:02" in view
