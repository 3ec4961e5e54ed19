"""Shared fixtures: real services live in tests/fixtures/, registered here."""
pytest_plugins = ["tests.fixtures.services", "tests.fixtures.docker", "tests.fixtures.storage"]
