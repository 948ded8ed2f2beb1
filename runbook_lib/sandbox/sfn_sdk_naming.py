"""The naming rule of Step Functions' AWS SDK integrations, and botocore's models under it (pure
functions: ``stepfunctions.py`` applies them to moto's interpreter).

**SDK naming.** An ``arn:aws:states:::aws-sdk:<service>:<action>`` task names its parameters and
its result as the AWS SDK for Java v2 names the members of the service's model (Step Functions
developer guide, "Learning to use AWS service SDK integrations in Step Functions",
https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html, "API naming
conventions": PascalCase, ``EqualsValue`` for ``Equals``). The rule, from the Java SDK's code
generator (aws/aws-sdk-java-v2, ``codegen/.../naming/DefaultNamingStrategy.java``
``getFluentGetterMethodName`` / ``rewriteInvalidMemberName``, ``codegen/.../internal/Utils.java``
``unCapitalize``): lower-case the leading run of capitals except the last one when a lower-case
letter follows it (``UUID`` -> ``uuid``, ``DBClusterIdentifier`` -> ``dbClusterIdentifier``,
``BOOL`` -> ``bool``); a Java keyword or a reserved method name gets ``Value`` appended
(``equals`` -> ``equalsValue``, ``default`` -> ``defaultValue``); Step Functions shows the result
capitalised (``Uuid``, ``DbClusterIdentifier``, ``Bool``, ``EqualsValue``). Per-service renames
in the SDK's ``customization.config`` apply first; the one this sandbox knows is DynamoDB's
``AttributeValue.NULL`` emitted as ``NUL`` (so ``Nul``). Error names are ``<Service>.<Exception>``
(same page: ``AcmPca.ResourceNotFoundException``, ``S3.BucketAlreadyExistsException``), the
service as the SDK names its client (``pascalCase(serviceId)`` without a leading ``Amazon``/``Aws``
or trailing ``Service``: ``DynamoDb``, ``Lambda``, ``Sfn``) and the exception as the SDK names its
class (``getExceptionName``: ``Exception`` appended when missing, ``Fault`` replaced).

``operation_model`` finds the botocore operation an ``aws-sdk:<service>:<action>`` names;
``to_botocore`` / ``to_sdk`` translate a task's parameters and result between the two namings;
``sdk_error_name`` names an error as a task reports it.

Where it still differs from AWS: services or actions the sandbox's botocore does not know, and SDK
customizations other than DynamoDB's ``NUL``, are not renamed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_JAVA_KEYWORDS = frozenset(
    """abstract assert boolean break byte case catch char class const continue default do double else
    enum extends false final finally float for goto if implements import instanceof int interface long
    native new null package private protected public return short static strictfp super switch
    synchronized this throw throws transient true try void volatile while""".split()
)
_RESERVED_POJO_METHODS = frozenset(
    ["equals", "finalize", "getClass", "hashCode", "notify", "notifyAll", "toString", "wait", "builder", "sdkFields", "toBuilder"]
)
_RESERVED_STRUCTURE_METHODS = _RESERVED_POJO_METHODS | {"overrideConfiguration", "sdkHttpResponse"}
_RESERVED_EXCEPTION_METHODS = _RESERVED_POJO_METHODS | {
    "awsErrorDetails", "cause", "fillInStackTrace", "getCause", "getLocalizedMessage", "getMessage",
    "getStackTrace", "getSuppressed", "isClockSkewException", "isThrottlingException", "printStackTrace",
    "requestId", "retryable", "serializableBuilderClass", "statusCode",
}  # fmt: skip

#: the SDK's customization.config renames (``emitPropertyName``) for the services known here:
#: (botocore service name, shape name, member name) -> the name the SDK generates from
_EMIT_PROPERTY_NAMES = {("dynamodb", "AttributeValue", "NULL"): "NUL"}


def _uncapitalize(name: str) -> str:
    """The Java SDK's ``Utils.unCapitalize``: ``UUID`` -> ``uuid``, ``DBCluster`` -> ``dbCluster``."""
    if not name.strip():
        raise ValueError("a member name cannot be empty")
    out = []
    i = 0
    while True:
        out.append(name[i].lower())
        i += 1
        if not (i < len(name) and name[i].isupper()):
            break
        if i < len(name) - 1 and name[i + 1].islower():
            break
    return "".join(out) + name[i:]


def _capitalize(name: str) -> str:
    return name[:1].upper() + name[1:]


def _is_java_keyword(word: str) -> bool:
    return word in _JAVA_KEYWORDS or word.lower() in _JAVA_KEYWORDS


def sdk_member_name(member: str, *, exception: bool = False) -> str:
    """The name a Step Functions aws-sdk task uses for the service model's member ``member``.

    >>> [sdk_member_name(n) for n in ("UUID", "DBClusterIdentifier", "BOOL", "TableName", "Equals")]
    ['Uuid', 'DbClusterIdentifier', 'Bool', 'TableName', 'EqualsValue']
    """
    getter = _uncapitalize(member)
    reserved = _RESERVED_EXCEPTION_METHODS if exception else _RESERVED_STRUCTURE_METHODS
    if _is_java_keyword(getter) or getter in reserved:
        getter = _uncapitalize(getter + "Value")
    return _capitalize(getter)


def split_on_word_boundaries(text: str) -> list[str]:
    """The Java SDK's ``CodegenNamingUtils.splitOnWordBoundaries``."""
    result = re.sub(r"[^A-Za-z0-9]+", " ", text)
    result = re.sub(r"([^a-z]{2,})v([0-9]+)", r"\1 v\2 ", result)
    result = re.sub(r"([^A-Z]{2,})V([0-9]+)", r"\1 V\2 ", result)
    result = " ".join(re.split(r"(?<=[a-z])(?=[A-Z](?:[a-zA-Z]|[0-9]))", result))
    result = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", result)
    result = re.sub(r"([0-9])([a-zA-Z])", r"\1 \2", result)
    return re.sub(r" +", " ", result).strip().split(" ")


def pascal_case(text: str) -> str:
    """The Java SDK's ``CodegenNamingUtils.pascalCase``: ``DynamoDB`` -> ``DynamoDb``."""
    return "".join(_capitalize(w.lower()) for w in split_on_word_boundaries(text) if w)


def sdk_service_name(service_id: str) -> str:
    """The SDK's client name for a botocore ``serviceId``: ``DynamoDB`` -> ``DynamoDb``, ``ACM PCA`` -> ``AcmPca``."""
    name = pascal_case(service_id)
    for prefix in ("Amazon", "Aws"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name.endswith("Service"):
        name = name[: -len("Service")]
    return name


def sdk_exception_name(error_shape: str) -> str:
    """The SDK's exception class for an error shape: ``BucketAlreadyExists`` -> ``BucketAlreadyExistsException``."""
    if error_shape.endswith("Fault"):
        return pascal_case(error_shape[: -len("Fault")]) + "Exception"
    if error_shape.endswith("Exception"):
        return pascal_case(error_shape)
    return pascal_case(error_shape) + "Exception"


#: Step Functions' service names in aws-sdk ARNs that are not botocore's
_SERVICE_OVERRIDES = {"sfn": "stepfunctions", "states": "stepfunctions"}


@lru_cache(maxsize=None)
def _botocore_service(sfn_service: str):
    """botocore's model of the service an aws-sdk ARN names, or None when this botocore has none."""
    from botocore.exceptions import UnknownServiceError

    session = _session()
    name = _SERVICE_OVERRIDES.get(sfn_service, sfn_service)
    candidates = [name] + [s for s in session.get_available_services() if s.replace("-", "") == name.lower()]
    for candidate in candidates:
        try:
            return session.get_service_model(candidate)
        except UnknownServiceError:
            continue
    return None


@lru_cache(maxsize=1)
def _session():
    import botocore.session

    return botocore.session.get_session()


@lru_cache(maxsize=None)
def operation_model(sfn_service: str, action: str):
    """botocore's operation for ``aws-sdk:<sfn_service>:<action>``, or None when unknown here."""
    service = _botocore_service(sfn_service)
    if service is None:
        return None
    name = action[:1].upper() + action[1:]
    if name not in service.operation_names:
        return None
    return service.operation_model(name)


def _member_names(shape, service: str) -> dict[str, str]:
    """SDK name -> botocore member name, for a structure shape of ``service`` (botocore's name)."""
    exception = bool(shape.metadata.get("exception"))
    return {
        sdk_member_name(_EMIT_PROPERTY_NAMES.get((service, shape.name, member), member), exception=exception): member
        for member in shape.members
    }


def to_botocore(value: Any, shape, service: str = "") -> Any:
    """Task parameters under SDK names -> the same under botocore's member names (unknown keys kept)."""
    if shape is None or getattr(shape, "is_document_type", False):
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        names = _member_names(shape, service)
        return {
            names.get(k, k): to_botocore(v, shape.members[names[k]] if k in names else None, service)
            for k, v in value.items()
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [to_botocore(v, shape.member, service) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: to_botocore(v, shape.value, service) for k, v in value.items()}
    return value  # scalars as given, as moto's aws-sdk task passed them


def to_sdk(value: Any, shape, service: str = "") -> Any:
    """A botocore response -> the result a Step Functions aws-sdk task hands on (SDK names)."""
    if shape is None or getattr(shape, "is_document_type", False):
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        exception = bool(shape.metadata.get("exception"))
        out = {}
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                out[key] = item
                continue
            emitted = _EMIT_PROPERTY_NAMES.get((service, shape.name, key), key)
            out[sdk_member_name(emitted, exception=exception)] = to_sdk(item, member, service)
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [to_sdk(v, shape.member, service) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: to_sdk(v, shape.value, service) for k, v in value.items()}
    return value


def sdk_error_name(sfn_service: str, error_code: str) -> str:
    """``<Service>.<Exception>`` for an error of an aws-sdk task: ``Lambda.ResourceConflictException``."""
    service = _botocore_service(sfn_service)
    if service is None:
        return f"{pascal_case(sfn_service)}.{sdk_exception_name(error_code)}"
    shape_name = error_code
    for shape in service.error_shapes:
        if shape.error_code == error_code or shape.name == error_code:
            shape_name = shape.name
            break
    return f"{sdk_service_name(service.metadata['serviceId'])}.{sdk_exception_name(shape_name)}"
