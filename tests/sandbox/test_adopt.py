"""``pitr-runbook adopt``: the table as it stands, as CloudFormation (linted, imported) and Terraform HCL.

Tables made with plain boto3 on the sandbox, each a mix of what a restored table can carry: hash or
hash+range keys, GSIs and LSIs, provisioned or on-demand, stream, TTL, PITR with a recovery period,
tags over several pages, deletion protection, table class, the three kinds of encryption at rest.
"""

from __future__ import annotations


import json


import hcl2
import pytest
import yaml
from botocore.exceptions import ClientError
from cfnlint.api import ManualArgs, lint
from hcl2.utils import SerializationOptions

from runbook_lib import cli
from runbook_lib.adopt import adopt, cloudformation, read_table, terraform
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import PreconditionError

REGION = "us-east-1"
#: a string HCL must escape: quotes, a backslash, both template sequences, a newline (a DynamoDB tag
#: cannot hold most of these, a Terraform string must still survive them)
AWKWARD = 'say "hi" \\ ${var.x} %{if y} and\nmore'
#: a tag value as awkward as DynamoDB allows ("Tagging restrictions in DynamoDB": letters, white
#: space, numbers and + - = . _ : /): YAML must quote it
TAG_VALUE = "a: b + c = d/e _f."


def _create(ddb, name: str, kind: str, kms_key_arn: str | None = None) -> None:
    """Table ``name`` of one of the shapes below."""
    if kind == "plain":  # on-demand, hash only, nothing else
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        return
    if kind == "provisioned":  # everything a provisioned table can have
        ddb.create_table(
            TableName=name, BillingMode="PROVISIONED",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                                  {"AttributeName": "gk", "AttributeType": "S"}, {"AttributeName": "lk", "AttributeType": "B"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
            GlobalSecondaryIndexes=[{
                "IndexName": "by-gk", "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total", "status"]},
                "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 1}}],
            LocalSecondaryIndexes=[{
                "IndexName": "by-lk", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "lk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            SSESpecification={"Enabled": True},  # the AWS managed key aws/dynamodb
            DeletionProtectionEnabled=True, TableClass="STANDARD_INFREQUENT_ACCESS",
            Tags=[{"Key": f"team-{i:02d}", "Value": f"value {i}"} for i in range(12)] + [{"Key": "awkward", "Value": TAG_VALUE}],
        )
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})
        return
    if kind == "on-demand":  # on-demand with a GSI, a customer managed key, a keys-only stream, PITR default
        ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "tenant", "AttributeType": "S"}, {"AttributeName": "at", "AttributeType": "S"},
                                  {"AttributeName": "email", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{"IndexName": "by-email", "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
            SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key_arn},
            Tags=[{"Key": "owner", "Value": "payments"}],
        )
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        return
    raise AssertionError(kind)


KINDS = ("plain", "provisioned", "on-demand")


@pytest.fixture
def made(aws):
    """A function: make a table of a kind, return (name, target)."""
    ddb = aws("dynamodb")

    def make(kind: str, name: str | None = None) -> str:
        name = name or f"restored-{kind}"
        key = aws("kms").create_key(Description="customer key")["KeyMetadata"]["Arn"] if kind == "on-demand" else None
        _create(ddb, name, kind, key)
        return name

    return make


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(REGION, endpoint)


def _settings(aws, table: str) -> dict:
    """What a table is, field by field: DescribeTable's settings (not its name, ARN, times or counts),
    TTL, PITR, tags, and the kind of key it is encrypted with."""
    ddb = aws("dynamodb")
    t = ddb.describe_table(TableName=table)["Table"]

    def index(i: dict, lsi: bool = False) -> dict:
        out = {"KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        if not lsi and t.get("BillingModeSummary", {}).get("BillingMode") != "PAY_PER_REQUEST":
            tp = i["ProvisionedThroughput"]
            out["ProvisionedThroughput"] = (tp["ReadCapacityUnits"], tp["WriteCapacityUnits"])
        return out

    sse = t.get("SSEDescription")
    key_kind = "owned"
    if sse:
        manager = aws("kms").describe_key(KeyId=sse["KMSMasterKeyArn"])["KeyMetadata"]["KeyManager"]
        key_kind = "aws-managed" if manager == "AWS" else sse["KMSMasterKeyArn"]
    tags, kwargs = [], {"ResourceArn": t["TableArn"]}
    while True:
        page = ddb.list_tags_of_resource(**kwargs)
        tags += page["Tags"]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    billing = t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    return {
        "AttributeDefinitions": sorted(t["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "KeySchema": t["KeySchema"],
        "BillingMode": billing,
        "ProvisionedThroughput": (t["ProvisionedThroughput"]["ReadCapacityUnits"], t["ProvisionedThroughput"]["WriteCapacityUnits"])
        if billing == "PROVISIONED" else None,
        "GlobalSecondaryIndexes": {i["IndexName"]: index(i) for i in t.get("GlobalSecondaryIndexes") or []},
        "LocalSecondaryIndexes": {i["IndexName"]: index(i, lsi=True) for i in t.get("LocalSecondaryIndexes") or []},
        "Stream": t.get("StreamSpecification"),
        "SSE": key_kind,
        "TableClass": (t.get("TableClassSummary") or {}).get("TableClass", "STANDARD"),
        "DeletionProtectionEnabled": t.get("DeletionProtectionEnabled", False),
        "TTL": ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"],
        "PITR": (pitr["PointInTimeRecoveryStatus"], pitr.get("RecoveryPeriodInDays")),
        "Tags": sorted((x["Key"], x["Value"]) for x in tags),
    }


# ------------------------------------------------------------------------------ CloudFormation


@pytest.mark.parametrize("kind", KINDS)
def test_cloudformation_template_passes_cfn_lint(made, target, kind):
    table = made(kind)
    text = adopt(target, table, "cloudformation").commented()
    assert lint(text, config=ManualArgs(regions=[REGION])) == []


@pytest.mark.parametrize("kind", KINDS)
def test_cloudformation_template_describes_the_table_with_retain_policies(made, target, kind):
    table = made(kind)
    template = yaml.safe_load(adopt(target, table, "cloudformation").text)
    assert list(template["Resources"]) == [cloudformation.logical_id(table)]
    resource = template["Resources"][cloudformation.logical_id(table)]
    assert (resource["Type"], resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("AWS::DynamoDB::Table", "Retain", "Retain")
    assert "Outputs" not in template  # an import adds none
    props = resource["Properties"]
    assert props["TableName"] == table
    sse = {"plain": {"SSEEnabled": False}, "provisioned": {"SSEEnabled": True, "SSEType": "KMS"}}
    if kind in sse:
        assert props["SSESpecification"] == sse[kind]
    else:  # a customer managed key is named; the AWS managed one never is (the reference: only another key)
        assert props["SSESpecification"]["KMSMasterKeyId"].startswith("arn:aws:kms:")
    if kind == "provisioned":
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7}
        assert len(props["Tags"]) == 13 and {"Key": "awkward", "Value": TAG_VALUE} in props["Tags"]  # two pages of tags
        assert props["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"] == {"ReadCapacityUnits": 2, "WriteCapacityUnits": 1}
        assert (props["TableClass"], props["DeletionProtectionEnabled"]) == ("STANDARD_INFREQUENT_ACCESS", True)
    if kind == "on-demand":
        assert "ProvisionedThroughput" not in props and "ProvisionedThroughput" not in props["GlobalSecondaryIndexes"][0]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 35}


def _import(aws, template_text: str, table: str, stack: str) -> dict:
    cfn = aws("cloudformation")
    cfn.create_change_set(StackName=stack, ChangeSetName="adopt", ChangeSetType="IMPORT", TemplateBody=template_text,
                          ResourcesToImport=[{"ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": cloudformation.logical_id(table),
                                              "ResourceIdentifier": {"TableName": table}}])
    return cfn.describe_change_set(StackName=stack, ChangeSetName="adopt")


@pytest.mark.parametrize("kind", KINDS)
def test_import_change_set_adopts_the_table_creating_and_changing_nothing(aws, made, target, tmp_path, kind):
    """AWS: an IMPORT change set brings an existing resource under a stack ("Import AWS resources into
    a CloudFormation stack", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources.html);
    executing it ends in IMPORT_COMPLETE with the resource IMPORT_COMPLETE, and with DeletionPolicy
    Retain, deleting the stack leaves the table."""
    table = made(kind)
    before = _settings(aws, table)
    result = adopt(target, table, "cloudformation", out=tmp_path / "t.yaml")
    cfn = aws("cloudformation")
    # WHEN the operator runs the printed steps (the file as written, comments and all)
    described = _import(aws, (tmp_path / "t.yaml").read_text(), table, "adopted")
    assert (described["Status"], described["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"], c["ResourceChange"]["PhysicalResourceId"])
            for c in described["Changes"]] == [("Import", cloudformation.logical_id(table), table)]
    assert cfn.describe_stacks(StackName="adopted")["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    cfn.execute_change_set(StackName="adopted", ChangeSetName="adopt")
    cfn.get_waiter("stack_import_complete").wait(StackName="adopted", WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    # THEN the stack holds the table, and the table is as it was: nothing created or changed
    resources = cfn.describe_stack_resources(StackName="adopted")["StackResources"]
    assert [(r["LogicalResourceId"], r["PhysicalResourceId"], r["ResourceType"], r["ResourceStatus"]) for r in resources] == [
        (cloudformation.logical_id(table), table, "AWS::DynamoDB::Table", "IMPORT_COMPLETE")]
    assert aws("dynamodb").list_tables()["TableNames"] == [table]
    assert _settings(aws, table) == before
    assert any("import-" in step and "--change-set-type IMPORT" in step for step in result.steps)
    # AND deleting the stack keeps the table (DeletionPolicy: Retain)
    cfn.delete_stack(StackName="adopted")
    assert aws("dynamodb").describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"


@pytest.mark.parametrize("kind", KINDS)
def test_template_creates_a_table_equal_to_the_original_field_by_field(aws, made, target, kind):
    """The import does not compare the template with the table (on AWS neither), so the template is
    also created under a fresh name: DescribeTable, TTL, PITR, tags and the key's kind must equal the
    original's. Stack creation follows the reference, AWS::DynamoDB::Table
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-dynamodb-table.html)."""
    table = made(kind)
    template = cloudformation.template(read_table(target, table))
    copy_name = table + "-copy"
    props = template["Resources"][cloudformation.logical_id(table)]["Properties"]
    props["TableName"] = copy_name
    aws("cloudformation").create_stack(StackName="copy", TemplateBody=json.dumps(template))
    assert _settings(aws, copy_name) == _settings(aws, table)


def test_stack_creation_applies_ttl_pitr_table_class_and_sse_as_aws_does(aws):
    """AWS: AWS::DynamoDB::Table creates the table with TimeToLiveSpecification,
    PointInTimeRecoverySpecification (RecoveryPeriodInDays), TableClass and SSESpecification
    (SSEEnabled true, no KMSMasterKeyId: the AWS managed key) (CloudFormation Template Reference,
    AWS::DynamoDB::Table, https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-dynamodb-table.html;
    KeyManager AWS for an AWS managed key: AWS KMS API Reference, KeyMetadata,
    https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html). moto ignored the first three
    and read SSEEnabled as the API's Enabled."""
    template = {"Resources": {"T": {"Type": "AWS::DynamoDB::Table", "Properties": {
        "TableName": "made", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 3},
        "TableClass": "STANDARD_INFREQUENT_ACCESS", "SSESpecification": {"SSEEnabled": True}}}}}
    aws("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))
    ddb = aws("dynamodb")
    assert ddb.describe_time_to_live(TableName="made")["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    pitr = ddb.describe_continuous_backups(TableName="made")["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert (pitr["PointInTimeRecoveryStatus"], pitr["RecoveryPeriodInDays"]) == ("ENABLED", 3)
    described = ddb.describe_table(TableName="made")["Table"]
    assert described["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    key = aws("kms").describe_key(KeyId=described["SSEDescription"]["KMSMasterKeyArn"])["KeyMetadata"]
    assert key["KeyManager"] == "AWS"


def _refused(aws, template: dict, table: str) -> ClientError:
    with pytest.raises(ClientError) as err:
        _import(aws, yaml.safe_dump(template), table, "refused")
    with pytest.raises(ClientError):  # no stack left behind
        aws("cloudformation").describe_stacks(StackName="refused")
    return err.value


def test_import_without_deletion_policy_is_refused(aws, made, target):
    """AWS: "Each resource to import must have a DeletionPolicy attribute" ("Import AWS resources
    into a CloudFormation stack", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources.html);
    CreateChangeSet answers ValidationError "The following resources to import [X] must have
    DeletionPolicy attribute specified in the template."."""
    table = made("plain")
    template = cloudformation.template(read_table(target, table))
    del template["Resources"][cloudformation.logical_id(table)]["DeletionPolicy"]
    error = _refused(aws, template, table)
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["Error"]["Message"] == (
        f"The following resources to import [{cloudformation.logical_id(table)}] must have DeletionPolicy attribute "
        "specified in the template.")


def test_import_with_outputs_is_refused(aws, made, target):
    """AWS: "As part of the import operation, you cannot modify or add [Outputs]" (ValidationError)."""
    table = made("plain")
    template = cloudformation.template(read_table(target, table))
    template["Outputs"] = {"Name": {"Value": table}}
    assert _refused(aws, template, table).response["Error"]["Code"] == "ValidationError"


def test_import_of_a_missing_table_or_one_in_another_stack_fails_the_change_set(aws, made, target):
    """AWS validates that "the resource to import exists" and "does not belong to another stack"
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html): the change
    set cannot be executed."""
    table = made("plain")
    text = adopt(target, table, "cloudformation").text
    aws("dynamodb").delete_table(TableName=table)
    described = _import(aws, text, table, "missing")
    assert (described["Status"], described["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert table in described["StatusReason"]
    with pytest.raises(ClientError) as err:
        aws("cloudformation").execute_change_set(StackName="missing", ChangeSetName="adopt")
    assert err.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    # a table a stack already holds
    made("plain")
    _import(aws, text, table, "first")
    aws("cloudformation").execute_change_set(StackName="first", ChangeSetName="adopt")
    again = _import(aws, text, table, "second")
    assert (again["Status"], "first" in again["StatusReason"]) == ("FAILED", True)


# ------------------------------------------------------------------------------ Terraform


def _parse_hcl(text: str) -> dict:
    """The HCL as values: strings unescaped, and (HCL's template escapes) ``$${`` / ``%%{`` as ``${`` / ``%{``."""
    parsed = hcl2.loads(text, serialization_options=SerializationOptions(strip_string_quotes=True, explicit_blocks=False))

    def literal(value):
        if isinstance(value, str):
            return value.replace("$${", "${").replace("%%{", "%{")
        if isinstance(value, list):
            return [literal(v) for v in value]
        if isinstance(value, dict):
            return {literal(k): literal(v) for k, v in value.items()}
        return value

    return literal(parsed)


def _tf_view(resource: dict) -> dict:
    """The parsed ``aws_dynamodb_table`` in ``_settings``' terms: every field must map from the table."""
    billing = resource["billing_mode"]
    keys = [{"AttributeName": resource["hash_key"], "KeyType": "HASH"}]
    if "range_key" in resource:
        keys.append({"AttributeName": resource["range_key"], "KeyType": "RANGE"})

    def projection(block: dict) -> dict:
        out = {"ProjectionType": block["projection_type"]}
        if block.get("non_key_attributes"):
            out["NonKeyAttributes"] = block["non_key_attributes"]
        return out

    def gsi(block: dict) -> dict:
        schema = [{"AttributeName": block["hash_key"], "KeyType": "HASH"}]
        if "range_key" in block:
            schema.append({"AttributeName": block["range_key"], "KeyType": "RANGE"})
        out = {"KeySchema": schema, "Projection": projection(block)}
        if billing == "PROVISIONED":
            out["ProvisionedThroughput"] = (block["read_capacity"], block["write_capacity"])
        return out

    ttl = resource.get("ttl", [{}])[0]
    pitr = resource["point_in_time_recovery"][0]
    sse = resource.get("server_side_encryption", [{}])[0]
    return {
        "AttributeDefinitions": sorted(({"AttributeName": a["name"], "AttributeType": a["type"]} for a in resource["attribute"]),
                                       key=lambda a: a["AttributeName"]),
        "KeySchema": keys,
        "BillingMode": billing,
        "ProvisionedThroughput": (resource["read_capacity"], resource["write_capacity"]) if billing == "PROVISIONED" else None,
        "GlobalSecondaryIndexes": {b["name"]: gsi(b) for b in resource.get("global_secondary_index", [])},
        "LocalSecondaryIndexes": {b["name"]: {"KeySchema": [keys[0], {"AttributeName": b["range_key"], "KeyType": "RANGE"}],
                                              "Projection": projection(b)} for b in resource.get("local_secondary_index", [])},
        "Stream": {"StreamEnabled": True, "StreamViewType": resource["stream_view_type"]} if resource["stream_enabled"] else None,
        "SSE": "owned" if not sse.get("enabled") else sse.get("kms_key_arn", "aws-managed"),
        "TableClass": resource.get("table_class", "STANDARD"),
        "DeletionProtectionEnabled": resource["deletion_protection_enabled"],
        "TTL": {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl["attribute_name"]} if ttl.get("enabled") else {"TimeToLiveStatus": "DISABLED"},
        "PITR": ("ENABLED" if pitr["enabled"] else "DISABLED", pitr.get("recovery_period_in_days")),
        "Tags": sorted((resource.get("tags") or {}).items()),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_terraform_parses_back_to_the_table_field_by_field(aws, made, target, tmp_path, kind):
    table = made(kind)
    result = adopt(target, table, "terraform", out=tmp_path / "t.tf")
    parsed = _parse_hcl((tmp_path / "t.tf").read_text())
    name = terraform.resource_name(table)
    assert parsed["import"] == [{"to": f"${{aws_dynamodb_table.{name}}}", "id": table}]
    resource = parsed["resource"][0]["aws_dynamodb_table"][name]
    assert resource["name"] == table
    assert resource["lifecycle"] == [{"prevent_destroy": True}]
    expected = _settings(aws, table)
    if expected["PITR"][0] == "DISABLED":
        expected["PITR"] = ("DISABLED", None)  # the period means nothing while PITR is off
    assert _tf_view(resource) == expected
    assert any(step.startswith("terraform plan") for step in result.steps)


def test_hcl_strings_escape_quotes_backslashes_and_template_sequences():
    block = terraform.Block("resource", "aws_dynamodb_table", "t").set("tags", {"k\"1": AWKWARD, "k2": "\x01\t"})
    parsed = _parse_hcl("\n".join(block.lines()))
    assert parsed["resource"][0]["aws_dynamodb_table"]["t"]["tags"] == {"k\"1": AWKWARD, "k2": "\x01\t"}


# ------------------------------------------------------------------------------ errors and the CLI


def test_adopt_of_a_missing_table_exits_2_naming_it_and_writes_nothing(endpoint, tmp_path, capsys):
    out = tmp_path / "t.yaml"
    rc = cli.main(["adopt", "--table", "no-such-table", "--format", "cloudformation", "--out", str(out),
                   "--endpoint-url", endpoint, "--region", REGION])
    assert rc == 2
    assert "no-such-table" in capsys.readouterr().err
    assert not out.exists()


def test_adopt_refuses_to_overwrite_out_unless_forced(made, endpoint, tmp_path, capsys):
    table = made("plain")
    out = tmp_path / "t.tf"
    out.write_text("keep me\n")
    argv = ["adopt", "--table", table, "--format", "terraform", "--out", str(out), "--endpoint-url", endpoint, "--region", REGION]
    assert cli.main(argv) == 2
    assert str(out) in capsys.readouterr().err and out.read_text() == "keep me\n"
    assert cli.main([*argv, "--force"]) == 0
    printed = capsys.readouterr().out
    assert "terraform plan" in printed and f'id = "{table}"' in out.read_text()


def test_adopt_into_a_folder_that_does_not_exist_exits_2_naming_it(made, endpoint, tmp_path, capsys):
    table = made("plain")
    out = tmp_path / "no-such-folder" / "t.yaml"
    assert cli.main(["adopt", "--table", table, "--format", "cloudformation", "--out", str(out), "--endpoint-url", endpoint]) == 2
    assert str(out) in capsys.readouterr().err and not out.exists()


def test_adopt_without_out_prints_the_template_with_the_steps_as_comments(made, endpoint, capsys):
    table = made("plain")
    assert cli.main(["adopt", "--table", table, "--format", "cloudformation", "--endpoint-url", endpoint, "--region", REGION]) == 0
    text = capsys.readouterr().out
    assert "# import steps:" in text and "--change-set-type IMPORT" in text
    assert yaml.safe_load(text)["Resources"][cloudformation.logical_id(table)]["DeletionPolicy"] == "Retain"


def test_missing_table_is_a_precondition_error_naming_it(target):
    with pytest.raises(PreconditionError) as err:
        adopt(target, "gone-table", "terraform")
    assert err.value.table == "gone-table" and err.value.code == "ResourceNotFoundException"


def test_gsi_with_a_multi_attribute_key_is_written_as_key_schema_blocks():
    """DynamoDB GSIs may have up to four HASH and four RANGE attributes; the provider's hash_key and
    range_key hold one each, its key_schema blocks all of them (aws_dynamodb_table, provider 6)."""
    from runbook_lib.adopt.read import AWS_OWNED, TableState

    schema = [{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "HASH"},
              {"AttributeName": "c", "KeyType": "RANGE"}]
    state = TableState(region=REGION, ttl={}, continuous_backups={}, tags=[], sse_kind=AWS_OWNED, table={
        "TableName": "multi", "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("id", "a", "b", "c")],
        "GlobalSecondaryIndexes": [{"IndexName": "g", "KeySchema": schema, "Projection": {"ProjectionType": "ALL"},
                                    "IndexStatus": "ACTIVE"}]})
    gsi = _parse_hcl(terraform.render(state))["resource"][0]["aws_dynamodb_table"]["multi"]["global_secondary_index"][0]
    assert "hash_key" not in gsi and "range_key" not in gsi
    assert gsi["key_schema"] == [{"attribute_name": k["AttributeName"], "key_type": k["KeyType"]} for k in schema]
    props = cloudformation.properties(state)
    assert props["GlobalSecondaryIndexes"][0]["KeySchema"] == schema


def test_an_index_being_deleted_is_left_out_with_its_key_attributes():
    """CloudFormation refuses an AttributeDefinitions entry that no key schema uses; an index in
    DELETING (DescribeTable's IndexStatus) will be gone, so neither it nor its keys are written."""
    from runbook_lib.adopt.read import AWS_OWNED, TableState

    state = TableState(region=REGION, ttl={}, continuous_backups={}, tags=[], sse_kind=AWS_OWNED, table={
        "TableName": "t", "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("id", "gone", "kept")],
        "GlobalSecondaryIndexes": [
            {"IndexName": "old", "IndexStatus": "DELETING", "KeySchema": [{"AttributeName": "gone", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "new", "IndexStatus": "ACTIVE", "KeySchema": [{"AttributeName": "kept", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}}]})
    props = cloudformation.properties(state)
    assert [a["AttributeName"] for a in props["AttributeDefinitions"]] == ["id", "kept"]
    assert [i["IndexName"] for i in props["GlobalSecondaryIndexes"]] == ["new"]
    text = yaml.safe_dump({"Resources": {"T": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                                               "UpdateReplacePolicy": "Retain", "Properties": props}}})
    assert lint(text, config=ManualArgs(regions=[REGION])) == []
    resource = _parse_hcl(terraform.render(state))["resource"][0]["aws_dynamodb_table"]["t"]
    assert [a["name"] for a in resource["attribute"]] == ["id", "kept"]


def test_aws_prefixed_tags_are_left_out_of_both_outputs():
    """DynamoDB reserves the aws: prefix ("Tagging restrictions in DynamoDB", Amazon DynamoDB Developer
    Guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TaggingRestrictions.html):
    a template that set one would fail."""
    from runbook_lib.adopt.read import AWS_OWNED, TableState

    state = TableState(region=REGION, ttl={}, continuous_backups={}, sse_kind=AWS_OWNED, table={
        "TableName": "tagged", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
        tags=[{"Key": "aws:cloudformation:stack-name", "Value": "s"}, {"Key": "team", "Value": "a"}])
    assert cloudformation.properties(state)["Tags"] == [{"Key": "team", "Value": "a"}]
    assert _parse_hcl(terraform.render(state))["resource"][0]["aws_dynamodb_table"]["tagged"]["tags"] == {"team": "a"}


def test_notes_name_what_is_still_changing_and_what_is_left_out():
    """No sandbox: DynamoDB refuses to let anyone set an ``aws:`` tag, so the notes are checked on
    descriptions in DescribeTable's, DescribeTimeToLive's and ListTagsOfResource's shapes."""
    from runbook_lib.adopt.read import notes_on

    description = {"TableStatus": "UPDATING", "Replicas": [{"RegionName": "eu-west-1"}], "GlobalSecondaryIndexes": [
        {"IndexName": "old", "IndexStatus": "DELETING"}, {"IndexName": "new", "IndexStatus": "CREATING"},
        {"IndexName": "ok", "IndexStatus": "ACTIVE"}]}
    notes = notes_on(description, {"TimeToLiveStatus": "ENABLING", "AttributeName": "x"},
                     [{"Key": "aws:cloudformation:stack-name", "Value": "old-stack"}, {"Key": "team", "Value": "a"}])
    assert [n.split(":")[0] for n in notes] == [
        "table status is UPDATING", "index old is being deleted", "index new is CREATING",
        "the table has replicas (a global table)", "TTL is ENABLING",
        "tags with the aws", "the table is tagged as a resource of stack old-stack"]
    assert notes_on({"TableStatus": "ACTIVE"}, {"TimeToLiveStatus": "ENABLED"}, [{"Key": "team", "Value": "a"}]) == []


def test_a_refused_describe_key_writes_the_key_by_arn_with_a_note(aws, made, endpoint, monkeypatch):
    """An operator without kms:DescribeKey (AccessDeniedException, AWS KMS API Reference, DescribeKey)
    still gets a template: the key by its ARN, and a note saying it may be aws/dynamodb."""
    from runbook_lib.aws import clients

    table = made("provisioned")  # the AWS managed key
    iam = aws("iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="tables", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:DescribeContinuousBackups",
            "dynamodb:ListTagsOfResource"]}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv(clients.SANDBOX_ACCESS_KEY_ENV, key["AccessKeyId"])
    monkeypatch.setenv(clients.SANDBOX_SECRET_KEY_ENV, key["SecretAccessKey"])
    result = adopt(AwsTarget(REGION, endpoint), table, "cloudformation")
    sse = yaml.safe_load(result.text)["Resources"][cloudformation.logical_id(table)]["Properties"]["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["KMSMasterKeyId"].startswith("arn:aws:kms:")
    assert any("kms:DescribeKey was refused (AccessDeniedException)" in note for note in result.notes)
