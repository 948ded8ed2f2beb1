"""CloudFormation's intrinsic functions, as far as ``infra/drill-schedule.yaml`` uses them, resolved over
parameter values: what a stack makes of the template, for tests that read no AWS.

Followed: the Intrinsic function reference, CloudFormation Template Reference
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html):
``Fn::Select`` "doesn't check for null values or if the index is out of bounds of the array. Both
conditions will result in a stack error" (raised here as ``IndexError``); ``Fn::Split`` keeps empty
elements; ``Ref`` of a ``CommaDelimitedList`` is a list; ``AWS::NoValue`` removes the property or
list element; a resource whose ``Condition`` is false is not created.
"""

from __future__ import annotations

import re
from typing import Any

NO_VALUE = object()
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::StackName": "pitr-drills"}


class Resolver:
    def __init__(self, template: dict, parameters: dict[str, str]):
        self.template = template
        self.values: dict[str, Any] = dict(PSEUDO)
        for name, spec in template["Parameters"].items():
            value = parameters.get(name, spec.get("Default"))
            if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.values[name] = value
        self.conditions = {name: self.resolve(expr) for name, expr in template.get("Conditions", {}).items()}

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            function = getattr(self, "_" + key.replace("Fn::", "fn_").lower(), None)
            if function is not None:
                return function(arg)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        return self.values.get(name, f"<{name}>")  # a resource: its physical id

    def _fn_getatt(self, arg: list) -> str:
        return f"arn:aws:<{arg[0]}.{arg[1]}>"

    def _fn_join(self, arg: list) -> str:
        separator, parts = self.resolve(arg)
        return separator.join(parts)

    def _fn_split(self, arg: list) -> list[str]:
        separator, text = self.resolve(arg)
        return text.split(separator)

    def _fn_select(self, arg: list) -> Any:
        index, items = self.resolve(arg)
        if not 0 <= int(index) < len(items):
            raise IndexError(f"Fn::Select index {index} is out of bounds of {items}: a stack error")
        return items[int(index)]

    def _fn_sub(self, arg: Any) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def value(match: re.Match) -> str:
            name = match.group(1)
            return str(names[name] if name in names else self._ref(name.split(".")[0]))

        return re.sub(r"\$\{([^}]+)\}", value, text)

    def _fn_equals(self, arg: list) -> bool:
        left, right = self.resolve(arg)
        return left == right

    def _fn_not(self, arg: list) -> bool:
        (value,) = self.resolve(arg)
        return not value

    def _fn_if(self, arg: list) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.conditions[name] else when_false)

    def resources(self) -> dict[str, dict]:
        """The resources a stack creates (those whose condition holds), resolved."""
        return {name: self.resolve(res) for name, res in self.template["Resources"].items()
                if self.conditions.get(res.get("Condition"), True)}
