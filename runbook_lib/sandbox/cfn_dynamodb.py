"""CloudFormation's ``AWS::DynamoDB::Table`` in the sandbox: stacks create it as AWS does, and import it.

``pitr-runbook adopt`` writes the restored table as a template to import with an ``IMPORT`` change
set. moto 5.2.5 falls short of AWS on both halves:

- Creating the resource, moto ignored ``TimeToLiveSpecification``, ``PointInTimeRecoverySpecification``
  (and its ``RecoveryPeriodInDays``), ``TableClass`` and ``OnDemandThroughput``, and passed
  ``SSESpecification`` on in the API's shape, so ``SSEEnabled: true`` (the reference's name; the API
  says ``Enabled``) left the table on the AWS owned key. Here the table is created with all of them,
  as the CloudFormation Template Reference, AWS::DynamoDB::Table
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-dynamodb-table.html)
  describes: TTL on the named attribute, PITR with its recovery period (default 35 days), the table
  class, the on-demand maximums, and SSE: ``SSEEnabled`` false or absent is the AWS owned key, true
  without ``KMSMasterKeyId`` the AWS managed key ``alias/aws/dynamodb``, ``KMSMasterKeyId`` (an ID,
  ARN, alias name or alias ARN) another key, described by its key ARN.
- The key moto makes for ``alias/aws/dynamodb`` answered ``KeyManager: CUSTOMER`` to
  ``kms:DescribeKey``; it is an AWS managed key, ``KeyManager: AWS`` (AWS KMS API Reference,
  KeyMetadata).
- ``CreateChangeSet`` with ``ChangeSetType=IMPORT`` was treated as ``CREATE``: the change set
  would have made a second table. Here, following "Import AWS resources into a CloudFormation stack"
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources.html) and the
  API Reference's CreateChangeSet/ExecuteChangeSet: ``ResourcesToImport`` is required; each entry
  names a resource of the template of the same type, with a ``DeletionPolicy`` (otherwise
  ``ValidationError``: "The following resources to import [...] must have DeletionPolicy attribute
  specified in the template."), identified by its ``TableName``, equal to the template's; an import
  adds no ``Outputs`` ("As part of the import operation, you cannot modify or add [Outputs]"). The
  change set lists one ``Import`` change per resource. A table that does not exist, or that belongs
  to another stack, fails the change set (``FAILED``, ``UNAVAILABLE``); otherwise it is
  ``CREATE_COMPLETE``/``AVAILABLE``. ``ExecuteChangeSet`` adopts the existing table, creating and
  changing nothing: the stack goes ``IMPORT_IN_PROGRESS`` -> ``IMPORT_COMPLETE``, the table is its
  resource (``IMPORT_COMPLETE``), and, with ``DeletionPolicy: Retain``, deleting the stack keeps it.

Where it still differs from AWS: only ``AWS::DynamoDB::Table`` can be imported (any other type is a
``ValidationError`` naming the sandbox), and only into a new stack (or one still in
``REVIEW_IN_PROGRESS``), with every resource of the template imported; AWS also imports into an
existing stack. The wording of a failed change set's ``StatusReason`` is ours (AWS documents the
check, not its text). Stack-level tags are not applied to the imported table. Nothing compares the
template with the table (neither does AWS at import; drift detection is not implemented here).
"""

from __future__ import annotations

import threading
from typing import Any

_installed = False
_lock = threading.Lock()

RESOURCE_TYPE = "AWS::DynamoDB::Table"
#: AWS's status reason of an import change set ready to execute
IMPORT_READY_REASON = ("Verify that resources and their properties defined in the template match the intended "
                       "configuration of the resource import to avoid unexpected changes.")


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


# -- creating the resource ---------------------------------------------------------------------


def _api_sse(spec: dict[str, Any] | None, account_id: str, region: str) -> dict[str, Any] | None:
    """The template's SSESpecification in the API's shape; None for the AWS owned key."""
    if not spec or not _flag(spec.get("SSEEnabled")):
        return None
    out: dict[str, Any] = {"Enabled": True, "SSEType": spec.get("SSEType") or "KMS"}
    key = spec.get("KMSMasterKeyId")
    if key:
        from moto.kms import kms_backends

        try:  # described as the key's ARN, whichever form named it
            out["KMSMasterKeyId"] = kms_backends[account_id][region].describe_key(key).arn
        except Exception:
            out["KMSMasterKeyId"] = key
    return out


def _wrap_create(original):
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.dynamodb.models import dynamodb_backends

        from .table_settings_state import set_table_options, validate_table_options

        props = dict(cloudformation_json.get("Properties") or {})
        options = {k: props[k] for k in ("TableClass", "OnDemandThroughput") if props.get(k)}
        try:
            validate_table_options(options)
        except Exception as err:  # DynamoDB's ValidationException, answered as CloudFormation's code
            from moto.cloudformation.exceptions import ValidationError

            raise ValidationError(message=getattr(err, "message", str(err))) from None
        props["SSESpecification"] = _api_sse(props.get("SSESpecification"), account_id, region_name)
        table = original(cls, resource_name, {**cloudformation_json, "Properties": props}, account_id, region_name, **kwargs)
        backend = dynamodb_backends[account_id][region_name]
        set_table_options(table, options)
        ttl = props.get("TimeToLiveSpecification") or {}
        if _flag(ttl.get("Enabled")) and ttl.get("AttributeName"):
            backend.update_time_to_live(table.name, {"Enabled": True, "AttributeName": ttl["AttributeName"]})
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        if _flag(pitr.get("PointInTimeRecoveryEnabled")):
            spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
            if pitr.get("RecoveryPeriodInDays") is not None:
                spec["RecoveryPeriodInDays"] = int(pitr["RecoveryPeriodInDays"])
            backend.update_continuous_backups(table.name, spec)
        return table

    return classmethod(create_from_cloudformation_json)


def _wrap_default_key(original):
    def _get_default_encryption_key(self, account_id: str, region: str) -> str:
        from moto.kms import kms_backends

        arn = original(self, account_id, region)
        kms_backends[account_id][region].describe_key("alias/aws/dynamodb").key_manager = "AWS"
        return arn

    return _get_default_encryption_key


# -- IMPORT change sets ----------------------------------------------------------------------------


def _table_in_a_stack(cfn_backend, name: str) -> str | None:
    """The stack that already holds table ``name``, if any."""
    from moto.dynamodb.models.table import Table

    for stack in cfn_backend.stacks.values():
        if stack.status == "DELETE_COMPLETE":
            continue
        for resource in stack.resource_map._parsed_resources.values():
            if isinstance(resource, Table) and resource.name == name:
                return stack.name
    return None


def _validate_import(template: dict[str, Any], to_import: list[dict[str, Any]]) -> None:
    from moto.cloudformation.exceptions import ValidationError

    if not to_import:
        raise ValidationError(message="ResourcesToImport must be specified for a change set of type IMPORT")
    if template.get("Outputs"):
        raise ValidationError(message="As part of the import operation, you cannot modify or add [Outputs]")
    resources = template.get("Resources") or {}
    logical_ids = [r.get("LogicalResourceId") for r in to_import]
    for entry in to_import:
        logical, type_ = entry.get("LogicalResourceId"), entry.get("ResourceType")
        if logical not in resources:
            raise ValidationError(message=f"Resource {logical} to import does not exist in the template")
        if resources[logical].get("Type") != type_:
            raise ValidationError(message=f"Resource {logical} to import has type {type_}, the template says "
                                          f"{resources[logical].get('Type')}")
        if type_ != RESOURCE_TYPE:
            raise ValidationError(message=f"the sandbox imports only {RESOURCE_TYPE} resources, not {type_}")
    missing_policy = [lid for lid in logical_ids if "DeletionPolicy" not in resources[lid]]
    if missing_policy:
        raise ValidationError(message=f"The following resources to import [{', '.join(missing_policy)}] must have "
                                      "DeletionPolicy attribute specified in the template.")
    others = sorted(set(resources) - set(logical_ids))
    if others:
        raise ValidationError(message=f"the sandbox imports only into a new stack whose every resource is imported: "
                                      f"[{', '.join(others)}] are not in ResourcesToImport")
    for entry in to_import:
        identifier = entry.get("ResourceIdentifier") or {}
        name = identifier.get("TableName")
        if not name or set(identifier) != {"TableName"}:
            raise ValidationError(message=f"Resource {entry['LogicalResourceId']}: {RESOURCE_TYPE} is identified by "
                                          "TableName, and only by it")
        in_template = (resources[entry["LogicalResourceId"]].get("Properties") or {}).get("TableName")
        if in_template != name:
            raise ValidationError(message=f"Resource {entry['LogicalResourceId']}: the template's TableName "
                                          f"{in_template!r} is not the identifier's {name!r}")


def _create_import_change_set(self) -> Any:
    """``CreateChangeSet`` with ``ChangeSetType=IMPORT`` (the handler's body for that type)."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import Change, ChangeSet, Stack
    from moto.cloudformation.utils import generate_changeset_id, generate_stack_id, validate_create_change_set
    from moto.core.responses import ActionResult
    from moto.dynamodb.models import dynamodb_backends

    backend = self.cloudformation_backend
    stack_name, change_set_name = self._get_param("StackName"), self._get_param("ChangeSetName")
    body = self._get_param("TemplateBody")
    if self._get_param("TemplateURL"):
        body = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
    if not body:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    validate_create_change_set(change_set_name)
    template = Stack.parse_template(body)
    to_import = self._get_param("ResourcesToImport", [])
    _validate_import(template, to_import)
    with _lock:
        existing = [s for s in backend.stacks.values() if s.name == stack_name and s.status != "DELETE_COMPLETE"]
        if existing and existing[0].status != "REVIEW_IN_PROGRESS":
            raise ValidationError(message=f"the sandbox imports only into a new stack; {stack_name} exists "
                                          f"({existing[0].status})")
        if existing:
            stack = existing[0]
        else:
            stack = Stack(stack_id=generate_stack_id(stack_name, backend.region_name, backend.account_id),
                          name=stack_name, template={}, parameters={}, account_id=backend.account_id,
                          region_name=backend.region_name, tags={t["Key"]: t["Value"] for t in self._get_param("Tags", [])},
                          role_arn=self._get_param("RoleARN"))
            stack.status = "REVIEW_IN_PROGRESS"
            stack._add_stack_event("REVIEW_IN_PROGRESS", resource_status_reason="User Initiated")
            backend.stacks[stack.stack_id] = stack
        change_set = ChangeSet(
            change_set_type="IMPORT", change_set_id=generate_changeset_id(change_set_name, backend.region_name, backend.account_id),
            change_set_name=change_set_name, stack=stack, template=body, parameters={},
            description=self._get_param("Description"), tags={}, role_arn=self._get_param("RoleARN"),
        )
        changes, problems = [], []
        tables = dynamodb_backends[backend.account_id][backend.region_name].tables
        for entry in to_import:
            name = entry["ResourceIdentifier"]["TableName"]
            change = Change(action="Import", logical_resource_id=entry["LogicalResourceId"], resource_type=RESOURCE_TYPE)
            change.physical_resource_id = name
            changes.append(change)
            owner = _table_in_a_stack(backend, name)
            if name not in tables:
                problems.append(f"Resource {entry['LogicalResourceId']} ({{TableName={name}}}) does not exist")
            elif owner:
                problems.append(f"Resource {entry['LogicalResourceId']} ({{TableName={name}}}) already belongs to stack {owner}")
        change_set.changes = changes
        change_set.resources_to_import = [dict(e) for e in to_import]
        if problems:
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.status_reason = "; ".join(problems)
        else:
            change_set.status, change_set.execution_status = "CREATE_COMPLETE", "AVAILABLE"
            change_set.status_reason = IMPORT_READY_REASON
        backend.change_sets[change_set.change_set_id] = change_set
    return ActionResult({"Id": change_set.change_set_id, "StackId": stack.stack_id})


def _resource_event(stack, logical_id: str, physical_id: str, status: str, reason: str) -> None:
    from moto.cloudformation.models import Event

    stack.events.append(Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                              physical_resource_id=physical_id, resource_type=RESOURCE_TYPE, resource_status=status,
                              resource_status_reason=reason, resource_properties=None))


def _execute_import(backend, change_set) -> None:
    from moto.cloudformation.exceptions import CloudFormationError
    from moto.dynamodb.models import dynamodb_backends

    class InvalidChangeSetStatus(CloudFormationError):
        code = "InvalidChangeSetStatus"

    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
                                     f"status of [{change_set.status}]")
    stack = backend.stacks[change_set.stack_id]
    tables = dynamodb_backends[backend.account_id][backend.region_name].tables
    stack._add_stack_event("IMPORT_IN_PROGRESS", resource_status_reason="User Initiated")
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    stack.template = change_set.template
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.resource_map = stack._create_resource_map()
    for entry in change_set.resources_to_import:
        logical, name = entry["LogicalResourceId"], entry["ResourceIdentifier"]["TableName"]
        _resource_event(stack, logical, name, "IMPORT_IN_PROGRESS", "Resource import started.")
        table = tables.get(name)
        if table is None:
            _resource_event(stack, logical, name, "IMPORT_FAILED", f"Table {name} does not exist")
            stack.template_dict = {}  # rolled back: the stack holds nothing
            stack.resource_map = stack._create_resource_map()
            stack.status = "IMPORT_ROLLBACK_COMPLETE"
            stack._add_stack_event("IMPORT_ROLLBACK_COMPLETE")
            change_set.execution_status = "EXECUTE_FAILED"
            return
        table.cf_resource_type = RESOURCE_TYPE
        table.logical_resource_id = logical
        stack.resource_map._parsed_resources[logical] = table
        _resource_event(stack, logical, name, "IMPORT_COMPLETE", "Resource import completed.")
    stack.output_map = stack._create_output_map()
    stack.status = "IMPORT_COMPLETE"
    stack._add_stack_event("IMPORT_COMPLETE")
    change_set.execution_status = "EXECUTE_COMPLETE"


def _wrap_create_change_set(original):
    def create_change_set(self):
        if self._get_param("ChangeSetType") == "IMPORT":
            return _create_import_change_set(self)
        return original(self)

    return create_change_set


def _wrap_execute_change_set(original):
    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name
             and (stack_name is None or cs.stack_name == stack_name or cs.stack_id == stack_name)), None)
        if change_set is not None and change_set.change_set_type == "IMPORT":
            with _lock:
                return _execute_import(self, change_set)
        return original(self, change_set_name, stack_name)

    return execute_change_set


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.dynamodb.models.table import Table

    Table.create_from_cloudformation_json = _wrap_create(Table.create_from_cloudformation_json.__func__)
    Table._get_default_encryption_key = _wrap_default_key(Table._get_default_encryption_key)
    CloudFormationResponse.create_change_set = _wrap_create_change_set(CloudFormationResponse.create_change_set)
    CloudFormationBackend.execute_change_set = _wrap_execute_change_set(CloudFormationBackend.execute_change_set)
