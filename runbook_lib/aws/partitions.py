"""ARN partitions: the one place ARNs built by this package take their partition from."""

from __future__ import annotations

from functools import lru_cache

from .clients import botocore_session


@lru_cache(maxsize=64)
def partition(region: str) -> str:
    """The ARN partition of ``region``: ``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso``, ...

    The one place ARNs built by this package take their partition from. It reads botocore's own
    partition data (``botocore/data/partitions.json``: each partition's ``regionRegex``, the same
    table the SDK resolves endpoints with), so that ``cn-*`` is ``aws-cn``, ``us-gov-*``
    ``aws-us-gov``, ``us-iso-*`` ``aws-iso``, ``us-isob-*`` ``aws-iso-b``, ``eu-isoe-*``
    ``aws-iso-e``, ``us-isof-*`` ``aws-iso-f`` and ``eusc-de-*`` ``aws-eusc``; a region of no
    known partition is an :class:`~runbook_lib.errors.InputError` rather than a wrong guess.
    """
    from botocore.exceptions import UnknownRegionError

    from ..errors import InputError

    try:
        return botocore_session().get_partition_for_region(region)
    except UnknownRegionError:
        raise InputError(
            f"region {region!r} belongs to no AWS partition botocore knows: check the region name "
            "(e.g. eu-west-1), or upgrade botocore if the region is new"
        ) from None
