"""Errors an operator can act on.

One root, :class:`RunbookError`; every message names the remedy. Fields carry the table, the
step and the AWS error code so that callers (the CLI, the notebooks, the report) can act on them
without parsing text. Item attribute values never appear in a message.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Root of every error this package raises on purpose.

    ``exit_code`` is what ``pitr-runbook`` exits with when this error ends a command.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        step: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.table = table
        self.step = step
        self.code = code

    def __str__(self) -> str:
        return self.message


class InputError(RunbookError):
    """A parameter is malformed or contradicts another one. Nothing was changed."""


class PreconditionError(RunbookError):
    """AWS is not in the state this step needs (PITR off, target exists, ...). Nothing was changed."""


class RestoreError(RunbookError):
    """The restore failed, or did not finish within its timeout."""


class BufferError(RunbookError):  # noqa: A001 - the CDC buffer, not the builtin
    """The change-data-capture buffer could not be deployed, operated or torn down."""


class CutoverError(RunbookError):
    """Cutover cannot proceed safely (writers still active, buffer not drained)."""


from .aws.codes import ACCESS_DENIED_CODES  # noqa: E402,F401 - AccessDeniedError.from_client_error reads it

#: Where the operator's permissions are written down; every remedy points there.
POLICY_FILE = "infra/operator-policy.json"
POLICY_README_SECTION = 'README, "Running it on AWS"'


class AccessDeniedError(RunbookError):
    """IAM refused a call the runbook needs: the message names the action, the resource and the
    statement of ``infra/operator-policy.json`` that grants it.

    Built from AWS's own message, which reads (DynamoDB, Lambda, SQS, CloudFormation, S3 and IAM
    word it alike) ``User: <principal> is not authorized to perform: <action> on resource: <arn>
    because ...``; where AWS names no action (EC2's encoded message, S3's bare "Access Denied") the
    operation botocore called stands in for it.
    """

    def __init__(
        self,
        *,
        action: str | None,
        resource: str | None,
        principal: str | None = None,
        operation: str | None = None,
        code: str = "AccessDeniedException",
        statement: str | None = None,
        step: str | None = None,
    ) -> None:
        self.action, self.resource, self.principal, self.operation = action, resource, principal, operation
        self.statement = statement
        what = action or (f"the {operation} operation" if operation else "a call")
        where = f" on {resource}" if resource else ""
        who = f" for {principal}" if principal else ""
        if statement:
            remedy = f'grant it: statement "{statement}" of {POLICY_FILE} ({POLICY_README_SECTION})'
        else:
            remedy = f"grant it as {POLICY_FILE} does ({POLICY_README_SECTION}); preflight lists what is missing"
        super().__init__(f"access denied ({code}): {what}{where}{who} is not allowed: {remedy}", step=step, code=code)

    @classmethod
    def from_message(cls, text: str, *, code: str | None = None, operation: str | None = None,
                     step: str | None = None) -> "AccessDeniedError | None":
        """The error described by ``text`` (a ClientError's ``str()`` or AWS's message), or None when
        ``text`` is not an access denial."""
        import re

        m_code = re.search(r"An error occurred \((\w+)\) when calling the (\w+) operation", text)
        if m_code:
            code, operation = code or m_code.group(1), operation or m_code.group(2)
        authorized = re.search(
            r"(?:User|Principal): (?P<who>\S+) is not authorized to perform: (?P<action>[\w-]+:[\w*]+)"
            r"(?: on resource: \"?(?P<resource>[^\s\"]+?)\"?(?=\s|$|\.\s|\.$))?",
            text,
        )
        if code not in ACCESS_DENIED_CODES and not authorized:
            return None
        action = authorized.group("action") if authorized else None
        resource = authorized.group("resource") if authorized else None
        principal = authorized.group("who") if authorized else None
        return cls(
            action=action, resource=resource, principal=principal, operation=operation,
            code=code or "AccessDeniedException", statement=policy_statement_for(action), step=step,
        )

    @classmethod
    def from_client_error(cls, exc, *, step: str | None = None) -> "AccessDeniedError | None":
        """From a botocore ``ClientError``; None when it is not an access denial."""
        error = getattr(exc, "response", {}).get("Error", {})
        return cls.from_message(
            f"{error.get('Message', '')}", code=error.get("Code"), operation=getattr(exc, "operation_name", None),
            step=step,
        )


def policy_statement_for(action: str | None) -> str | None:
    """The ``Sid`` of the statement of ``infra/operator-policy.json`` that allows ``action``, if any."""
    if not action:
        return None
    try:
        from .permissions import statement_for_action
    except ImportError:  # pragma: no cover
        return None
    return statement_for_action(action)
