"""PartiQL writes (``ExecuteStatement``, ``BatchExecuteStatement``, ``ExecuteTransaction``) closer to DynamoDB's.

moto 5.2.5 runs PartiQL through ``py_partiql_parser`` 0.6.3, a small parser that fails (an
``AssertionError`` inside the server: HTTP 500 with an HTML body) on statements DynamoDB takes,
and moto's ``BatchExecuteStatement`` turned any error of one statement into a 500 for the whole
call. Documents followed: "PartiQL delete statements for DynamoDB"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.delete.html),
"PartiQL insert statements for DynamoDB" (.../ql-reference.insert.html), "Running batch operations
with PartiQL for DynamoDB" (.../ql-reference.multiplestatements.batching.html), "Performing
transactions with PartiQL for DynamoDB" (.../ql-reference.multiplestatements.transactions.html),
and the API Reference's ``BatchStatementError`` codes.

- **DELETE** (``DELETE FROM t WHERE k = ? [AND ...] [RETURNING ALL OLD *]``, values as ``?``
  parameters, ``'strings'`` or numbers): moto's parser took only quoted literals (a parameter: 500)
  and compared them as strings. Here the key is read from the WHERE clause; other equalities are
  the condition. "If the DynamoDB table does not have any item with the same primary key ...
  SUCCESS is returned with 0 items deleted. If the table has an item with same primary key, but
  the condition in the WHERE clause ... evaluates to false, ConditionalCheckFailedException is
  returned." The delete goes through the table (stream record, PITR journal).
- **INSERT** of a key that exists: moto overwrote the item. "If the DynamoDB table already has an
  item with the same primary key as the primary key of the item being inserted,
  DuplicateItemException is returned."
- **A statement moto's parser cannot read** (such as ``SET v = 2`` with an unquoted number, or
  ``SET v = v + 1``): ``ValidationException`` (HTTP 400) naming the sandbox's limit, not a 500.
- **BatchExecuteStatement**: each statement answers on its own (``Error.Code``
  ``ConditionalCheckFailed``, ``DuplicateItem``, ``ValidationError``, ``ResourceNotFound``), as
  the batching page says; the others still run.
- **ExecuteTransaction**: INSERTs of existing keys and DELETE conditions that fail are found before
  any statement runs, and cancel the whole transaction (``TransactionCanceledException`` with a
  reason per statement, ``DuplicateItem`` or ``ConditionalCheckFailed``); a statement the sandbox
  cannot read refuses it (``ValidationException``) before anything is written.

Where it still differs from AWS: UPDATE runs through moto's parser, which takes only ``?``
parameters and quoted strings as values (``SET v = 2``, arithmetic, ``list_append`` and
``RETURNING`` are refused with ``ValidationException``) and does nothing to a key with no item;
an ExecuteTransaction that fails after other statements ran (an UPDATE whose condition fails, two
statements on one key) is not rolled back: the earlier ones stay, with their stream records and
journal versions (AWS: all or nothing). SELECT is moto's (no pagination).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    ResourceNotFoundException,
    TransactionCanceledException,
)

_installed = False
_install_lock = threading.Lock()


class DuplicateItemException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("com.amazonaws.dynamodb.v20120810#DuplicateItemException", "Duplicate primary key exists in table")


class _Unreadable(MockValidationException):
    def __init__(self, statement: str, why: str) -> None:
        super().__init__(
            f"Statement wasn't well formed, can't be processed: the sandbox's PartiQL parser (moto's) cannot run "
            f"this statement ({why}); DynamoDB may accept it"
        )


# -- a small reader for DELETE and for the table a statement names -----------------------------------

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_.\-]*)'
_VALUE = r"(?:\?|'(?:[^']|'')*'|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
_DELETE = re.compile(
    rf"^\s*DELETE\s+FROM\s+(?P<table>{_NAME})\s+WHERE\s+(?P<where>.+?)"
    rf"(?:\s+RETURNING\s+(?P<ret>ALL\s+OLD\s+\*))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_EQUALITY = re.compile(rf"^\s*(?P<name>{_NAME})\s*=\s*(?P<value>{_VALUE})\s*$", re.DOTALL)
_TABLE = re.compile(rf"^\s*(?:SELECT\b.*?\bFROM|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?P<table>{_NAME})", re.IGNORECASE | re.DOTALL)


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def table_of(statement: str) -> str | None:
    match = _TABLE.match(statement or "")
    if not match:
        return None
    name = match.group("table")
    # "table"."index" matches the quoted table alone; an unquoted table.index is split here
    return _unquote(name) if name.startswith('"') else name.split(".")[0]


def _literal(value: str, parameters: list) -> dict:
    if value == "?":
        if not parameters:
            raise MockValidationException("Number of parameters in request and statement don't match.")
        return parameters.pop(0)
    if value.startswith("'"):
        return {"S": value[1:-1].replace("''", "'")}
    return {"N": value}


def _parse_delete(statement: str, parameters: list | None) -> tuple[str, dict, bool] | None:
    """``(table, {attribute: value}, returning)`` of a DELETE of equalities joined by AND, else None."""
    match = _DELETE.match(statement or "")
    if not match:
        return None
    params = list(parameters or [])
    equalities: dict[str, dict] = {}
    for part in re.split(r"\s+AND\s+", match.group("where"), flags=re.IGNORECASE):
        eq = _EQUALITY.match(part)
        if not eq:
            return None
        equalities[_unquote(eq.group("name"))] = _literal(eq.group("value"), params)
    if params:
        raise MockValidationException("Number of parameters in request and statement don't match.")
    return _unquote(match.group("table")), equalities, bool(match.group("ret"))


def _delete_target(backend: Any, table_name: str, equalities: dict) -> tuple[Any, Any, Any, dict]:
    """(table, hash, range, condition) of a DELETE, or AWS's error."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.tables.get(table_name)
    if table is None:
        raise ResourceNotFoundException()
    keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    if any(k not in equalities for k in keys):
        raise MockValidationException("Where clause does not contain a mandatory equality on all key attributes")
    hash_value = DynamoType(equalities[table.hash_key_attr])
    range_value = DynamoType(equalities[table.range_key_attr]) if table.range_key_attr else None
    condition = {k: v for k, v in equalities.items() if k not in keys}
    return table, hash_value, range_value, condition


def _condition_holds(item: Any, condition: dict) -> bool:
    from moto.dynamodb.models.dynamo_type import DynamoType

    for name, value in condition.items():
        current = item.attrs.get(name)
        if current is None or current != DynamoType(value):
            return False
    return True


def _run_delete(backend: Any, parsed: tuple[str, dict, bool]) -> list[dict]:
    table_name, equalities, returning = parsed
    table, hash_value, range_value, condition = _delete_target(backend, table_name, equalities)
    item = table.get_item(hash_value, range_value)
    if item is None:
        return []  # "SUCCESS is returned with 0 items deleted"
    if not _condition_holds(item, condition):
        raise ConditionalCheckFailed()
    old = item.to_json()["Attributes"]
    table.delete_item(hash_value, range_value)  # the table's own path: stream record, PITR journal
    return [old] if returning else []


def _insert_exists(backend: Any, statement: str) -> bool:
    """Whether an INSERT names a key that already has an item (False when it is not an INSERT)."""
    if not re.match(r"^\s*INSERT\b", statement or "", re.IGNORECASE):
        return False
    from moto.dynamodb.models.dynamo_type import DynamoType
    from py_partiql_parser._internal.insert_parser import InsertParser

    try:
        table_name, item = InsertParser().parse(statement.replace("\n", " "))
    except Exception:  # noqa: BLE001 - moto's own call answers for a statement it cannot read
        return False
    table = backend.tables.get(table_name)
    if table is None or table.hash_key_attr not in item:
        return False
    if table.range_key_attr and table.range_key_attr not in item:
        return False
    range_value = DynamoType(item[table.range_key_attr]) if table.range_key_attr else None
    return table.get_item(DynamoType(item[table.hash_key_attr]), range_value) is not None


# -- the three operations ------------------------------------------------------------------------------


def _execute_statement(original):
    from . import pitr

    def execute_statement(self, statement, parameters, *args, **kwargs):
        with pitr._lock:  # every write is serialised on it
            name = table_of(statement)
            if name is not None and name not in self.tables:
                raise ResourceNotFoundException()  # moto's INSERT raised KeyError (500, then ValidationException)
            parsed = _parse_delete(statement, parameters)
            if parsed is not None:
                return _run_delete(self, parsed)
            if _insert_exists(self, statement):
                raise DuplicateItemException()
            from py_partiql_parser.exceptions import ParserException

            try:
                return original(self, statement, list(parameters or []), *args, **kwargs)
            except JsonRESTError:
                raise
            except ParserException as exc:  # the parser's own validation (parameters that don't match)
                raise MockValidationException(exc.message) from None
            except Exception as exc:  # noqa: BLE001 - py_partiql_parser asserts on what it cannot read
                raise _Unreadable(statement, type(exc).__name__) from None

    return execute_statement


_BATCH_CODES = (
    (DuplicateItemException, "DuplicateItem"),
    (ConditionalCheckFailed, "ConditionalCheckFailed"),
    (ResourceNotFoundException, "ResourceNotFound"),
    (MockValidationException, "ValidationError"),
)


def _batch_execute_statement(self, statements):
    """Each statement answers on its own ("Running batch operations with PartiQL for DynamoDB")."""
    responses = []
    for stmt in statements:
        text = stmt.get("Statement", "")
        table_name = table_of(text)
        response: dict[str, Any] = {}
        if table_name is None or table_name not in self.tables:
            response["Error"] = {"Code": "ResourceNotFound", "Message": "Requested resource not found"}
            responses.append(response)
            continue
        response["TableName"] = table_name
        if _select_without_key(self, text, table_name):
            response["Error"] = {
                "Code": "ValidationError",
                "Message": "Select statements within BatchExecuteStatement must specify the primary key in the where clause.",
            }
            responses.append(response)
            continue
        try:
            items = self.execute_statement(statement=text, parameters=list(stmt.get("Parameters") or []))
        except JsonRESTError as exc:
            code = next((c for cls, c in _BATCH_CODES if isinstance(exc, cls)), "ValidationError")
            response = {"Error": {"Code": code, "Message": exc.message}}  # as moto answers: no TableName
            if code == "ConditionalCheckFailed" and stmt.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                old = _current_item(self, text, stmt.get("Parameters"))
                if old is not None:
                    response["Error"]["Item"] = old
        else:
            if items:
                response["Item"] = items[0]
        responses.append(response)
    return responses


def _select_without_key(backend: Any, statement: str, table_name: str) -> bool:
    """A SELECT of a batch must name the whole primary key in its WHERE clause (as moto checks it)."""
    if not re.match(r"^\s*SELECT\b", statement or "", re.IGNORECASE):
        return False
    from moto.dynamodb.parsing import partiql

    try:
        filter_keys = partiql.get_query_metadata(statement).get_filter_names()
    except Exception:  # noqa: BLE001 - execute_statement answers for what the parser cannot read
        return False
    return any(attr not in filter_keys for attr in backend.tables[table_name].table_key_attrs)


def _current_item(backend: Any, statement: str, parameters: list | None) -> dict | None:
    parsed = _parse_delete(statement, parameters)
    if parsed is None:
        return None
    table, hash_value, range_value, _ = _delete_target(backend, parsed[0], parsed[1])
    item = table.get_item(hash_value, range_value)
    return item.to_json()["Attributes"] if item is not None else None


def _execute_transaction(original):
    from . import pitr

    def execute_transaction(self, statements, *args, **kwargs):
        with pitr._lock:
            reasons: list[tuple] = []
            for stmt in statements:
                text = stmt.get("Statement", "")
                reason: tuple = (None, None, None)
                parsed = _parse_delete(text, stmt.get("Parameters"))
                if parsed is not None:
                    table, hash_value, range_value, condition = _delete_target(self, parsed[0], parsed[1])
                    item = table.get_item(hash_value, range_value)
                    if item is not None and not _condition_holds(item, condition):
                        reason = ("ConditionalCheckFailed", "The conditional request failed", None)
                elif _insert_exists(self, text):
                    reason = ("DuplicateItem", "Duplicate primary key exists in table", None)
                elif re.match(r"^\s*UPDATE\b", text, re.IGNORECASE):
                    from py_partiql_parser._internal.update_parser import UpdateParser

                    try:
                        UpdateParser().parse(text.replace("\n", " "))
                    except Exception as exc:  # noqa: BLE001 - before anything is written
                        raise _Unreadable(text, type(exc).__name__) from None
                reasons.append(reason)
            if any(code is not None for code, _, _ in reasons):
                raise TransactionCanceledException(reasons)
            return original(self, statements, *args, **kwargs)

    return execute_transaction


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.models import DynamoDBBackend

        DynamoDBBackend.execute_statement = _execute_statement(DynamoDBBackend.execute_statement)
        DynamoDBBackend.batch_execute_statement = _batch_execute_statement
        DynamoDBBackend.execute_transaction = _execute_transaction(DynamoDBBackend.execute_transaction)
        _installed = True
