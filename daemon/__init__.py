"""pinback: keeps a service's deployed versions equal to the versions pinned in a file.

Packages by layer, each importing only those below it (import-linter's layers contract in
pyproject.toml; ``tests/test_architecture.py`` checks that every module is in one):

    cli         the ``pinback`` command: parsing and printing
    devtools    the local sandbox behind ``make run`` (never imported by production code)
    web         HTTP in: /metrics, /healthz, /readyz, /status, the status page, /reconcile
    controller  threads: sources, work queue, leadership, the reconcile loop
    views | engine   what people read | one reconcile: observe, plan, apply, verify, record
    drivers     one per target kind: the frontend, ECS, Lambda, the database
    adapters    what leaves the process: AWS clients, the audit store, webhooks, git, logs
    spec        the two files people write: models and loading
    core        pure: value types, the planner, gates, freeze windows, the hash chain
    errors      the error types every layer raises and reads
"""

__version__ = "0.1.0"
