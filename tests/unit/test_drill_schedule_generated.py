"""``infra/drill-schedule.yaml`` is generated from ``infra/drill-schedule.yaml.j2``
(``runbook_lib/schedule/template.py``): the committed file is the 5-slot rendering byte for byte, and
a rendering with any number of slots is a valid template whose every slot resolves.

AWS documents followed: the Intrinsic function reference, CloudFormation Template Reference
(Fn::Select "doesn't check for null values or if the index is out of bounds of the array. Both
conditions will result in a stack error",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-select.html;
Fn::Split, Fn::Join, Condition); "Understand CloudFormation quotas" (500 resources per template,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html); CreateStack,
CloudFormation API Reference (TemplateBody at most 51,200 bytes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cfn_resolve import Resolver
from cfnlint.api import ManualArgs, lint_file

from runbook_lib.errors import InputError
from runbook_lib.schedule import template

INFRA = Path(__file__).resolve().parents[2] / "infra"
COMMITTED = INFRA / "drill-schedule.yaml"
KINDS = ("Failed", "Missed", "Rto")
#: the drill role's statements that name every slot's table (ReadSourceTables: the table and its indexes)
PER_SLOT_STATEMENTS = {"ReadSourceTables": 2, "RestoreFromSourceTables": 1, "ReadSourceStreams": 1, "NeverChangeSourceTables": 1}


def _alarms(resources: dict) -> dict[str, dict]:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def _drill_statements(resources: dict) -> dict[str, dict]:
    (policy,) = resources["DrillRole"]["Properties"]["Policies"]
    return {st["Sid"]: st for st in policy["PolicyDocument"]["Statement"] if "Sid" in st}


# -- the committed file ------------------------------------------------------------------------------------------
def test_the_committed_template_is_the_five_slot_rendering_byte_for_byte():
    problem = template.stale(COMMITTED.read_text())
    assert problem is None, problem


def test_a_hand_edit_of_the_generated_file_is_refused_with_the_command_that_regenerates_it():
    # GIVEN the committed file with one alarm's threshold changed by hand
    edited = COMMITTED.read_text().replace("      Threshold: 1\n", "      Threshold: 2\n", 1)
    # WHEN it is compared with the rendering
    problem = template.stale(edited)
    # THEN the message names the line, the source to edit and the command
    line = edited.splitlines().index("      Threshold: 2") + 1
    assert problem is not None and f"line {line}: '      Threshold: 2'" in problem
    assert "edit infra/drill-schedule.yaml.j2" in problem
    assert "python -m runbook_lib.schedule.template --slots 5 --output infra/drill-schedule.yaml" in problem
    assert template.stale(COMMITTED.read_text() + "# more\n") is not None  # an appended line too


def test_the_committed_template_says_it_is_generated_and_from_what():
    head = COMMITTED.read_text().splitlines()[:2]
    assert head[0].startswith("# GENERATED from infra/drill-schedule.yaml.j2 with 5 table slots: do not edit by hand")
    assert "make infra" in head[1]


# -- renderings with other numbers of slots -------------------------------------------------------------------
@pytest.mark.parametrize("slots", [2, 8])
def test_a_rendering_with_n_slots_passes_cfn_lint_with_three_alarms_and_a_condition_per_slot(tmp_path, slots):
    text = template.render(slots)
    path = tmp_path / "drill-schedule.yaml"
    path.write_text(text)
    # the regions test_infra_lint.py lints infra/ in: one of each commercial, China and GovCloud partition
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"]))
    assert [str(m) for m in matches] == []

    parsed = yaml.safe_load(text)
    resources = parsed["Resources"]
    alarms = _alarms(resources)
    assert sorted(alarms) == sorted(f"Table{n}{kind}Alarm" for n in range(1, slots + 1) for kind in KINDS)
    assert sorted(c for c in parsed["Conditions"] if c.startswith("HasTable")) == sorted(
        f"HasTable{n}" for n in range(2, slots + 1))
    for n in range(1, slots + 1):
        for kind in KINDS:
            assert alarms[f"Table{n}{kind}Alarm"].get("Condition") == (None if n == 1 else f"HasTable{n}")
    statements = _drill_statements(resources)
    for sid, per_slot in PER_SLOT_STATEMENTS.items():
        assert len(statements[sid]["Resource"]) == per_slot * slots, sid
    assert f"1 to {slots} names" in parsed["Parameters"]["SourceTables"]["Description"]
    assert f"Up to {slots} tables per stack" in text


@pytest.mark.parametrize("slots", [1, 2, 5, 8])
def test_every_slot_resolves_however_few_tables_are_listed(slots):
    """An empty slot selects the empty name (never an index out of bounds, a stack error), its condition
    is false and its alarms are not created; a listed table gets its three alarms with its own RTO target."""
    parsed = yaml.safe_load(template.render(slots))
    for listed in sorted({1, slots}):
        tables = [f"table{i}" for i in range(listed)]
        targets = [str(3600 * (i + 1)) for i in range(listed)]
        stack = Resolver(parsed, {"SourceTables": ",".join(tables), "RtoTargetsSeconds": ",".join(targets)})
        resources = stack.resources()  # raises IndexError where a Fn::Select is out of bounds
        assert [stack.conditions[f"HasTable{n}"] for n in range(2, slots + 1)] == [n <= listed for n in range(2, slots + 1)]
        alarms = _alarms(resources)
        named = {a["Properties"]["AlarmName"]: a["Properties"] for a in alarms.values()}
        assert sorted(named) == sorted(f"pitr-drills-{t}-{k}" for t in tables
                                       for k in ("drill-failed", "drill-missed", "rto-over-target"))
        for table, target in zip(tables, targets):
            rto = named[f"pitr-drills-{table}-rto-over-target"]
            assert rto["Threshold"] == target and rto["Dimensions"] == [{"Name": "TableName", "Value": table}]
        restore = _drill_statements(resources)["RestoreFromSourceTables"]["Resource"]
        assert restore == [f"arn:aws:dynamodb:us-east-1:123456789012:table/{t}" for t in tables] + [
            "arn:aws:dynamodb:us-east-1:123456789012:table/"] * (slots - listed)


def test_the_most_slots_keep_the_template_within_cloudformations_500_resources():
    resources = yaml.safe_load(template.render(template.MAX_SLOTS))["Resources"]
    assert len(resources) <= template.MAX_RESOURCES < len(resources) + 3


@pytest.mark.parametrize("slots", [0, -1, template.MAX_SLOTS + 1])
def test_a_number_of_slots_out_of_range_is_refused(slots):
    with pytest.raises(InputError, match=f"--slots {slots}: give a whole number of table slots from 1 to {template.MAX_SLOTS}"):
        template.render(slots)


# -- the command ----------------------------------------------------------------------------------------------
def test_the_command_writes_the_rendering_and_says_when_it_is_too_large_to_send_inline(tmp_path, capsys):
    out = tmp_path / "t.yaml"
    assert template.main(["--slots", "2", "--output", str(out)]) == 0
    assert out.read_text() == template.render(2) and capsys.readouterr().err == ""
    # 8 slots pass CreateStack's 51,200 bytes for a TemplateBody: deploy from S3
    assert template.main(["--slots", "8"]) == 0
    captured = capsys.readouterr()
    assert captured.out == template.render(8) and len(captured.out.encode()) > template.MAX_TEMPLATE_BODY
    assert "--s3-bucket" in captured.err


def test_the_command_refuses_zero_slots_with_exit_status_2(capsys):
    with pytest.raises(SystemExit) as exited:
        template.main(["--slots", "0"])
    assert exited.value.code == 2
    assert "--slots 0: give a whole number of table slots from 1 to" in capsys.readouterr().err
