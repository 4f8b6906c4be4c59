"""Test session setup: fixture plugins (real servers, moto) and shared helpers."""

pytest_plugins = ["fix_testbed", "fix_moto"]
