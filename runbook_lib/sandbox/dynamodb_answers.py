"""DynamoDB answers whose code or status moto words otherwise: a missing index, a deleted table.

- **Query or Scan on an index the table does not have**: DynamoDB answers ``ValidationException``
  "The table does not have the specified index: <name>" (the answer AWS gives, as quoted from AWS
  in aws-sdk-ios-samples issue 58; ``ValidationException`` is the error of a request DynamoDB
  cannot run as asked, "Error handling with DynamoDB", Amazon DynamoDB Developer Guide,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html). moto
  5.2.5 answered ``ResourceNotFoundException``, which code reads as "the table is gone"
  (``runbook_lib.aws.codes.is_not_found``).
- **UpdateTable deleting or updating a global secondary index the table does not have**: moto raised
  inside the server (HTTP 500). DynamoDB's ``ResourceNotFoundException`` is "The operation tried to
  access a nonexistent table or index" ("UpdateTable", Amazon DynamoDB API Reference,
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html, Errors).
- **DeleteTable**: "When DynamoDB receives this request, the table is in the DELETING state"
  ("DeleteTable", Amazon DynamoDB API Reference,
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteTable.html): the
  answer's ``TableDescription.TableStatus`` is ``DELETING``. moto answered ``ACTIVE``.

Where it still differs from AWS: the table is gone at once (AWS: DELETING for a while, then
``ResourceNotFoundException``).
"""

from __future__ import annotations

import threading

from moto.dynamodb.exceptions import MockValidationException

_installed = False
_install_lock = threading.Lock()


def _index_must_exist(original):
    def action(self):
        body = self.body if isinstance(self.body, dict) else {}
        index = body.get("IndexName")
        name = body.get("TableName")
        if index and isinstance(name, str):
            backend = self.dynamodb_backend
            table = backend.tables.get(name) or next(
                (t for t in list(backend.tables.values()) if t.table_arn == name), None
            )
            if table is not None and index not in {i.name for i in table.all_indexes()}:
                raise MockValidationException(f"The table does not have the specified index: {index}")
        return original(self)

    action.__name__ = original.__name__
    return action


def _index_to_change_must_exist(original):
    from moto.dynamodb.exceptions import ResourceNotFoundException

    def update_table(self):
        body = self.body if isinstance(self.body, dict) else {}
        updates = body.get("GlobalSecondaryIndexUpdates") or []
        table = self.dynamodb_backend.tables.get(body.get("TableName", ""))
        if table is not None and updates:
            names = {i.name for i in table.global_indexes or []}
            for update in updates:
                for kind in ("Delete", "Update"):
                    index = (update.get(kind) or {}).get("IndexName") if isinstance(update, dict) else None
                    if index is not None and index not in names:
                        raise ResourceNotFoundException(f"Requested resource not found: Index: {index} not found")
        return original(self)

    update_table.__name__ = original.__name__
    return update_table


def _deleting(original):
    def delete_table(self):
        result = original(self)
        answer = getattr(result, "result", None)
        desc = answer.get("TableDescription") if isinstance(answer, dict) else None
        if isinstance(desc, dict):
            desc["TableStatus"] = "DELETING"
        return result

    delete_table.__name__ = original.__name__
    return delete_table


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.responses import DynamoHandler

        DynamoHandler.query = _index_must_exist(DynamoHandler.query)
        DynamoHandler.scan = _index_must_exist(DynamoHandler.scan)
        DynamoHandler.delete_table = _deleting(DynamoHandler.delete_table)
        DynamoHandler.update_table = _index_to_change_must_exist(DynamoHandler.update_table)
        _installed = True
