"""HTTP in: ``/metrics``, ``/healthz``, ``/readyz``, ``/status``, ``/events``, the status page
and ``POST /reconcile`` (``server``). It renders views and asks the controller; it decides
nothing itself.
"""
