"""The controller: everything with threads. Sources of desired state (``sources``), the
keyed work queue (``workqueue``), leadership and fencing leases (``leadership``,
``oneshot_lease``), the hand-over between the CLI and a running controller (``handover``),
the read budget of the HTTP views (``readcache``), the Prometheus objects (``metrics``), and
the loop that wires them (``controller``).

Above the engine, which it runs once per target; below the web server and the CLI.
"""
