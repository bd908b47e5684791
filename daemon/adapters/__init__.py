"""Adapters: what leaves the process and is not a target kind's driver. AWS clients
(``aws``), the audit store in SQL (``audit``), health checks over HTTP and CloudWatch
(``health``), outgoing webhooks (``notify``), git and the local user (``attribution``), the
log stream (``logs``). Foreign exceptions stop here and leave as ``daemon.errors`` types.

Above the pure core and the spec; used by the drivers, the engine and the controller.
"""
