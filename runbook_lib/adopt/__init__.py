"""Back under IaC: the restored table as a CloudFormation template or Terraform HCL, with the import steps.

A restore makes a new table that no stack or Terraform state owns. ``adopt`` reads it as it stands
(``read``), writes it as one ``AWS::DynamoDB::Table`` with ``DeletionPolicy``/``UpdateReplacePolicy:
Retain`` (``cloudformation``) or one ``aws_dynamodb_table`` with an ``import`` block and
``prevent_destroy`` (``terraform``), and gives the commands that import it: a CloudFormation
``IMPORT`` change set, or ``terraform plan``/``apply``. It changes nothing in AWS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..aws.clients import AwsTarget
from ..aws.tables import validate_table_name
from ..errors import InputError, PreconditionError
from . import cloudformation, terraform
from .read import TableState, read_table

FORMATS = ("cloudformation", "terraform")


@dataclass(frozen=True)
class Adoption:
    """The rendered template (``text``), the commands that import it, and what to know about it."""

    table: str
    format: str
    text: str
    steps: list[str]
    notes: list[str] = field(default_factory=list)
    path: str | None = None

    def commented(self) -> str:
        """``text`` with the steps and notes above it as comments (both YAML and HCL take ``#``)."""
        head = [f"# {self.format} for DynamoDB table {self.table}, written by pitr-runbook adopt", "# import steps:"]
        head += [f"#   {line}" for line in self.steps]
        head += [f"# note: {note}" for note in self.notes]
        return "\n".join(head) + "\n" + self.text


def render(state: TableState, fmt: str, *, file_name: str, stack: str | None = None) -> Adoption:
    if fmt == "cloudformation":
        text, steps = cloudformation.render(state), cloudformation.import_steps(state, file_name, stack)
    elif fmt == "terraform":
        text, steps = terraform.render(state), terraform.import_steps(state, file_name)
    else:
        raise InputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return Adoption(table=state.name, format=fmt, text=text, steps=steps, notes=list(state.notes))


def adopt(target: AwsTarget, table: str, fmt: str, *, out: str | os.PathLike | None = None,
          force: bool = False, stack: str | None = None) -> Adoption:
    """Read ``table`` and render it; with ``out``, write the file (an existing one only with ``force``).

    Nothing is written unless the table was read: a missing table is a :class:`PreconditionError`.
    """
    validate_table_name(table)
    if fmt not in FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    path = Path(out) if out is not None else None
    if path is not None and path.exists() and not force:
        raise PreconditionError(f"{path} exists: choose another --out, or pass --force to overwrite it", table=table)
    state = read_table(target, table)
    default_name = f"{table}.{'yaml' if fmt == 'cloudformation' else 'tf'}"
    adoption = render(state, fmt, file_name=str(path) if path else default_name, stack=stack)
    if path is None:
        return adoption
    _write(path, adoption.commented(), force=force, table=table)
    return Adoption(**{**adoption.__dict__, "path": str(path)})


def _write(path: Path, text: str, *, force: bool, table: str) -> None:
    try:
        if force:  # whole or not at all: a reader never sees half a template
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        else:
            with open(path, "x") as fh:  # exclusive: a file made since the check above is not overwritten
                fh.write(text)
    except FileExistsError:
        raise PreconditionError(f"{path} exists: choose another --out, or pass --force to overwrite it",
                                table=table) from None
    except OSError as err:
        raise InputError(f"cannot write {path} ({err.strerror or err}): choose an --out in a folder you can write to",
                         table=table) from None


__all__ = ["Adoption", "FORMATS", "TableState", "adopt", "read_table", "render"]
