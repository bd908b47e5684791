"""Views: what people read, rendered from values and never acting. The ``/status`` document
(``status``), the status page (``page``), incident reports from the audit trail
(``report``), the CLI's plan and result tables (``render``) and the Prometheus alert rules
generated from a config (``alerts``).

Above the core and the spec; used by the controller, the web server and the CLI.
"""
