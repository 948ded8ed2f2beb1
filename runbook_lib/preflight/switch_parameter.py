"""The switch's SSM parameter, read before anything changes: what the application reads now, and
whether cutover will be able to write the restored table's name there (a ``String`` or no
parameter yet). The permission to write it is part of the IAM simulation (``iam_simulation``).

A parameter's value is a table name, not item data, so the row shows it."""

from __future__ import annotations

from ..aws.clients import AwsTarget
from ..errors import PreconditionError
from .result import FAIL, PASS, WARN, CheckRow


def check_switch_parameter(target: AwsTarget, name: str, *, source_table: str, target_table: str,
                           target_region: str | None = None) -> CheckRow:
    """PASS for a ``String`` that names the source (or no parameter: cutover creates it); WARN when
    it already names another table; FAIL for a type the switch cannot write. ``target_region``: the
    restored table's region when it is not the source's (the switch then writes its ARN)."""
    from .. import switch

    written = (f"the ARN of {target_table} in {target_region} (another region: the application takes the region "
               "from it)") if target_region and target_region != target.region_name else target_table

    current = switch.read(target, name)
    if not current.exists:
        return CheckRow("switch_parameter", PASS,
                        f"SSM parameter {name} does not exist yet: cutover creates it (String) = {written}; "
                        "`cutover --undo` deletes it")
    try:
        switch.check_writable(current)
    except PreconditionError as exc:
        return CheckRow("switch_parameter", FAIL, f"SSM parameter {name} is a {current.type}", str(exc), code=exc.code)
    if current.value != source_table:
        return CheckRow("switch_parameter", WARN,
                        f"SSM parameter {name} names {current.value!r}, not the source {source_table!r}",
                        "make sure it is the parameter the application reads its table from; cutover overwrites "
                        f"it with {written} and `cutover --undo` puts {current.value!r} back")
    return CheckRow("switch_parameter", PASS,
                    f"SSM parameter {name} (String, version {current.version}) names {source_table}: cutover "
                    f"writes {written}, `cutover --undo` puts it back")
