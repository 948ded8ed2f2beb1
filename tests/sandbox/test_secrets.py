"""CloudFormation ``AWS::SecretsManager::Secret`` in the sandbox (``runbook_lib/sandbox/secrets.py``),
over HTTP.

AWS behaviour followed: "AWS::SecretsManager::Secret", AWS CloudFormation Template Reference,
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-secret.html
(Ref and Fn::GetAtt Id return the ARN; "Either SecretString or GenerateSecretString must have a value,
but not both"; GenerateSecretString's fields as GetRandomPassword takes them), and "DeletionPolicy
attribute", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
(a secret is deleted with ForceDeleteWithoutRecovery when its stack is deleted).
"""

from __future__ import annotations

import json
import string

import pytest
import yaml
from botocore.exceptions import ClientError

TEMPLATE = {
    "Resources": {
        "Key": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": "pitr-test-key-digest",
                "Description": "test",
                "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True, "IncludeSpace": False},
            },
        },
    },
    "Outputs": {
        "Arn": {"Value": {"Ref": "Key"}},
        "Id": {"Value": {"Fn::GetAtt": ["Key", "Id"]}},
    },
}


def _create(aws, template: dict, name: str = "secret-stack") -> dict:
    cfn = aws("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def test_generate_secret_string_creates_a_secret_whose_arn_ref_and_getatt_return(aws):
    stack = _create(aws, TEMPLATE)

    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["Arn"] == outputs["Id"]
    assert outputs["Arn"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:pitr-test-key-digest-")
    secret = aws("secretsmanager").get_secret_value(SecretId=outputs["Arn"])
    assert secret["Name"] == "pitr-test-key-digest"
    value = secret["SecretString"]
    assert len(value) == 64 and set(value) <= set(string.ascii_letters + string.digits)
    assert aws("secretsmanager").describe_secret(SecretId=outputs["Arn"])["Description"] == "test"


def test_two_stacks_get_two_different_secrets(aws):
    other = json.loads(json.dumps(TEMPLATE))
    other["Resources"]["Key"]["Properties"]["Name"] = "pitr-other-key-digest"
    a = {o["OutputKey"]: o["OutputValue"] for o in _create(aws, TEMPLATE, "one")["Outputs"]}
    b = {o["OutputKey"]: o["OutputValue"] for o in _create(aws, other, "two")["Outputs"]}

    sm = aws("secretsmanager")
    assert sm.get_secret_value(SecretId=a["Arn"])["SecretString"] != sm.get_secret_value(SecretId=b["Arn"])["SecretString"]


def test_secret_string_template_gets_the_generated_string_under_its_key(aws):
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["Key"]["Properties"]["GenerateSecretString"] = {
        "SecretStringTemplate": '{"user": "app"}', "GenerateStringKey": "password", "PasswordLength": 20,
    }
    arn = {o["OutputKey"]: o["OutputValue"] for o in _create(aws, template)["Outputs"]}["Arn"]

    value = json.loads(aws("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    assert value["user"] == "app" and len(value["password"]) == 20


def test_secret_string_and_generate_secret_string_together_are_refused(aws):
    """AWS fails the stack; the sandbox, as moto does for every resource error, refuses CreateStack
    with ValidationError (said in the extension's docstring): either way no secret is created."""
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["Key"]["Properties"]["SecretString"] = "given"

    with pytest.raises(ClientError) as err:
        _create(aws, template)

    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "not both" in err.value.response["Error"]["Message"]
    assert aws("secretsmanager").list_secrets()["SecretList"] == []


def test_deleting_the_stack_deletes_the_secret_without_a_recovery_window(aws):
    stack = _create(aws, TEMPLATE)
    arn = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Arn"]

    aws("cloudformation").delete_stack(StackName="secret-stack")

    assert aws("secretsmanager").list_secrets(IncludePlannedDeletion=True)["SecretList"] == []
    # so a stack of the same name can be created again at once (the name is free)
    again = _create(aws, TEMPLATE)
    assert again["StackStatus"] == "CREATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in again["Outputs"]}["Arn"] != arn


def test_buffer_template_secret_is_generated_with_64_letters_and_digits():
    """What infra/buffer.yaml asks for: 64 characters without punctuation (about 380 bits), well
    above the 32 bytes codec.KeyDigest requires."""
    from runbook_lib import buffer

    props = buffer.load_template()["Resources"]["KeyDigestSecret"]["Properties"]
    assert "SecretString" not in props
    assert props["GenerateSecretString"]["PasswordLength"] >= 32
    assert props["GenerateSecretString"]["ExcludePunctuation"] is True
    assert yaml  # the template is read with CloudFormation's short tags (buffer.load_template)
