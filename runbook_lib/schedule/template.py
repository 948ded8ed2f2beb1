"""``infra/drill-schedule.yaml`` generated from ``infra/drill-schedule.yaml.j2``.

The template holds a fixed number of table slots: for each one a condition ``HasTable<n>`` (slot 1
has none, a stack drills at least one table), its table's ARNs in the drill role's policy and three
CloudWatch alarms. CloudFormation repeats nothing by itself: ``Fn::ForEach`` needs the
``AWS::LanguageExtensions`` transform, which the sandbox's CloudFormation (moto) does not run, which
needs ``CAPABILITY_AUTO_EXPAND`` on ``CreateStack``, and whose loop has no index to pair a table with
its entry of ``RtoTargetsSeconds``. So the repeated parts are written once in the Jinja2 source and
rendered here for a number of slots::

    python -m runbook_lib.schedule.template --slots 5 --output infra/drill-schedule.yaml   # make infra

The committed file is the rendering with :data:`DEFAULT_SLOTS` (``tests/unit/test_drill_schedule_generated.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..errors import InputError

SOURCE_FILE = "drill-schedule.yaml.j2"
OUTPUT_FILE = "drill-schedule.yaml"
#: the slots of the committed ``infra/drill-schedule.yaml``
DEFAULT_SLOTS = 5
#: CloudFormation's limit for an inline ``TemplateBody`` (CreateStack, CloudFormation API Reference);
#: a larger template is deployed from S3 (``aws cloudformation deploy --s3-bucket``)
MAX_TEMPLATE_BODY = 51_200
#: CloudFormation allows 500 resources per template ("Understand CloudFormation quotas"); 3 alarms a
#: slot besides the stack's 8 other resources: 164 slots. The drill role's inline policy (10,240
#: characters, "IAM and AWS STS quotas") is reached long before that, after about 20 slots of short
#: table names (README, "Scheduled drills in your account"); generate only the slots you deploy.
MAX_RESOURCES = 500
MAX_SLOTS = (MAX_RESOURCES - 8) // 3


def regenerate_command(slots: int = DEFAULT_SLOTS) -> str:
    return f"python -m runbook_lib.schedule.template --slots {slots} --output infra/{OUTPUT_FILE}"


def infra_dir() -> Path:
    """``infra/`` of the source tree (the generator is run from a checkout)."""
    path = Path(__file__).resolve().parents[2] / "infra"
    if not (path / SOURCE_FILE).exists():
        raise InputError(f"cannot find infra/{SOURCE_FILE}: run the generator from a pitr-runbook checkout")
    return path


def render(slots: int = DEFAULT_SLOTS) -> str:
    """The template's text for ``slots`` tables (1 to :data:`MAX_SLOTS`)."""
    if isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= MAX_SLOTS:
        raise InputError(f"--slots {slots!r}: give a whole number of table slots from 1 to {MAX_SLOTS}")
    env = Environment(
        loader=FileSystemLoader(infra_dir()),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
    )
    return env.get_template(SOURCE_FILE).render(slots=slots)


def stale(committed: str, slots: int = DEFAULT_SLOTS) -> str | None:
    """``None`` when ``committed`` is what :func:`render` makes; otherwise the first line that differs
    and the command that regenerates the file (a hand edit of the generated file is lost there)."""
    generated = render(slots)
    if committed == generated:
        return None
    old, new = committed.splitlines(), generated.splitlines()
    line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    return (f"infra/{OUTPUT_FILE} is not what infra/{SOURCE_FILE} renders with {slots} slots (first difference at line "
            f"{line + 1}: {old[line] if line < len(old) else '<end of file>'!r}): edit infra/{SOURCE_FILE}, not the "
            f"generated file, then regenerate it: `make infra` ({regenerate_command(slots)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runbook_lib.schedule.template",
        description=f"Render infra/{OUTPUT_FILE} from infra/{SOURCE_FILE} with a number of table slots.",
    )
    parser.add_argument("--slots", type=int, default=DEFAULT_SLOTS,
                        help=f"the most tables one stack drills (default {DEFAULT_SLOTS}, the committed file)")
    parser.add_argument("--output", type=Path, help="write the template here (default: standard output)")
    args = parser.parse_args(argv)
    try:
        text = render(args.slots)
    except InputError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    size = len(text.encode())
    if size > MAX_TEMPLATE_BODY:
        print(f"note: the template is {size} bytes, over CloudFormation's {MAX_TEMPLATE_BODY} for an inline "
              "TemplateBody: deploy it with `aws cloudformation deploy --s3-bucket BUCKET ...`", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
