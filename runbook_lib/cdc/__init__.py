"""Change data capture for the restore: the two Lambda handlers and the record codec they share.

- :mod:`runbook_lib.cdc.forwarder` (``runbook_lib.cdc.forwarder.handler``): DynamoDB stream
  batch -> SQS FIFO queue, one message group per item key.
- :mod:`runbook_lib.cdc.applier` (``runbook_lib.cdc.applier.handler``): SQS FIFO batch ->
  the restored table; a message that may be out of order is applied as the source's current
  item (consistent read), so that every key ends with its newest image.
- :mod:`runbook_lib.cdc.codec`: key digest, message body, sequence numbers.
- :mod:`runbook_lib.cdc.runtime`: lazily created clients and JSON log lines.

This package is deployed as a Lambda zip holding ``runbook_lib/__init__.py`` and
``runbook_lib/cdc/**`` only: it imports nothing but the standard library, boto3/botocore (which
the Lambda Python runtime provides) and itself.
"""
