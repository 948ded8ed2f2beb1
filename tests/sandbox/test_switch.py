"""The switch the application reads (an SSM parameter): written at cutover only after the quiet period
and the drain, refused (exit 2, nothing changed) while writes arrive unless forced, put back by
``cutover --undo``, written once however often a killed cutover is started again."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest

from runbook_lib import buffer, cli, cutover, monitor, run_state, switch
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import CutoverError, PreconditionError
from runbook_lib.sandbox.traffic import Traffic, create_demo_table

PARAM = "/app/orders/table-name"


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def _stack():
    return buffer.BufferStack.from_dict({"name": "pitr-buffer", "outputs": {"QueueMappingUuid": "uuid-1", "DlqUrl": "http://dlq"},
                                         "parameters": {"SourceTableName": "orders", "TargetTableName": "orders-r"}})


def _buffer(monkeypatch, aws, *, drained: bool = True):
    """Stand-ins for the buffer (drain, status, replay off, teardown); each call is logged with the
    parameter's value at that moment, so a test sees what the switch had done by then."""
    events: list[tuple[str, str]] = []
    ssm = aws("ssm")

    def seen(name):
        events.append((name, ssm.get_parameter(Name=PARAM)["Parameter"]["Value"]))

    def drain(*a, **k):
        seen("drain")
        return monitor.DrainResult(True, 0.0, (), 0, 0)

    monkeypatch.setattr(monitor, "follow_drain", drain)
    monkeypatch.setattr(buffer, "status", lambda *a, **k: (seen("status"), SimpleNamespace(
        drained=drained, depth=0 if drained else 7, in_flight=0, stream_lag_seconds=0, forwarder_errors=0))[1])
    monkeypatch.setattr(buffer, "disable_replay", lambda *a, **k: seen("replay off"))
    monkeypatch.setattr(buffer, "teardown", lambda *a, **k: (seen("teardown"), buffer.TeardownReport(
        "pitr-buffer", executed=True, stack_found=True, resources=(), verified=True))[1])
    return events


def _tables(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    create_demo_table(ddb, "orders-r", pitr=False)
    aws("ssm").put_parameter(Name=PARAM, Value="orders", Type="String")
    return ddb


def _value(aws) -> tuple[str, int]:
    p = aws("ssm").get_parameter(Name=PARAM)["Parameter"]
    return p["Value"], p["Version"]


def test_switch_is_written_after_the_quiet_period_and_the_drain_and_the_window_is_measured(aws, target, monkeypatch, tmp_path):
    # GIVEN writers on the source that stop a moment after cutover starts waiting for quiet
    ddb = _tables(aws)
    events = _buffer(monkeypatch, aws)
    traffic = Traffic(ddb, "orders", rate=20, key_space=20, seed=3).start()
    threading.Timer(1.2, traffic.stop).start()
    # WHEN cutover runs with the switch
    report = cutover.cutover(target, _stack(), run_dir=tmp_path, execute=True, quiet_seconds=1.5, timeout=20,
                             switch=PARAM, first_write_wait=0)
    # THEN the parameter still named the source through the drain and replay off, and names the target after
    assert events[:3] == [("drain", "orders"), ("status", "orders"), ("replay off", "orders")], events
    assert events[-1] == ("teardown", "orders-r")
    assert _value(aws) == ("orders-r", 2)
    state = run_state.load(tmp_path)
    assert (state.switch.previous_exists, state.switch.previous_value, state.switch.previous_version,
            state.switch.version) == (True, "orders", 1, 2)
    # and the window runs from the last write seen on the source through its parts to the switch
    d = state.downtime
    assert traffic.stats.writes > 0 and d.last_source_write is not None
    assert d.last_source_write <= d.quiet <= d.drained <= d.settings <= d.switched
    assert list(d.parts()) == ["quiet_wait", "drain", "settings", "switch"]
    assert d.parts()["quiet_wait"] >= 1.5 - 1.0  # the quiet period (the record time is rounded down to the second)
    assert d.seconds == pytest.approx(sum(d.parts().values()), abs=0.01)
    assert report.switch.written and report.downtime.switched == state.switch.switched


def test_switch_is_refused_with_exit_2_and_nothing_changed_while_writes_arrive(aws, target, monkeypatch, tmp_path):
    ddb = _tables(aws)
    events = _buffer(monkeypatch, aws)
    # WHEN writes keep arriving, even with force (cut over anyway) but without force_switch
    with Traffic(ddb, "orders", rate=20, key_space=20, seed=4):
        with pytest.raises(CutoverError) as info:
            cutover.cutover(target, _stack(), run_dir=tmp_path, execute=True, quiet_seconds=1.5, timeout=3, force=True,
                            switch=PARAM, first_write_wait=0)
    # THEN exit status 2, the parameter untouched, replay still on
    assert info.value.exit_code == 2 and "force_switch" in str(info.value) and PARAM in str(info.value)
    assert _value(aws) == ("orders", 1)
    assert events == [] and run_state.load(tmp_path).switch is None


def test_switch_is_refused_while_the_buffer_holds_changes(aws, target, monkeypatch, tmp_path):
    _tables(aws)
    events = _buffer(monkeypatch, aws, drained=False)
    with pytest.raises(CutoverError) as info:
        cutover.cutover(target, _stack(), run_dir=tmp_path, execute=True, quiet_seconds=0.5, timeout=5, force=True,
                        switch=PARAM, first_write_wait=0)
    assert info.value.exit_code == 2 and "not drained" in str(info.value)
    assert _value(aws) == ("orders", 1) and ("replay off", "orders") not in events


def test_force_switch_writes_it_while_writes_arrive(aws, target, monkeypatch, tmp_path):
    ddb = _tables(aws)
    _buffer(monkeypatch, aws)
    with Traffic(ddb, "orders", rate=20, key_space=20, seed=5):
        cutover.cutover(target, _stack(), run_dir=tmp_path, execute=True, quiet_seconds=1.5, timeout=3,
                        switch=PARAM, force_switch=True, first_write_wait=0)
    assert _value(aws) == ("orders-r", 2)


def test_undo_puts_the_previous_value_back(aws, target, tmp_path):
    _tables(aws)
    switch.write_switch(target, PARAM, "orders-r", run_dir=tmp_path)
    outcome = switch.undo(target, tmp_path)
    assert outcome.action == "restored" and _value(aws) == ("orders", 3)
    assert run_state.load(tmp_path).switch.undo == "restored"
    with pytest.raises(PreconditionError):  # once only
        switch.undo(target, tmp_path)


def test_undo_deletes_a_parameter_that_did_not_exist_before(aws, target, tmp_path):
    _tables(aws)
    aws("ssm").delete_parameter(Name=PARAM)
    outcome = switch.write_switch(target, PARAM, "orders-r", run_dir=tmp_path)
    assert outcome.written and _value(aws) == ("orders-r", 1)
    assert switch.undo(target, tmp_path).action == "deleted"
    with pytest.raises(aws("ssm").exceptions.ParameterNotFound):
        aws("ssm").get_parameter(Name=PARAM)


def test_undo_refuses_a_parameter_changed_since_the_switch_unless_forced(aws, target, tmp_path):
    _tables(aws)
    switch.write_switch(target, PARAM, "orders-r", run_dir=tmp_path)
    aws("ssm").put_parameter(Name=PARAM, Value="orders-other", Overwrite=True)  # someone else, version 3
    with pytest.raises(PreconditionError) as info:
        switch.undo(target, tmp_path)
    assert info.value.exit_code == 2 and "version 2 -> version 3" in str(info.value)
    assert _value(aws) == ("orders-other", 3)
    switch.undo(target, tmp_path, force=True)
    assert _value(aws) == ("orders", 4)


def test_a_switch_interrupted_after_its_write_is_not_written_again(aws, target, tmp_path):
    _tables(aws)
    switch.write_switch(target, PARAM, "orders-r", run_dir=tmp_path)
    # GIVEN a run killed after PutParameter, before it recorded the version
    with run_state.edit(tmp_path) as state:
        state.switch.version, state.switch.switched = None, None
    # WHEN cutover is started again (twice)
    again = switch.write_switch(target, PARAM, "orders-r", run_dir=tmp_path)
    third = switch.write_switch(target, PARAM, "orders-r", run_dir=tmp_path)
    # THEN nothing is written again, the value before is kept for the undo
    assert not again.written and not third.written and _value(aws) == ("orders-r", 2)
    assert run_state.load(tmp_path).switch.previous_value == "orders"
    switch.undo(target, tmp_path)
    assert _value(aws) == ("orders", 3)


def test_a_securestring_parameter_is_refused_before_anything_changes(aws, target, tmp_path):
    _tables(aws)
    aws("ssm").put_parameter(Name="/app/secret-table", Value="orders", Type="SecureString")
    with pytest.raises(PreconditionError) as info:
        switch.write_switch(target, "/app/secret-table", "orders-r", run_dir=tmp_path)
    assert "String" in str(info.value) and run_state.load(tmp_path).switch is None


def test_cutover_undo_command_puts_it_back_and_exits_2_the_second_time(aws, target, endpoint, tmp_path, capsys):
    _tables(aws)
    with run_state.edit(tmp_path) as state:
        state.params = run_state.Params("orders", "orders-r", region="us-east-1", endpoint_url=endpoint)
    switch.write_switch(target, PARAM, "orders-r", run_dir=tmp_path)
    assert cli.main(["cutover", "--undo", "--run-dir", str(tmp_path)]) == 0
    assert _value(aws) == ("orders", 3) and "undone" in capsys.readouterr().out
    assert cli.main(["cutover", "--undo", "--run-dir", str(tmp_path)]) == 2


@pytest.mark.parametrize("text", ["/app/x", "ssm:", "ssm:/a b", "ssm:/aws/x", "ssm:/a#b"])
def test_a_switch_that_is_not_an_ssm_parameter_name_is_refused(text):
    from runbook_lib.errors import InputError

    with pytest.raises(InputError):
        switch.parse(text)


def test_writers_reading_the_parameter_resume_on_the_target_and_cutover_sees_their_first_write(aws, target, monkeypatch, tmp_path):
    from runbook_lib.sandbox.traffic import CachedParameter

    # GIVEN an application whose writers read their table from the parameter (cached 0.5 s), and a
    # target table with a stream; the writers stop when told (here: as soon as cutover waits for quiet)
    ddb = _tables(aws)
    _buffer(monkeypatch, aws)
    app = Traffic(ddb, "orders", rate=20, key_space=20, seed=6, parameter=CachedParameter(aws("ssm"), PARAM, ttl=0.5))
    app.start()
    app.pause_when(lambda: (run_state.load(tmp_path).downtime or run_state.Downtime()).quiet_wait_started is not None)
    try:
        # WHEN cutover switches the parameter
        report = cutover.cutover(target, _stack(), run_dir=tmp_path, execute=True, quiet_seconds=1.0, timeout=20,
                                 switch=PARAM, first_write_wait=10)
    finally:
        app.stop()
    # THEN the writers resumed on the target, and cutover saw their first write on its stream after the switch
    assert app.stats.by_table.get("orders-r", 0) > 0 and app.table == "orders-r"
    d = report.downtime
    assert d.first_target_write is not None and d.first_target_write >= d.switched
    assert d.until_first_target_write_seconds >= d.seconds  # a record time is rounded down: at least the switch


def test_a_switch_left_by_a_run_killed_after_replay_off_is_written_only_once_the_writers_are_still_stopped(aws, target, tmp_path):
    ddb = _tables(aws)
    # GIVEN a run killed after replay off, before its switch, and writers that started again meanwhile
    with Traffic(ddb, "orders", rate=20, key_space=20, seed=7):
        with pytest.raises(CutoverError) as info:
            cutover.switch_after_resume(target, "orders", "orders-r", PARAM, run_dir=tmp_path, quiet_seconds=1.5,
                                        timeout=3, first_write_wait=0)
    assert info.value.exit_code == 2 and _value(aws) == ("orders", 1)
    # WHEN the writers are stopped and cutover is resumed THEN the switch is written, once
    first = cutover.switch_after_resume(target, "orders", "orders-r", PARAM, run_dir=tmp_path, quiet_seconds=0.5,
                                        timeout=5, first_write_wait=0)
    second = cutover.switch_after_resume(target, "orders", "orders-r", PARAM, run_dir=tmp_path, quiet_seconds=0.5,
                                         timeout=5, first_write_wait=0)
    assert first.written and not second.written and _value(aws) == ("orders-r", 2)


def test_the_operator_policy_lets_the_switch_touch_its_parameter_only(aws, endpoint, tmp_path):
    """Parameter Store authorizes GetParameter, PutParameter and DeleteParameter against the parameter
    named in the request, whose ARN is ``parameter/`` and the name without its leading slash ("How
    Parameter Store authorizes parameter retrieval", AWS Systems Manager User Guide,
    https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-retrieval-authorization.html)."""
    import boto3

    from runbook_lib import drill
    from runbook_lib.aws.codes import error_code

    _tables(aws)
    aws("ssm").put_parameter(Name="/app/other/table-name", Value="orders", Type="String")
    root = AwsTarget(region="us-east-1", endpoint_url=endpoint)
    operator = drill.create_operator(root, source_table="orders", target_table="orders-r", cfn_role_arn="arn:aws:iam::123456789012:role/x",
                                     switch_parameter=PARAM)
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=operator.access_key_id,
                       aws_secret_access_key=operator.secret_access_key)
    assert ssm.put_parameter(Name=PARAM, Value="orders-r", Overwrite=True)["Version"] == 2
    for call in (lambda: ssm.get_parameter(Name="/app/other/table-name"),
                 lambda: ssm.put_parameter(Name="/app/other/table-name", Value="orders-r", Overwrite=True)):
        with pytest.raises(Exception) as info:
            call()
        assert error_code(info.value) == "AccessDeniedException"
    # without a switch parameter the rendered policy grants no SSM action at all
    from runbook_lib import permissions

    plain = permissions.render_policy(partition="aws", region="us-east-1", account="123456789012",
                                      source_table_pattern="orders", target_table_pattern="orders-r")
    assert '"ssm:' not in json.dumps(plain) and ":ssm:" not in json.dumps(plain)


def test_step_05_resumed_after_replay_off_switches_once_and_adds_the_window_to_the_report_04_wrote(aws, endpoint, tmp_path):
    from runbook_lib import notebook, steps, times

    # GIVEN a run whose cutover turned replay off and deleted its stack, then died before the switch,
    # and the report step 04 wrote
    _tables(aws)
    with run_state.edit(tmp_path) as state:
        state.stack = run_state.Stack(description={"name": "pitr-buffer", "outputs": {}, "parameters": {}})
        state.timings.cutover_done = times.utcnow()
        state.teardown = run_state.Teardown(clean=True)
    (tmp_path / "summary.json").write_text(json.dumps({"verdict": "PASS"}))
    (tmp_path / "report.html").write_text("<html><body><h1>report</h1></body></html>")
    ctx = notebook.context(source_table="orders", target_table="orders-r", endpoint_url=endpoint, region="us-east-1",
                           run_dir=str(tmp_path), execute=True)
    # WHEN step 05 runs again, twice
    for _ in range(2):
        result = steps.cutover.run(ctx, switch=f"ssm:{PARAM}", quiet_seconds=0.5, first_write_wait=0.0)
    # THEN the parameter was written once, and the report carries the window once
    assert _value(aws) == ("orders-r", 2)
    assert "already switched by this run" in result.outcome and "writes unavailable" in result.outcome
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["downtime"]["switch"]["version"] == 2
    assert set(summary["downtime"]["parts"]) == {"quiet_wait", "switch"}  # nothing left to drain: replay was off
    page = (tmp_path / "report.html").read_text()
    assert page.count("<!-- downtime -->") == 1 and "write-unavailability window" in page and page.endswith("</html>")


def test_a_switch_to_a_table_in_another_region_writes_its_arn_and_the_writers_follow_it_there(aws, target, endpoint, monkeypatch, tmp_path):
    """Across regions the switch names the restored table by ARN (a name alone would send an
    application in the source's region to a table that is not there); the writers take the region
    from it, and cutover reads the first write on the stream where the table lives."""
    import boto3

    from runbook_lib.sandbox.traffic import CachedParameter

    # GIVEN the source and the parameter in us-east-1, the restored table (with a stream) in eu-west-1 only
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    aws("ssm").put_parameter(Name=PARAM, Value="orders", Type="String")
    far = boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-1")
    arn = create_demo_table(far, "orders-r", pitr=False)["TableArn"]
    _buffer(monkeypatch, aws)
    app = Traffic(ddb, "orders", rate=20, key_space=20, seed=6, parameter=CachedParameter(aws("ssm"), PARAM, ttl=0.5),
                  regional_clients={"eu-west-1": far})
    app.start()
    app.pause_when(lambda: (run_state.load(tmp_path).downtime or run_state.Downtime()).quiet_wait_started is not None)
    try:
        # WHEN cutover switches with the target's side in eu-west-1
        report = cutover.cutover(target, _stack(), run_dir=tmp_path, execute=True, quiet_seconds=1.0, timeout=20,
                                 switch=PARAM, first_write_wait=10, destination=AwsTarget("eu-west-1", endpoint))
    finally:
        app.stop()
    # THEN the parameter holds the ARN, the writers wrote to eu-west-1's table, and their first write was seen there
    assert arn.startswith("arn:aws:dynamodb:eu-west-1:") and _value(aws)[0] == arn
    assert report.switch.record.value == arn and run_state.load(tmp_path).switch.value == arn
    assert app.stats.by_table.get("orders-r", 0) > 0 and far.scan(TableName="orders-r", Select="COUNT")["Count"] > 0
    assert "orders-r" not in ddb.list_tables()["TableNames"]
    assert report.downtime.first_target_write is not None and report.downtime.first_target_write >= report.downtime.switched


def test_the_switch_names_a_table_in_the_source_s_region_by_its_name(aws, target, endpoint):
    create_demo_table(aws("dynamodb"), "orders-r", pitr=False)
    assert switch.table_reference(target, None, "orders-r") == "orders-r"
    assert switch.table_reference(target, AwsTarget("us-east-1", endpoint), "orders-r") == "orders-r"
