"""Benchmarks (``make bench``): speed, memory and AWS calls, printed as JSON.

Run against the same stand-ins as the tests (moto server, SQLite). Figures are
measurements, never assertions: the README quotes them.
"""
