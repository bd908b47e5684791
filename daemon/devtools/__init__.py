"""Development tooling, apart from what production runs: the local sandbox (an AWS emulator
and a database seeded like the service in ROLLBACK.md) behind ``make run`` and
``pinback sandbox``. Only the CLI's ``sandbox`` verb imports it, lazily.
"""
