"""The thin AWS layer every step stands on: nothing here knows about restores or buffers.

- :mod:`.clients`: where clients come from (region, endpoint, credentials, retries), ``AwsTarget``;
- :mod:`.codes`: reading an AWS error code and message;
- :mod:`.waiting`: one polling loop with a deadline;
- :mod:`.tables`: table name rules, ``DescribeTable``, existence, waiting for ACTIVE;
- :mod:`.streams`: a stream's shards, page by page;
- :mod:`.partitions`: the ARN partition of a region;
- :mod:`.cloudtrail`: whether a trail's event selectors log management write events.

Imports go to the submodules (``from runbook_lib.aws.tables import describe_table``); this package
imports none of them, so that ``errors`` can use :mod:`.codes` without a cycle.
"""
