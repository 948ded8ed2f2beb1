"""The policy language the sandbox evaluates (``runbook_lib/sandbox/iam_policy.py``), without a server.

Documents followed: "Policy evaluation logic" (explicit deny over allow over implicit deny,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html); "IAM JSON
policy elements: Condition operators" (a key absent from the request context makes a condition
false, or true for a negated operator; ``...IfExists`` is true when the key is absent; ``Null``
tests presence, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html);
"Conditions with multiple context keys or values" (values OR, keys and operators AND, set
operators ``ForAnyValue``/``ForAllValues``,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html).
"""

from __future__ import annotations

import json

from runbook_lib.sandbox.iam_policy import ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY, decide, parse_policy, trust_allows

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"


def _policy(*statements: dict) -> tuple:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def _decide(statement: dict, action: str = "dynamodb:GetItem", resource: str = TABLE, **context) -> str:
    return decide([_policy(statement)], action, resource, context)


def test_no_statement_matching_is_an_implicit_deny_and_a_deny_beats_an_allow():
    allow = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": TABLE}
    assert decide([], "dynamodb:GetItem", TABLE, {}) == IMPLICIT_DENY
    assert decide([_policy(allow)], "dynamodb:GetItem", TABLE, {}) == ALLOWED
    assert decide([_policy(allow), _policy(deny)], "dynamodb:GetItem", TABLE, {}) == EXPLICIT_DENY


def test_a_question_mark_matches_exactly_one_character_and_arns_are_case_sensitive():
    statement = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:*:*:table/order?"}
    assert _decide(statement) == ALLOWED
    assert _decide(statement, resource=TABLE + "s") == IMPLICIT_DENY
    assert _decide(statement, resource=TABLE.replace("orders", "ORDERS")) == IMPLICIT_DENY
    assert _decide({**statement, "Action": "DYNAMODB:getitem"}) == ALLOWED  # actions are not


def test_an_absent_key_fails_a_positive_operator_and_passes_a_negated_one():
    positive = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:SourceAccount": "1"}}}
    negated = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:SourceAccount": "1"}}}
    if_exists = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEqualsIfExists": {"aws:SourceAccount": "1"}}}
    assert _decide(positive) == IMPLICIT_DENY
    assert _decide(negated) == ALLOWED
    assert _decide(if_exists) == ALLOWED
    assert _decide(if_exists, **{"aws:SourceAccount": "2"}) == IMPLICIT_DENY


def test_null_tests_whether_the_key_is_present():
    statement = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Null": {"aws:SourceArn": "true"}}}
    assert _decide(statement) == EXPLICIT_DENY
    assert _decide(statement, **{"aws:SourceArn": "arn:aws:events:us-east-1:1:rule/r"}) == IMPLICIT_DENY


def test_values_of_one_key_are_ored_and_keys_are_anded():
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {
        "StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"], "aws:PrincipalAccount": "123456789012"}}}
    assert _decide(statement, **{"aws:RequestedRegion": "eu-west-1", "aws:PrincipalAccount": "123456789012"}) == ALLOWED
    assert _decide(statement, **{"aws:RequestedRegion": "eu-west-1", "aws:PrincipalAccount": "999999999999"}) == IMPLICIT_DENY


def test_arn_like_and_bool_operators():
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {
        "ArnLike": {"aws:SourceArn": "arn:aws:events:*:123456789012:rule/pitr-*"}, "Bool": {"aws:SecureTransport": "false"}}}
    context = {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/pitr-x-restore", "aws:SecureTransport": "false"}
    assert _decide(statement, **context) == ALLOWED
    assert _decide(statement, **{**context, "aws:SecureTransport": "true"}) == IMPLICIT_DENY


def test_set_operators_on_multivalued_keys():
    any_value = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}}
    all_values = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}}
    assert _decide(any_value, **{"aws:TagKeys": ["team", "other"]}) == ALLOWED
    assert _decide(all_values, **{"aws:TagKeys": ["team", "other"]}) == IMPLICIT_DENY
    assert _decide(all_values, **{"aws:TagKeys": ["env"]}) == ALLOWED
    assert _decide(all_values) == ALLOWED  # no values at all: ForAllValues holds


def test_negated_set_operators_apply_the_negation_to_each_value():
    """"Set operators for multivalued context keys", IAM User Guide
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html):
    ForAllValues:StringNotEquals holds when every value of the request is none of the policy's."""
    none_of = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}}
    some_not = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}}}
    assert _decide(none_of, **{"aws:TagKeys": ["team", "env"]}) == ALLOWED
    assert _decide(none_of, **{"aws:TagKeys": ["secret", "env"]}) == IMPLICIT_DENY  # one value is the forbidden one
    assert _decide(some_not, **{"aws:TagKeys": ["team", "env"]}) == ALLOWED  # env is not team
    assert _decide(some_not, **{"aws:TagKeys": ["team"]}) == IMPLICIT_DENY


def test_a_trust_policy_names_a_service_and_checks_its_conditions():
    """"IAM JSON policy elements: Principal" and the confused-deputy keys ``aws:SourceAccount``
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html)."""

    class Role:
        arn = "arn:aws:iam::123456789012:role/r"
        assume_role_policy_document = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]})

    assert trust_allows(Role(), service="states.amazonaws.com", context={"aws:SourceAccount": "123456789012"})[0]
    assert not trust_allows(Role(), service="states.amazonaws.com", context={"aws:SourceAccount": "999999999999"})[0]
    assert not trust_allows(Role(), service="lambda.amazonaws.com", context={"aws:SourceAccount": "123456789012"})[0]
