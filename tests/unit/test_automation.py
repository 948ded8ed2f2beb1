"""The automation values ("notebook", "event") are written in one module and checked by one function."""

from __future__ import annotations

import ast
import pathlib

import pytest

from runbook_lib import automation, cli, notebook, runner
from runbook_lib.errors import InputError

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "runbook_lib"


@pytest.mark.parametrize("value", ["cron", "", None, "Notebook"])
def test_check_automation_refuses_other_values_naming_the_choices(value):
    with pytest.raises(InputError) as info:
        automation.check_automation(value)
    assert "'notebook', 'event'" in str(info.value) and repr(value) in str(info.value)


def test_every_entry_point_takes_the_one_list_of_choices():
    assert automation.check_automation("event") == "event" and automation.AUTOMATIONS[0] == automation.DEFAULT
    parser = cli.build_parser()
    for command in ("run", "drill"):
        (action,) = [a for a in parser._subparsers._group_actions[0].choices[command]._actions if a.dest == "automation"]
        assert tuple(action.choices) == automation.AUTOMATIONS and action.default == automation.DEFAULT
    with pytest.raises(InputError, match="'notebook', 'event'"):
        runner.validate(runner.RunParams("orders", "orders-r", automation="cron"))
    with pytest.raises(InputError, match="'notebook', 'event'"):
        notebook.context(source_table="orders", target_table="orders-r", automation="cron")


def test_no_other_module_spells_the_list_of_automation_values():
    """A tuple or list holding both values outside ``automation.py`` is a second copy of the choices."""
    copies = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "automation.py" or "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if {"notebook", "event"} <= values:
                    copies.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert copies == []
