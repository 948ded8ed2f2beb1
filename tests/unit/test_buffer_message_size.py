"""The queue's maximum message size: one value (``cdc.codec.MAX_MESSAGE_BYTES``) that the template
deploys by default, preflight sizes items against and the forwarder falls back to; and a plan that
says when step 00 checked another value than the one it deploys."""

from __future__ import annotations

import inspect

from cdc_factories import DIGEST

from runbook_lib import buffer, preflight
from runbook_lib.buffer.parameters import max_message_warnings
from runbook_lib.cdc import codec, forwarder


def test_template_default_maximum_message_size_is_the_codec_constant():
    spec = buffer.load_template()["Parameters"]["MaximumMessageSize"]
    assert spec["Default"] == codec.MAX_MESSAGE_BYTES
    assert spec["MinValue"] <= codec.MAX_MESSAGE_BYTES <= spec["MaxValue"]


def test_preflight_and_the_forwarder_default_to_the_codec_constant():
    assert preflight.DEFAULT_MAX_MESSAGE_BYTES == codec.MAX_MESSAGE_BYTES
    for check in (preflight.run_checks, preflight.check_item_sizes):
        assert inspect.signature(check).parameters["max_message_bytes"].default == codec.MAX_MESSAGE_BYTES
    assert forwarder.ForwarderSettings.from_env({"QUEUE_URL": "q"}, digest=DIGEST).max_message_bytes == codec.MAX_MESSAGE_BYTES
    assert not hasattr(forwarder, "DEFAULT_MAX_MESSAGE_BYTES")  # no second copy of the value


def test_no_warning_when_preflight_checked_the_deployed_size_or_was_not_told():
    assert max_message_warnings(262_144, 262_144) == []
    assert max_message_warnings(262_144, None) == []


def test_a_smaller_deployed_size_than_preflight_checked_is_a_warning_naming_both_and_the_remedy():
    (warning,) = max_message_warnings(262_144, 1_048_576)
    assert "MaximumMessageSize 262144 is deployed" in warning and "against 1048576" in warning
    assert "key only" in warning and "max_message_bytes=262144" in warning


def test_a_larger_deployed_size_than_preflight_checked_is_a_warning_too():
    (warning,) = max_message_warnings(1_048_576, 262_144)
    assert "MaximumMessageSize 1048576 is deployed" in warning and "against 262144" in warning
