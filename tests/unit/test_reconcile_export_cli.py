"""``pitr-runbook reconcile --method export``: the flags become step 04's parameters (no AWS here)."""

from __future__ import annotations

from runbook_lib import cli, runner


def _capture_run(monkeypatch, tmp_path):
    seen = {}

    def fake_run(params, steps=runner.STEPS, **kwargs):
        seen["params"], seen["steps"] = params, list(steps)
        return runner.RunResult(run_dir=str(tmp_path), steps_done=list(steps), exit_code=0, verdict="PASS")

    monkeypatch.setattr(runner, "run", fake_run)
    monkeypatch.setattr(cli, "_require_tables", lambda params: None)
    return seen


def test_reconcile_method_export_hands_step_04_the_export_options_and_executes(monkeypatch, tmp_path):
    seen = _capture_run(monkeypatch, tmp_path)
    base = ["reconcile", "--source-table", "orders", "--target-table", "orders-bak", "--run-dir", str(tmp_path / "a")]
    assert cli.main([*base, "--method", "export", "--export-bucket", "b", "--athena-workgroup", "wg",
                     "--athena-output", "s3://r/q/"]) == 0
    assert seen["params"].execute is True and seen["steps"] == ["04_reconcile"]
    assert seen["params"].step_parameters["04_reconcile"] == {
        "segments": 4, "rate_limit": None, "show_values": False, "redact_keys": False, "key_digest_secret_arn": None,
        "method": "export", "export_bucket": "b", "athena_workgroup": "wg", "athena_output": "s3://r/q/"}


def test_reconcile_without_method_export_changes_nothing_and_leaves_the_method_to_the_notebook(monkeypatch, tmp_path):
    seen = _capture_run(monkeypatch, tmp_path)
    base = ["reconcile", "--source-table", "orders", "--target-table", "orders-bak", "--run-dir", str(tmp_path / "a")]
    assert cli.main(base) == 0
    assert seen["params"].execute is False and "method" not in seen["params"].step_parameters["04_reconcile"]
    assert cli.main([*base, "--method", "scan"]) == 0
    assert seen["params"].execute is False and seen["params"].step_parameters["04_reconcile"]["method"] == "scan"
