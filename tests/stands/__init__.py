"""Real stand-ins for the tests: moto server, a fault proxy in front of it, PostgreSQL."""
