"""How ``settings.apply`` makes one planned call: AWS's transient codes are retried until the call's
deadline, then the last error is raised; any other code is raised at once."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from runbook_lib.aws.clients import AwsTarget
from runbook_lib.settings.applying import _call
from runbook_lib.settings.model import Step

SANDBOX = AwsTarget(region="us-east-1", endpoint_url="http://127.0.0.1:9")  # never called: the client is given
STEP = Step("dynamodb", "UpdateTimeToLive", {"TableName": "orders-restored"})


class _Answers:
    """A DynamoDB client whose ``UpdateTimeToLive`` answers the given error codes, then succeeds."""

    def __init__(self, *codes: str) -> None:
        self.codes = list(codes)
        self.calls = 0

    def update_time_to_live(self, **params):
        self.calls += 1
        if self.codes:
            raise ClientError({"Error": {"Code": self.codes.pop(0), "Message": "m"}}, "UpdateTimeToLive")
        return {}


def test_transient_codes_are_retried_until_the_call_succeeds():
    ddb = _Answers("LimitExceededException", "ContinuousBackupsUnavailableException", "LimitExceededException")
    _call(SANDBOX, {"dynamodb": ddb}, STEP, "orders-restored", 10.0)
    assert ddb.calls == 4


def test_another_code_is_raised_at_once():
    ddb = _Answers("ValidationException")
    with pytest.raises(ClientError) as exc:
        _call(SANDBOX, {"dynamodb": ddb}, STEP, "orders-restored", 10.0)
    assert exc.value.response["Error"]["Code"] == "ValidationException" and ddb.calls == 1


def test_a_transient_code_past_the_deadline_is_raised():
    ddb = _Answers(*["LimitExceededException"] * 1000)
    with pytest.raises(ClientError) as exc:
        _call(SANDBOX, {"dynamodb": ddb}, STEP, "orders-restored", 0.3)
    assert exc.value.response["Error"]["Code"] == "LimitExceededException" and 1 < ddb.calls < 1000
