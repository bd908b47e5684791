"""The pure core: value types and the decisions made from them, with no I/O, no environment,
no clock and no threads (each is handed what it needs: a time, a record, a config's values).

``model`` (the values that cross every boundary), ``plan`` (desired and observed state into
an ordered plan), ``gates`` (the health verdict), ``freeze`` (windows), ``shards``
(assignment), ``records``/``chain`` (the audit record and its hash chain), ``fencing`` (the
epoch check the AWS clients call), ``iam``, ``durations``, ``redact``. Everything else in
pinback builds on this package; it imports only ``daemon.errors``.
"""
