"""The controller: everything with threads.

``manager`` builds and runs the rest: the pass (``passes``) and the workers (``workers``)
sharing one state (``shared``); the pins and who changed them (``pins``); audit writes
(``recording``); what this replica may do under leadership (``leases``, over the lease
store of ``leadership``); what starts a pass (``watchers``, over ``sources``); what the
endpoints show (``statusview``, with its read budget ``readcache``). Also the keyed work
queue (``workqueue``), the Prometheus objects (``metrics``), the CLI's one-writer lease
(``oneshot_lease``) and its hand-over to a running controller (``handover``).

Above the engine, which the workers run once per target; below the web server and the CLI.
"""
