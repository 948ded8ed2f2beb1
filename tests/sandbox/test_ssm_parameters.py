"""SSM Parameter Store on the sandbox, over HTTP, against the API reference the switch follows
("PutParameter", "GetParameter", "DeleteParameter", AWS Systems Manager API Reference,
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html,
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html,
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DeleteParameter.html)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def _code(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_versions_overwrite_and_not_found_answer_as_the_api_reference_says(aws):
    ssm = aws("ssm")
    # GetParameter / DeleteParameter of a missing name: ParameterNotFound, HTTP 400
    assert _code(lambda: ssm.get_parameter(Name="/app/table")) == ("ParameterNotFound", 400)
    assert _code(lambda: ssm.delete_parameter(Name="/app/table")) == ("ParameterNotFound", 400)
    # "You must specify a parameter type when creating a parameter"
    assert _code(lambda: ssm.put_parameter(Name="/app/table", Value="orders"))[0] == "ValidationException"
    assert ssm.put_parameter(Name="/app/table", Value="orders", Type="String")["Version"] == 1
    # Overwrite defaults to false: "The parameter already exists"
    assert _code(lambda: ssm.put_parameter(Name="/app/table", Value="x", Type="String")) == ("ParameterAlreadyExists", 400)
    # with Overwrite, each write is a new version; the type need not be given on update
    assert ssm.put_parameter(Name="/app/table", Value="orders-restored", Overwrite=True)["Version"] == 2
    p = ssm.get_parameter(Name="/app/table")["Parameter"]
    assert (p["Value"], p["Version"], p["Type"]) == ("orders-restored", 2, "String")
    assert ssm.get_parameter(Name="/app/table:1")["Parameter"]["Value"] == "orders"
    ssm.delete_parameter(Name="/app/table")
    assert _code(lambda: ssm.get_parameter(Name="/app/table"))[0] == "ParameterNotFound"


def test_a_parameter_s_type_cannot_be_changed_by_an_overwrite(aws):
    """HierarchyTypeMismatchException: "Parameter Store doesn't support changing a parameter type in a
    hierarchy. For example, you can't change a parameter from a String type to a SecureString type."
    (PutParameter, Errors). moto changed the type."""
    ssm = aws("ssm")
    ssm.put_parameter(Name="/app/table", Value="orders", Type="String")
    for kind in ("SecureString", "StringList"):
        assert _code(lambda: ssm.put_parameter(Name="/app/table", Value="a", Type=kind, Overwrite=True)) == (
            "HierarchyTypeMismatchException", 400)
    p = ssm.get_parameter(Name="/app/table")["Parameter"]
    assert (p["Type"], p["Value"], p["Version"]) == ("String", "orders", 1)
    # naming the same type is an ordinary overwrite
    assert ssm.put_parameter(Name="/app/table", Value="b", Type="String", Overwrite=True)["Version"] == 2


@pytest.mark.parametrize("name", ["/app/orders table", "/app/orders#1", "/app/orders$"])
def test_a_name_outside_the_allowed_characters_is_refused(aws, name):
    """PutParameter's Name: "Parameter names can include only the following symbols and letters:
    a-zA-Z0-9_.-" ... "If the specified name for a parameter contains spaces between characters, the
    request fails with a ValidationException error." moto stored them."""
    ssm = aws("ssm")
    assert _code(lambda: ssm.put_parameter(Name=name, Value="orders", Type="String")) == ("ValidationException", 400)


def test_spaces_around_a_name_are_removed(aws):
    """"The service removes any spaces specified for the beginning or end of a parameter name." """
    ssm = aws("ssm")
    ssm.put_parameter(Name=" /app/table ", Value="orders", Type="String")
    assert ssm.get_parameter(Name="/app/table")["Parameter"]["Value"] == "orders"
