"""ARNs take the partition of their region, from one function (``aws.partitions.partition``).

AWS partitions and the regions in each: botocore's ``data/partitions.json`` (``regionRegex``), the
table the SDK itself resolves endpoints with; "ARN format" in the IAM User Guide
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html): ``arn:partition:service:...``
with ``aws``, ``aws-cn`` (China) and ``aws-us-gov`` (AWS GovCloud (US)).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runbook_lib.aws.clients import AwsTarget
from runbook_lib.aws.partitions import partition
from runbook_lib.errors import InputError

PACKAGE = Path(__file__).resolve().parents[2] / "runbook_lib"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("ap-southeast-7", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("us-isof-south-1", "aws-iso-f"),
    ],
)
def test_partition_of_each_region(region, expected):
    assert partition(region) == expected
    assert AwsTarget(region=region).partition == expected


def test_a_region_of_no_partition_is_an_input_error_not_a_guess():
    with pytest.raises(InputError, match="no AWS partition"):
        partition("mars-north-1")


def test_no_module_outside_the_sandbox_names_a_partition_literally():
    """Every ARN the runbook builds takes ``config.partition`` (the sandbox is a leaf, apart)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox" in path.relative_to(PACKAGE).parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"arn:aws(?:-[a-z-]+)?:", line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []
    assert not any("def _partition" in path.read_text() for path in (PACKAGE / "buffer").glob("*.py"))
