"""SSM Parameter Store as the switch needs it (``runbook_lib/switch.py``): ``PutParameter`` as strict as
AWS about names and types.

moto 5.2.5 over HTTP answers ``GetParameter`` and ``DeleteParameter`` of a missing name with
``ParameterNotFound``, ``PutParameter`` of an existing name without ``Overwrite`` with
``ParameterAlreadyExists``, numbers versions from 1 and keeps 100 of them, and asks for a ``Type``
only on create, as the API reference says ("PutParameter", "GetParameter", "DeleteParameter", AWS
Systems Manager API Reference, https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html).
Where it is more lenient (``tests/sandbox/test_ssm_parameters.py``):

- a name with characters outside ``a-zA-Z0-9_.-`` and ``/`` (a space between characters, ``#``)
  is stored; AWS: "Parameter names can include only the following symbols and letters:
  a-zA-Z0-9_.-" ... "If the specified name for a parameter contains spaces between characters, the
  request fails with a ValidationException error" (PutParameter's ``Name``). The sandbox answers
  ``ValidationException`` (HTTP 400), for spaces as the reference says and for the other characters
  as its own choice of code (the reference names no other); the message is worded by us;
- an overwrite that names another ``Type`` changes the parameter's type (String to SecureString or
  StringList); AWS: ``HierarchyTypeMismatchException``, "Parameter Store doesn't support changing a
  parameter type in a hierarchy. For example, you can't change a parameter from a String type to a
  SecureString type. You must create a new, unique parameter." The sandbox answers that.

Still different from AWS: a deleted name can be created again at once (AWS: "After deleting a
parameter, wait for at least 30 seconds to create a parameter with the same name", advice without
a documented error); no throughput quota (``ThrottlingException``); ``SecureString`` values are
moto's (``kms:<key>:<value>``), not encrypted; ``AllowedPattern`` is stored but never checked
against a value (moto's, unchanged here: the reference does not say which of
``InvalidAllowedPatternException`` and ``ParameterPatternMismatchException`` a refused value gets).
"""

from __future__ import annotations

import re
import threading

from moto.ssm.exceptions import SSMException, ValidationException

_installed = False
_lock = threading.Lock()
_NAME = re.compile(r"^[A-Za-z0-9_./-]+$")


class HierarchyTypeMismatchException(SSMException):
    """HTTP 400; moto 5.2.5 does not define it."""

    def __init__(self, message: str = "Parameter Store doesn't support changing a parameter type"):
        super().__init__("HierarchyTypeMismatchException", message)


def _strict_put(original):
    def put_parameter(self, name, description, value, parameter_type, *args, **kwargs):
        bare = name.strip(" ")
        if not _NAME.fullmatch(bare):
            raise ValidationException(
                f"Parameter name {name!r} is not valid: parameter names can include only a-zA-Z0-9_.- and / "
                "between hierarchy levels, and no spaces")
        existing = self._parameters[name] if name in self._parameters else None
        if existing and parameter_type and parameter_type != existing[-1].parameter_type:
            raise HierarchyTypeMismatchException(
                f"The parameter type can't be changed from {existing[-1].parameter_type} to {parameter_type}: "
                "Parameter Store doesn't support changing a parameter type; create a new parameter")
        # "The service removes any spaces specified for the beginning or end of a parameter name"
        return original(self, bare, description, value, parameter_type, *args, **kwargs)

    put_parameter.__name__ = original.__name__
    return put_parameter


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.ssm.models import SimpleSystemManagerBackend

        SimpleSystemManagerBackend.put_parameter = _strict_put(SimpleSystemManagerBackend.put_parameter)
        _installed = True
