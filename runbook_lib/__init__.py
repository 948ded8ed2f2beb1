"""pitr-runbook: restore a DynamoDB table to a point in time without losing the writes that
arrive meanwhile, and prove the result.

One module per runbook step (``preflight``, ``buffer``, ``restore``, ``reconcile``,
``settings``, ``report``), plus ``config`` (clients), ``errors`` and ``cli``.
"""

__version__ = "0.1.0"
