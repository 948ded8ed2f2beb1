"""CloudFormation in the sandbox for ``infra/drill-schedule.yaml``: the resource types moto 5.2.5
lacks, S3 bucket properties it ignores, and ``AWS::NoValue`` inside lists.

moto's CloudFormation logs "No Moto CloudFormation support" and skips ``AWS::Scheduler::Schedule``,
``AWS::CodeBuild::Project``, ``AWS::CloudWatch::Alarm`` and ``AWS::S3::BucketPolicy``: the stack
would reach CREATE_COMPLETE without its schedule, build project, alarms or bucket policy, and a
``Ref``/``GetAtt`` of them would name nothing. This extension adds each as a model over moto's own
backend (so that the services' APIs then describe them), following the CloudFormation Template
Reference:

- ``AWS::Scheduler::Schedule`` (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-scheduler-schedule.html):
  ``FlexibleTimeWindow`` (``Mode`` OFF | FLEXIBLE, FLEXIBLE needing ``MaximumWindowInMinutes``
  1-1440), ``ScheduleExpression`` (``at()``, ``rate()``, ``cron()`` of six fields),
  ``ScheduleExpressionTimezone`` (an IANA zone), ``Target`` (``Arn``, ``RoleArn`` required),
  ``State``, ``GroupName``, ``Description``; ``Ref`` is the name, ``GetAtt Arn`` the ARN;
- ``AWS::CodeBuild::Project`` (.../aws-resource-codebuild-project.html): ``Artifacts``,
  ``Environment``, ``ServiceRole`` and ``Source`` required; a ``NO_SOURCE`` source needs its
  ``BuildSpec``; ``TimeoutInMinutes`` 5-2160; stored in the API's shape (``batch-get-projects``
  shows it); ``Ref`` is the name, ``GetAtt Arn`` the ARN;
- ``AWS::CloudWatch::Alarm`` (.../aws-resource-cloudwatch-alarm.html): created with
  ``PutMetricAlarm``'s rules as its API Reference states them: ``Period`` 10, 20, 30 or a multiple
  of 60; ``Period`` x ``EvaluationPeriods`` at most 604,800 s (86,400 s when ``Period`` < 3,600);
  ``DatapointsToAlarm`` at most ``EvaluationPeriods``; ``TreatMissingData`` breaching |
  notBreaching | ignore | missing; ``Ref`` is the name, ``GetAtt Arn`` the ARN;
- ``AWS::S3::BucketPolicy`` (.../aws-resource-s3-bucketpolicy.html): ``PutBucketPolicy`` on
  ``Bucket``; deleting the resource deletes the policy;
- ``AWS::S3::Bucket``: moto applied only ``BucketEncryption`` and ``Tags``; here also
  ``PublicAccessBlockConfiguration``, ``VersioningConfiguration``, ``OwnershipControls`` and
  ``LifecycleConfiguration`` (the CloudFormation rule's ``ExpirationInDays``, ``Prefix``,
  ``NoncurrentVersionExpiration``, ``AbortIncompleteMultipartUpload`` in the API's shape), so that
  ``GetPublicAccessBlock``, ``GetBucketVersioning``, ``GetBucketOwnershipControls`` and
  ``GetBucketLifecycleConfiguration`` answer as on AWS;
- ``AWS::NoValue`` in a list: AWS removes the element (``Fn::If`` returning ``AWS::NoValue``,
  "Pseudo parameters reference"); moto left ``null`` in the list (a policy ``Statement`` list with a
  ``null`` in it). Here the element is removed.

Where it still differs from AWS: nothing runs on a schedule and CodeBuild builds do not run
(``StartBuild`` answers moto's canned build); alarms are stored, never evaluated (no state change,
no SNS notification); the bucket policy is stored and returned, not enforced by the sandbox's IAM
(resource policies are not evaluated: ``iam_auth``); lifecycle rules are stored, never applied;
a bucket policy's statements with a ``Condition`` are not applied at all (the sandbox speaks HTTP:
a TLS-only statement would deny every call; moto's own check, which ignored conditions and so
denied every object call to everyone, applies to the unconditional statements only);
invalid properties make ``CreateStack`` answer ``ValidationError`` at once, where AWS fails the
resource and rolls the stack back; updates replace the resource.
"""

from __future__ import annotations

import json
import re
from typing import Any

_installed = False

#: PutMetricAlarm's limits (CloudWatch API Reference, PutMetricAlarm: Period, EvaluationPeriods)
MAX_EVALUATION_SECONDS = 604_800
MAX_SHORT_PERIOD_EVALUATION_SECONDS = 86_400
TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
#: CodeBuild TimeoutInMinutes bounds (AWS::CodeBuild::Project reference)
BUILD_TIMEOUT_MINUTES = (5, 2160)
_SCHEDULE = re.compile(r"^(at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(\S+( \S+){5}\))$")


def _invalid(message: str) -> Exception:
    from moto.cloudformation.exceptions import ValidationError

    return ValidationError(message=message)


def _props(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    return dict(cloudformation_json.get("Properties") or {})


def _require(props: dict[str, Any], type_: str, *names: str) -> None:
    missing = [n for n in names if props.get(n) in (None, "", [], {})]
    if missing:
        raise _invalid(f"{type_}: required properties missing: {', '.join(missing)}")


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _invalid(f"{what} must be a number, not {value!r}") from None


def _api_shape(value: Any) -> Any:
    """A CloudFormation (PascalCase) structure in CodeBuild's API shape (camelCase; BuildSpec is buildspec)."""
    if isinstance(value, list):
        return [_api_shape(v) for v in value]
    if isinstance(value, dict):
        return {("buildspec" if k == "BuildSpec" else k[:1].lower() + k[1:]): _api_shape(v) for k, v in value.items()}
    return value


# -- AWS::NoValue in lists ----------------------------------------------------------------------------


def _wrap_clean_json(original):
    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, list):
            out = []
            for value in resource_json:
                cleaned = clean_json(value, resources_map)
                if cleaned is None and isinstance(value, dict) and ("Fn::If" in value or value.get("Ref") == "AWS::NoValue"):
                    continue  # AWS::NoValue removes the element
                out.append(cleaned)
            return out
        return original(resource_json, resources_map)

    return clean_json


# -- S3 buckets --------------------------------------------------------------------------------------------


def _lifecycle_rules(config: dict[str, Any]) -> list[dict[str, Any]]:
    rules = []
    for rule in config.get("Rules") or []:
        api: dict[str, Any] = {"Status": rule.get("Status", "Enabled"), "Filter": {"Prefix": rule.get("Prefix") or ""}}
        if rule.get("Id"):
            api["ID"] = rule["Id"]
        if rule.get("ExpirationInDays") is not None:
            api["Expiration"] = {"Days": _int(rule["ExpirationInDays"], "ExpirationInDays")}
        if rule.get("NoncurrentVersionExpiration"):
            api["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": _int(rule["NoncurrentVersionExpiration"].get("NoncurrentDays"), "NoncurrentDays")}
        if rule.get("AbortIncompleteMultipartUpload"):
            api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": _int(
                rule["AbortIncompleteMultipartUpload"].get("DaysAfterInitiation"), "DaysAfterInitiation")}
        rules.append(api)
    return rules


def _wrap_bucket_create(original):
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        bucket = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        props = _props(cloudformation_json)
        backend = s3_backends[account_id][get_partition(region_name)]
        if props.get("PublicAccessBlockConfiguration"):
            block = {k: str(v).lower() == "true" for k, v in props["PublicAccessBlockConfiguration"].items()}
            backend.put_public_access_block(bucket.name, block)
        if (props.get("VersioningConfiguration") or {}).get("Status"):
            backend.put_bucket_versioning(bucket.name, props["VersioningConfiguration"]["Status"])
        rules = (props.get("OwnershipControls") or {}).get("Rules") or []
        if rules and rules[0].get("ObjectOwnership"):
            backend.put_bucket_ownership_controls(bucket.name, rules[0]["ObjectOwnership"])
        if props.get("LifecycleConfiguration"):
            backend.put_bucket_lifecycle_configuration(bucket.name, _lifecycle_rules(props["LifecycleConfiguration"]))
        return bucket

    return classmethod(create_from_cloudformation_json)


def _wrap_bucket_permission(original):
    """moto's "basic" bucket policy check ignores ``Condition``: a TLS-only statement (``Deny s3:*``
    to ``*`` when ``aws:SecureTransport`` is false) then denied every object call, to everyone, with
    a bare 403. Conditional statements are left out of that check here (see the module docstring)."""

    def get_permission(self, action: str, resource: str) -> Any:
        if self.policy is None:
            return original(self, action, resource)
        try:
            document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        except ValueError:
            return original(self, action, resource)
        statements = document.get("Statement") or []
        statements = statements if isinstance(statements, list) else [statements]
        kept = [st for st in statements if not st.get("Condition")]
        if len(kept) == len(statements):
            return original(self, action, resource)
        from moto.iam.access_control import PermissionResult

        if not kept:
            return PermissionResult.NEUTRAL
        saved = self.policy
        self.policy = json.dumps({**document, "Statement": kept}).encode()
        try:
            return original(self, action, resource)
        finally:
            self.policy = saved

    return get_permission


# -- the models ------------------------------------------------------------------------------------------


def _install_models() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
    from moto.core.common_models import CloudFormationModel

    class _Named:
        """Ref = name; GetAtt Arn = ARN. A mixin: moto finds models among CloudFormationModel's
        direct subclasses only."""

        def __init__(self, name: str, arn: str, account_id: str, region: str) -> None:
            self.name, self.arn, self.account_id, self.region = name, arn, account_id, region

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            if attribute_name == "Arn":
                return self.arn
            raise UnformattedGetAttTemplateException()

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # type: ignore[override]
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[override]
            return None

    class SandboxSchedule(_Named, CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Scheduler::Schedule"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[override]
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            from moto.scheduler.models import scheduler_backends

            props = _props(cloudformation_json)
            _require(props, "AWS::Scheduler::Schedule", "FlexibleTimeWindow", "ScheduleExpression", "Target")
            window = props["FlexibleTimeWindow"]
            if window.get("Mode") not in ("OFF", "FLEXIBLE"):
                raise _invalid("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE")
            if window["Mode"] == "FLEXIBLE" and not 1 <= _int(window.get("MaximumWindowInMinutes"), "MaximumWindowInMinutes") <= 1440:
                raise _invalid("FlexibleTimeWindow.MaximumWindowInMinutes must be 1..1440 with Mode FLEXIBLE")
            if not _SCHEDULE.match(str(props["ScheduleExpression"])):
                raise _invalid(f"ScheduleExpression {props['ScheduleExpression']!r} is not at(...), rate(...) or cron(six fields)")
            zone = props.get("ScheduleExpressionTimezone") or "UTC"
            try:
                ZoneInfo(str(zone))
            except (ZoneInfoNotFoundError, ValueError):
                raise _invalid(f"ScheduleExpressionTimezone {zone!r} is not a time zone (IANA name, such as Europe/Berlin)") from None
            target = dict(props["Target"])
            _require(target, "AWS::Scheduler::Schedule Target", "Arn", "RoleArn")
            name = props.get("Name") or resource_name
            schedule = scheduler_backends[account_id][region_name].create_schedule(
                description=props.get("Description"), end_date=props.get("EndDate"), flexible_time_window=window,
                group_name=props.get("GroupName"), kms_key_arn=props.get("KmsKeyArn"), name=name,
                schedule_expression=props["ScheduleExpression"], schedule_expression_timezone=zone,
                start_date=props.get("StartDate"), state=props.get("State") or "ENABLED", target=target,
                action_after_completion=None)
            return cls(name, schedule.arn, account_id, region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            from moto.scheduler.models import scheduler_backends

            try:
                scheduler_backends[account_id][region_name].delete_schedule(None, self.name)
            except Exception:  # already gone
                pass

    class SandboxCodeBuildProject(_Named, CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CodeBuild::Project"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[override]
            from moto.codebuild.models import codebuild_backends

            props = _props(cloudformation_json)
            _require(props, "AWS::CodeBuild::Project", "Artifacts", "Environment", "ServiceRole", "Source")
            source = props["Source"]
            if source.get("Type") == "NO_SOURCE" and not source.get("BuildSpec"):
                raise _invalid("AWS::CodeBuild::Project: a NO_SOURCE source needs its BuildSpec")
            timeout = props.get("TimeoutInMinutes")
            if timeout is not None and not BUILD_TIMEOUT_MINUTES[0] <= _int(timeout, "TimeoutInMinutes") <= BUILD_TIMEOUT_MINUTES[1]:
                raise _invalid("TimeoutInMinutes must be 5..2160")
            name = props.get("Name") or resource_name
            backend = codebuild_backends[account_id][region_name]
            if name in backend.codebuild_projects:
                raise _invalid(f"Project already exists: {name}")
            backend.create_project(
                project_name=name, description=props.get("Description"), project_source=_api_shape(source),
                artifacts=_api_shape(props["Artifacts"]), environment=_api_shape(props["Environment"]),
                service_role=props["ServiceRole"], tags=[{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags") or []],
                cache=_api_shape(props["Cache"]) if props.get("Cache") else None,
                timeout=_int(timeout, "TimeoutInMinutes") if timeout is not None else 60,
                queued_timeout=_int(props.get("QueuedTimeoutInMinutes", 480), "QueuedTimeoutInMinutes"),
                source_version=props.get("SourceVersion"),
                logs_config=_api_shape(props["LogsConfig"]) if props.get("LogsConfig") else None,
                vpc_config=_api_shape(props["VpcConfig"]) if props.get("VpcConfig") else None)
            return cls(name, backend.codebuild_projects[name].arn, account_id, region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            from moto.codebuild.models import codebuild_backends

            codebuild_backends[account_id][region_name].delete_project(self.name)

    class SandboxAlarm(_Named, CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[override]
            from moto.cloudwatch.models import cloudwatch_backends

            props = _props(cloudformation_json)
            _require(props, "AWS::CloudWatch::Alarm", "ComparisonOperator", "EvaluationPeriods")
            evaluation = _int(props["EvaluationPeriods"], "EvaluationPeriods")
            period = _int(props.get("Period", 60), "Period")
            if period not in (10, 20, 30) and period % 60:
                raise _invalid(f"Period must be 10, 20, 30 or a multiple of 60, not {period}")
            limit = MAX_EVALUATION_SECONDS if period >= 3600 else MAX_SHORT_PERIOD_EVALUATION_SECONDS
            if period * evaluation > limit:
                raise _invalid(f"Period x EvaluationPeriods must be at most {limit} seconds, not {period * evaluation}")
            datapoints = props.get("DatapointsToAlarm")
            if datapoints is not None and not 1 <= _int(datapoints, "DatapointsToAlarm") <= evaluation:
                raise _invalid("DatapointsToAlarm must be 1..EvaluationPeriods")
            missing = props.get("TreatMissingData")
            if missing is not None and missing not in TREAT_MISSING_DATA:
                raise _invalid(f"TreatMissingData must be one of {', '.join(TREAT_MISSING_DATA)}")
            try:
                threshold = float(props["Threshold"]) if props.get("Threshold") not in (None, "") else None
            except (TypeError, ValueError):
                raise _invalid(f"Threshold must be a number, not {props.get('Threshold')!r}") from None
            if threshold is None and not props.get("Metrics"):
                raise _invalid("AWS::CloudWatch::Alarm: Threshold is required (unless ThresholdMetricId)")
            name = props.get("AlarmName") or resource_name
            alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
                name=name, namespace=props.get("Namespace"), metric_name=props.get("MetricName"),
                comparison_operator=props["ComparisonOperator"], evaluation_periods=evaluation, period=period,
                threshold=threshold, statistic=props.get("Statistic"), description=props.get("AlarmDescription"),
                dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions") or []],
                alarm_actions=list(props.get("AlarmActions") or []), ok_actions=list(props.get("OKActions") or []),
                insufficient_data_actions=list(props.get("InsufficientDataActions") or []),
                datapoints_to_alarm=_int(datapoints, "DatapointsToAlarm") if datapoints is not None else None,
                extended_statistic=props.get("ExtendedStatistic"), unit=props.get("Unit"),
                actions_enabled=str(props.get("ActionsEnabled", True)).lower() == "true", treat_missing_data=missing)
            return cls(name, alarm.alarm_arn, account_id, region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            from moto.cloudwatch.models import cloudwatch_backends

            cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

    class SandboxBucketPolicy(CloudFormationModel):
        def __init__(self, bucket: str, account_id: str, region: str) -> None:
            self.bucket, self.account_id, self.region = bucket, account_id, region

        @property
        def physical_resource_id(self) -> str:
            return self.bucket

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::S3::BucketPolicy"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[override]
            from moto.s3.models import s3_backends
            from moto.utilities.utils import get_partition

            props = _props(cloudformation_json)
            _require(props, "AWS::S3::BucketPolicy", "Bucket", "PolicyDocument")
            document = props["PolicyDocument"]
            text = document if isinstance(document, str) else json.dumps(document)
            s3_backends[account_id][get_partition(region_name)].put_bucket_policy(props["Bucket"], text.encode())
            return cls(props["Bucket"], account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # type: ignore[override]
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[override]
            return None

        def delete(self, account_id: str, region_name: str) -> None:
            from moto.s3.models import s3_backends
            from moto.utilities.utils import get_partition

            try:
                s3_backends[account_id][get_partition(region_name)].delete_bucket_policy(self.bucket)
            except Exception:  # the bucket is gone (or retained without us)
                pass

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from moto.cloudformation import parsing
    from moto.s3.models import FakeBucket

    parsing.clean_json = _wrap_clean_json(parsing.clean_json)
    FakeBucket.create_from_cloudformation_json = _wrap_bucket_create(FakeBucket.create_from_cloudformation_json.__func__)
    FakeBucket.get_permission = _wrap_bucket_permission(FakeBucket.get_permission)
    _install_models()
