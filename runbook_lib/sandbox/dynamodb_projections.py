"""``ProjectionExpression`` as DynamoDB reads it: in ``TransactGetItems``, and with ``#name[n]`` paths.

AWS: each ``Get`` of ``TransactGetItems`` takes a ``ProjectionExpression`` ("A string that defines
one or more attributes to be retrieved from the table specified in TableName"; "Get", Amazon
DynamoDB API Reference, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Get.html),
and a document path may be an expression attribute name followed by list indexes, such as
``#l[1]`` ("Using projection expressions in DynamoDB" and "Specifying item attributes when using
expressions", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.Attributes.html).

moto 5.2.5 ignored the ``ProjectionExpression`` of ``TransactGetItems`` (every attribute came back),
and read ``#l[1]`` as an attribute named ``#l[1]``: ``GetItem``, ``Query``, ``Scan`` and
``BatchGetItem`` answered ``ValidationException`` "Value provided in ExpressionAttributeNames unused
in expressions: keys: {#l}". Here the projection is applied to each ``Get``'s item, and a name
followed by indexes is resolved as the name, the indexes kept.

Where it still differs from AWS: the projection itself is moto's.
"""

from __future__ import annotations

import re
import threading

_installed = False
_install_lock = threading.Lock()
_NAME_WITH_INDEXES = re.compile(r"^(#[A-Za-z0-9_]+)((?:\[\d+\])+)$")


def _names_with_indexes(original):
    def parse(self):
        names = self.expression_attribute_names
        expression = self.projection_expression
        if expression and names:
            parts = []
            for path in expression.split(","):
                segments = []
                for segment in path.strip().split("."):
                    match = _NAME_WITH_INDEXES.match(segment)
                    if match and match.group(1) in names:
                        # a placeholder that moto resolves to itself, with the real name kept in the map
                        alias = f"{match.group(1)}__sandbox_indexed"
                        names.setdefault(alias, names[match.group(1)] + match.group(2))
                        self.expr_attr_names_found.append(match.group(1))
                        segment = alias
                    segments.append(segment)
                parts.append(".".join(segments))
            self.projection_expression = ", ".join(parts)
        return original(self)

    return parse


def _transact_get_projection(original):
    from moto.dynamodb.models.utilities import dynamo_to_dict
    from moto.dynamodb.responses import ProjectionExpressionParser

    def transact_get_items(self):
        result = original(self)
        answer = getattr(result, "result", None)
        responses = answer.get("Responses") if isinstance(answer, dict) else None
        if not responses:
            return result
        for index, entry in enumerate(self.body.get("TransactItems") or []):
            get = entry.get("Get") or {}
            expression = get.get("ProjectionExpression")
            if not expression or index >= len(responses) or not responses[index].get("Item"):
                continue
            paths = ProjectionExpressionParser(expression, dict(get.get("ExpressionAttributeNames") or {})).parse()
            item = self.dynamodb_backend.get_item(get["TableName"], get["Key"], paths)
            # the answer is plain JSON already (DynamoResult converted it): convert the new item the same way
            responses[index] = dynamo_to_dict({"Item": item.describe_attrs(attributes=None)["Item"]}) if item else {}
        return result

    transact_get_items.__name__ = original.__name__
    return transact_get_items


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.responses import DynamoHandler, ProjectionExpressionParser

        ProjectionExpressionParser.parse = _names_with_indexes(ProjectionExpressionParser.parse)
        DynamoHandler.transact_get_items = _transact_get_projection(DynamoHandler.transact_get_items)
        _installed = True
