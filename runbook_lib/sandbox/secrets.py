"""CloudFormation ``AWS::SecretsManager::Secret`` in the sandbox.

The buffer stack (``infra/buffer.yaml``) creates the secret that keys its key digest
(:class:`runbook_lib.cdc.codec.KeyDigest`) with ``GenerateSecretString``. moto 5.2's CloudFormation
has no model for ``AWS::SecretsManager::Secret``: it logs "No Moto CloudFormation support" and skips
the resource, so the stack would come up without its secret and ``!Ref`` of it would name nothing.
This extension adds the model, following the CloudFormation reference (AWS::SecretsManager::Secret,
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-secret.html):

- ``Name`` (optional; otherwise a generated name), ``Description``, ``KmsKeyId``, ``Tags``;
- ``SecretString`` or ``GenerateSecretString``, **not both** (CloudFormation documents "Either
  SecretString or GenerateSecretString must have a value, but not both");
  ``GenerateSecretString`` takes ``PasswordLength`` (default 32), ``ExcludeCharacters``,
  ``ExcludeNumbers``, ``ExcludePunctuation``, ``ExcludeUppercase``, ``ExcludeLowercase``,
  ``IncludeSpace``, ``RequireEachIncludedType`` (default true), and ``SecretStringTemplate`` with
  ``GenerateStringKey`` (the generated string is added to the template's JSON under that key);
  neither given: an empty-template 32-character string, as the reference says;
- ``Ref`` and ``Fn::GetAtt Id`` return the secret's ARN;
- deleting the stack deletes the secret at once, without a recovery window (CloudFormation deletes
  a secret with ``ForceDeleteWithoutRecovery``; DeletionPolicy reference), so a stack of the same
  name can be created again at once.

Where it still differs from AWS: invalid secret properties make ``CreateStack`` itself answer
``ValidationError`` (HTTP 400), as moto answers every resource's error, where AWS accepts the call
and fails the stack (``CREATE_FAILED``, then rolled back); the generated string comes from moto's ``random_password`` (its
character classes are AWS's: letters, digits and ``!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~``; its
randomness is Python's ``random``, not a CSPRNG: fine for a stand-in, never for a real secret);
an update replaces the secret's value only when ``SecretString`` changes, as the stack never
updates it; ``ReplicaRegions`` is ignored; no resource policy (``AWS::SecretsManager::ResourcePolicy``
is not modelled).
"""

from __future__ import annotations

import json
from typing import Any

_installed = False

#: GenerateSecretString's PasswordLength bounds (GetRandomPassword reference: 1-4096; default 32)
_LENGTH = (1, 4096)
_DEFAULT_LENGTH = 32


def _flag(props: dict[str, Any], name: str, default: bool) -> bool:
    value = props.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def generate(spec: dict[str, Any] | None) -> str:
    """The secret string ``GenerateSecretString`` describes."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.secretsmanager.utils import random_password

    spec = dict(spec or {})
    try:
        length = int(spec.get("PasswordLength", _DEFAULT_LENGTH))
    except (TypeError, ValueError):
        raise ValidationError(message="GenerateSecretString.PasswordLength must be a number") from None
    if not _LENGTH[0] <= length <= _LENGTH[1]:
        raise ValidationError(message=f"GenerateSecretString.PasswordLength must be {_LENGTH[0]}..{_LENGTH[1]}")
    value = random_password(
        length,
        str(spec.get("ExcludeCharacters", "")),
        _flag(spec, "ExcludeNumbers", False),
        _flag(spec, "ExcludePunctuation", False),
        _flag(spec, "ExcludeUppercase", False),
        _flag(spec, "ExcludeLowercase", False),
        _flag(spec, "IncludeSpace", False),
        _flag(spec, "RequireEachIncludedType", True),
    )
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if (template is None) != (key is None):
        raise ValidationError(message="GenerateSecretString needs SecretStringTemplate and GenerateStringKey together")
    if template is None:
        return value
    try:
        document = json.loads(template)
    except ValueError:
        raise ValidationError(message="GenerateSecretString.SecretStringTemplate must be a JSON object") from None
    if not isinstance(document, dict):
        raise ValidationError(message="GenerateSecretString.SecretStringTemplate must be a JSON object")
    document[str(key)] = value
    return json.dumps(document)


def _install_model() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class SandboxSecret(CloudFormationModel):
        def __init__(self, account_id: str, region: str, arn: str, name: str) -> None:
            self.account_id = account_id
            self.region = region
            self.arn = arn
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.arn  # Ref returns the ARN

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Id"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            if attribute_name == "Id":
                return self.arn
            raise UnformattedGetAttTemplateException()

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[override]
            props = cloudformation_json.get("Properties") or {}
            if "SecretString" in props and "GenerateSecretString" in props:
                raise ValidationError(message="Either SecretString or GenerateSecretString must have a value, but not both")
            if "SecretString" in props:
                value = str(props["SecretString"])
            else:
                value = generate(props.get("GenerateSecretString"))
            name = props.get("Name") or resource_name
            backend = secretsmanager_backends[account_id][region_name]
            answer = backend.create_secret(
                name=name,
                secret_string=value,
                secret_binary=None,
                description=props.get("Description"),
                tags=props.get("Tags") or [],
                kms_key_id=props.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
            data = json.loads(answer) if isinstance(answer, str) else dict(answer)
            return cls(account_id, region_name, data["ARN"], data.get("Name", name))

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # type: ignore[override]
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[override]
            return None

        def delete(self, account_id: str, region_name: str) -> None:
            backend = secretsmanager_backends[account_id][region_name]
            if self.arn in backend.secrets or self.name in backend.secrets:
                backend.delete_secret(self.arn, None, True)

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def install() -> None:
    global _installed
    if _installed:
        return
    _install_model()
    _installed = True
