"""The CLI maps flags onto the API and errors onto exit codes; tests patch the API, no kernel."""

from __future__ import annotations

import pytest

from runbook_lib import cli, run_state, runner


def _capture_run(monkeypatch, tmp_path):
    seen = {}

    def fake_run(params, steps=runner.STEPS, **kwargs):
        seen["params"], seen["steps"] = params, list(steps)
        return runner.RunResult(run_dir=str(tmp_path), steps_done=list(steps), exit_code=0, verdict="PASS")

    monkeypatch.setattr(runner, "run", fake_run)
    # no AWS here: reconcile's check that both tables exist is tested against the sandbox
    monkeypatch.setattr(cli, "_require_tables", lambda params: None)
    return seen


def test_bad_flag_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["sandbox", "--port", "nope"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "port" in err and "Traceback" not in err


def test_sandbox_refuses_to_bind_beyond_loopback(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["sandbox", "--host", "0.0.0.0"])
    assert info.value.code == 2
    assert "127.0.0.1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--source-table", "orders", "--target-table", "orders"], "must differ"),
        (["--source-table", "orders", "--target-table", "r-orders", "--restore-time", "tomorrowish"], "not a time"),
        (["--source-table", "orders", "--target-table", "r-orders", "--restore-time", "2026-11-28T04:00:00Z",
          "--replay-from", "2026-11-28T03:00:00Z"], "before the restore point"),
    ],
)
def test_run_bad_input_exits_2_with_one_line_and_runs_nothing(argv, fragment, capsys, monkeypatch):
    called = []
    monkeypatch.setattr(runner, "run_step", lambda *a, **k: called.append(a))
    code = cli.main(["run", *argv, "--run-dir", "/tmp/pitr-cli-test"])
    assert code == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert called == []


def test_run_maps_flags_onto_run_params(monkeypatch, tmp_path):
    seen = _capture_run(monkeypatch, tmp_path)
    code = cli.main([
        "run", "--source-table", "orders", "--target-table", "orders-r", "--restore-time", "15m",
        "--replay-from", "restore_point", "--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:1",
        "--automation", "event", "--execute", "--run-dir", str(tmp_path),
    ])
    assert code == 0
    p = seen["params"]
    assert (p.source_table, p.target_table, p.restore_time, p.region, p.endpoint_url, p.automation, p.execute) == (
        "orders", "orders-r", "15m", "eu-west-1", "http://127.0.0.1:1", "event", True)


def test_run_exit_status_follows_the_verdict(monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "run", lambda params, **k: runner.RunResult(
        run_dir=str(tmp_path), steps_done=["04_reconcile"], exit_code=1, verdict="FAIL", failed_step="04_reconcile",
        error="reconciliation verdict FAIL"))
    assert cli.main(["run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path)]) == 1


def test_reconcile_runs_only_step_04(monkeypatch, tmp_path):
    seen = {}

    def fake_run(params, steps=runner.STEPS, **kwargs):
        seen["steps"], seen["params"] = list(steps), params
        return runner.RunResult(run_dir=str(tmp_path), steps_done=list(steps), exit_code=0, verdict="PASS")

    monkeypatch.setattr(runner, "run", fake_run)
    seen_tables = []  # no AWS here: the tables' existence check is tested against the sandbox
    monkeypatch.setattr(cli, "_require_tables", lambda params: seen_tables.append((params.source_table, params.target_table)))
    assert cli.main(["reconcile", "--source-table", "orders", "--target-table", "orders-bak", "--run-dir", str(tmp_path),
                     "--segments", "8"]) == 0
    assert seen["steps"] == ["04_reconcile"] and seen_tables == [("orders", "orders-bak")]
    assert seen["params"].execute is False
    assert seen["params"].step_parameters["04_reconcile"]["segments"] == 8


def test_run_maps_capacity_flags_onto_the_deploy_and_restore_steps(monkeypatch, tmp_path):
    seen = {}

    def fake_run(params, **kwargs):
        seen["params"] = params
        return runner.RunResult(run_dir=str(tmp_path), steps_done=list(runner.STEPS), exit_code=0, verdict="PASS")

    monkeypatch.setattr(runner, "run", fake_run)
    assert cli.main([
        "run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path),
        "--billing-mode-override", "PROVISIONED", "--read-capacity", "50", "--write-capacity", "400",
        "--applier-max-concurrency", "20",
    ]) == 0
    assert seen["params"].step_parameters == {
        "01_deploy_buffer": {"applier_max_concurrency": 20},
        "02_restore": {"billing_mode_override": "PROVISIONED",
                       "provisioned_throughput_override": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 400}},
    }
    # without the flags the notebooks' own defaults apply
    assert cli.main(["run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path)]) == 0
    assert seen["params"].step_parameters == {}


def test_run_refuses_half_a_provisioned_throughput(capsys, tmp_path):
    code = cli.main(["run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path),
                     "--write-capacity", "400"])
    assert code == 2 and "--read-capacity" in capsys.readouterr().err


# -- keys redacted as their keyed digest -----------------------------------------------------------
def test_run_shows_keys_unless_redact_keys_is_given(monkeypatch, tmp_path):
    seen = _capture_run(monkeypatch, tmp_path)
    base = ["run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path)]
    assert cli.main(base) == 0
    assert "04_reconcile" not in seen["params"].step_parameters  # the notebook's default: redact_keys=False
    assert cli.main([*base, "--redact-keys"]) == 0
    assert seen["params"].step_parameters["04_reconcile"] == {"redact_keys": True, "key_digest_secret_arn": None}


def test_reconcile_redact_keys_without_a_secret_exits_2_before_any_work(monkeypatch, tmp_path, capsys):
    seen = _capture_run(monkeypatch, tmp_path)
    code = cli.main(["reconcile", "--source-table", "orders", "--target-table", "orders-bak",
                     "--run-dir", str(tmp_path / "fresh"), "--redact-keys"])
    assert code == 2 and seen == {}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--key-digest-secret-arn" in err and "--no-redact-keys" in err


def test_reconcile_redact_keys_takes_the_given_secret_or_the_runs_stack(monkeypatch, tmp_path):
    seen = _capture_run(monkeypatch, tmp_path)
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pitr-x-key-digest-AbCdEf"
    assert cli.main(["reconcile", "--source-table", "orders", "--target-table", "orders-bak", "--run-dir",
                     str(tmp_path / "a"), "--redact-keys", "--key-digest-secret-arn", arn]) == 0
    assert seen["params"].step_parameters["04_reconcile"]["redact_keys"] is True
    assert seen["params"].step_parameters["04_reconcile"]["key_digest_secret_arn"] == arn
    # a run directory whose buffer stack recorded the output
    run_dir = tmp_path / "b"
    run_dir.mkdir()
    run_state.save(run_dir, run_state.RunState(stack=run_state.Stack(description={"name": "s", "outputs": {"KeyDigestSecretArn": arn}})))
    assert cli.main(["reconcile", "--source-table", "orders", "--target-table", "orders-bak", "--run-dir",
                     str(run_dir), "--redact-keys"]) == 0
    assert seen["params"].step_parameters["04_reconcile"] == {
        "segments": 4, "rate_limit": None, "show_values": False, "redact_keys": True, "key_digest_secret_arn": None}


@pytest.mark.parametrize("argv, expected", [([], True), (["--no-redact-keys"], False), (["--redact-keys"], True)])
def test_drill_redacts_keys_by_default(monkeypatch, argv, expected):
    from runbook_lib import drill

    seen = {}
    monkeypatch.setattr(drill, "drill", lambda **kwargs: seen.update(kwargs) or runner.RunResult("", [], 0))
    assert cli.main(["drill", *argv]) == 0
    assert seen["redact_keys"] is expected


@pytest.mark.parametrize("argv, expected", [([], None), (["--rto-target", "300"], 300.0)])
def test_drill_passes_its_rto_target_for_the_report_to_check(monkeypatch, argv, expected):
    from runbook_lib import drill

    seen = {}
    monkeypatch.setattr(drill, "drill", lambda **kwargs: seen.update(kwargs) or runner.RunResult("", [], 0))
    assert cli.main(["drill", *argv]) == 0
    assert seen["rto_target"] == expected


def test_run_passes_the_cfn_role_to_the_steps_that_check_deploy_and_delete_the_stack(monkeypatch, tmp_path):
    seen = _capture_run(monkeypatch, tmp_path)
    role = "arn:aws:iam::123456789012:role/cfn-service-role-pitr-runbook"
    assert cli.main(["run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path),
                     "--cfn-role-arn", role, "--applier-max-concurrency", "20"]) == 0
    assert seen["params"].step_parameters == {
        "00_preflight": {"cfn_role_arn": role},
        "01_deploy_buffer": {"applier_max_concurrency": 20, "cfn_role_arn": role},
        "05_cutover": {"cfn_role_arn": role},
    }


def test_an_access_denied_client_error_is_one_line_naming_the_action_and_exit_2(monkeypatch, capsys, tmp_path):
    from botocore.exceptions import ClientError

    message = ("User: arn:aws:iam::123456789012:user/pitr-operator is not authorized to perform: "
               "dynamodb:DescribeTable on resource: arn:aws:dynamodb:us-east-1:123456789012:table/orders\n"
               "because no identity-based policy allows the dynamodb:DescribeTable action")

    def denied(params, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, "DescribeTable")

    monkeypatch.setattr(runner, "run", denied)
    code = cli.main(["run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "dynamodb:DescribeTable" in err and 'statement "ReadSourceTable"' in err and "table/orders" in err


def test_a_step_denied_by_iam_is_an_access_denied_error_with_exit_2():
    failed = runner.StepFailed("03_monitor", "BufferError", (
        "UpdateEventSourceMapping abc failed (AccessDeniedException: User: arn:aws:iam::123456789012:user/op is not "
        "authorized to perform: lambda:UpdateEventSourceMapping on resource: "
        "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:abc because no identity-based policy allows "
        "the lambda:UpdateEventSourceMapping action): retry"))
    assert failed.exit_code == 2 and failed.ename == "AccessDeniedError"
    assert "lambda:UpdateEventSourceMapping" in str(failed) and 'statement "SwitchReplay"' in str(failed)
    # a failure that is not a denial keeps its own kind
    other = runner.StepFailed("03_monitor", "KeyError", "'x'")
    assert other.exit_code == 3 and other.ename == "KeyError"


def test_policy_prints_the_operator_policy_rendered_as_managed_policies(tmp_path, capsys):
    import json

    from runbook_lib import permissions

    assert cli.main(["policy", "--account", "123456789012", "--region", "cn-north-1", "--source-table", "orders",
                     "--target-table", "orders-restored-*", "--out-dir", str(tmp_path)]) == 0
    parts = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("operator-policy-*.json"))]
    assert len(parts) >= 2 and all(permissions.policy_size(p) <= permissions.MANAGED_POLICY_MAX_CHARS for p in parts)
    text = json.dumps(parts)
    assert "${" not in text and "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/orders-restored-*" in text
    assert cli.main(["policy", "--account", "12", "--source-table", "o", "--target-table", "r"]) == 2
