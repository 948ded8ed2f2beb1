"""The README's "Layout" section names what is in ``runbook_lib/``, and the modules stay readable.

Issue 11's acceptance: the README's layout section matches the tree; no module in ``runbook_lib``
over about 600 lines without a reason written at its top. A newcomer reads the layout first, so a
package that is missing from it (or a name that no longer exists) is a defect of the map.
"""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "runbook_lib"
#: a module may pass this only with a reason at its top (a docstring that says why it is long)
MAX_LINES = 600


def layout_block(readme: str) -> str:
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def named_entries(block: str) -> set[str]:
    """The names the layout gives to runbook_lib's direct children (``steps/``, ``cli.py``, ``lab.py``)."""
    inner = block.split("runbook_lib/", 1)[1]
    # the package's own listing ends where the next top-level folder (infra/, notebooks/ ...) starts
    inner = re.split(r"\n(?=[a-z]+/ )", inner, maxsplit=1)[0]
    names: set[str] = set()
    for line in inner.splitlines():
        head = line[:22].strip()  # the first column: one name, or several separated by commas
        for name in re.findall(r"[A-Za-z_]+(?:\.py|/)", head):
            names.add(name)
    return names


def tree_entries() -> set[str]:
    names = set()
    for path in PACKAGE.iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            names.add(path.name + "/")
        elif path.suffix == ".py":
            names.add(path.name)
    return names


def test_the_readme_layout_names_every_part_of_runbook_lib_and_nothing_that_is_gone():
    named = named_entries(layout_block((ROOT / "README.md").read_text()))
    tree = tree_entries()
    assert sorted(tree - named) == [], "in runbook_lib/ but not in the README's layout"
    assert sorted(named - tree) == [], "in the README's layout but not in runbook_lib/"


def test_the_layout_parser_sees_the_names_of_a_block():
    block = "\nrunbook_lib/\n  steps/              one\n                      more text with lab.py\n  cli.py, errors.py   two\ninfra/                x\n"
    assert named_entries(block) == {"steps/", "cli.py", "errors.py"}


def test_no_module_over_600_lines_without_a_reason_at_its_top():
    long_without_reason = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not re.search(r"\blong\b|\blines\b", doc):
            long_without_reason.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert long_without_reason == []
