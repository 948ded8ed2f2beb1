"""AWS validations that moto is looser about, and that the buffer's correctness depends on.

- ``BatchWriteItem``: AWS rejects two requests for the same key in one call (``ValidationException:
  Provided list of item keys contains duplicates``), whatever the item bodies or request kinds;
  moto only catches requests that are identical. AWS also rejects more than 25 requests.
- ``CreateEventSourceMapping`` / ``UpdateEventSourceMapping`` on an SQS FIFO queue: ``BatchSize``
  above 10, or any ``MaximumBatchingWindowInSeconds``, is ``InvalidParameterValueException``
  (HTTP 400); moto raises inside the server and answers 500. On a standard queue a ``BatchSize``
  above 10 needs a batching window of at least one second; ``BatchSize`` must be at least 1.
- ``ScalingConfig`` of an event source mapping (the Lambda API reference's ``ScalingConfig``:
  "(Amazon SQS only)", ``MaximumConcurrency`` from 2 to 1000; "Configuring scaling behavior for SQS
  event source mappings": maximum concurrency and provisioned mode exclude each other): moto
  stores and returns whatever it is given, on create, update and get, through the API and through
  CloudFormation (whose ``Number`` parameters it turns into numbers), on any source, unchecked.
  The sandbox answers ``InvalidParameterValueException`` (the error botocore's model lists for
  these operations; AWS may word it as a ``ValidationException``) for a value outside 2..1000 or
  not a whole number, a ``ScalingConfig`` on a source other than SQS, or one next to
  ``ProvisionedPollerConfig``. An empty ``ScalingConfig`` removes the cap.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler

_installed = False


def _duplicate_keys(handler: DynamoHandler) -> None:
    request_items = handler.body.get("RequestItems") or {}
    total = sum(len(v) for v in request_items.values())
    if total > 25:
        raise MockValidationException(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: "
            "Map value must satisfy constraint: [Member must have length less than or equal to 25, "
            "Member must have length greater than or equal to 1]"
        )
    for table_name, requests in request_items.items():
        table = handler.dynamodb_backend.tables.get(table_name)
        if table is None:
            continue  # moto answers ResourceNotFoundException itself
        seen: set[str] = set()
        for request in requests:
            if "PutRequest" in request:
                attrs = request["PutRequest"].get("Item", {})
            elif "DeleteRequest" in request:
                attrs = request["DeleteRequest"].get("Key", {})
            else:
                continue
            key = dynamo_json_dump({k: attrs.get(k) for k in table.table_key_attrs})
            if key in seen:
                raise MockValidationException("Provided list of item keys contains duplicates")
            seen.add(key)


def _wrap_batch_write(original):
    def batch_write_item(self):
        _duplicate_keys(self)
        return original(self)

    return batch_write_item


def _check_mapping(source_arn: str, spec: dict[str, Any]) -> None:
    batch = spec.get("BatchSize")
    window = spec.get("MaximumBatchingWindowInSeconds")
    if batch is not None and int(batch) < 1:
        raise InvalidParameterValueException("BatchSize must be at least 1")
    if ":sqs:" in source_arn:
        if source_arn.endswith(".fifo"):
            if batch is not None and int(batch) > 10:
                raise InvalidParameterValueException(
                    f"Batch size ({batch}) must be between 1 and 10 for FIFO queues"
                )
            if window:
                raise InvalidParameterValueException("Batching window is not supported for FIFO queues")
        elif batch is not None and int(batch) > 10 and not window:
            raise InvalidParameterValueException(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
            )


def _check_scaling(source_arn: str, spec: dict[str, Any], poller_config: Any = None) -> None:
    """Refuse what AWS refuses; keep ``MaximumConcurrency`` as an int."""
    scaling = spec.get("ScalingConfig")
    if scaling is None:
        return
    if not isinstance(scaling, dict):
        raise InvalidParameterValueException("ScalingConfig must be an object")
    if ":sqs:" not in source_arn:
        raise InvalidParameterValueException("ScalingConfig is supported only for Amazon SQS event sources")
    if scaling and (spec.get("ProvisionedPollerConfig") or poller_config):
        raise InvalidParameterValueException(
            "ScalingConfig (maximum concurrency) and ProvisionedPollerConfig (provisioned mode) cannot both be set"
        )
    if "MaximumConcurrency" not in scaling:
        return
    value = scaling["MaximumConcurrency"]
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidParameterValueException(f"MaximumConcurrency {value!r} is not an integer") from None
    if not 2 <= number <= 1000:
        raise InvalidParameterValueException(
            f"Value {number} at 'scalingConfig.maximumConcurrency' failed to satisfy constraint: "
            "Member must have value greater than or equal to 2 and less than or equal to 1000"
        )
    spec["ScalingConfig"] = {**scaling, "MaximumConcurrency": number}


def _wrap_create_mapping(original):
    def create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]):
        _check_mapping(spec.get("EventSourceArn") or "", spec)
        _check_scaling(spec.get("EventSourceArn") or "", spec)
        return original(self, spec)

    return create_event_source_mapping


def _wrap_update_mapping(original):
    def update_event_source_mapping(self: LambdaBackend, uuid: str, spec: dict[str, Any]):
        esm = self.get_event_source_mapping(uuid)
        if esm is not None:
            _check_mapping(esm.event_source_arn, spec)
            _check_scaling(esm.event_source_arn, spec, esm.poller_config)
        return original(self, uuid, spec)

    return update_event_source_mapping


def install() -> None:
    global _installed
    if _installed:
        return
    DynamoHandler.batch_write_item = _wrap_batch_write(DynamoHandler.batch_write_item)
    LambdaBackend.create_event_source_mapping = _wrap_create_mapping(LambdaBackend.create_event_source_mapping)
    LambdaBackend.update_event_source_mapping = _wrap_update_mapping(LambdaBackend.update_event_source_mapping)
    _installed = True
